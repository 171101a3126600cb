/* Sizes, time, aligned memory. */
#include "util/common.h"
#include "hypura.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

double now_seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

double hy_now_seconds(void)
{
    return now_seconds();
}

void *aligned_malloc(size_t align, size_t size)
{
    void *p = NULL;
    if (size == 0)
        size = align;
    if (posix_memalign(&p, align, size) != 0)
        return NULL;
    return p;
}

int hy_parse_size(const char *s, uint64_t *out)
{
    /* digits, optionally a fraction: strtod alone would also take "0x1p31", " 2", "1e9" */
    if (!s || !isdigit((unsigned char)*s))
        return -EINVAL;
    const char *q = s;
    while (isdigit((unsigned char)*q))
        q++;
    bool frac = *q == '.';
    if (frac && !isdigit((unsigned char)q[1]))
        return -EINVAL;
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (frac) {
        for (q++; isdigit((unsigned char)*q); q++)
            ;
    }
    if (end != q)
        return -EINVAL;
    if (errno || end == s || !(v >= 0) || !isfinite(v))
        return -EINVAL;
    double mul = 1;
    switch (toupper((unsigned char)*end)) {
    case 'K': mul = 1024.0; end++; break;
    case 'M': mul = 1024.0 * 1024; end++; break;
    case 'G': mul = 1024.0 * 1024 * 1024; end++; break;
    case 'T': mul = 1024.0 * 1024 * 1024 * 1024; end++; break;
    default: break;
    }
    if (mul > 1 && toupper((unsigned char)*end) == 'I')
        end++; /* "2GiB" */
    if (toupper((unsigned char)*end) == 'B')
        end++;
    if (*end || (frac && mul == 1)) /* no fractions of a byte */
        return -EINVAL;
    double b = v * mul;
    if (b >= 18446744073709551615.0)
        return -EINVAL;
    *out = (uint64_t)b;
    return 0;
}

/* Length of the well-formed UTF-8 character at s (RFC 3629), or 0. */
static size_t utf8_valid_len(const unsigned char *s)
{
    unsigned char c = s[0];
    if (c < 0x80)
        return 1;
    size_t n = c >= 0xc2 && c <= 0xdf ? 2 : c >= 0xe0 && c <= 0xef ? 3 : c >= 0xf0 && c <= 0xf4 ? 4 : 0;
    if (!n)
        return 0;
    /* the second byte's range rules out overlongs, surrogates and code points > U+10FFFF */
    unsigned char lo = c == 0xe0 ? 0xa0 : c == 0xf0 ? 0x90 : 0x80;
    unsigned char hi = c == 0xed ? 0x9f : c == 0xf4 ? 0x8f : 0xbf;
    if (s[1] < lo || s[1] > hi)
        return 0;
    for (size_t i = 2; i < n; i++)
        if ((s[i] & 0xc0) != 0x80)
            return 0;
    return n;
}

char *hy_utf8_clean(const char *s)
{
    size_t n = strlen(s), o = 0;
    char *out = malloc(3 * n + 1); /* each bad byte becomes 3 */
    if (!out)
        return NULL;
    for (size_t i = 0; i < n;) {
        size_t k = utf8_valid_len((const unsigned char *)s + i); /* stops at the NUL */
        if (k) {
            memcpy(out + o, s + i, k);
            o += k;
            i += k;
        } else {
            memcpy(out + o, "\xef\xbf\xbd", 3);
            o += 3;
            i++;
        }
    }
    out[o] = 0;
    return out;
}

char *hy_format_size(uint64_t bytes, char *buf, size_t len)
{
    static const char *unit[] = {"B", "KiB", "MiB", "GiB", "TiB"};
    double v = (double)bytes;
    int u = 0;
    while (v >= 1024 && u < 4) {
        v /= 1024;
        u++;
    }
    if (u == 0)
        snprintf(buf, len, "%llu B", (unsigned long long)bytes);
    else
        snprintf(buf, len, "%.2f %s", v, unit[u]);
    return buf;
}
