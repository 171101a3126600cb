/* Block layouts of the quantized types, defined once (ggml's on-disk format; C and CUDA
 * share this header). Each has a static size check against the type table. */
#ifndef HY_QUANT_BLOCKS_H
#define HY_QUANT_BLOCKS_H

#include <stdint.h>

typedef uint16_t fp16_t;   /* IEEE binary16 bits */

#define QK4_0 32
#define QK4_1 32
#define QK5_0 32
#define QK5_1 32
#define QK8_0 32
#define QK8_1 32
#define QK_K 256
#define K_SCALE_SIZE 12

typedef struct { fp16_t d; uint8_t qs[QK4_0 / 2]; } block_q4_0;
typedef struct { fp16_t d, m; uint8_t qs[QK4_1 / 2]; } block_q4_1;
typedef struct { fp16_t d; uint8_t qh[4]; uint8_t qs[QK5_0 / 2]; } block_q5_0;
typedef struct { fp16_t d, m; uint8_t qh[4]; uint8_t qs[QK5_1 / 2]; } block_q5_1;
typedef struct { fp16_t d; int8_t qs[QK8_0]; } block_q8_0;
typedef struct { fp16_t d, s; int8_t qs[QK8_1]; } block_q8_1;   /* s = d * sum(qs) */

/* 2.625 bits: 16 sub-blocks of 16; 4-bit scale and 4-bit min per sub-block */
typedef struct { uint8_t scales[QK_K / 16]; uint8_t qs[QK_K / 4]; fp16_t d, dmin; } block_q2_K;
/* 3.4375 bits: high bit mask, 2 low bits, 16 6-bit scales packed in 12 bytes */
typedef struct { uint8_t hmask[QK_K / 8]; uint8_t qs[QK_K / 4]; uint8_t scales[12]; fp16_t d; } block_q3_K;
/* 4.5 bits: 8 sub-blocks of 32; 6-bit scales and mins packed in 12 bytes */
typedef struct { fp16_t d, dmin; uint8_t scales[K_SCALE_SIZE]; uint8_t qs[QK_K / 2]; } block_q4_K;
/* 5.5 bits: as Q4_K plus a high bit per weight */
typedef struct { fp16_t d, dmin; uint8_t scales[K_SCALE_SIZE]; uint8_t qh[QK_K / 8]; uint8_t qs[QK_K / 2]; } block_q5_K;
/* 6.5625 bits: 4 low bits, 2 high bits, 16 8-bit scales */
typedef struct { uint8_t ql[QK_K / 2]; uint8_t qh[QK_K / 4]; int8_t scales[QK_K / 16]; fp16_t d; } block_q6_K;
/* activations for the K-quants: float scale, bsums = sums of 16-element groups */
typedef struct { float d; int8_t qs[QK_K]; int16_t bsums[QK_K / 16]; } block_q8_K;

_Static_assert(sizeof(block_q4_0) == 18, "block_q4_0");
_Static_assert(sizeof(block_q4_1) == 20, "block_q4_1");
_Static_assert(sizeof(block_q5_0) == 22, "block_q5_0");
_Static_assert(sizeof(block_q5_1) == 24, "block_q5_1");
_Static_assert(sizeof(block_q8_0) == 34, "block_q8_0");
_Static_assert(sizeof(block_q8_1) == 36, "block_q8_1");
_Static_assert(sizeof(block_q2_K) == 84, "block_q2_K");
_Static_assert(sizeof(block_q3_K) == 110, "block_q3_K");
_Static_assert(sizeof(block_q4_K) == 144, "block_q4_K");
_Static_assert(sizeof(block_q5_K) == 176, "block_q5_K");
_Static_assert(sizeof(block_q6_K) == 210, "block_q6_K");
_Static_assert(sizeof(block_q8_K) == 292, "block_q8_K");

#endif
