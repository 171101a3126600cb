/* Tensor element types: ggml's numbering (it is the on-disk id in GGUF files; never
 * renumber), their block geometry, and whether hypura can compute with them.
 * Kernels for the supported types live in quant.h. */
#ifndef HY_QUANT_TYPES_H
#define HY_QUANT_TYPES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum qtype {
    HY_TYPE_F32 = 0,
    HY_TYPE_F16 = 1,
    HY_TYPE_Q4_0 = 2,
    HY_TYPE_Q4_1 = 3,
    /* 4, 5: removed from ggml (Q4_2, Q4_3) */
    HY_TYPE_Q5_0 = 6,
    HY_TYPE_Q5_1 = 7,
    HY_TYPE_Q8_0 = 8,
    HY_TYPE_Q8_1 = 9,
    HY_TYPE_Q2_K = 10,
    HY_TYPE_Q3_K = 11,
    HY_TYPE_Q4_K = 12,
    HY_TYPE_Q5_K = 13,
    HY_TYPE_Q6_K = 14,
    HY_TYPE_Q8_K = 15,
    HY_TYPE_IQ2_XXS = 16,
    HY_TYPE_IQ2_XS = 17,
    HY_TYPE_IQ3_XXS = 18,
    HY_TYPE_IQ1_S = 19,
    HY_TYPE_IQ4_NL = 20,
    HY_TYPE_IQ3_S = 21,
    HY_TYPE_IQ2_S = 22,
    HY_TYPE_IQ4_XS = 23,
    HY_TYPE_I8 = 24,
    HY_TYPE_I16 = 25,
    HY_TYPE_I32 = 26,
    HY_TYPE_I64 = 27,
    HY_TYPE_F64 = 28,
    HY_TYPE_IQ1_M = 29,
    HY_TYPE_BF16 = 30,
    /* 31-33: removed (Q4_0_4_4, Q4_0_4_8, Q4_0_8_8) */
    HY_TYPE_TQ1_0 = 34,
    HY_TYPE_TQ2_0 = 35,
    /* 36-38: removed (IQ4_NL_4_4, IQ4_NL_4_8, IQ4_NL_8_8) */
    HY_TYPE_MXFP4 = 39,
    HY_TYPE_COUNT = 40,
};

struct type_info {
    const char *name;     /* "Q4_K"; NULL for ids that are not types */
    uint32_t blck;        /* elements per block */
    uint32_t bytes;       /* bytes per block */
    bool compute;         /* hypura has kernels for it as a weight type */
};

/* The info for type id t, or NULL when t is not a known type id. */
const struct type_info *type_info(uint32_t t);
const char *type_name(uint32_t t);   /* "?" for unknown ids */
/* Bytes of a row of n elements; n must be a multiple of the block size. */
static inline uint64_t type_row_bytes(const struct type_info *ti, uint64_t n)
{
    return n / ti->blck * ti->bytes;
}

#endif
