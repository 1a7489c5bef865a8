// EdgeKernels: the float32 kernels under Embeddings (and VectorSearch): a packed matrix multiply
// and the row-wise operations of a transformer encoder. Plain C with vector extensions; on x86-64
// each hot function is compiled for AVX-512, AVX2+FMA and baseline and chosen at load time.
#ifndef EDGE_KERNELS_H
#define EDGE_KERNELS_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

/// Columns per packed panel of B.
#define EDGE_SGEMM_NR 32

/// Floats needed to pack a K x N matrix: K * round_up(N, 32).
size_t edge_sgemm_packed_size(int k, int n);

/// Packs B (K x N) into panels of 32 columns for edge_sgemm. With `transposed` set, `b` holds B^T
/// (N x K, row stride `ldb`), the layout of a PyTorch Linear weight; otherwise B (K x N, row stride `ldb`).
void edge_sgemm_pack(const float *b, int ldb, int k, int n, int transposed, float *packed);

/// C (M x N, row stride ldc) = A (M x K, row stride lda) * packed B (+ bias[N] when not NULL).
/// Computes rows [0, m); callers split rows across threads.
void edge_sgemm(int m, int n, int k, const float *a, int lda, const float *packed, float *c, int ldc, const float *bias);

/// x[r] = LayerNorm(x[r] + residual[r]) * gamma + beta for each of `rows` rows of `n` floats
/// (residual may be NULL).
void edge_add_layernorm(float *x, const float *residual, int rows, int n, const float *gamma, const float *beta, float eps);

/// x = x * 0.5 * (1 + erf(x / sqrt 2)), the exact GELU, for `count` floats.
void edge_gelu(float *x, size_t count);

/// Each of `rows` rows of `n` floats (row stride ld) becomes softmax(row * scale).
void edge_softmax_rows(float *x, int rows, int n, int ld, float scale);

/// out[n] = mean of the `rows` rows of x (row stride ld), then scaled to unit length.
void edge_mean_pool_normalize(const float *x, int rows, int n, int ld, float *out);

/// The dot product of two vectors of `dimensions` floats.
float edge_dot(const float *a, const float *b, int dimensions);

/// The squared euclidean distance of two vectors of `dimensions` floats.
float edge_l2sq(const float *a, const float *b, int dimensions);

/// Asks the CPU to start loading `bytes` bytes at `address` into cache (graph searches call it
/// for the vectors they are about to compare). Inline, so a search loop pays no call for it.
static inline void edge_prefetch(const void *address, int bytes) {
    const char *bytes_at = (const char *)address;
    for (int offset = 0; offset < bytes; offset += 64) __builtin_prefetch(bytes_at + offset, 0, 3);
}

/// A spin lock on one int32 (0 free, 1 held), for short critical sections such as one graph
/// node's link list during a parallel build. Inline, as `edge_prefetch`.
static inline void edge_spin_lock(int *lock) {
    for (;;) {
        if (__atomic_exchange_n(lock, 1, __ATOMIC_ACQUIRE) == 0) return;
        while (__atomic_load_n(lock, __ATOMIC_RELAXED) != 0) {
#if defined(__x86_64__) || defined(__i386__)
            __builtin_ia32_pause();
#endif
        }
    }
}

static inline void edge_spin_unlock(int *lock) { __atomic_store_n(lock, 0, __ATOMIC_RELEASE); }

/// Dot products of one query with `count` vectors of `dimensions` floats stored contiguously.
void edge_dot_many(const float *query, const float *vectors, int dimensions, size_t count, float *out);

/// Squared euclidean distances of one query to `count` contiguous vectors.
void edge_l2sq_many(const float *query, const float *vectors, int dimensions, size_t count, float *out);

#ifdef __cplusplus
}
#endif

#endif
