/* AVX-512 kernels. Placeholder: everything falls back to the reference. */
#include "quant/quant_impl.h"

const struct quant_kernels quant_table_avx512[HY_TYPE_COUNT] = {
    [HY_TYPE_F32] = {.type = HY_TYPE_F32},
};
