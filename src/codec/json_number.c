/*
 * json_number.c - JSON numbers both ways: integers stay integers (int64), other numbers are
 * doubles written so that they read back exactly, whatever the process's LC_NUMERIC.
 */
#include <locale.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "codec/json.h"

/* ===== Writing ===== */

size_t json_format_double(char *buf, double v)
{
    const char *point = localeconv()->decimal_point;
    int n = 0, prec;
    char *p;

    if (compat_integral(v))
        return (size_t)snprintf(buf, 32, "%lld", (long long)v);
    for (prec = 15; prec <= 17; prec++) {
        n = snprintf(buf, 32, "%.*g", prec, v);
        if (strtod(buf, NULL) == v)
            break;
    }
    /* %g follows LC_NUMERIC; JSON wants '.' */
    if (point[0] != '.' && point[0] != '\0' && (p = strchr(buf, point[0])) != NULL)
        *p = '.';
    return (size_t)n;
}

/* ===== Reading ===== */

int json_parse_int64(const char *s, size_t len, long long *out)
{
    unsigned long long v = 0, limit;
    size_t i = 0;
    int neg = 0;

    if (len > 0 && s[0] == '-') {
        neg = 1;
        i = 1;
    }
    if (i == len)
        return 0;
    limit = neg ? 9223372036854775808ull : 9223372036854775807ull;
    for (; i < len; i++) {
        unsigned c = (unsigned)(s[i] - '0');
        if (c > 9 || v > (limit - c) / 10)
            return 0;
        v = v * 10 + c;
    }
    *out = neg ? (long long)(0 - v) : (long long)v;
    return 1;
}

double json_parse_double(lua_State *L, const char *s, size_t len, buffer *scratch)
{
    const char *point = localeconv()->decimal_point;
    char local[64], *copy = local, *p;

    if (len >= sizeof local) {
        scratch->len = 0;
        if (!buffer_reserve(scratch, len + 1))
            return (double)guard_oom(L, "decode");
        copy = scratch->data;
    }
    memcpy(copy, s, len);
    copy[len] = '\0';
    /* strtod follows LC_NUMERIC; JSON has '.' */
    if (point[0] != '.' && point[0] != '\0' && (p = strchr(copy, '.')) != NULL)
        *p = point[0];
    return strtod(copy, NULL);
}
