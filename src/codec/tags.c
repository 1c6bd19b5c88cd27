/*
 * tags.c - tags as PostHog checks and stores them: trimmed of white space as Python's str.strip()
 * does and lower-cased code point by code point through glibc's C.UTF-8 case mapping (Python's
 * str.lower() differs only in rare cases such as a final sigma), so that a client can compare
 * its tags with the server's without a round trip.
 */
#include <locale.h>
#include <wctype.h>

#include "core.h"

static locale_t utf8_ctype; /* C.UTF-8's case mapping; (locale_t)0: ASCII only */

void tags_init(void)
{
    utf8_ctype = newlocale(LC_CTYPE_MASK, "C.UTF-8", (locale_t)0);
}

/* ===== Code points ===== */

/* Decodes the code point at s[*i] and advances *i past it. A byte that does not start a
   well-formed sequence comes back as itself with *raw set, to be kept as it is. */
static unsigned long next_code_point(const unsigned char *s, size_t len, size_t *i, int *raw)
{
    unsigned long c;
    size_t n = utf8_sequence(s, len, *i, &c);

    *raw = n == 0;
    *i += n == 0 ? 1 : n;
    return c;
}

static void append_code_point(buffer *b, unsigned long c)
{
    char out[4];
    size_t n;

    if (c < 0x80) {
        out[0] = (char)c;
        n = 1;
    } else if (c < 0x800) {
        out[0] = (char)(0xC0 | c >> 6);
        out[1] = (char)(0x80 | (c & 0x3F));
        n = 2;
    } else if (c < 0x10000) {
        out[0] = (char)(0xE0 | c >> 12);
        out[1] = (char)(0x80 | (c >> 6 & 0x3F));
        out[2] = (char)(0x80 | (c & 0x3F));
        n = 3;
    } else {
        out[0] = (char)(0xF0 | c >> 18);
        out[1] = (char)(0x80 | (c >> 12 & 0x3F));
        out[2] = (char)(0x80 | (c >> 6 & 0x3F));
        out[3] = (char)(0x80 | (c & 0x3F));
        n = 4;
    }
    buffer_add(b, out, n);
}

/* ===== Normalising ===== */

/* Python's str.isspace(): the Unicode white space characters, NBSP and U+001C..U+001F included. */
static int is_space(unsigned long c, int raw)
{
    if (raw)
        return 0;
    return c == 0x20 || (c >= 0x09 && c <= 0x0D) || (c >= 0x1C && c <= 0x1F) || c == 0x85 ||
           c == 0xA0 || c == 0x1680 || (c >= 0x2000 && c <= 0x200A) || c == 0x2028 ||
           c == 0x2029 || c == 0x202F || c == 0x205F || c == 0x3000;
}

static unsigned long lower(unsigned long c, int raw)
{
    if (raw)
        return c;
    if (utf8_ctype != (locale_t)0)
        return (unsigned long)towlower_l((wint_t)c, utf8_ctype);
    return c >= 'A' && c <= 'Z' ? c + 32 : c;
}

/* Finds the content of s: from the first to the last code point that is not white space
   (start == end when there is none); returns its length in code points. */
static size_t content(const unsigned char *s, size_t len, size_t *start, size_t *end)
{
    size_t i = 0, n = 0, count = 0;
    int raw;

    *start = len;
    *end = 0;
    while (i < len) {
        size_t at = i;
        unsigned long c = next_code_point(s, len, &i, &raw);

        n++;
        if (!is_space(c, raw)) {
            if (*start == len) {
                *start = at;
                n = 1;
            }
            *end = i;
            count = n;
        }
    }
    if (*start == len)
        *start = *end = 0;
    return count;
}

const char *tag_problem(const char *tag, size_t len)
{
    size_t start, end;

    if (!utf8_valid(tag, len))
        return "is not valid UTF-8";
    if (content((const unsigned char *)tag, len, &start, &end) > TAG_MAX_CHARS)
        return "is longer than 255 characters";
    return start == end ? "is blank" : NULL;
}

/* core.normalize_tag(tag) -> the tag trimmed of white space and lower-cased, as PostHog stores
   it (bytes that are not valid UTF-8 are kept as they are) */
int core_normalize_tag(lua_State *L)
{
    size_t len, i, start, end;
    const unsigned char *s = (const unsigned char *)luaL_checklstring(L, 1, &len);
    guard *g;
    int raw;

    content(s, len, &start, &end);
    g = guard_push(L);
    for (i = start; i < end;) {
        unsigned long c = next_code_point(s, len, &i, &raw);

        if (raw) {
            buffer_addc(&g->out, (char)c);
        } else {
            append_code_point(&g->out, lower(c, raw));
        }
    }
    if (g->out.failed)
        return guard_oom(L, "normalize_tag"); /* the guard frees the buffer */
    lua_pushlstring(L, g->out.data != NULL ? g->out.data : "", g->out.len);
    guard_release(g);
    return 1;
}
