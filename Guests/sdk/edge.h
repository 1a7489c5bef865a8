// The swift-edge isolate ABI for C guests (clang --target=wasm32 -nostdlib -fno-builtin). Docs/isolates.md
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

/// Sends `body` (JSON text, at most 128 KiB) to the queue of the producer bound as `binding`,
/// delivered after `delay_seconds` (0...43200): 0, or EDGE_REFUSED (not JSON, too large). A
/// binding the worker's config does not grant ends the invocation.
EDGE_IMPORT(queue_send) int edge_queue_send(const char *binding, int binding_length, const void *body, int body_length, int delay_seconds);

/// Reads the object `key` of the bucket bound as `binding` (`r2_buckets`): its length (read it
/// in chunks with edge_result_read), EDGE_ABSENT, or EDGE_REFUSED (larger than the memory limit).
EDGE_IMPORT(blob_get) int edge_blob_get(const char *binding, int binding_length, const char *key, int key_length);
/// Stores `body` as the object `key`: 0, or EDGE_REFUSED.
EDGE_IMPORT(blob_put)
int edge_blob_put(const char *binding, int binding_length, const char *key, int key_length, const void *body, int body_length);
/// Starts writing the object `key` of the bucket bound as `binding` in chunks (an object larger
/// than the guest's memory): a writer handle, or EDGE_REFUSED (a bad key, 4 writers already
/// open). Nothing is stored until edge_blob_writer_close; a writer left open is abandoned.
EDGE_IMPORT(blob_writer_open) int edge_blob_writer_open(const char *binding, int binding_length, const char *key, int key_length);
/// Appends `length` bytes to the object: 0, or EDGE_REFUSED (the bucket refused a part; the
/// write is abandoned and the handle closed). A handle that is not open ends the invocation.
EDGE_IMPORT(blob_writer_write) int edge_blob_writer_write(int writer, const void *bytes, int length);
/// Stores the object written: 0, or EDGE_REFUSED (nothing stored). The handle is closed.
EDGE_IMPORT(blob_writer_close) int edge_blob_writer_close(int writer);
/// Sends a request (`method`, `path` starting with /, `body`) to the durable object named `name`
/// in the namespace bound as `binding` (`durable_objects.bindings`, a class the host gave the
/// worker): the response's status (read its body with edge_result_read), or EDGE_REFUSED (the
/// object failed, or its body is over the memory limit).
EDGE_IMPORT(object_fetch)
int edge_object_fetch(const char *binding, int binding_length, const char *name, int name_length, const char *method, int method_length,
                      const char *path, int path_length, const void *body, int body_length);
/// Embeds UTF-8 `text` with the AI binding named `binding` (`ai`): the number of dimensions (read
/// the vector, little-endian floats, with edge_result_read), or EDGE_REFUSED.
EDGE_IMPORT(ai_embed) int edge_ai_embed(const char *binding, int binding_length, const char *text, int text_length);
/// The `top_k` (1...100) nearest vectors to `vector` (`dimensions` floats, 1...1536) in the index
/// bound as `binding` (`vectorize`): the length of the JSON answer
/// (`{"matches":[{"id":...,"score":...}]}`, read with edge_result_read), or EDGE_REFUSED.
EDGE_IMPORT(vector_query) int edge_vector_query(const char *binding, int binding_length, const float *vector, int dimensions, int top_k);

// In `queue` (an export `int queue(void)` returning 0 when it handled the batch): the batch.

/// The queue the batch came from, copied when it fits; its length either way.
EDGE_IMPORT(batch_queue) int edge_batch_queue(char *buffer, int capacity);
/// How many messages the batch holds.
EDGE_IMPORT(batch_size) int edge_batch_size(void);
/// Message `index`'s id / body (its JSON text), copied when it fits; its length either way.
EDGE_IMPORT(message_id) int edge_message_id(int index, char *buffer, int capacity);
EDGE_IMPORT(message_body) int edge_message_body(int index, void *buffer, int capacity);
/// How many times message `index` has been delivered (1 the first time).
EDGE_IMPORT(message_attempts) int edge_message_attempts(int index);
/// Acknowledges message `index` / has it delivered again after `delay_seconds` (0...43200),
/// whatever `queue` returns. An undecided message is acknowledged when `queue` returns 0 and
/// retried when it fails.
EDGE_IMPORT(message_ack) void edge_message_ack(int index);
EDGE_IMPORT(message_retry) void edge_message_retry(int index, int delay_seconds);

// In `scheduled` (an export `int scheduled(void)` returning 0 when it succeeded): the trigger.

/// The cron expression that fired, as written in the config, copied when it fits; its length.
EDGE_IMPORT(scheduled_cron) int edge_scheduled_cron(char *buffer, int capacity);
/// Writes the time the trigger fired for (milliseconds since 1970) to `*milliseconds`.
EDGE_IMPORT(scheduled_time) void edge_scheduled_time(long long *milliseconds);

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
