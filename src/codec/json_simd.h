/*
 * json_simd.h - Debian's simdjson behind a C interface: a text parsed whole into simdjson's
 * document, then replayed, in document order, as the decoder's events.
 */
#ifndef PHED_JSON_SIMD_H
#define PHED_JSON_SIMD_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

/* What a replay calls for each value; each returns 0 to stop the replay. A number is an
   integer when its text is one that fits int64, otherwise a double (never infinite). A
   container starts with its number of items (fields of an object). */
typedef struct json_events {
    int (*null_value)(void *ud);
    int (*boolean)(void *ud, int b);
    int (*integer)(void *ud, long long i);
    int (*number)(void *ud, double v);
    int (*string)(void *ud, const char *s, size_t len);
    int (*start_map)(void *ud, size_t n);
    int (*map_key)(void *ud, const char *s, size_t len);
    int (*end_map)(void *ud);
    int (*start_array)(void *ud, size_t n);
    int (*end_array)(void *ud);
} json_events;

/* A parser and the document it last parsed. */
typedef struct json_simd json_simd;

/* A new parser, or NULL when memory runs out. */
json_simd *json_simd_new(void);

/* Frees the parser and its document (s may be NULL). */
void json_simd_free(void *s);

/* Parses text: 1 when simdjson accepts it, else 0 (*oom set when memory ran out). simdjson
   takes a subset of what yajl takes (no BOM, no \f or \v as space, no number beyond int64 or
   uint64 as an integer, none beyond a double), so a 0 leaves the text to yajl. */
int json_simd_parse(json_simd *s, const char *text, size_t len, int *oom);

/* Replays the parsed document as events for ud: 1, or 0 when an event returned 0. Events may
   raise a Lua error: the frames it unwinds hold no object with a destructor. */
int json_simd_replay(const json_simd *s, const json_events *ev, void *ud);

#ifdef __cplusplus
}
#endif

#endif
