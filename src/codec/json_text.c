/*
 * json_text.c - what the decoder reads in a JSON text itself, besides its parser: where a byte
 * is (line and column, for messages), and the escapes of a string as written, which yajl
 * decodes without checking surrogates (a lone high one becomes '?', a high one before any
 * other \u escape is combined with it into a code point of neither).
 */
#include <stdint.h>
#include <string.h>

#include "codec/json.h"

void json_text_position(const char *text, size_t pos, size_t *line, size_t *column)
{
    size_t i, start = 0, n = 1, chars = 0;

    for (i = 0; i < pos; i++)
        if (text[i] == '\n') {
            n++;
            start = i + 1;
        }
    for (i = start; i < pos; i++)
        chars += ((unsigned char)text[i] & 0xC0) != 0x80; /* not a continuation byte */
    *line = n;
    *column = chars + 1;
}

size_t json_string_start(const char *text, size_t end)
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

int json_string_plain(const unsigned char *s, size_t len)
{
    const uint64_t high = 0x8080808080808080ULL, ones = 0x0101010101010101ULL;
    const uint64_t question = 0x3F3F3F3F3F3F3F3FULL;
    size_t i = 0, n;
    unsigned long cp;
    uint64_t word, q;

    while (i < len) {
        if (i + 8 <= len) { /* eight bytes at a time: ASCII without '?' (a zero byte of q) */
            memcpy(&word, s + i, 8);
            q = word ^ question;
            if (((word | ((q - ones) & ~q)) & high) == 0) {
                i += 8;
                continue;
            }
        }
        if (s[i] < 0x80) {
            if (s[i] == '?')
                return 0;
            i++;
        } else if (s[i] >= 0xF0 || (n = utf8_sequence(s, len, i, &cp)) == 0) {
            return 0;
        } else {
            i += n;
        }
    }
    return 1;
}

/* The value of the 4 hex digits at s (checked by the lexer already). */
static unsigned hex4(const char *s)
{
    unsigned v = 0;
    int i;

    for (i = 0; i < 4; i++) {
        char c = s[i];
        v = v * 16 + (unsigned)(c <= '9' ? c - '0' : (c | 0x20) - 'a' + 10);
    }
    return v;
}

/* Whether the 6 bytes at s (of the len left) are a \u escape of a low surrogate. */
static int low_surrogate_at(const char *s, size_t len)
{
    unsigned v;

    if (len < 6 || s[0] != '\\' || s[1] != 'u')
        return 0;
    v = hex4(s + 2);
    return v >= 0xDC00 && v <= 0xDFFF;
}

const char *json_unpaired_surrogate(const char *raw, size_t len)
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
        v = hex4(raw + i + 2);
        if (v >= 0xDC00 && v <= 0xDFFF)
            return raw + i;
        if (v >= 0xD800 && v <= 0xDBFF) {
            if (!low_surrogate_at(raw + i + 6, len - i - 6))
                return raw + i;
            i += 12;
            continue;
        }
        i += 6;
    }
    return NULL;
}
