/*
 * json_escape.h - a JSON string token as written: where it starts, and its \u escapes of
 * surrogates, which yajl decodes without checking them (a lone high one becomes '?', a high one
 * before any other \u escape is combined with it into a code point of neither).
 *
 * Header-only (static inline) and standing on its own (no core.h), so that the edge's module
 * (edge/src), which compiles no source of the client's, reads bodies with the same code.
 */
#ifndef PHED_JSON_ESCAPE_H
#define PHED_JSON_ESCAPE_H

#include <stddef.h>
#include <string.h>

/* The offset of the opening quote of the string token of text that ends (closing quote
   included) at end; 0 when none is found before it. */
static inline size_t json_string_start(const char *text, size_t end)
{
    size_t i = end - 1, slashes;

    while (i-- > 0) {
        if (text[i] != '"')
            continue;
        for (slashes = 0; slashes < i && text[i - 1 - slashes] == '\\'; slashes++)
            ;
        if (slashes % 2 == 0)
            return i;
    }
    return 0;
}

/* Whether the 4 bytes at s are hex digits: then their value is in *v. */
static inline int json_hex4(const char *s, unsigned *v)
{
    unsigned n = 0;
    int i;

    for (i = 0; i < 4; i++) {
        char c = s[i];
        if (c >= '0' && c <= '9')
            n = n * 16 + (unsigned)(c - '0');
        else if ((c | 0x20) >= 'a' && (c | 0x20) <= 'f')
            n = n * 16 + (unsigned)((c | 0x20) - 'a' + 10);
        else
            return 0;
    }
    *v = n;
    return 1;
}

/* Whether the bytes at s (len of them) start with a \u escape of a low surrogate. */
static inline int json_low_surrogate_at(const char *s, size_t len)
{
    unsigned v;

    return len >= 6 && s[0] == '\\' && s[1] == 'u' && json_hex4(s + 2, &v) && v >= 0xDC00 && v <= 0xDFFF;
}

/* The first \u escape of a surrogate without its pair in the len bytes at raw, or NULL: raw is
   a string token as written (quotes excluded), or a whole JSON text (the edge's bodies: outside
   strings, no backslash is valid JSON). A backslash escapes the byte after it; a \u without 4 hex
   digits after it is no escape (the lexer refuses it) and is passed over. */
static inline const char *json_unpaired_surrogate(const char *raw, size_t len)
{
    size_t i = 0;

    while (i < len) {
        const char *p = memchr(raw + i, '\\', len - i);
        unsigned v;

        if (p == NULL)
            return NULL;
        i = (size_t)(p - raw);
        if (i + 1 < len && raw[i + 1] != 'u') {
            i += 2;
            continue;
        }
        if (i + 6 > len)
            return NULL; /* not an escape the lexer took: not ours to judge */
        if (!json_hex4(raw + i + 2, &v)) {
            i += 2;
            continue;
        }
        if (v >= 0xDC00 && v <= 0xDFFF)
            return raw + i;
        if (v >= 0xD800 && v <= 0xDBFF) {
            if (!json_low_surrogate_at(raw + i + 6, len - i - 6))
                return raw + i;
            i += 12;
            continue;
        }
        i += 6;
    }
    return NULL;
}

#endif
