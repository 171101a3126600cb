/* Small helpers shared by every module: checked arithmetic, alignment, time. */
#ifndef HY_UTIL_COMMON_H
#define HY_UTIL_COMMON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define HY_MIN(a, b) ((a) < (b) ? (a) : (b))
#define HY_MAX(a, b) ((a) > (b) ? (a) : (b))
#define HY_ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))
#define HY_ALIGN_UP(x, a) (((x) + ((a) - 1)) / (a) * (a))

/* true on overflow; *out = a * b (or a + b) otherwise. */
static inline bool mul_overflow_u64(uint64_t a, uint64_t b, uint64_t *out)
{
    return __builtin_mul_overflow(a, b, out);
}
static inline bool add_overflow_u64(uint64_t a, uint64_t b, uint64_t *out)
{
    return __builtin_add_overflow(a, b, out);
}

/* Monotonic seconds. */
double now_seconds(void);

/* Aligned allocation (alignment a power of two >= sizeof(void *)); free with free(). */
void *aligned_malloc(size_t align, size_t size);

#endif
