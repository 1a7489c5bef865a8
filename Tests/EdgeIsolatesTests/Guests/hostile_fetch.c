// A hostile worker: each path misbehaves in one way; "/" answers "ok".
#include "edge.h"

static char target[256];
static volatile int sink;

static int recurse(int depth) {
    char frame[256];
    frame[depth & 255] = (char)depth;
    return recurse(depth + 1) + frame[(depth * 7) & 255];
}

#define GARBAGE ((int)0xdeadbeef)

// Calls import `which` with garbage arguments.
static void garbage(int which) {
    char *bad = (char *)GARBAGE;
    switch (which) {
    case 0: edge_log(bad, -1); break;
    case 1: edge_request_method(bad, 0x7fffffff); break;
    case 2: edge_request_target(bad, 64); break;
    case 3: edge_request_header(bad, GARBAGE, bad, GARBAGE); break;
    case 4: edge_request_body_read(bad, 0x10000); break;
    case 5: edge_response_status(GARBAGE); break;
    case 6: edge_response_header(bad, 4, bad, 4); break;
    case 7: edge_response_write(bad, -1); break;
    case 8: edge_kv_get(bad, 10, bad, 10); break;
    case 9: edge_kv_put("KV", 2, "k", 1, bad, 0x7fffffff); break;
    case 10: edge_result_read(bad, 1 << 30); break;
    case 11: edge_queue_send(bad, 10, bad, 10, 0); break;
    // The batch and trigger imports called from fetch.
    case 12: edge_batch_queue(bad, 64); break;
    case 13: edge_batch_size(); break;
    case 14: edge_message_id(GARBAGE, bad, 10); break;
    case 15: edge_message_body(GARBAGE, bad, 10); break;
    case 16: edge_message_attempts(GARBAGE); break;
    case 17: edge_message_ack(GARBAGE); break;
    case 18: edge_message_retry(GARBAGE, GARBAGE); break;
    case 19: edge_scheduled_cron(bad, 64); break;
    case 20: edge_scheduled_time((long long *)bad); break;
    case 21: edge_queue_send("KV", 2, "{}", 2, GARBAGE); break;
    case 22: edge_blob_get(bad, 4, "k", 1); break;
    case 23: edge_blob_put("B", 1, "k", 1, bad, 0x7fffffff); break;
    case 24: edge_ai_embed("AI", 2, bad, 100); break;
    case 25: edge_vector_query("V", 1, (const float *)bad, 4, 1); break;
    case 26: edge_vector_query("V", 1, (const float *)0, GARBAGE, 1); break;
    case 27: edge_blob_writer_open(bad, 4, "k", 1); break;
    case 28: edge_blob_writer_write(GARBAGE, bad, 10); break;
    case 29: edge_blob_writer_close(GARBAGE); break;
    case 30: edge_object_fetch("O", 1, bad, 4, "GET", 3, "/", 1, 0, 0); break;
    }
}

EDGE_EXPORT(fetch) int fetch(void) {
    int n = edge_request_target(target, sizeof(target));
    if (edge_has_prefix(target, n, "/spin")) {
        for (;;) sink++;
    }
    if (edge_has_prefix(target, n, "/bomb")) {
        while (__builtin_wasm_memory_grow(0, 16) != -1) sink++;
        __builtin_trap();
    }
    if (edge_has_prefix(target, n, "/recurse")) return recurse(0);
    if (edge_has_prefix(target, n, "/bad-pointer")) edge_request_target((char *)0x7fffff00, 1000);
    if (edge_has_prefix(target, n, "/not-granted")) edge_kv_get("OTHER", 5, "k", 1);
    if (edge_has_prefix(target, n, "/ungranted-queue")) edge_queue_send("OTHER", 5, "{}", 2, 0);
    if (edge_has_prefix(target, n, "/ungranted-bucket")) edge_blob_get("BUCKET", 6, "k", 1);
    if (edge_has_prefix(target, n, "/ungranted-object")) edge_object_fetch("OBJECTS", 7, "a", 1, "GET", 3, "/", 1, 0, 0);
    if (edge_has_prefix(target, n, "/ungranted-writer")) edge_blob_writer_open("BUCKET", 6, "k", 1);
    if (edge_has_prefix(target, n, "/ungranted-ai")) edge_ai_embed("AI", 2, "hi", 2);
    if (edge_has_prefix(target, n, "/ungranted-index")) {
        static float vector[4];
        edge_vector_query("VECS", 4, vector, 4, 1);
    }
    if (edge_has_prefix(target, n, "/bad-status")) edge_response_status(1000);
    if (edge_has_prefix(target, n, "/bad-header")) edge_response_header("a b", 3, "x", 1);
    if (edge_has_prefix(target, n, "/garbage/")) garbage(target[9] >= 'a' ? target[9] - 'a' : 26 + target[9] - 'A');
    if (edge_has_prefix(target, n, "/never")) {
        // Never returns: asks the host the same thing forever.
        for (;;) edge_request_method(target, 0);
    }
    if (edge_has_prefix(target, n, "/fail")) return 7;
    if (edge_has_prefix(target, n, "/framing")) edge_response_header("Content-Length", 14, "1", 1);
    if (edge_has_prefix(target, n, "/interim")) edge_response_status(101);
    if (edge_has_prefix(target, n, "/forge")) edge_log("x\nerror worker other failed", 28);
    if (edge_has_prefix(target, n, "/boundary")) {
        // The last 4 bytes of memory are readable; one byte more is outside.
        char *end = (char *)(__builtin_wasm_memory_size(0) * 65536UL);
        edge_response_write(end - 4, edge_has_prefix(target, n, "/boundary-over") ? 5 : 4);
        return 0;
    }
    edge_write_text("ok");
    return 0;
}
