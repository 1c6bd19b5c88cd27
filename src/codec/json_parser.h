/*
 * json_parser.h - a parser that the decoder uses before yajl when a module has registered one
 * (posthog.event_definitions.simdjson, src/simdjson/): it parses a text whole, then replays it,
 * in document order, as the decoder's events. It must take a subset of what yajl takes, with the
 * same values; what it refuses, yajl parses, so the decoder's answer never depends on it.
 */
#ifndef PHED_JSON_PARSER_H
#define PHED_JSON_PARSER_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

/* The registry field that holds the registered parser (a light userdata: a json_parser *). */
#define JSON_PARSER_KEY "posthog.event_definitions.parser"

/* What a replay calls for each value; each returns 0 to stop the replay. A number is an
   integer when its text is one that fits int64, otherwise a double (never infinite). An array
   starts with its number of items, an object with its number of fields and how many of them
   are null. */
typedef struct json_events {
    int (*null_value)(void *ud);
    int (*boolean)(void *ud, int b);
    int (*integer)(void *ud, long long i);
    int (*number)(void *ud, double v);
    int (*string)(void *ud, const char *s, size_t len);
    int (*start_map)(void *ud, size_t n, size_t nulls);
    int (*map_key)(void *ud, const char *s, size_t len);
    int (*end_map)(void *ud);
    int (*start_array)(void *ud, size_t n);
    int (*end_array)(void *ud);
} json_events;

typedef struct json_parser {
    /* A new parser state, or NULL when memory runs out. */
    void *(*create)(void);
    /* Frees a state and the document it holds. */
    void (*destroy)(void *state);
    /* Parses text: 1 when accepted, else 0 (*oom set when memory ran out). */
    int (*parse)(void *state, const char *text, size_t len, int *oom);
    /* Replays the parsed document as events for ud: 1, or 0 when an event returned 0. Events
       may raise a Lua error: the frames it unwinds hold nothing with a destructor. */
    int (*replay)(const void *state, const json_events *ev, void *ud);
    /* Whether every string it replays is valid UTF-8 as utf8_valid judges it. */
    int checks_utf8;
} json_parser;

#ifdef __cplusplus
}
#endif

#endif
