// A worker in C with all three handlers (Docs/isolates.md), for a config that binds a KV
// namespace as KV and a queue producer as JOBS, consumes that queue and sets a cron trigger:
//   POST /jobs      -> sends the request body (JSON) to JOBS: 202, or 400 when the queue refuses it
//   GET /kv/KEY     -> the value of KEY in KV (404 when absent)
//   queue           -> each message's body stored under "job:ID" and "processed" counted; a body
//                      holding "later" is retried in 60 s; a body holding "poison" fails the batch
//   scheduled       -> the cron expression stored under "cron", its time (ms) under "cron_time"
// Build: edge build DIR (a directory holding this file) -o tasks.wasm
#include "edge.h"

static char buffer[131072];
static char key[1024];

static void text_response(int status, const char *text) {
    edge_response_status(status);
    edge_response_header("content-type", 12, "text/plain; charset=utf-8", 25);
    edge_write_text(text);
}

static int contains(const char *text, int length, const char *word) {
    for (int i = 0; i < length; i++) {
        if (edge_has_prefix(text + i, length - i, word)) return 1;
    }
    return 0;
}

/// Writes `value` in decimal to `out`; returns the number of digits.
static int decimal(long long value, char *out) {
    char digits[24];
    int count = 0;
    do {
        digits[count++] = (char)('0' + value % 10);
        value /= 10;
    } while (value > 0);
    for (int i = 0; i < count; i++) out[i] = digits[count - 1 - i];
    return count;
}

EDGE_EXPORT(fetch) int fetch(void) {
    char method[16], target[1024];
    int method_length = edge_request_method(method, sizeof(method));
    int target_length = edge_request_target(target, sizeof(target));
    if (target_length > (int)sizeof(target)) {
        text_response(414, "target too long\n");
        return 0;
    }
    if (edge_has_prefix(target, target_length, "/jobs") && method_length == 4 && edge_has_prefix(method, 4, "POST")) {
        int length = 0, read;
        while (length < (int)sizeof(buffer) && (read = edge_request_body_read(buffer + length, (int)sizeof(buffer) - length)) > 0) length += read;
        if (edge_queue_send("JOBS", 4, buffer, length, 0) != 0) {
            text_response(400, "the queue refused the message\n");
        } else {
            text_response(202, "queued\n");
        }
        return 0;
    }
    if (edge_has_prefix(target, target_length, "/kv/")) {
        int length = edge_kv_get("KV", 2, target + 4, target_length - 4);
        if (length < 0) {
            text_response(404, "no such key\n");
            return 0;
        }
        int read;
        while ((read = edge_result_read(buffer, sizeof(buffer))) > 0) edge_response_write(buffer, read);
        return 0;
    }
    text_response(404, "not found\n");
    return 0;
}

EDGE_EXPORT(queue) int queue(void) {
    int size = edge_batch_size();
    for (int i = 0; i < size; i++) {
        int length = edge_message_body(i, buffer, sizeof(buffer));
        if (length > (int)sizeof(buffer)) return 1;
        if (contains(buffer, length, "poison")) return 1;
        if (contains(buffer, length, "later")) {
            edge_message_retry(i, 60);
            continue;
        }
        int id_length = edge_message_id(i, key + 4, (int)sizeof(key) - 4);
        if (id_length > (int)sizeof(key) - 4) return 1;
        key[0] = 'j', key[1] = 'o', key[2] = 'b', key[3] = ':';
        if (edge_kv_put("KV", 2, key, 4 + id_length, buffer, length) != 0) return 1;
        // Count it.
        int count_length = edge_kv_get("KV", 2, "processed", 9), count = 0;
        if (count_length > 0 && count_length < 16) {
            char digits[16];
            edge_result_read(digits, count_length);
            for (int d = 0; d < count_length; d++) count = count * 10 + (digits[d] - '0');
        }
        char digits[24];
        if (edge_kv_put("KV", 2, "processed", 9, digits, decimal(count + 1, digits)) != 0) return 1;
        edge_message_ack(i);
    }
    return 0;
}

EDGE_EXPORT(scheduled) int scheduled(void) {
    int length = edge_scheduled_cron(key, sizeof(key));
    if (length > (int)sizeof(key)) return 1;
    long long time = 0;
    edge_scheduled_time(&time);
    char digits[24];
    if (edge_kv_put("KV", 2, "cron", 4, key, length) != 0) return 1;
    if (edge_kv_put("KV", 2, "cron_time", 9, digits, decimal(time, digits)) != 0) return 1;
    edge_log("scheduled ran", 13);
    return 0;
}
