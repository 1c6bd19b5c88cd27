/*
 * json_text.c - what the decoder reads in a JSON text itself, besides its parser: where a byte
 * is (line and column, for messages), and whether a string yajl decoded may hide a surrogate
 * escape it got wrong (the escapes as written: codec/json_escape.h).
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
