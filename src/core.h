/*
 * core.h - what the parts of the C core share: the upvalues every Lua-visible function
 * carries, the JSON null sentinel, the cleanup guard, and each part's entry points.
 */
#ifndef PHED_CORE_H
#define PHED_CORE_H

#include "buffer.h"
#include "compat.h"
#include "shape.h"

/* ===== Shared state ===== */

/* Upvalues of every function of the module table (see core.c). */
#define CORE_UV_ARRAY_MT lua_upvalueindex(1) /* metatable marking "encode as array" */
#define CORE_UV_KEYS     lua_upvalueindex(2) /* interned field names, see shape_push_key_cache */
#define CORE_NUPVALUES   2

#define JSON_MAX_DEPTH 100 /* nesting limit of both encode and decode */
#define CORE_ERRMAX    160 /* size of an error message built in C */

/* The JSON null sentinel (core.null) is the address of this byte as a light userdata. */
extern char core_null_sentinel;
#define core_push_null(L) lua_pushlightuserdata((L), &core_null_sentinel)
#define core_is_null(L, i) \
    (lua_type((L), (i)) == LUA_TLIGHTUSERDATA && lua_touserdata((L), (i)) == &core_null_sentinel)

/* Memory owned by a userdata, so that a Lua error (out of memory) cannot leak it: released
   by guard_release, or by the collector if a raise skipped that. */
typedef struct guard {
    buffer out, aux, keys;
    void *handle;
    void (*release_handle)(void *handle);
} guard;

/* A string key borrowed from a Lua table that stays on the stack while the key is used. */
typedef struct keyref {
    const char *s;
    size_t len;
} keyref;

/* qsort comparator: keyrefs in bytewise order. */
int keyref_compare(const void *a, const void *b);

/* Pushes a new, empty guard. */
guard *guard_push(lua_State *L);

/* Frees everything the guard holds (idempotent). */
void guard_release(guard *g);

/* ===== JSON (json_encode.c, json_decode.c) ===== */

/* Appends the JSON text of the value at idx, validated against shape (ANY or DEFINITION);
   returns 1, or 0 with a message in err (CORE_ERRMAX bytes). Raises only on memory errors. */
int json_encode_append(lua_State *L, int idx, shape_id shape, buffer *out, buffer *keys, char *err);

/* Appends s as a JSON string literal. */
void json_append_string(buffer *out, const char *s, size_t len);

/* Writes a finite double as JSON (integral values within int64 without a fraction, others
   as the shortest of %.15g/%.16g/%.17g that reads back exactly) into buf (>= 32 bytes). */
size_t json_format_double(char *buf, double v);

/* Decodes text checked against shape (ANY, DEFINITION, PAGE, or CODEGEN: any object): pushes
   the value and returns 1, or pushes a message and returns 0. Object nulls are dropped unless
   keep_nulls. Raises only on memory errors. */
int json_decode_push(lua_State *L, const char *text, size_t len, shape_id shape, int keep_nulls);

/* ===== Lua-visible functions ===== */

int core_encode(lua_State *L);
int core_decode(lua_State *L);
int core_build_request(lua_State *L);
int core_decode_response(lua_State *L);
int core_parse_retry_after(lua_State *L);
int core_multi(lua_State *L);
int core_monotonic(lua_State *L);
int core_sleep(lua_State *L);
int core_normalize_tag(lua_State *L);

/* Loads the Unicode character classes used by normalize_tag (called once by luaopen). */
void tags_init(void);

/* Creates the driver metatable (called once by luaopen). */
void driver_register(lua_State *L);

#endif
