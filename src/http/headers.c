/*
 * headers.c - core.parse_head (the nginx transport's response head) and core.normalize_headers
 * (the answers of user transports), both through the one normalisation of head.c.
 */
#include <stdlib.h>
#include <string.h>

#include "http/head.h"
#include "http/http.h"

/* ===== parse_head ===== */

/* core.parse_head(text) -> status, headers, minor | nil, {kind = "transport", detail}; text is
   one HTTP/1.x response head (status line and header lines, CRLF or LF, up to the first empty
   line or the end of the text) */
int core_parse_head(lua_State *L)
{
    size_t len;
    const char *text = luaL_checklstring(L, 1, &len), *err;
    int status, minor;

    if (!head_parse_push(L, text, len, &status, &minor, &err))
        return core_fail(L, "transport", err);
    lua_pushinteger(L, status);
    lua_insert(L, -2);
    lua_pushinteger(L, minor);
    return 3;
}

/* ===== normalize_headers ===== */

/* Pushes the value at idx as one string: a string, a number's text, or the items of an array
   of those joined with ", "; returns 0 (pushing nothing) for anything else. */
static int push_value(lua_State *L, int idx)
{
    long long n, i;

    if (lua_type(L, idx) == LUA_TSTRING || lua_type(L, idx) == LUA_TNUMBER) {
        lua_pushvalue(L, idx);
        lua_tostring(L, -1); /* a copy: converting it leaves the table alone */
        return 1;
    }
    if (!lua_istable(L, idx) || (n = (long long)compat_rawlen(L, idx)) == 0)
        return 0;
    for (i = 1; i <= n; i++) {
        lua_rawgeti(L, idx, (int)i);
        if (lua_type(L, -1) != LUA_TSTRING && lua_type(L, -1) != LUA_TNUMBER) {
            lua_pop(L, i == 1 ? 1 : 2);
            return 0;
        }
        lua_tostring(L, -1);
        if (i > 1 && compat_rawlen(L, -1) == 0) {
            lua_pop(L, 1); /* an empty item adds nothing */
        } else if (i > 1 && compat_rawlen(L, -2) == 0) {
            lua_replace(L, -2);
        } else if (i > 1) {
            lua_pushliteral(L, ", ");
            lua_insert(L, -2);
            lua_concat(L, 3);
        }
    }
    return 1;
}

/* core.normalize_headers(map) -> headers | nil, {kind = "transport", detail}: a new table with
   the names lower-cased and values that differ only in the case of their names joined with
   ", " (in the bytewise order of the names); values may be strings, numbers or arrays of them */
int core_normalize_headers(lua_State *L)
{
    enum { MAP = 1, GUARD, OUT };
    size_t n = 0, i;
    keyref *keys;
    guard *g;

    luaL_checktype(L, MAP, LUA_TTABLE);
    lua_settop(L, MAP);
    g = guard_push(L);
    lua_newtable(L);
    lua_pushnil(L);
    while (lua_next(L, MAP) != 0) {
        keyref k;
        lua_pop(L, 1);
        if (lua_type(L, -1) != LUA_TSTRING) {
            guard_release(g);
            return core_fail(L, "transport", "headers: names must be strings");
        }
        k.s = lua_tolstring(L, -1, &k.len);
        buffer_add(&g->keys, &k, sizeof k);
        n++;
    }
    if (g->keys.failed)
        return guard_oom(L, "normalize_headers");
    keys = (keyref *)(void *)g->keys.data;
    if (n > 1)
        qsort(keys, n, sizeof *keys, keyref_compare);
    for (i = 0; i < n; i++) {
        lua_pushlstring(L, keys[i].s, keys[i].len);
        lua_rawget(L, MAP);
        head_push_name(L, keys[i].s, keys[i].len);
        if (!push_value(L, lua_gettop(L) - 1)) {
            guard_release(g);
            return core_fail(L, "transport", "headers: values must be strings, numbers or arrays of them");
        }
        head_join(L, OUT, ", ");
        lua_pop(L, 1);
    }
    guard_release(g);
    lua_settop(L, OUT);
    return 1;
}
