// A worker reaching a bucket, an AI binding and a vector index through the host:
//   PUT /blob/KEY  -> stores the body as KEY in FILES: 201, or 400 when refused
//   GET /blob/KEY  -> KEY's bytes, read 4 KiB at a time: 200, 404, or 400 when refused
//   POST /stream/KEY -> writes an object of N bytes (N, decimal, is the body) as KEY in FILES
//                     through a writer, 64 KiB at a time: byte i is (i * 7) & 255, except that
//                     the first byte of each chunk is the chunk's number; 201, or 400 when refused
//   POST /unclosed/KEY -> opens a writer for KEY, writes to it, and returns without closing it
//   POST /writers  -> opens writers until one is refused; answers how many opened
//   POST /badwriter -> writes to a handle that was never opened
//   POST /object/NAME -> sends POST /increment with the body to the durable object NAME of
//                     COUNTER: its status and body, or 400 when refused
//   POST /embed    -> the body's embedding by AI, as little-endian floats
//   POST /query    -> the body (little-endian floats) queried against VECS, top 3, as JSON
#include "edge.h"

static char target[1024];
static char chunk[4096];
static char body[65536];
static float vector[1536];

static void text_response(int status, const char *text) {
    edge_response_status(status);
    edge_write_text(text);
}

static int read_body(void) {
    int length = 0, read;
    while (length < (int)sizeof(body) && (read = edge_request_body_read(body + length, (int)sizeof(body) - length)) > 0) length += read;
    return length;
}

static void copy_result(void) {
    int read;
    while ((read = edge_result_read(chunk, sizeof(chunk))) > 0) edge_response_write(chunk, read);
}

EDGE_EXPORT(fetch) int fetch(void) {
    char method[8];
    int method_length = edge_request_method(method, sizeof(method));
    int n = edge_request_target(target, sizeof(target));
    if (n > (int)sizeof(target)) return 1;
    int put = method_length == 3 && edge_has_prefix(method, 3, "PUT");
    if (edge_has_prefix(target, n, "/blob/")) {
        if (put) {
            int length = read_body();
            text_response(edge_blob_put("FILES", 5, target + 6, n - 6, body, length) == 0 ? 201 : 400, "");
            return 0;
        }
        int length = edge_blob_get("FILES", 5, target + 6, n - 6);
        if (length == EDGE_ABSENT) {
            text_response(404, "no such object\n");
        } else if (length < 0) {
            text_response(400, "refused\n");
        } else {
            copy_result();
        }
        return 0;
    }
    if (edge_has_prefix(target, n, "/stream/")) {
        int length = read_body(), total = 0;
        for (int i = 0; i < length; i++) total = total * 10 + (body[i] - '0');
        int writer = edge_blob_writer_open("FILES", 5, target + 8, n - 8);
        if (writer < 0) {
            text_response(400, "refused\n");
            return 0;
        }
        for (int i = 0; i < (int)sizeof(body); i++) body[i] = (char)((i * 7) & 255);
        for (int offset = 0, number = 0; offset < total; offset += (int)sizeof(body), number++) {
            body[0] = (char)number;
            int size = total - offset < (int)sizeof(body) ? total - offset : (int)sizeof(body);
            if (edge_blob_writer_write(writer, body, size) != 0) {
                text_response(400, "refused\n");
                return 0;
            }
        }
        text_response(edge_blob_writer_close(writer) == 0 ? 201 : 400, "");
        return 0;
    }
    if (edge_has_prefix(target, n, "/unclosed/")) {
        int writer = edge_blob_writer_open("FILES", 5, target + 10, n - 10);
        edge_blob_writer_write(writer, "abc", 3);
        text_response(200, "left open\n");
        return 0;
    }
    if (edge_has_prefix(target, n, "/writers")) {
        char key[2] = {'w', '0'};
        int opened = 0;
        while (opened < 10 && edge_blob_writer_open("FILES", 5, key, 2) >= 0) {
            opened++;
            key[1]++;
        }
        char digits[2] = {(char)('0' + opened), 0};
        text_response(200, digits);
        return 0;
    }
    if (edge_has_prefix(target, n, "/badwriter")) {
        edge_blob_writer_write(99, "x", 1);
        return 0;
    }
    if (edge_has_prefix(target, n, "/object/")) {
        int length = read_body();
        int status = edge_object_fetch("COUNTER", 7, target + 8, n - 8, "POST", 4, "/increment", 10, body, length);
        if (status < 0) {
            text_response(400, "refused\n");
            return 0;
        }
        edge_response_status(status);
        copy_result();
        return 0;
    }
    if (edge_has_prefix(target, n, "/embed")) {
        int length = read_body();
        if (edge_ai_embed("AI", 2, body, length) < 0) {
            text_response(400, "refused\n");
            return 0;
        }
        copy_result();
        return 0;
    }
    if (edge_has_prefix(target, n, "/query")) {
        int length = read_body();
        int dimensions = length / 4;
        if (dimensions > 1536) return 1;
        for (int i = 0; i < length; i++) ((char *)vector)[i] = body[i];
        if (edge_vector_query("VECS", 4, vector, dimensions, 3) < 0) {
            text_response(400, "refused\n");
            return 0;
        }
        edge_response_header("content-type", 12, "application/json", 16);
        copy_result();
        return 0;
    }
    text_response(404, "not found\n");
    return 0;
}
