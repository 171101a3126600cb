/* Unicode helpers. See unicode.h. */
#include "tokenizer/unicode.h"

uint32_t ucd_tolower(uint32_t cpt)
{
    size_t lo = 0, hi = ucd_n_lower;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (ucd_lower[mid][0] < cpt)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo < ucd_n_lower && ucd_lower[lo][0] == cpt ? ucd_lower[lo][1] : cpt;
}

uint32_t utf8_decode(const uint8_t *s, size_t n, size_t *adv)
{
    uint8_t c = s[0];
    *adv = 1;
    if (c < 0x80)
        return c;
    if (!(c & 0x40))   /* a continuation byte cannot start a sequence */
        return UINT32_MAX;
    size_t len;
    uint32_t cpt;
    if (!(c & 0x20)) {
        len = 2;
        cpt = c & 0x1f;
    } else if (!(c & 0x10)) {
        len = 3;
        cpt = c & 0x0f;
    } else if (!(c & 0x08)) {
        len = 4;
        cpt = c & 0x07;
    } else {
        return UINT32_MAX;
    }
    if (n < len)
        return UINT32_MAX;
    for (size_t i = 1; i < len; i++) {
        if ((s[i] & 0xc0) != 0x80)
            return UINT32_MAX;
        cpt = (cpt << 6) | (s[i] & 0x3f);
    }
    *adv = len;
    return cpt;
}

size_t utf8_encode(uint32_t cpt, uint8_t *out)
{
    if (cpt < 0x80) {
        out[0] = (uint8_t)cpt;
        return 1;
    }
    if (cpt < 0x800) {
        out[0] = (uint8_t)(0xc0 | (cpt >> 6));
        out[1] = (uint8_t)(0x80 | (cpt & 0x3f));
        return 2;
    }
    if (cpt < 0x10000) {
        out[0] = (uint8_t)(0xe0 | (cpt >> 12));
        out[1] = (uint8_t)(0x80 | ((cpt >> 6) & 0x3f));
        out[2] = (uint8_t)(0x80 | (cpt & 0x3f));
        return 3;
    }
    if (cpt < 0x110000) {
        out[0] = (uint8_t)(0xf0 | (cpt >> 18));
        out[1] = (uint8_t)(0x80 | ((cpt >> 12) & 0x3f));
        out[2] = (uint8_t)(0x80 | ((cpt >> 6) & 0x3f));
        out[3] = (uint8_t)(0x80 | (cpt & 0x3f));
        return 4;
    }
    return 0;
}

/* GPT-2's bytes_to_unicode(): bytes '!'..'~', 0xA1..0xAC and 0xAE..0xFF keep their value;
 * the rest (0x00..0x20, 0x7F..0xA0, 0xAD), in increasing order, take 256, 257, ... */
static int bpe_byte_is_printable(unsigned b)
{
    return (b >= 0x21 && b <= 0x7e) || (b >= 0xa1 && b <= 0xac) || (b >= 0xae && b <= 0xff);
}

uint32_t bpe_byte_to_cpt(uint8_t b)
{
    if (bpe_byte_is_printable(b))
        return b;
    if (b <= 0x20)
        return 256u + b;
    if (b >= 0x7f && b <= 0xa0)
        return 256u + 33 + (b - 0x7fu);
    return 256u + 33 + 34;   /* 0xAD */
}

int bpe_cpt_to_byte(uint32_t cpt)
{
    if (cpt < 256)
        return bpe_byte_is_printable(cpt) ? (int)cpt : -1;
    if (cpt < 256 + 33)
        return (int)(cpt - 256);
    if (cpt < 256 + 33 + 34)
        return (int)(cpt - 256 - 33 + 0x7f);
    if (cpt == 256 + 33 + 34)
        return 0xad;
    return -1;
}
