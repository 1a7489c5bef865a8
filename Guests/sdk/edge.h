// The swift-edge isolate ABI for C guests (clang --target=wasm32 -nostdlib). Docs/isolates.md
// explains it. Every pointer and length is checked by the host against the guest's memory; a bad
// one ends the invocation.
#ifndef EDGE_H
#define EDGE_H

#define EDGE_IMPORT(name) __attribute__((import_module("edge"), import_name(#name)))
#define EDGE_EXPORT(name) __attribute__((export_name(#name)))

/// Returned by kv_get and request_header when there is no such key or header.
#define EDGE_ABSENT (-1)
/// Returned by kv_get and kv_put when the binding refused the input (the reason is logged).
#define EDGE_REFUSED (-2)

/// Writes a log line (at most 4096 bytes) to the worker's log.
EDGE_IMPORT(log) void edge_log(const char *text, int length);

/// The request's method / target (path and query): copied to `buffer` when they fit in
/// `capacity` bytes; the result is their length either way.
EDGE_IMPORT(request_method) int edge_request_method(char *buffer, int capacity);
EDGE_IMPORT(request_target) int edge_request_target(char *buffer, int capacity);
/// The value of the request header `name` (any case), copied when it fits; its length, or
/// EDGE_ABSENT.
EDGE_IMPORT(request_header) int edge_request_header(const char *name, int name_length, char *buffer, int capacity);
/// Reads the next bytes of the request body into `buffer`; 0 at the end.
EDGE_IMPORT(request_body_read) int edge_request_body_read(void *buffer, int capacity);

/// The response status (100...599; 200 unless set).
EDGE_IMPORT(response_status) void edge_response_status(int status);
/// Adds a response header (the name must be an HTTP token).
EDGE_IMPORT(response_header) void edge_response_header(const char *name, int name_length, const char *value, int value_length);
/// Appends bytes to the response body.
EDGE_IMPORT(response_write) void edge_response_write(const void *bytes, int length);

/// Looks `key` up in the KV namespace bound as `binding`: the value's length (read it with
/// edge_result_read), EDGE_ABSENT or EDGE_REFUSED. A binding the worker's config does not grant
/// ends the invocation.
EDGE_IMPORT(kv_get) int edge_kv_get(const char *binding, int binding_length, const char *key, int key_length);
/// Stores `value` under `key`: 0, or EDGE_REFUSED.
EDGE_IMPORT(kv_put)
int edge_kv_put(const char *binding, int binding_length, const char *key, int key_length, const void *value, int value_length);
/// Reads the next bytes of the last kv_get's value into `buffer`; 0 at the end.
EDGE_IMPORT(result_read) int edge_result_read(void *buffer, int capacity);

/// The length of a C string (no libc here).
static inline int edge_strlen(const char *text) {
    int length = 0;
    while (text[length]) length++;
    return length;
}

/// Appends a C string to the response body.
static inline void edge_write_text(const char *text) { edge_response_write(text, edge_strlen(text)); }

/// Whether `text` (of `length` bytes) starts with the C string `prefix`.
static inline int edge_has_prefix(const char *text, int length, const char *prefix) {
    int i = 0;
    for (; prefix[i]; i++) {
        if (i >= length || text[i] != prefix[i]) return 0;
    }
    return 1;
}

#endif
