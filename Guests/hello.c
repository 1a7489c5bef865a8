// A worker in C for the swift-edge isolate runtime (Docs/isolates.md):
//   GET /           -> a greeting
//   GET /kv/KEY     -> the value of KEY in the KV namespace bound as KV (404 when absent)
//   PUT /kv/KEY     -> stores the request body (at most 64 KiB; 413 past it) under KEY
//   GET /count      -> counts visits in KV (key "count")
//   POST /echo      -> the request body, with its Content-Type
// Build: edge build DIR (a directory holding this file) -o hello.wasm, or
//   clang --target=wasm32 -nostdlib -fno-builtin -O2 -IGuests/sdk -Wl,--no-entry \
//     -Wl,--export-dynamic -o hello.wasm Guests/hello.c
#include "edge.h"

static char target[1024];
static char buffer[65536];

static void text_response(int status, const char *text) {
    edge_response_status(status);
    edge_response_header("content-type", 12, "text/plain; charset=utf-8", 25);
    edge_write_text(text);
}

static int put_value(const char *key, int key_length) {
    int length = 0, read;
    while (length < (int)sizeof(buffer) && (read = edge_request_body_read(buffer + length, (int)sizeof(buffer) - length)) > 0) length += read;
    char probe;
    if (length == (int)sizeof(buffer) && edge_request_body_read(&probe, 1) > 0) {
        text_response(413, "a value is at most 65536 bytes here\n");
        return 0;
    }
    if (edge_kv_put("KV", 2, key, key_length, buffer, length) != 0) {
        text_response(400, "the KV namespace refused the key or value\n");
        return 0;
    }
    text_response(201, "stored\n");
    return 0;
}

static int get_value(const char *key, int key_length) {
    int length = edge_kv_get("KV", 2, key, key_length);
    if (length == EDGE_ABSENT) {
        text_response(404, "no such key\n");
        return 0;
    }
    if (length < 0) {
        text_response(400, "the KV namespace refused the key\n");
        return 0;
    }
    edge_response_header("content-type", 12, "application/octet-stream", 24);
    int read;
    while ((read = edge_result_read(buffer, sizeof(buffer))) > 0) edge_response_write(buffer, read);
    return 0;
}

static int count(void) {
    int length = edge_kv_get("KV", 2, "count", 5), value = 0;
    if (length > 0 && length < 16) {
        edge_result_read(buffer, length);
        for (int i = 0; i < length; i++) value = value * 10 + (buffer[i] - '0');
    }
    value += 1;
    char digits[16];
    int n = 0;
    for (int v = value; v > 0; v /= 10) digits[15 - n++] = (char)('0' + v % 10);
    edge_kv_put("KV", 2, "count", 5, digits + 16 - n, n);
    edge_response_write(digits + 16 - n, n);
    return 0;
}

EDGE_EXPORT(fetch) int fetch(void) {
    char method[16];
    int method_length = edge_request_method(method, sizeof(method));
    int length = edge_request_target(target, sizeof(target));
    if (length > (int)sizeof(target)) {
        text_response(414, "URI too long\n");
        return 0;
    }
    int is_get = method_length == 3 && edge_has_prefix(method, 3, "GET");
    int is_put = method_length == 3 && edge_has_prefix(method, 3, "PUT");
    if (edge_has_prefix(target, length, "/kv/") && length > 4) {
        if (is_get) return get_value(target + 4, length - 4);
        if (is_put) return put_value(target + 4, length - 4);
    }
    if (is_get && length == 6 && edge_has_prefix(target, length, "/count")) return count();
    if (length == 5 && edge_has_prefix(target, length, "/echo")) {
        char type[256];
        int type_length = edge_request_header("content-type", 12, type, sizeof(type));
        if (type_length >= 0 && type_length <= (int)sizeof(type)) edge_response_header("content-type", 12, type, type_length);
        int read;
        while ((read = edge_request_body_read(buffer, sizeof(buffer))) > 0) edge_response_write(buffer, read);
        return 0;
    }
    if (is_get && length == 1) {
        text_response(200, "Hello from a WebAssembly worker\n");
        return 0;
    }
    text_response(404, "not found\n");
    return 0;
}
