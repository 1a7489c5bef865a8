#include "EdgeKernels.h"

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

// Each hot loop is written once in portable C with vector extensions and compiled for several
// x86-64 levels; the dynamic loader picks the best one for the CPU (ifunc). Elsewhere, one version.
#if defined(__x86_64__) && defined(__linux__) && defined(__clang__)
#define EDGE_CLONES __attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))
#else
#define EDGE_CLONES
#endif

#define NR EDGE_SGEMM_NR
#define MR 8

typedef float v16 __attribute__((vector_size(64), aligned(4)));
#define LOAD16(p) (*(const v16 *)(p))
#define STORE16(p, v) (*(v16 *)(p) = (v))

size_t edge_sgemm_packed_size(int k, int n) {
    return (size_t)k * (size_t)((n + NR - 1) / NR * NR);
}

void edge_sgemm_pack(const float *b, int ldb, int k, int n, int transposed, float *packed) {
    for (int j0 = 0; j0 < n; j0 += NR) {
        float *panel = packed + (size_t)j0 * k;
        for (int p = 0; p < k; p++) {
            for (int j = 0; j < NR; j++) {
                int col = j0 + j;
                float value = 0;
                if (col < n) value = transposed ? b[(size_t)col * ldb + p] : b[(size_t)p * ldb + col];
                panel[(size_t)p * NR + j] = value;
            }
        }
    }
}

// The micro-kernel: an MR x 32 tile of C from MR rows of A and one packed panel, kept in 16
// vector registers on AVX-512 (32 on AVX2). Rows at or past `mr` are not read or written; columns
// at or past `nr` are not written.
EDGE_CLONES
static void sgemm_tile(int k, const float *a, int lda, const float *panel, float *c, int ldc, const float *bias, int mr, int nr) {
    v16 acc[MR][2];
    for (int i = 0; i < MR; i++) {
        acc[i][0] = (v16){0};
        acc[i][1] = (v16){0};
    }
    if (mr == MR) {
        for (int p = 0; p < k; p++) {
            v16 b0 = LOAD16(panel + (size_t)p * NR), b1 = LOAD16(panel + (size_t)p * NR + 16);
            for (int i = 0; i < MR; i++) {
                float x = a[(size_t)i * lda + p];
                acc[i][0] += x * b0;
                acc[i][1] += x * b1;
            }
        }
    } else {
        for (int p = 0; p < k; p++) {
            v16 b0 = LOAD16(panel + (size_t)p * NR), b1 = LOAD16(panel + (size_t)p * NR + 16);
            for (int i = 0; i < mr; i++) {
                float x = a[(size_t)i * lda + p];
                acc[i][0] += x * b0;
                acc[i][1] += x * b1;
            }
        }
    }
    float tile[MR][NR];
    for (int i = 0; i < mr; i++) {
        if (bias != NULL) {
            acc[i][0] += LOAD16(bias);
            acc[i][1] += LOAD16(bias + 16);
        }
        if (nr == NR) {
            STORE16(c + (size_t)i * ldc, acc[i][0]);
            STORE16(c + (size_t)i * ldc + 16, acc[i][1]);
        } else {
            STORE16(tile[i], acc[i][0]);
            STORE16(tile[i] + 16, acc[i][1]);
            memcpy(c + (size_t)i * ldc, tile[i], sizeof(float) * (size_t)nr);
        }
    }
}

void edge_sgemm(int m, int n, int k, const float *a, int lda, const float *packed, float *c, int ldc, const float *bias) {
    // Column panels outermost: one 32-column panel of B (k * 128 bytes) stays in cache while
    // every row block of A passes over it.
    float padded_bias[NR];
    for (int j0 = 0; j0 < n; j0 += NR) {
        int nr = n - j0 < NR ? n - j0 : NR;
        const float *panel_bias = NULL;
        if (bias != NULL) {
            if (nr == NR) {
                panel_bias = bias + j0;
            } else {
                memset(padded_bias, 0, sizeof padded_bias);
                memcpy(padded_bias, bias + j0, sizeof(float) * (size_t)nr);
                panel_bias = padded_bias;
            }
        }
        const float *panel = packed + (size_t)j0 * k;
        for (int i0 = 0; i0 < m; i0 += MR) {
            int mr = m - i0 < MR ? m - i0 : MR;
            sgemm_tile(k, a + (size_t)i0 * lda, lda, panel, c + (size_t)i0 * ldc + j0, ldc, panel_bias, mr, nr);
        }
    }
}

EDGE_CLONES
void edge_add_layernorm(float *x, const float *residual, int rows, int n, const float *gamma, const float *beta, float eps) {
    #pragma clang fp reassociate(on)
    for (int r = 0; r < rows; r++) {
        float *row = x + (size_t)r * n;
        if (residual != NULL) {
            const float *res = residual + (size_t)r * n;
            for (int j = 0; j < n; j++) row[j] += res[j];
        }
        float sum = 0;
        for (int j = 0; j < n; j++) sum += row[j];
        float mean = sum / (float)n;
        float var = 0;
        for (int j = 0; j < n; j++) {
            float d = row[j] - mean;
            var += d * d;
        }
        float inv = 1.0f / sqrtf(var / (float)n + eps);
        for (int j = 0; j < n; j++) row[j] = (row[j] - mean) * inv * gamma[j] + beta[j];
    }
}

// exp(x) for x <= 0 (and moderate positive x): 2^(x log2 e) split into an integer power built in
// the exponent bits and a degree-6 polynomial on [-0.5, 0.5]; relative error < 2e-7. Branch-free,
// so loops over it vectorise.
static inline float exp_fast(float x) {
    x = x < -87.0f ? -87.0f : (x > 88.0f ? 88.0f : x);
    float t = x * 1.44269504088896341f;
    float fi = __builtin_floorf(t + 0.5f);
    float f = t - fi;
    // 2^f on [-0.5, 0.5]
    float p = 1.5353362e-4f;
    p = p * f + 1.3398874e-3f;
    p = p * f + 9.6181291e-3f;
    p = p * f + 5.5504109e-2f;
    p = p * f + 2.4022651e-1f;
    p = p * f + 6.9314718e-1f;
    p = p * f + 1.0f;
    int32_t bits = ((int32_t)fi + 127) << 23;
    float scale;
    memcpy(&scale, &bits, sizeof scale);
    return p * scale;
}

// erf(x) by Abramowitz & Stegun 7.1.26 (absolute error < 1.5e-7), with exp_fast.
static inline float erf_fast(float x) {
    float s = x < 0 ? -1.0f : 1.0f;
    float ax = x < 0 ? -x : x;
    float t = 1.0f / (1.0f + 0.3275911f * ax);
    float y = ((((1.061405429f * t - 1.453152027f) * t + 1.421413741f) * t - 0.284496736f) * t + 0.254829592f) * t;
    return s * (1.0f - y * exp_fast(-ax * ax));
}

EDGE_CLONES
void edge_gelu(float *x, size_t count) {
    for (size_t i = 0; i < count; i++) {
        float v = x[i];
        x[i] = 0.5f * v * (1.0f + erf_fast(v * 0.70710678118654752f));
    }
}

EDGE_CLONES
void edge_softmax_rows(float *x, int rows, int n, int ld, float scale) {
    #pragma clang fp reassociate(on)
    for (int r = 0; r < rows; r++) {
        float *row = x + (size_t)r * ld;
        float max = -INFINITY;
        for (int j = 0; j < n; j++) max = row[j] > max ? row[j] : max;
        float sum = 0;
        for (int j = 0; j < n; j++) {
            float e = exp_fast((row[j] - max) * scale);
            row[j] = e;
            sum += e;
        }
        float inv = 1.0f / sum;
        for (int j = 0; j < n; j++) row[j] *= inv;
    }
}

void edge_mean_pool_normalize(const float *x, int rows, int n, int ld, float *out) {
    for (int j = 0; j < n; j++) out[j] = 0;
    for (int r = 0; r < rows; r++)
        for (int j = 0; j < n; j++) out[j] += x[(size_t)r * ld + j];
    double norm = 0;
    for (int j = 0; j < n; j++) {
        out[j] /= (float)rows;
        norm += (double)out[j] * out[j];
    }
    float inv = norm > 0 ? (float)(1.0 / sqrt(norm)) : 0;
    for (int j = 0; j < n; j++) out[j] *= inv;
}

EDGE_CLONES
void edge_dot_many(const float *query, const float *vectors, int dimensions, size_t count, float *out) {
    #pragma clang fp reassociate(on)
    for (size_t v = 0; v < count; v++) {
        const float *row = vectors + v * (size_t)dimensions;
        float sum = 0;
        for (int j = 0; j < dimensions; j++) sum += query[j] * row[j];
        out[v] = sum;
    }
}

EDGE_CLONES
void edge_l2sq_many(const float *query, const float *vectors, int dimensions, size_t count, float *out) {
    #pragma clang fp reassociate(on)
    for (size_t v = 0; v < count; v++) {
        const float *row = vectors + v * (size_t)dimensions;
        float sum = 0;
        for (int j = 0; j < dimensions; j++) {
            float d = query[j] - row[j];
            sum += d * d;
        }
        out[v] = sum;
    }
}

EDGE_CLONES
float edge_dot(const float *a, const float *b, int dimensions) {
    #pragma clang fp reassociate(on)
    float sum = 0;
    for (int j = 0; j < dimensions; j++) sum += a[j] * b[j];
    return sum;
}

EDGE_CLONES
float edge_l2sq(const float *a, const float *b, int dimensions) {
    #pragma clang fp reassociate(on)
    float sum = 0;
    for (int j = 0; j < dimensions; j++) {
        float d = a[j] - b[j];
        sum += d * d;
    }
    return sum;
}

