/*
 * utf8.h - UTF-8 as RFC 3629 defines it (no overlong forms, no surrogates, nothing above
 * U+10FFFF): what Python, and so PostHog, accepts, and what the codec sends and takes.
 *
 * Header-only (static inline) and standing on its own (no core.h), so that the edge's module
 * (edge/src), which compiles no source of the client's, checks text with the same code.
 */
#ifndef PHED_UTF8_H
#define PHED_UTF8_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

/* The length (1 to 4) of the well-formed sequence at s[i], with its code point in *cp; 0
   when the bytes there start none (then *cp is s[i]). Requires i < len. */
static inline size_t utf8_sequence(const unsigned char *s, size_t len, size_t i, unsigned long *cp)
{
    unsigned char b = s[i], lo = 0x80, hi = 0xBF;
    unsigned long c;
    size_t n, k;

    *cp = b;
    if (b < 0x80)
        return 1;
    if (b >= 0xC2 && b <= 0xDF) {
        n = 1;
        c = b & 0x1F;
    } else if (b >= 0xE0 && b <= 0xEF) {
        n = 2;
        c = b & 0x0F;
        if (b == 0xE0)
            lo = 0xA0; /* overlong below U+0800 */
        else if (b == 0xED)
            hi = 0x9F; /* surrogates U+D800..U+DFFF */
    } else if (b >= 0xF0 && b <= 0xF4) {
        n = 3;
        c = b & 0x07;
        if (b == 0xF0)
            lo = 0x90; /* overlong below U+10000 */
        else if (b == 0xF4)
            hi = 0x8F; /* above U+10FFFF */
    } else {
        return 0;
    }
    if (len - i <= n)
        return 0;
    for (k = 1; k <= n; k++) {
        unsigned char t = s[i + k];
        if (t < lo || t > hi)
            return 0;
        lo = 0x80;
        hi = 0xBF;
        c = c << 6 | (t & 0x3F);
    }
    *cp = c;
    return n + 1;
}

/* Whether the len bytes at s are well-formed UTF-8 throughout. */
static inline int utf8_valid(const char *s, size_t len)
{
    const unsigned char *u = (const unsigned char *)s;
    size_t i = 0, n;
    unsigned long cp;
    uint64_t word;

    while (i < len) {
        if (u[i] < 0x80) { /* a run of ASCII, eight bytes at a time: most of what PostHog sends */
            while (len - i >= 8) {
                memcpy(&word, u + i, 8);
                if (word & 0x8080808080808080ULL)
                    break;
                i += 8;
            }
            while (i < len && u[i] < 0x80)
                i++;
            continue;
        }
        if ((n = utf8_sequence(u, len, i, &cp)) == 0)
            return 0;
        i += n;
    }
    return 1;
}

#endif
