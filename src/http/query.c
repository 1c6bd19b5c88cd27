/*
 * query.c - the query string of build_request: parameters sorted bytewise and percent-encoded
 * (RFC 3986); the list endpoint's parameters (shape_params) checked and encoded its way.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "http/http.h"

/* ===== Percent-encoding ===== */

static void add_percent_encoded(buffer *b, const char *s, size_t len)
{
    static const char hex[] = "0123456789ABCDEF";
    size_t i;

    for (i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
            c == '.' || c == '_' || c == '~') {
            buffer_addc(b, (char)c);
        } else {
            char esc[3] = { '%', hex[c >> 4], hex[c & 15] };
            buffer_add(b, esc, 3);
        }
    }
}

static void add_param(buffer *q, keyref k, const char *v, size_t vlen)
{
    if (q->len > 0)
        buffer_addc(q, '&');
    add_percent_encoded(q, k.s, k.len);
    buffer_addc(q, '=');
    add_percent_encoded(q, v, vlen);
}

/* ===== Generic parameters ===== */

static int query_error(char *err, keyref k, const char *what)
{
    snprintf(err, CORE_ERRMAX, "query '%.*s': %s", (int)(k.len < 40 ? k.len : 40), k.s, what);
    return 0;
}

/* Adds k=<the scalar at idx>; returns 0 (with err) for anything but a string, a finite number
   or a boolean. */
static int add_scalar(lua_State *L, int idx, buffer *q, keyref k, char *err)
{
    char buf[32];
    size_t len;
    const char *s;

    switch (lua_type(L, idx)) {
    case LUA_TSTRING:
        s = lua_tolstring(L, idx, &len);
        add_param(q, k, s, len);
        return 1;
    case LUA_TBOOLEAN:
        s = lua_toboolean(L, idx) ? "true" : "false";
        add_param(q, k, s, strlen(s));
        return 1;
    case LUA_TNUMBER:
        if (compat_isinteger(L, idx)) {
            len = (size_t)snprintf(buf, sizeof buf, "%lld", (long long)lua_tointeger(L, idx));
        } else {
            double v = (double)lua_tonumber(L, idx);
            if (isnan(v) || isinf(v))
                return query_error(err, k, "cannot encode NaN or infinity");
            len = json_format_double(buf, v);
        }
        add_param(q, k, buf, len);
        return 1;
    default:
        return query_error(err, k, "expected a string, number, boolean or an array of them");
    }
}

/* The length n of the array at idx (keys exactly 1..n), or -1. */
static long long array_length(lua_State *L, int idx)
{
    long long n = 0, max = 0, i;

    lua_pushnil(L);
    while (lua_next(L, idx) != 0) {
        lua_pop(L, 1);
        if (!compat_toint64(L, -1, &i) || i < 1) {
            lua_pop(L, 1);
            return -1;
        }
        if (i > max)
            max = i;
        n++;
    }
    return n == max ? n : -1;
}

static int add_generic(lua_State *L, int idx, buffer *q, keyref k, char *err)
{
    long long n, i;

    if (!lua_istable(L, idx))
        return add_scalar(L, idx, q, k, err);
    if ((n = array_length(L, idx)) < 0)
        return query_error(err, k, "expected a string, number, boolean or an array of them");
    for (i = 1; i <= n; i++) {
        lua_rawgeti(L, idx, (int)i);
        if (lua_istable(L, -1) || !add_scalar(L, lua_gettop(L), q, k, err))
            return query_error(err, k, "expected a string, number, boolean or an array of them");
        lua_pop(L, 1);
    }
    return 1;
}

/* ===== List parameters (shape_params) ===== */

/* What the Lua type of a list parameter must be. */
static const char *expected_type(const shape_field *f)
{
    switch (f->query) {
    case QUERY_REPEATED:
    case QUERY_NO_COMMA:   return "a string or an array of strings";
    case QUERY_JSON_ARRAY: return "an array of strings";
    default:               break;
    }
    switch (f->type) {
    case SHAPE_BOOLEAN: return "a boolean";
    case SHAPE_STRING:  return "a string";
    default:            return "a number";
    }
}

/* Whether the value at idx has the Lua type of list parameter f. */
static int has_type(lua_State *L, int idx, const shape_field *f)
{
    long long n, i;

    switch (f->query) {
    case QUERY_REPEATED:
    case QUERY_NO_COMMA:
        if (lua_type(L, idx) == LUA_TSTRING)
            return 1;
        /* fall through */
    case QUERY_JSON_ARRAY:
        if (!lua_istable(L, idx) || (n = array_length(L, idx)) < 0)
            return 0;
        for (i = 1; i <= n; i++) {
            int t;
            lua_rawgeti(L, idx, (int)i);
            t = lua_type(L, -1);
            lua_pop(L, 1);
            if (t != LUA_TSTRING)
                return 0;
        }
        return 1;
    default:
        break;
    }
    switch (f->type) {
    case SHAPE_BOOLEAN: return lua_type(L, idx) == LUA_TBOOLEAN;
    case SHAPE_STRING:  return lua_type(L, idx) == LUA_TSTRING;
    default:            return lua_type(L, idx) == LUA_TNUMBER;
    }
}

/* Pushes s (at most 40 bytes, anything but printable ASCII as '?') for a message. */
static const char *push_printable(lua_State *L, const char *s, size_t len)
{
    char out[41];
    size_t i, n = len < 40 ? len : 40;

    for (i = 0; i < n; i++)
        out[i] = s[i] >= 32 && s[i] < 127 ? s[i] : '?';
    out[n] = '\0';
    lua_pushstring(L, out);
    return lua_tostring(L, -1);
}

/* The messages carry no position (lua_error, not luaL_error): the caller's is the one to give,
   which the Lua layer adds (error(msg, level)). */
void query_check_params(lua_State *L, int idx)
{
    idx = compat_absindex(L, idx);
    luaL_checkstack(L, 6, "check_params");
    lua_pushnil(L);
    while (lua_next(L, idx) != 0) {
        const shape_field *f;
        const char *k;
        size_t len;
        int index;
        if (lua_type(L, -2) != LUA_TSTRING) {
            lua_pushfstring(L, "posthog.event_definitions: list parameter names must be strings, got %s",
                            luaL_typename(L, -2));
            lua_error(L);
        }
        k = lua_tolstring(L, -2, &len);
        if ((f = shape_lookup(&shape_params, k, len, &index)) == NULL || f->query == QUERY_NONE) {
            lua_pushfstring(L, "posthog.event_definitions: unknown list parameter '%s'", push_printable(L, k, len));
            lua_error(L);
        }
        if (!has_type(L, lua_gettop(L), f)) {
            lua_pushfstring(L, "posthog.event_definitions: list parameter '%s' must be %s, got %s", f->name,
                            expected_type(f), luaL_typename(L, -1));
            lua_error(L);
        }
        lua_pop(L, 1);
    }
}

/* core.check_params(params) -> nothing; raises when a key of params (a table, or nil) is not a
   parameter of the list endpoint or its value has the wrong Lua type (a misspelt key must never
   widen a selection). Values of the right type are checked by build_request. */
int core_check_params(lua_State *L)
{
    if (!lua_isnoneornil(L, 1)) {
        luaL_checktype(L, 1, LUA_TTABLE);
        query_check_params(L, 1);
    }
    return 0;
}

static int list_error(char *err, keyref k, const char *what)
{
    snprintf(err, CORE_ERRMAX, "%.*s: %s", (int)k.len, k.s, what);
    return 0;
}

/* names / ordering (a string or an array of strings, checked): one parameter per item. */
static int add_repeated(lua_State *L, int idx, buffer *q, keyref k, int no_commas, char *err)
{
    long long n = lua_type(L, idx) == LUA_TSTRING ? 0 : array_length(L, idx), i;
    size_t len;
    const char *s;

    for (i = n == 0 && lua_type(L, idx) == LUA_TSTRING ? 0 : 1; i <= n; i++) {
        if (i == 0)
            lua_pushvalue(L, idx);
        else
            lua_rawgeti(L, idx, (int)i);
        s = lua_tolstring(L, -1, &len);
        if (no_commas && memchr(s, ',', len) != NULL) {
            if (i == 0)
                return list_error(err, k, "contains a comma, which PostHog splits on");
            snprintf(err, CORE_ERRMAX, "%.*s[%lld]: contains a comma, which PostHog splits on", (int)k.len, k.s, i);
            return 0;
        }
        add_param(q, k, s, len);
        lua_pop(L, 1);
    }
    return 1;
}

/* tags / excluded_properties (an array of strings, checked): one parameter holding a compact
   JSON array. */
static int add_json_array(lua_State *L, int idx, buffer *q, buffer *tmp, keyref k)
{
    long long n = array_length(L, idx), i;

    tmp->len = 0;
    buffer_addc(tmp, '[');
    for (i = 1; i <= n; i++) {
        size_t len;
        const char *s;
        lua_rawgeti(L, idx, (int)i);
        s = lua_tolstring(L, -1, &len);
        if (i > 1)
            buffer_addc(tmp, ',');
        json_append_string(tmp, s, len);
        lua_pop(L, 1);
    }
    buffer_addc(tmp, ']');
    if (tmp->failed)
        return guard_oom(L, "build_request");
    add_param(q, k, tmp->data, tmp->len);
    return 1;
}

/* A parameter of the list endpoint (shape_params in shape.c), its Lua type already checked by
   query_check_params. */
static int add_list_param(lua_State *L, int idx, buffer *q, buffer *tmp, keyref k, char *err)
{
    const shape_field *f;
    char buf[32];
    long long v;
    int index;

    f = shape_lookup(&shape_params, k.s, k.len, &index);
    switch (f->query) {
    case QUERY_NO_COMMA:   return add_repeated(L, idx, q, k, 1, err);
    case QUERY_REPEATED:   return add_repeated(L, idx, q, k, 0, err);
    case QUERY_JSON_ARRAY: return add_json_array(L, idx, q, tmp, k);
    default:               break;
    }
    if (f->type != SHAPE_INTEGER)
        return add_scalar(L, idx, q, k, err);
    if (!compat_toint64(L, idx, &v) || v < f->min) {
        snprintf(buf, sizeof buf, "expected an integer >= %d", f->min);
        return list_error(err, k, buf);
    }
    add_param(q, k, buf, (size_t)snprintf(buf, sizeof buf, "%lld", v));
    return 1;
}

/* ===== The query ===== */

int query_build(lua_State *L, int idx, int list, guard *g, char *err)
{
    size_t n = 0, i;

    g->keys.len = 0;
    lua_pushnil(L);
    while (lua_next(L, idx) != 0) {
        keyref k;
        lua_pop(L, 1);
        if (lua_type(L, -1) != LUA_TSTRING) {
            lua_pop(L, 1);
            snprintf(err, CORE_ERRMAX, "query: parameter names must be strings");
            return 0;
        }
        k.s = lua_tolstring(L, -1, &k.len);
        buffer_add(&g->keys, &k, sizeof k);
        n++;
    }
    if (g->keys.failed)
        return guard_oom(L, "build_request");
    if (n > 1)
        qsort(g->keys.data, n, sizeof(keyref), keyref_compare);
    for (i = 0; i < n; i++) {
        keyref k = ((keyref *)(void *)g->keys.data)[i];
        int r, top = lua_gettop(L);
        lua_pushlstring(L, k.s, k.len);
        lua_rawget(L, idx);
        r = list ? add_list_param(L, top + 1, &g->aux, &g->out, k, err) : add_generic(L, top + 1, &g->aux, k, err);
        if (!r)
            return 0;
        lua_settop(L, top);
    }
    return 1;
}

