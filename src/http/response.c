/*
 * response.c - core.decode_response: a 2xx answer to the value of its shape, any other to the
 * error table (PostHog's error body, a sample of any other body, Retry-After).
 */
#include <ctype.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "http/http.h"

#define SAMPLE_MAX 100

/* ===== Retry-After ===== */

/* Seconds to wait for a Retry-After value: delay-seconds, or an HTTP-date minus now, at least
   0; -1 when the value is neither. */
static long long retry_after(const char *v, size_t len, time_t now)
{
    long long secs = 0;
    time_t t;
    size_t i;

    while (len > 0 && isspace((unsigned char)*v)) {
        v++;
        len--;
    }
    while (len > 0 && isspace((unsigned char)v[len - 1]))
        len--;
    if (len == 0)
        return -1;
    if (isdigit((unsigned char)v[0])) {
        for (i = 0; i < len; i++) {
            if (!isdigit((unsigned char)v[i]))
                return -1;
            if (secs < 100000000000LL) /* saturate absurd values */
                secs = secs * 10 + (v[i] - '0');
        }
        return secs;
    }
    if (!httpdate_parse(v, len, now, &t))
        return -1;
    return t > now ? (long long)(t - now) : 0;
}

/* ===== Body samples ===== */

/* Finds needle (lower-case ASCII) in s ignoring case. */
static const char *find_nocase(const char *s, const char *end, const char *needle)
{
    size_t n = strlen(needle);

    for (; (size_t)(end - s) >= n; s++)
        if (strncasecmp(s, needle, n) == 0)
            return s;
    return NULL;
}

/* Pushes a one-line sample of s: control characters and runs of whitespace collapsed to one
   space, trimmed, at most SAMPLE_MAX bytes, never ending inside a UTF-8 sequence. */
static void push_sample(lua_State *L, const char *s, size_t len)
{
    char out[SAMPLE_MAX];
    size_t n = 0, i;
    int space = 0;

    for (i = 0; i < len && n < SAMPLE_MAX; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c <= ' ' || c == 127) {
            space = n > 0;
            continue;
        }
        if (space) {
            out[n++] = ' ';
            space = 0;
            if (n == SAMPLE_MAX)
                break;
        }
        out[n++] = (char)c;
    }
    if (n == SAMPLE_MAX && i < len) { /* cut: drop a partial UTF-8 sequence */
        size_t start = n;
        while (start > 0 && ((unsigned char)out[start - 1] & 0xC0) == 0x80)
            start--;
        if (start > 0 && (unsigned char)out[start - 1] >= 0xC0) {
            unsigned char lead = (unsigned char)out[start - 1];
            size_t need = lead >= 0xF0 ? 4 : lead >= 0xE0 ? 3 : 2;
            if (n - (start - 1) < need)
                n = start - 1;
        }
        while (n > 0 && out[n - 1] == ' ')
            n--;
    }
    lua_pushlstring(L, out, n);
}

/* Pushes the detail of a non-JSON error body: an HTML page's <title>, else a sample of the
   body, else "HTTP <status>". */
static void push_body_detail(lua_State *L, const char *s, size_t len, int status)
{
    const char *end = s + len, *open = find_nocase(s, end, "<title"), *text, *close;

    if (open != NULL && (text = memchr(open, '>', (size_t)(end - open))) != NULL &&
        (close = find_nocase(text + 1, end, "</title")) != NULL) {
        s = text + 1;
        len = (size_t)(close - s);
    }
    push_sample(L, s, len);
    if (compat_rawlen(L, -1) == 0) {
        lua_pop(L, 1);
        lua_pushfstring(L, "HTTP %d", status);
    }
}

/* ===== decode_response ===== */

/* Whether the content-type in the headers table at idx says JSON. */
static int is_json_content_type(lua_State *L, int headers)
{
    const size_t n = sizeof "application/json" - 1;
    const char *ct;
    int json;

    if (!lua_istable(L, headers))
        return 0;
    lua_getfield(L, headers, "content-type");
    if ((ct = lua_tostring(L, -1)) == NULL) {
        lua_pop(L, 1);
        return 0;
    }
    while (*ct == ' ' || *ct == '\t')
        ct++;
    json = strncasecmp(ct, "application/json", n) == 0 && strchr("; \t", ct[n]) != NULL;
    lua_pop(L, 1); /* only now: ct points into this value */
    return json;
}

/* Copies the string fields of PostHog's error body (the table at src) into err. */
static void copy_error_fields(lua_State *L, int src, int err)
{
    static const char *const fields[] = { "type", "code", "detail", "attr" };
    int i;

    for (i = 0; i < 4; i++) {
        lua_getfield(L, src, fields[i]);
        if (lua_type(L, -1) == LUA_TSTRING)
            lua_setfield(L, err, fields[i]);
        else
            lua_pop(L, 1);
    }
}

/* Sets err.kind and returns nil, err (the error table at err). */
static int return_error(lua_State *L, int err, const char *kind)
{
    lua_pushstring(L, kind);
    lua_setfield(L, err, "kind");
    lua_pushnil(L);
    lua_pushvalue(L, err);
    return 2;
}

/* Pushes the value of a 2xx answer of the given shape and returns 1, or sets err.detail and
   returns 0. */
static int push_success(lua_State *L, int status, shape_id shape, const char *body, size_t len, int headers,
                        int err)
{
    if (shape == SHAPE_ID_NONE || (status == 204 && shape == SHAPE_ID_ANY)) {
        lua_pushboolean(L, 1);
        return 1;
    }
    if (status == 204) {
        lua_pushliteral(L, "decode: expected a JSON object, got no content (204)");
        lua_setfield(L, err, "detail");
        return 0;
    }
    if (shape == SHAPE_ID_CODEGEN && !is_json_content_type(L, headers)) {
        lua_createtable(L, 0, 1);
        lua_pushlstring(L, body, len);
        lua_setfield(L, -2, "content");
        return 1;
    }
    if (json_decode_push(L, body, len, shape, 0))
        return 1;
    lua_setfield(L, err, "detail");
    return 0;
}

/* core.decode_response(res, shape [, now]) -> value | nil, err_table. res = {status, headers
   (lower-case names), body}; shape is nil (any JSON; 204: true), "none" (true), "definition",
   "page" (results required), "bulk", "primary_properties", "object" or "codegen" (non-JSON
   content: {content = body}); a shape that wants an object makes a 204 a decode error. err =
   {kind = "decode", status, detail} for a 2xx answer of another shape, {kind = "http", status,
   type, code, detail, attr, retry_after} for any other status; now (seconds) dates Retry-After. */
int core_decode_response(lua_State *L)
{
    enum { RES = 1, SHAPE, NOW, STATUS, HEADERS, BODY, ERR };
    shape_id shape;
    const char *body;
    size_t len = 0;
    time_t now;
    int status;

    luaL_checktype(L, RES, LUA_TTABLE);
    shape = shape_opt(L, SHAPE, ~0u);
    now = (time_t)luaL_optnumber(L, NOW, (lua_Number)time(NULL));
    lua_settop(L, NOW);
    lua_getfield(L, RES, "status");
    lua_getfield(L, RES, "headers");
    lua_getfield(L, RES, "body");
    if (lua_type(L, STATUS) != LUA_TNUMBER)
        return luaL_argerror(L, RES, "field 'status': number expected");
    if (!lua_isnil(L, HEADERS) && !lua_istable(L, HEADERS))
        return luaL_argerror(L, RES, "field 'headers': table or nil expected");
    if (!lua_isnil(L, BODY) && lua_type(L, BODY) != LUA_TSTRING)
        return luaL_argerror(L, RES, "field 'body': string or nil expected");
    status = (int)lua_tointeger(L, STATUS);
    body = lua_isnil(L, BODY) ? "" : lua_tolstring(L, BODY, &len); /* anchored in slot BODY */

    lua_createtable(L, 0, 8);
    lua_pushinteger(L, status);
    lua_setfield(L, ERR, "status");

    if (status >= 200 && status < 300)
        return push_success(L, status, shape, body, len, HEADERS, ERR) ? 1 : return_error(L, ERR, "decode");

    if (lua_istable(L, HEADERS)) {
        lua_getfield(L, HEADERS, "retry-after");
        if (lua_type(L, -1) == LUA_TSTRING) {
            size_t vlen;
            const char *v = lua_tolstring(L, -1, &vlen);
            long long secs = retry_after(v, vlen, now);
            if (secs >= 0) {
                compat_pushint64(L, secs);
                lua_setfield(L, ERR, "retry_after");
            }
        }
        lua_pop(L, 1);
    }
    if (json_decode_push(L, body, len, SHAPE_ID_ANY, 0) && lua_istable(L, -1))
        copy_error_fields(L, lua_gettop(L), ERR);
    lua_settop(L, ERR);
    lua_getfield(L, ERR, "detail");
    if (lua_isnil(L, -1)) {
        push_body_detail(L, body, len, status);
        lua_setfield(L, ERR, "detail");
    }
    lua_settop(L, ERR);
    return return_error(L, ERR, "http");
}
