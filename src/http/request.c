/*
 * request.c - core.build_request: method, URL with an encoded query (query.c), headers and
 * body (the codec).
 */
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "http/http.h"

/* Stack slots of build_request's fields (argument 1 is the table). */
enum { ARG_T = 1, F_METHOD, F_BASE, F_PATH, F_QUERY, F_QUERY_SHAPE, F_BODY, F_BODY_SHAPE, F_KEY,
       F_USER_AGENT, F_HEADERS, F_TIMEOUT, F_GUARD };

static const char *const field_names[] = { "method", "base", "path", "query", "query_shape", "body",
                                           "body_shape", "key", "user_agent", "headers", "timeout" };

/* ===== Argument types (wrong types raise) ===== */

#define T(type) (1u << (type))

/* The Lua types each field may have, in slot order, and how to say so. */
static const struct {
    unsigned types;
    const char *expected;
} field_types[] = {
    { T(LUA_TSTRING), "string" },                                 /* method */
    { T(LUA_TSTRING), "string" },                                 /* base */
    { T(LUA_TSTRING), "string" },                                 /* path */
    { T(LUA_TTABLE) | T(LUA_TNIL), "table or nil" },              /* query */
    { T(LUA_TSTRING) | T(LUA_TNIL), "string or nil" },            /* query_shape */
    { T(LUA_TTABLE) | T(LUA_TSTRING) | T(LUA_TNIL), "table, string or nil" }, /* body */
    { T(LUA_TSTRING) | T(LUA_TNIL), "string or nil" },            /* body_shape */
    { T(LUA_TSTRING), "string" },                                 /* key */
    { T(LUA_TSTRING) | T(LUA_TNIL), "string or nil" },            /* user_agent */
    { T(LUA_TTABLE) | T(LUA_TNIL), "table or nil" },              /* headers */
    { T(LUA_TNUMBER) | T(LUA_TNIL), "number or nil" },            /* timeout */
};

/* Reads every field of the table into its slot; raises on a field of the wrong type. */
static int get_fields(lua_State *L)
{
    int slot;

    for (slot = F_METHOD; slot < F_GUARD; slot++) {
        int i = slot - F_METHOD;
        lua_getfield(L, ARG_T, field_names[i]);
        if (!(field_types[i].types & T(lua_type(L, slot))))
            return luaL_argerror(L, ARG_T, lua_pushfstring(L, "field '%s': %s expected, got %s", field_names[i],
                                                           field_types[i].expected, luaL_typename(L, slot)));
    }
    if (!lua_isnil(L, F_QUERY_SHAPE) && strcmp(lua_tostring(L, F_QUERY_SHAPE), "list") != 0)
        return luaL_argerror(L, ARG_T, "field 'query_shape': unknown shape (expected \"list\" or nil)");
    if (!lua_isnil(L, F_QUERY_SHAPE) && lua_istable(L, F_QUERY))
        query_check_params(L, F_QUERY);
    return 0;
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

/* Whether name is a header that frames the message on the wire, which only the transport may
   set: a caller's Content-Length or Transfer-Encoding would make the server read the rest of
   the body as another request on a kept-alive connection. */
static int is_framing(const char *name, size_t len)
{
    static const char *const framing[] = { "Host", "Content-Length", "Transfer-Encoding", "Connection" };
    size_t i;

    for (i = 0; i < sizeof framing / sizeof framing[0]; i++)
        if (strlen(framing[i]) == len && strncasecmp(name, framing[i], len) == 0)
            return 1;
    return 0;
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
        if (is_framing(name, nlen)) {
            snprintf(err, CORE_ERRMAX, "header '%.*s' is the transport's to set", (int)nlen, name);
            lua_pop(L, 2);
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

/* The tags of a body without a shape (bulk_update_tags'): a top-level "tags" array's strings
   are checked as tags. */
static int check_body_tags(lua_State *L, char *err)
{
    int ok = 1;

    lua_pushliteral(L, "tags");
    lua_rawget(L, F_BODY);
    if (lua_istable(L, -1))
        ok = json_check_items(L, lua_gettop(L), "tags", 1, err);
    lua_pop(L, 1);
    return ok;
}

static int fail(lua_State *L, guard *g, const char *msg)
{
    guard_release(g);
    return core_fail(L, "validation", msg);
}

/* core.build_request(t) -> req | nil, {kind = "validation", detail}; t = {method, base, path,
   query, query_shape ("list"), body (table or string), body_shape ("definition"), key,
   user_agent, headers, timeout}; req = {method, url, path, headers, body, timeout}.
   Refused: a body that is not valid UTF-8 (any string or key of a table), a tag PostHog would
   refuse (the definition's tags; without a shape, a top-level "tags" array), the framing
   headers (Host, Content-Length, Transfer-Encoding, Connection) in headers, a URL longer than
   CORE_URL_MAX bytes. With query_shape "list", an unknown parameter or one of the wrong Lua
   type raises (as core.check_params). */
int core_build_request(lua_State *L)
{
    char err[CORE_ERRMAX];
    const char *method, *base, *path;
    size_t blen, plen;
    shape_id body_shape;
    int has_body, req;
    guard *g;

    luaL_checktype(L, ARG_T, LUA_TTABLE);
    lua_settop(L, ARG_T);
    get_fields(L);
    body_shape = shape_opt(L, F_BODY_SHAPE, SHAPE_BIT(SHAPE_ID_DEFINITION));
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
        if (body_shape == SHAPE_ID_ANY && !check_body_tags(L, err))
            return fail(L, g, err);
        if (!json_encode_append(L, F_BODY, body_shape, g, err))
            return fail(L, g, err);
        lua_pushlstring(L, g->out.data, g->out.len);
        g->out.len = 0;
    } else {
        size_t tlen;
        const char *text = lua_tolstring(L, F_BODY, &tlen);
        if (text != NULL && !utf8_valid(text, tlen))
            return fail(L, g, "body: not valid UTF-8");
        lua_pushvalue(L, F_BODY);
    }
    lua_setfield(L, req, "body");

    /* headers */
    lua_createtable(L, 0, 4);
    if (!build_headers(L, lua_gettop(L), has_body, err))
        return fail(L, g, err);
    lua_setfield(L, req, "headers");

    /* path with query, then url */
    if (lua_istable(L, F_QUERY) && !query_build(L, F_QUERY, !lua_isnil(L, F_QUERY_SHAPE), g, err))
        return fail(L, g, err);
    g->out.len = 0;
    buffer_add(&g->out, path, plen);
    if (g->aux.len > 0) {
        buffer_addc(&g->out, memchr(path, '?', plen) != NULL ? '&' : '?');
        buffer_add(&g->out, g->aux.data, g->aux.len);
    }
    if (g->out.failed || g->aux.failed)
        return guard_oom(L, "build_request"); /* the guard frees the buffers */
    if (blen + g->out.len > CORE_URL_MAX) {
        snprintf(err, CORE_ERRMAX, "url: longer than %d bytes", CORE_URL_MAX);
        return fail(L, g, err);
    }
    lua_pushlstring(L, g->out.data, g->out.len);
    lua_setfield(L, req, "path");
    lua_pushvalue(L, F_BASE);
    lua_pushlstring(L, g->out.data, g->out.len);
    lua_concat(L, 2);
    lua_setfield(L, req, "url");
    guard_release(g);
    return 1;
}
