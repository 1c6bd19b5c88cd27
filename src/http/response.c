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
#define RETRY_AFTER_429 60 /* a 429 without a readable Retry-After: PostHog's shortest throttle window */

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

/* Pushes a one-line sample of s: white space and control characters (C0, DEL, C1, U+2028 and
   U+2029) collapsed to one space, bytes that are not UTF-8 as '?', trimmed, at most SAMPLE_MAX
   bytes, never ending inside a UTF-8 sequence. */
static void push_sample(lua_State *L, const char *s, size_t len)
{
    const unsigned char *u = (const unsigned char *)s;
    char out[SAMPLE_MAX];
    size_t n = 0, i = 0;
    int space = 0;

    while (i < len) {
        unsigned long c;
        size_t k = utf8_sequence(u, len, i, &c);
        if (c <= ' ' || c == 127 || (k > 1 && ((c >= 0x80 && c <= 0x9F) || c == 0x2028 || c == 0x2029))) {
            space = n > 0;
            i += k > 0 ? k : 1;
            continue;
        }
        if (n + space + (k > 0 ? k : 1) > SAMPLE_MAX)
            break;
        if (space) {
            out[n++] = ' ';
            space = 0;
        }
        if (k == 0) {
            out[n++] = '?';
            i++;
        } else {
            memcpy(out + n, s + i, k);
            n += k;
            i += k;
        }
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

/* Copies the string fields of PostHog's error body (the table at src) into err; an empty one
   says nothing (an empty detail falls back to a sample of the body). */
static void copy_error_fields(lua_State *L, int src, int err)
{
    static const char *const fields[] = { "type", "code", "detail", "attr" };
    int i;

    for (i = 0; i < 4; i++) {
        lua_getfield(L, src, fields[i]);
        if (lua_type(L, -1) == LUA_TSTRING && compat_rawlen(L, -1) > 0)
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
    if (status == 204 && (shape == SHAPE_ID_NONE || shape == SHAPE_ID_ANY)) {
        lua_pushboolean(L, 1);
        return 1;
    }
    if (shape == SHAPE_ID_NONE) { /* another 2xx: an empty body or a JSON object */
        size_t i = 0;
        while (i < len && strchr(" \t\r\n", body[i]) != NULL && body[i] != '\0')
            i++;
        if (i == len || json_decode_push(L, body, len, SHAPE_ID_OBJECT, 0)) {
            lua_pushboolean(L, 1);
            return 1;
        }
        lua_setfield(L, err, "detail");
        return 0;
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
   (lower-case names), body}; shape is nil (any JSON; 204: true), "none" (true for a 204, or
   another 2xx whose body is empty or a JSON object; any other body is a decode error), "definition",
   "page" (results required), "bulk", "primary_properties", "object" or "codegen" (non-JSON
   content: {content = body}); a shape that wants an object makes a 204 a decode error. err =
   {kind = "decode", status, detail} for a 2xx answer of another shape, {kind = "http", status,
   type, code, detail, attr, retry_after} for any other status; now (seconds) dates Retry-After.
   A 429 whose Retry-After is absent or unreadable has retry_after = 60. */
int core_decode_response(lua_State *L)
{
    enum { RES = 1, SHAPE, NOW, STATUS, HEADERS, BODY, ERR };
    shape_id shape;
    const char *body;
    size_t len = 0;
    long long secs = -1;
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
            secs = retry_after(v, vlen, now);
        }
        lua_pop(L, 1);
    }
    if (secs < 0 && status == 429)
        secs = RETRY_AFTER_429;
    if (secs >= 0) {
        compat_pushint64(L, secs);
        lua_setfield(L, ERR, "retry_after");
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
