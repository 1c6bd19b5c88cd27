/*
 * request.c - core.build_request: method, URL with an encoded query, headers and body.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core.h"

/* Stack slots of build_request's fields (argument 1 is the table). */
enum { ARG_T = 1, F_METHOD, F_BASE, F_PATH, F_QUERY, F_QUERY_SHAPE, F_BODY, F_BODY_SHAPE, F_KEY,
       F_USER_AGENT, F_HEADERS, F_TIMEOUT, F_GUARD };

static const char *const field_names[] = { "method", "base", "path", "query", "query_shape", "body",
                                           "body_shape", "key", "user_agent", "headers", "timeout" };

/* ===== Argument types (wrong types raise) ===== */

static void check_field(lua_State *L, int slot, unsigned types, const char *expected)
{
    if (!(types & (1u << lua_type(L, slot)))) {
        const char *msg = lua_pushfstring(L, "field '%s': %s expected, got %s", field_names[slot - F_METHOD],
                                          expected, luaL_typename(L, slot));
        luaL_argerror(L, ARG_T, msg);
    }
}

#define T(type) (1u << (type))

/* ===== Query encoding ===== */

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

static int list_error(char *err, keyref k, const char *what)
{
    snprintf(err, CORE_ERRMAX, "%.*s: %s", (int)k.len, k.s, what);
    return 0;
}

/* Checks that idx holds an array of strings (a lone string too when one_ok); returns its
   length (0 for a lone string), or -1. */
static long long string_items(lua_State *L, int idx, int one_ok)
{
    long long n, i;

    if (one_ok && lua_type(L, idx) == LUA_TSTRING)
        return 0;
    if (!lua_istable(L, idx) || (n = array_length(L, idx)) < 0)
        return -1;
    for (i = 1; i <= n; i++) {
        int t;
        lua_rawgeti(L, idx, (int)i);
        t = lua_type(L, -1);
        lua_pop(L, 1);
        if (t != LUA_TSTRING)
            return -1;
    }
    return n;
}

/* names / ordering: a string or an array of strings, one parameter per item. */
static int add_repeated(lua_State *L, int idx, buffer *q, keyref k, int no_commas, char *err)
{
    long long n = string_items(L, idx, 1), i;
    size_t len;
    const char *s;

    if (n < 0)
        return list_error(err, k, "expected a string or an array of strings");
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

/* tags / excluded_properties: one parameter holding a compact JSON array of strings. */
static int add_json_array(lua_State *L, int idx, buffer *q, buffer *tmp, keyref k, char *err)
{
    long long n = string_items(L, idx, 0), i;

    if (n < 0)
        return list_error(err, k, "expected an array of strings");
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
    if (!tmp->failed)
        add_param(q, k, tmp->data, tmp->len);
    return 1;
}

static int key_is(keyref k, const char *name)
{
    return k.len == strlen(name) && memcmp(k.s, name, k.len) == 0;
}

/* A parameter of the list endpoint (lua-api.md, "params for list/each/all"); 2 = not one. */
static int add_list_param(lua_State *L, int idx, buffer *q, buffer *tmp, keyref k, char *err)
{
    long long v;

    if (key_is(k, "names"))
        return add_repeated(L, idx, q, k, 1, err);
    if (key_is(k, "ordering"))
        return add_repeated(L, idx, q, k, 0, err);
    if (key_is(k, "tags") || key_is(k, "excluded_properties"))
        return add_json_array(L, idx, q, tmp, k, err);
    if (key_is(k, "exclude_stale") || key_is(k, "exclude_hidden") || key_is(k, "verified"))
        return lua_isboolean(L, idx) ? add_scalar(L, idx, q, k, err) : list_error(err, k, "expected a boolean");
    if (key_is(k, "search") || key_is(k, "event_type"))
        return lua_type(L, idx) == LUA_TSTRING ? add_scalar(L, idx, q, k, err) : list_error(err, k, "expected a string");
    if (key_is(k, "limit") || key_is(k, "offset")) {
        long long min = key_is(k, "limit") ? 1 : 0;
        char buf[32];
        if (!compat_toint64(L, idx, &v) || v < min)
            return list_error(err, k, min == 1 ? "expected an integer >= 1" : "expected an integer >= 0");
        add_param(q, k, buf, (size_t)snprintf(buf, sizeof buf, "%lld", v));
        return 1;
    }
    return 2;
}

/* Writes the query table at idx into g->aux (g->out serves as scratch), keys sorted bytewise. */
static int build_query(lua_State *L, int idx, int list, guard *g, char *err)
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
        luaL_error(L, "build_request: not enough memory");
    if (n > 1)
        qsort(g->keys.data, n, sizeof(keyref), keyref_compare);
    for (i = 0; i < n; i++) {
        keyref k = ((keyref *)(void *)g->keys.data)[i];
        int r = 2, top = lua_gettop(L);
        lua_pushlstring(L, k.s, k.len);
        lua_rawget(L, idx);
        if (list)
            r = add_list_param(L, top + 1, &g->aux, &g->out, k, err);
        if (r == 2)
            r = add_generic(L, top + 1, &g->aux, k, err);
        if (!r)
            return 0;
        lua_settop(L, top);
    }
    return 1;
}

/* ===== Headers ===== */

/* "contains CR or LF" / "contains NUL" when a header value could split the request, or NULL. */
static const char *header_value_problem(const char *s, size_t len)
{
    if (memchr(s, '\r', len) != NULL || memchr(s, '\n', len) != NULL)
        return "contains CR or LF";
    if (memchr(s, '\0', len) != NULL)
        return "contains NUL";
    return NULL;
}

static int is_token(const char *s, size_t len)
{
    size_t i;

    if (len == 0)
        return 0;
    for (i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c <= 32 || c >= 127 || strchr("\"(),/:;<=>?@[\\]{}", c) != NULL)
            return 0;
    }
    return 1;
}

/* Fills the headers table at hidx: defaults first, then the extra headers (which replace a
   default of the same name, compared case-insensitively). Returns 0 with err on a bad value. */
static int build_headers(lua_State *L, int hidx, int has_body, char *err)
{
    static const char *const defaults[] = { "Authorization", "User-Agent", "Accept", "Content-Type" };
    size_t len;
    const char *s, *problem;
    int i;

    s = lua_tolstring(L, F_KEY, &len);
    if (len == 0) {
        snprintf(err, CORE_ERRMAX, "personal_api_key is empty");
        return 0;
    }
    if ((problem = header_value_problem(s, len)) != NULL) {
        snprintf(err, CORE_ERRMAX, "personal_api_key %s", problem);
        return 0;
    }
    lua_pushliteral(L, "Bearer ");
    lua_pushvalue(L, F_KEY);
    lua_concat(L, 2);
    lua_setfield(L, hidx, "Authorization");
    if (lua_type(L, F_USER_AGENT) == LUA_TSTRING) {
        s = lua_tolstring(L, F_USER_AGENT, &len);
        if ((problem = header_value_problem(s, len)) != NULL) {
            snprintf(err, CORE_ERRMAX, "header 'User-Agent' %s", problem);
            return 0;
        }
        lua_pushvalue(L, F_USER_AGENT);
        lua_setfield(L, hidx, "User-Agent");
    }
    lua_pushliteral(L, "application/json");
    lua_setfield(L, hidx, "Accept");
    if (has_body) {
        lua_pushliteral(L, "application/json");
        lua_setfield(L, hidx, "Content-Type");
    }
    if (lua_isnil(L, F_HEADERS))
        return 1;
    lua_pushnil(L);
    while (lua_next(L, F_HEADERS) != 0) {
        const char *name;
        size_t nlen;
        if (lua_type(L, -2) != LUA_TSTRING || lua_type(L, -1) != LUA_TSTRING) {
            lua_pop(L, 2);
            snprintf(err, CORE_ERRMAX, "headers: names and values must be strings");
            return 0;
        }
        name = lua_tolstring(L, -2, &nlen);
        if (!is_token(name, nlen)) {
            lua_pop(L, 2);
            snprintf(err, CORE_ERRMAX, "headers: a header name is not a valid HTTP token");
            return 0;
        }
        s = lua_tolstring(L, -1, &len);
        if ((problem = header_value_problem(s, len)) != NULL) {
            snprintf(err, CORE_ERRMAX, "header '%.*s' %s", (int)(nlen < 40 ? nlen : 40), name, problem);
            lua_pop(L, 2);
            return 0;
        }
        for (i = 0; i < 4; i++)
            if (strlen(defaults[i]) == nlen && strncasecmp(name, defaults[i], nlen) == 0 &&
                strcmp(name, defaults[i]) != 0) {
                lua_pushnil(L);
                lua_setfield(L, hidx, defaults[i]);
            }
        lua_pushvalue(L, -2);
        lua_insert(L, -2);
        lua_rawset(L, hidx);
    }
    return 1;
}

/* ===== build_request ===== */

static int is_method(const char *m)
{
    static const char *const methods[] = { "GET", "POST", "PUT", "PATCH", "DELETE" };
    size_t i;

    for (i = 0; i < sizeof methods / sizeof methods[0]; i++)
        if (strcmp(m, methods[i]) == 0)
            return 1;
    return 0;
}

static int has_unsafe_url_char(const char *s, size_t len)
{
    size_t i;

    for (i = 0; i < len; i++)
        if ((unsigned char)s[i] <= 32 || s[i] == 127)
            return 1;
    return 0;
}

static int fail(lua_State *L, guard *g, const char *msg)
{
    guard_release(g);
    lua_pushnil(L);
    lua_pushstring(L, msg);
    return 2;
}

/* core.build_request(t) -> req | nil, message */
int core_build_request(lua_State *L)
{
    char err[CORE_ERRMAX];
    const char *method, *base, *path;
    size_t blen, plen;
    shape_id body_shape;
    int i, has_body, req;
    guard *g;

    luaL_checktype(L, ARG_T, LUA_TTABLE);
    lua_settop(L, ARG_T);
    for (i = F_METHOD; i < F_GUARD; i++)
        lua_getfield(L, ARG_T, field_names[i - F_METHOD]);
    check_field(L, F_METHOD, T(LUA_TSTRING), "string");
    check_field(L, F_BASE, T(LUA_TSTRING), "string");
    check_field(L, F_PATH, T(LUA_TSTRING), "string");
    check_field(L, F_QUERY, T(LUA_TTABLE) | T(LUA_TNIL), "table or nil");
    check_field(L, F_QUERY_SHAPE, T(LUA_TSTRING) | T(LUA_TNIL), "string or nil");
    check_field(L, F_BODY, T(LUA_TTABLE) | T(LUA_TSTRING) | T(LUA_TNIL), "table, string or nil");
    check_field(L, F_BODY_SHAPE, T(LUA_TSTRING) | T(LUA_TNIL), "string or nil");
    check_field(L, F_KEY, T(LUA_TSTRING), "string");
    check_field(L, F_USER_AGENT, T(LUA_TSTRING) | T(LUA_TNIL), "string or nil");
    check_field(L, F_HEADERS, T(LUA_TTABLE) | T(LUA_TNIL), "table or nil");
    check_field(L, F_TIMEOUT, T(LUA_TNUMBER) | T(LUA_TNIL), "number or nil");
    if (!lua_isnil(L, F_QUERY_SHAPE) && strcmp(lua_tostring(L, F_QUERY_SHAPE), "list") != 0)
        luaL_argerror(L, ARG_T, "field 'query_shape': unknown shape (expected \"list\" or nil)");
    body_shape = shape_opt(L, F_BODY_SHAPE, 1u << SHAPE_ID_DEFINITION);
    g = guard_push(L);

    method = lua_tostring(L, F_METHOD);
    if (!is_method(method))
        return fail(L, g, "method: expected GET, POST, PUT, PATCH or DELETE");
    base = lua_tolstring(L, F_BASE, &blen);
    path = lua_tolstring(L, F_PATH, &plen);
    if (plen == 0 || path[0] != '/')
        return fail(L, g, "path: expected an absolute path (starting with '/')");
    if (has_unsafe_url_char(base, blen) || has_unsafe_url_char(path, plen))
        return fail(L, g, "url: contains a space or a control character");
    if (!lua_isnil(L, F_TIMEOUT) && !(lua_tonumber(L, F_TIMEOUT) > 0))
        return fail(L, g, "timeout: expected a positive number of seconds");

    lua_createtable(L, 0, 7);
    req = lua_gettop(L);
    lua_pushvalue(L, F_METHOD);
    lua_setfield(L, req, "method");
    lua_pushvalue(L, F_TIMEOUT);
    lua_setfield(L, req, "timeout");

    /* body */
    has_body = !lua_isnil(L, F_BODY);
    if (lua_istable(L, F_BODY)) {
        if (!json_encode_append(L, F_BODY, body_shape, &g->out, &g->keys, err))
            return fail(L, g, err);
        lua_pushlstring(L, g->out.data, g->out.len);
        g->out.len = 0;
    } else {
        lua_pushvalue(L, F_BODY);
    }
    lua_setfield(L, req, "body");

    /* headers */
    lua_createtable(L, 0, 4);
    if (!build_headers(L, lua_gettop(L), has_body, err))
        return fail(L, g, err);
    lua_setfield(L, req, "headers");

    /* path with query, then url */
    if (lua_istable(L, F_QUERY) && !build_query(L, F_QUERY, !lua_isnil(L, F_QUERY_SHAPE), g, err))
        return fail(L, g, err);
    g->out.len = 0;
    buffer_add(&g->out, path, plen);
    if (g->aux.len > 0) {
        buffer_addc(&g->out, memchr(path, '?', plen) != NULL ? '&' : '?');
        buffer_add(&g->out, g->aux.data, g->aux.len);
    }
    if (g->out.failed || g->aux.failed)
        luaL_error(L, "build_request: not enough memory");
    lua_pushlstring(L, g->out.data, g->out.len);
    lua_setfield(L, req, "path");
    lua_pushvalue(L, F_BASE);
    lua_pushlstring(L, g->out.data, g->out.len);
    lua_concat(L, 2);
    lua_setfield(L, req, "url");
    guard_release(g);
    return 1;
}
