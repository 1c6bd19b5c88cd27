/*
 * json.h - the JSON codec's entry points inside the core.
 */
#ifndef PHED_JSON_H
#define PHED_JSON_H

#include <yajl/yajl_common.h>

#include "core.h"
#include "codec/json_escape.h"

/* internal to the module (see core.h) */
#pragma GCC visibility push(hidden)

/* ===== json_encode.c ===== */

/* Appends the JSON text of the value at idx to g->out, validated against shape (ANY or
   DEFINITION), with g->keys as scratch; returns 1, or 0 with a message in err (CORE_ERRMAX
   bytes). Raises when memory runs out. */
int json_encode_append(lua_State *L, int idx, shape_id shape, guard *g, char *err);

/* Checks the string items of the array at idx (1.. up to the first nil; other items are left
   to the encoder): valid UTF-8, and with tags, tags PostHog accepts (tag_problem). Returns 1,
   or 0 with "<name>[i] <problem>" in err. */
int json_check_items(lua_State *L, int idx, const char *name, int tags, char *err);

/* Appends s as a JSON string literal. */
void json_append_string(buffer *out, const char *s, size_t len);

/* ===== json_number.c ===== */

/* Writes a finite double as JSON (integral values within int64 without a fraction, others
   as the shortest of %.15g/%.16g/%.17g that reads back exactly) into buf (>= 32 bytes). */
size_t json_format_double(char *buf, double v);

/* Parses an optional '-' and digits that fit int64 into *out; 0 for anything else. */
int json_parse_int64(const char *s, size_t len, long long *out);

/* The double that the JSON number s denotes; one of 64 bytes or more is copied to scratch
   (raises when memory runs out). */
double json_parse_double(lua_State *L, const char *s, size_t len, buffer *scratch);

/* ===== json_text.c (the escapes of a string token: codec/json_escape.h) ===== */

/* The 1-based line and column (in characters) of the byte at pos of text. */
void json_text_position(const char *text, size_t pos, size_t *line, size_t *column);

/* Whether a string that yajl decoded into s is valid UTF-8 that hides no unpaired surrogate
   escape for sure: without '?' (what yajl writes for a lone high one) nor a 4-byte sequence
   (what it makes of a high one before any \u escape). 0 says: read it as written. */
int json_string_plain(const unsigned char *s, size_t len);

/* ===== json_decode.c ===== */

/* Decodes text checked against shape (with the registered parser first, if any; see
   json_parser.h): pushes the value and returns 1, or pushes a message ("decode: ...") and
   returns 0. Object nulls are dropped unless keep_nulls. Raises when memory
   runs out. Call only from a function carrying the core's upvalues. */
int json_decode_push(lua_State *L, const char *text, size_t len, shape_id shape, int keep_nulls);

/* core.decode with yajl alone, even when a parser is registered: the same value or message
   whatever the text (make fuzz compares them). A function carrying the core's upvalues. */
int json_decode_yajl(lua_State *L);

/* Sets funcs so that yajl allocates from arena a (the guard's), which frees everything at once on
   any raise whatever state yajl was left in. */
void json_yajl_funcs(yajl_alloc_funcs *funcs, arena *a);

#pragma GCC visibility pop

#endif
