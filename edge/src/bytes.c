/*
 * bytes.c - byte ranges of strings compared and joined without a Lua string for each range:
 * what a body's rewrite needs (edge/rewrite.lua), which keeps the passing events' bytes as they
 * came and checks that the rewritten body holds them.
 */
#include <stdlib.h>
#include <string.h>

#include "edge.h"

/* A byte position argument (1-based). */
static size_t position_arg(lua_State *L, int arg)
{
    lua_Number n = luaL_checknumber(L, arg);
    return n < 1 ? 0 : (size_t)n;
}

/* edge_core.same(a, i, j, b, k) -> whether the bytes i..j of a are the bytes of b from k on (false
   when either range is not inside its string). */
int edge_same(lua_State *L)
{
    size_t alen, blen;
    const char *a = luaL_checklstring(L, 1, &alen);
    size_t i = position_arg(L, 2), j = position_arg(L, 3);
    const char *b = luaL_checklstring(L, 4, &blen);
    size_t k = position_arg(L, 5), n;

    if (i == 0 || k == 0 || j < i || j > alen) {
        lua_pushboolean(L, 0);
        return 1;
    }
    n = j - i + 1;
    lua_pushboolean(L, k - 1 <= blen && n <= blen - (k - 1) && memcmp(a + i - 1, b + k - 1, n) == 0);
    return 1;
}

/* ===== join ===== */

#define SCRATCH_MT "posthog.event_definitions.edge.scratch"
#define SCRATCH_KEY "posthog.event_definitions.edge.scratch.1"
#define SCRATCH_KEEP (1024 * 1024) /* a larger scratch buffer is freed after its join */

typedef struct scratch {
    char *p;
    size_t size;
} scratch;

static int scratch_gc(lua_State *L)
{
    scratch *s = luaL_checkudata(L, 1, SCRATCH_MT);
    free(s->p);
    s->p = NULL;
    s->size = 0;
    return 0;
}

/* This Lua state's scratch buffer (kept in the registry, freed by the collector), of at least
   `size` bytes. Raises when memory runs out. */
static scratch *scratch_of(lua_State *L, size_t size)
{
    scratch *s;
    lua_getfield(L, LUA_REGISTRYINDEX, SCRATCH_KEY);
    s = lua_touserdata(L, -1);
    lua_pop(L, 1);
    if (s == NULL) {
        s = lua_newuserdata(L, sizeof *s);
        s->p = NULL;
        s->size = 0;
        if (luaL_newmetatable(L, SCRATCH_MT)) {
            lua_pushcfunction(L, scratch_gc);
            lua_setfield(L, -2, "__gc");
        }
        lua_setmetatable(L, -2);
        lua_setfield(L, LUA_REGISTRYINDEX, SCRATCH_KEY);
    }
    if (size > s->size) {
        char *p = realloc(s->p, size);
        if (p == NULL)
            luaL_error(L, "join: out of memory");
        s->p = p;
        s->size = size;
    }
    return s;
}

/* The bytes of parts[i] (and parts[i + 1] for a range): where they are and how many; returns the
   index of the next item. Raises on a range outside text or an item of another type. */
static int part_at(lua_State *L, const char *text, size_t len, int i, const char **p, size_t *n)
{
    lua_rawgeti(L, 2, i);
    if (lua_type(L, -1) == LUA_TSTRING) {
        *p = lua_tolstring(L, -1, n); /* parts holds it: valid after the pop */
        lua_pop(L, 1);
        return i + 1;
    }
    if (lua_type(L, -1) == LUA_TNUMBER) {
        lua_Number first = lua_tonumber(L, -1), last;
        lua_rawgeti(L, 2, i + 1);
        last = lua_tonumber(L, -1);
        lua_pop(L, 2);
        if (last < first) {
            *p = text;
            *n = 0;
        } else if (first < 1 || last > (lua_Number)len) {
            luaL_error(L, "join: bytes %f..%f are not inside the text", first, last);
        } else {
            *p = text + (size_t)first - 1;
            *n = (size_t)(last - first) + 1;
        }
        return i + 2;
    }
    luaL_error(L, "join: item %d is neither a string nor a range", i);
    return 0;
}

/* edge_core.join(text, parts, n) -> one string made of parts[1..n] in order: a string item as it
   is; a number item and the next one, first and last, the bytes first..last of text (none when
   last < first). The bytes are gathered in a buffer the Lua state keeps, then made one string. */
int edge_join(lua_State *L)
{
    size_t len, total = 0, n;
    const char *text = luaL_checklstring(L, 1, &len), *p;
    int count = (int)luaL_checknumber(L, 3), i;
    scratch *s;
    char *to;

    luaL_checktype(L, 2, LUA_TTABLE);
    for (i = 1; i <= count;) {
        i = part_at(L, text, len, i, &p, &n);
        total += n;
    }
    s = scratch_of(L, total + 1);
    for (i = 1, to = s->p; i <= count; to += n) {
        i = part_at(L, text, len, i, &p, &n);
        memcpy(to, p, n);
    }
    lua_pushlstring(L, s->p, total);
    if (s->size > SCRATCH_KEEP) {
        free(s->p);
        s->p = NULL;
        s->size = 0;
    }
    return 1;
}
