/*
 * props.c - the values of one JSON object's keys, for the few events whose schema the edge
 * checks: each key's JSON kind and its value as PostHog's ingestion would compare it (strings
 * unescaped, numbers as their JSON text so that no precision is lost on the way, objects and
 * arrays as their JSON text). A repeated key keeps its last value, as JSON.parse does.
 */
#include <string.h>

#include <yajl/yajl_parse.h>

#include "codec/json_escape.h"
#include "codec/utf8.h"
#include "edge.h"

typedef struct reader {
    lua_State *L;
    yajl_handle h;
    const char *text;
    int depth;
    int kinds, values;    /* stack slots of the two result tables */
    int have_key;         /* the current key is on the stack top */
    size_t open_at;       /* first byte of the container value being skipped */
} reader;

/* Stores kind (and the value on the stack top, or nil when has_value is 0) under the current
   key, which sits just below (or on top without a value). */
static int put(reader *r, const char *kind, int has_value)
{
    lua_State *L = r->L;
    if (!has_value)
        lua_pushnil(L);
    lua_pushvalue(L, -2);           /* key */
    lua_pushvalue(L, -2);           /* value */
    lua_rawset(L, r->values);
    lua_pop(L, 1);                  /* value: the key is on top */
    lua_pushstring(L, kind);
    lua_rawset(L, r->kinds);        /* pops the key */
    r->have_key = 0;
    return 1;
}

static int scalar(reader *r, const char *kind, int has_value)
{
    if (r->depth != 1 || !r->have_key) {
        if (has_value)
            lua_pop(r->L, 1);
        return r->depth >= 1;
    }
    return put(r, kind, has_value);
}

static int p_null(void *ctx)
{
    return scalar(ctx, "null", 0);
}

static int p_boolean(void *ctx, int b)
{
    reader *r = ctx;
    lua_pushboolean(r->L, b);
    return scalar(r, "boolean", 1);
}

static int p_number(void *ctx, const char *n, size_t len)
{
    reader *r = ctx;
    lua_pushlstring(r->L, n, len);
    return scalar(r, "number", 1);
}

static int p_string(void *ctx, const unsigned char *s, size_t len)
{
    reader *r = ctx;
    lua_pushlstring(r->L, (const char *)s, len);
    return scalar(r, "string", 1);
}

static int p_open(reader *r, int is_map)
{
    if (r->depth == 0 && !is_map)
        return 0;
    if (r->depth == 1)
        r->open_at = yajl_get_bytes_consumed(r->h);
    r->depth++;
    return 1;
}

static int p_close(reader *r, const char *kind)
{
    if (--r->depth == 1 && r->have_key) {
        size_t last = yajl_get_bytes_consumed(r->h);
        lua_pushlstring(r->L, r->text + r->open_at - 1, last - r->open_at + 1);
        return put(r, kind, 1);
    }
    return 1;
}

static int p_start_map(void *ctx)
{
    return p_open(ctx, 1);
}

static int p_start_array(void *ctx)
{
    return p_open(ctx, 0);
}

static int p_end_map(void *ctx)
{
    return p_close(ctx, "object");
}

static int p_end_array(void *ctx)
{
    return p_close(ctx, "array");
}

static int p_map_key(void *ctx, const unsigned char *key, size_t len)
{
    reader *r = ctx;
    if (r->depth == 1) {
        if (r->have_key)
            lua_pop(r->L, 1);
        lua_pushlstring(r->L, (const char *)key, len);
        r->have_key = 1;
    }
    return 1;
}

static const yajl_callbacks callbacks = {
    p_null, p_boolean, NULL, NULL, p_number, p_string,
    p_start_map, p_map_key, p_end_map, p_start_array, p_end_array
};

/* edge_core.props(body, first, last [, scanned]) -> kinds, values | nil, detail.
   The JSON object at bytes first..last of body: kinds[key] is "string", "number", "boolean",
   "null", "object" or "array"; values[key] the unescaped string, the number's JSON text, the
   boolean, or the JSON text of an object or array (nil for null). With scanned true, the caller
   vouches that body is one edge_core.scan accepted and first..last a range it gave, so the
   range's UTF-8 and escaped surrogates, which scan checked with the whole body, are not checked
   again (judge.lua); otherwise a range with either wrong is refused. */
int edge_props(lua_State *L)
{
    size_t len;
    const char *text = luaL_checklstring(L, 1, &len);
    lua_Number first = luaL_checknumber(L, 2), last = luaL_checknumber(L, 3);
    int scanned = lua_toboolean(L, 4);
    const char *range;
    size_t n;
    reader r;
    void **hp;
    yajl_status st;

    if (first < 1 || last < first || last > (lua_Number)len) {
        lua_pushnil(L);
        lua_pushstring(L, "byte range out of the body");
        return 2;
    }
    range = text + (size_t)first - 1;
    n = (size_t)(last - first + 1);
    if (!scanned && (!utf8_valid(range, n) || json_unpaired_surrogate(range, n) != NULL)) {
        lua_pushnil(L);
        lua_pushstring(L, "not valid UTF-8, or an escaped surrogate that is not a pair");
        return 2;
    }
    memset(&r, 0, sizeof r);
    r.L = L;
    r.text = range;
    lua_settop(L, 3);
    luaL_checkstack(L, 8, "props");
    hp = edge_yajl_handle(L);
    lua_newtable(L);
    r.kinds = lua_gettop(L);
    lua_newtable(L);
    r.values = lua_gettop(L);
    *hp = r.h = yajl_alloc(&callbacks, NULL, &r);
    if (r.h == NULL)
        return luaL_error(L, "props: out of memory");
    /* the range is valid UTF-8, more strictly than yajl checks: utf8_valid passed it above, or
       edge_core.scan the whole body (scanned) */
    yajl_config(r.h, yajl_dont_validate_strings, 1);
    st = yajl_parse(r.h, (const unsigned char *)range, n);
    if (st == yajl_status_ok)
        st = yajl_complete_parse(r.h);
    yajl_free(r.h);
    *hp = NULL;
    if (st != yajl_status_ok) {
        lua_pushnil(L);
        lua_pushstring(L, "not a JSON object");
        return 2;
    }
    lua_settop(L, r.values);
    lua_pushvalue(L, r.kinds);
    lua_pushvalue(L, r.values);
    return 2;
}
