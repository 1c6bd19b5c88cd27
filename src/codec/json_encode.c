/*
 * json_encode.c - Lua values to JSON text, optionally validated against a shape.
 *
 * Objects are written with their keys sorted bytewise, so equal tables give equal bodies.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "codec/json.h"

typedef struct encoder {
    lua_State *L;
    buffer *out;
    buffer *keys; /* keyref scratch: a stack of per-object segments */
    char *err;
} encoder;

static int encode_value(encoder *e, int idx, int depth, int as_array);

/* ===== Scalars ===== */

void json_append_string(buffer *out, const char *s, size_t len)
{
    static const char hex[] = "0123456789abcdef";
    size_t i, run = 0;

    if (!buffer_reserve(out, len + 2))
        return;
    buffer_addc(out, '"');
    for (i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        char esc[6];
        size_t n = 2;
        if (c >= 0x20 && c != '"' && c != '\\')
            continue;
        buffer_add(out, s + run, i - run);
        run = i + 1;
        esc[0] = '\\';
        switch (c) {
        case '"':  esc[1] = '"'; break;
        case '\\': esc[1] = '\\'; break;
        case '\n': esc[1] = 'n'; break;
        case '\r': esc[1] = 'r'; break;
        case '\t': esc[1] = 't'; break;
        case '\b': esc[1] = 'b'; break;
        case '\f': esc[1] = 'f'; break;
        default:
            memcpy(esc + 1, "u00", 3);
            esc[4] = hex[c >> 4];
            esc[5] = hex[c & 15];
            n = 6;
        }
        buffer_add(out, esc, n);
    }
    buffer_add(out, s + run, len - run);
    buffer_addc(out, '"');
}

static int fail(encoder *e, const char *msg)
{
    snprintf(e->err, CORE_ERRMAX, "%s", msg);
    return 0;
}

static int encode_number(encoder *e, int idx)
{
    char buf[32];
    double v;

    if (compat_isinteger(e->L, idx)) {
        buffer_add(e->out, buf, (size_t)snprintf(buf, sizeof buf, "%lld", (long long)lua_tointeger(e->L, idx)));
        return 1;
    }
    v = (double)lua_tonumber(e->L, idx);
    if (isnan(v) || isinf(v))
        return fail(e, "cannot encode NaN or infinity");
    buffer_add(e->out, buf, json_format_double(buf, v));
    return 1;
}

/* ===== Tables ===== */

int keyref_compare(const void *a, const void *b)
{
    const keyref *x = a, *y = b;
    int c = memcmp(x->s, y->s, x->len < y->len ? x->len : y->len);
    return c != 0 ? c : (x->len > y->len) - (x->len < y->len);
}

static keyref *key_at(encoder *e, size_t i)
{
    return (keyref *)(void *)e->keys->data + i;
}

/* Scans the table at idx: pushes its string keys (sorted) on the keyref stack from *base and
   returns the number of keys in *count, and 1..n's n in *seq when the keys are exactly 1..n
   (else -1). Returns 0 (with the message) for mixed keys or when memory ran out. */
static int scan_table(encoder *e, int idx, size_t *base, size_t *count, long long *seq)
{
    lua_State *L = e->L;
    size_t n = 0, strings = 0;
    long long max = 0;
    int sequence = 1;

    *base = e->keys->len / sizeof(keyref);
    lua_pushnil(L);
    while (lua_next(L, idx) != 0) {
        long long i;
        lua_pop(L, 1);
        n++;
        if (lua_type(L, -1) == LUA_TSTRING) {
            keyref k;
            k.s = lua_tolstring(L, -1, &k.len);
            if (!utf8_valid(k.s, k.len)) {
                lua_pop(L, 1);
                return fail(e, "cannot encode a key that is not valid UTF-8");
            }
            buffer_add(e->keys, &k, sizeof k);
            strings++;
            sequence = 0;
        } else if (sequence && compat_toint64(L, -1, &i) && i >= 1) {
            if (i > max)
                max = i;
        } else {
            sequence = 0;
        }
    }
    if (e->keys->failed)
        return guard_oom(L, "encode");
    *count = n;
    *seq = sequence && (size_t)max == n ? max : -1;
    if (strings > 1)
        qsort(key_at(e, *base), strings, sizeof(keyref), keyref_compare);
    if (strings != n && *seq < 0)
        return fail(e, "cannot encode a table whose keys are neither all strings nor exactly 1..n");
    return 1;
}

static int encode_array(encoder *e, int idx, long long n, int depth)
{
    long long i;

    buffer_addc(e->out, '[');
    for (i = 1; i <= n; i++) {
        if (i > 1)
            buffer_addc(e->out, ',');
        lua_rawgeti(e->L, idx, (int)i);
        if (!encode_value(e, -1, depth + 1, 0))
            return 0;
        lua_pop(e->L, 1);
    }
    buffer_addc(e->out, ']');
    return 1;
}

static void encode_key(encoder *e, keyref k, int first)
{
    if (!first)
        buffer_addc(e->out, ',');
    json_append_string(e->out, k.s, k.len);
    buffer_addc(e->out, ':');
}

static int encode_table(encoder *e, int idx, int depth, int as_array)
{
    lua_State *L = e->L;
    size_t base, count, i;
    long long seq;

    if (depth >= JSON_MAX_DEPTH) {
        snprintf(e->err, CORE_ERRMAX, "cannot encode: nested deeper than %d levels (or a cycle)", JSON_MAX_DEPTH);
        return 0;
    }
    luaL_checkstack(L, 4, "encode");
    idx = compat_absindex(L, idx);
    if (!scan_table(e, idx, &base, &count, &seq))
        return 0;
    if (count == 0 && !as_array && lua_getmetatable(L, idx)) {
        as_array = lua_rawequal(L, -1, CORE_UV_ARRAY_MT);
        lua_pop(L, 1);
    }
    if (count == 0) {
        buffer_add(e->out, as_array ? "[]" : "{}", 2);
        return 1;
    }
    if (seq > 0)
        return encode_array(e, idx, seq, depth);
    buffer_addc(e->out, '{');
    for (i = 0; i < count; i++) {
        keyref k = *key_at(e, base + i);
        encode_key(e, k, i == 0);
        lua_pushlstring(L, k.s, k.len);
        lua_rawget(L, idx);
        if (!encode_value(e, -1, depth + 1, shape_is_array_name(k.s, k.len)))
            return 0;
        lua_pop(L, 1);
    }
    buffer_addc(e->out, '}');
    e->keys->len = base * sizeof(keyref);
    return 1;
}

static int encode_value(encoder *e, int idx, int depth, int as_array)
{
    lua_State *L = e->L;

    switch (lua_type(L, idx)) {
    case LUA_TNIL:
        buffer_add(e->out, "null", 4);
        return 1;
    case LUA_TBOOLEAN:
        if (lua_toboolean(L, idx))
            buffer_add(e->out, "true", 4);
        else
            buffer_add(e->out, "false", 5);
        return 1;
    case LUA_TNUMBER:
        return encode_number(e, idx);
    case LUA_TSTRING: {
        size_t len;
        const char *s = lua_tolstring(L, idx, &len);
        if (!utf8_valid(s, len))
            return fail(e, "cannot encode a string that is not valid UTF-8");
        json_append_string(e->out, s, len);
        return 1;
    }
    case LUA_TTABLE:
        return encode_table(e, idx, depth, as_array);
    case LUA_TLIGHTUSERDATA:
        if (core_is_null(L, idx)) {
            buffer_add(e->out, "null", 4);
            return 1;
        }
        /* fall through */
    default:
        snprintf(e->err, CORE_ERRMAX, "cannot encode a %s", luaL_typename(L, idx));
        return 0;
    }
}

/* ===== The definition shape ===== */

static int field_error(encoder *e, const shape_field *f)
{
    char what[64];
    shape_describe_write(f, what, sizeof what);
    snprintf(e->err, CORE_ERRMAX, "%s: expected %s", f->name, what);
    return 0;
}

/* Checks that the value at idx is a table whose keys are exactly 1..n and whose items are all
   strings; returns n, or -1. */
static long long string_array_length(lua_State *L, int idx)
{
    long long n = 0, max = 0, i;

    lua_pushnil(L);
    while (lua_next(L, idx) != 0) {
        if (lua_type(L, -1) != LUA_TSTRING || !compat_toint64(L, -2, &i) || i < 1) {
            lua_pop(L, 2);
            return -1;
        }
        lua_pop(L, 1);
        if (i > max)
            max = i;
        n++;
    }
    return n == max ? n : -1;
}

int json_check_items(lua_State *L, int idx, const char *name, int tags, char *err)
{
    long long i;
    size_t len;

    for (i = 1;; i++) {
        const char *s, *problem = NULL;
        lua_rawgeti(L, idx, (int)i);
        if (lua_isnil(L, -1)) {
            lua_pop(L, 1);
            return 1;
        }
        if (lua_type(L, -1) == LUA_TSTRING) {
            s = lua_tolstring(L, -1, &len);
            problem = tags ? tag_problem(s, len) : utf8_valid(s, len) ? NULL : "is not valid UTF-8";
        }
        lua_pop(L, 1);
        if (problem != NULL) {
            snprintf(err, CORE_ERRMAX, "%s[%lld] %s", name, i, problem);
            return 0;
        }
    }
}

static int encode_field(encoder *e, const shape_field *f, int idx)
{
    lua_State *L = e->L;
    long long n;
    int i;

    if (core_is_null(L, idx)) {
        if (!f->nullable)
            return field_error(e, f);
        buffer_add(e->out, "null", 4);
        return 1;
    }
    if (f->is_array) {
        if (!lua_istable(L, idx) || (n = string_array_length(L, idx)) < 0)
            return field_error(e, f);
        if (!json_check_items(L, idx, f->name, f->tags, e->err))
            return 0;
        if (n > 0)
            return encode_array(e, idx, n, 1);
        buffer_add(e->out, "[]", 2);
        return 1;
    }
    switch (f->type) {
    case SHAPE_STRING: {
        size_t len;
        const char *s;
        if (lua_type(L, idx) != LUA_TSTRING)
            return field_error(e, f);
        s = lua_tolstring(L, idx, &len);
        for (i = 0; f->choices != NULL && f->choices[i] != NULL; i++)
            if (strcmp(s, f->choices[i]) == 0)
                break;
        if (f->choices != NULL && f->choices[i] == NULL)
            return field_error(e, f);
        if (!utf8_valid(s, len)) {
            snprintf(e->err, CORE_ERRMAX, "%s: not valid UTF-8", f->name);
            return 0;
        }
        return encode_value(e, idx, 1, 0);
    }
    case SHAPE_BOOLEAN:
        if (!lua_isboolean(L, idx))
            return field_error(e, f);
        return encode_value(e, idx, 1, 0);
    case SHAPE_USER:
        if (lua_istable(L, idx)) { /* a fetched UserBasic: send its id */
            long long id;
            char buf[32];
            lua_getfield(L, idx, "id");
            i = compat_toint64(L, -1, &id);
            lua_pop(L, 1);
            if (!i)
                return field_error(e, f);
            buffer_add(e->out, buf, (size_t)snprintf(buf, sizeof buf, "%lld", id));
            return 1;
        }
        /* fall through */
    default: {
        long long v;
        char buf[32];
        if (!compat_toint64(L, idx, &v))
            return field_error(e, f);
        buffer_add(e->out, buf, (size_t)snprintf(buf, sizeof buf, "%lld", v));
        return 1;
    }
    }
}

static int encode_definition(encoder *e, int idx)
{
    lua_State *L = e->L;
    size_t base, count, i;
    long long seq;
    int first = 1;

    if (!lua_istable(L, idx))
        return fail(e, "definition: expected a table");
    luaL_checkstack(L, 4, "encode");
    idx = compat_absindex(L, idx);
    if (!scan_table(e, idx, &base, &count, &seq))
        return 0;
    if (e->keys->len / sizeof(keyref) - base != count)
        return fail(e, "definition: field names must be strings");
    buffer_addc(e->out, '{');
    for (i = 0; i < count; i++) {
        keyref k = *key_at(e, base + i);
        int index;
        const shape_field *f = shape_lookup(&shape_definition, k.s, k.len, &index);
        if (f != NULL && !f->writable)
            continue;
        encode_key(e, k, first);
        first = 0;
        lua_pushlstring(L, k.s, k.len);
        lua_rawget(L, idx);
        if (!(f != NULL ? encode_field(e, f, lua_gettop(L)) : encode_value(e, -1, 1, shape_is_array_name(k.s, k.len))))
            return 0;
        lua_pop(L, 1);
    }
    buffer_addc(e->out, '}');
    e->keys->len = base * sizeof(keyref);
    return 1;
}

/* ===== Entry points ===== */

int json_encode_append(lua_State *L, int idx, shape_id shape, guard *g, char *err)
{
    encoder e;
    int ok;

    e.L = L;
    e.out = &g->out;
    e.keys = &g->keys;
    e.err = err;
    ok = shape == SHAPE_ID_DEFINITION ? encode_definition(&e, idx) : encode_value(&e, idx, 0, 0);
    if (g->out.failed || g->keys.failed)
        return guard_oom(L, "encode");
    return ok;
}

/* core.encode(value [, shape]) -> JSON text | nil, {kind = "validation", detail}; shape is
   "definition" (writable fields checked, read-only ones skipped, tags checked as PostHog does)
   or nil (any value). A string or key that is not valid UTF-8 is refused. */
int core_encode(lua_State *L)
{
    char err[CORE_ERRMAX];
    shape_id shape;
    guard *g;

    luaL_checkany(L, 1);
    shape = shape_opt(L, 2, SHAPE_BIT(SHAPE_ID_DEFINITION));
    lua_settop(L, 1);
    g = guard_push(L);
    if (!json_encode_append(L, 1, shape, g, err)) {
        guard_release(g);
        return core_fail(L, "validation", err);
    }
    lua_pushlstring(L, g->out.data, g->out.len);
    guard_release(g);
    return 1;
}
