/* AVX2 kernels (with FMA, F16C, BMI2). Placeholder: everything falls back to the reference. */
#include "quant/quant_impl.h"

const struct quant_kernels quant_table_avx2[HY_TYPE_COUNT] = {
    [HY_TYPE_F32] = {.type = HY_TYPE_F32},
};
