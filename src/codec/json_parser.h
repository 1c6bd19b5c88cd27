/*
 * json_parser.h - a parser that the decoder uses before yajl when a module has registered one
 * (posthog.event_definitions.simdjson, src/simdjson/): it parses a text whole, then hands it
 * out, one event at a time in document order, to the decoder. It must take a subset of what
 * yajl takes, with the same values, and refuse every text whose strings are not valid UTF-8
 * (unpaired surrogate escapes included): what it refuses, yajl parses and reports, so the
 * decoder's answer never depends on which parser ran.
 */
#ifndef PHED_JSON_PARSER_H
#define PHED_JSON_PARSER_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

#pragma GCC visibility push(hidden)

/* The registry field that holds the registered parser (a light userdata: a json_parser *). Its
   number is the version of this interface: a module built against another one registers
   under another name, and the core decodes with yajl alone. */
#define JSON_PARSER_KEY "posthog.event_definitions.parser.2"

typedef enum json_event_type {
    JSON_EVENT_NULL,
    JSON_EVENT_BOOLEAN,     /* i: 0 or 1 */
    JSON_EVENT_INTEGER,     /* i: a number whose text is an integer that fits int64 */
    JSON_EVENT_NUMBER,      /* v: any other number, a double (never infinite) */
    JSON_EVENT_STRING,      /* s, len: its bytes */
    JSON_EVENT_START_MAP,   /* n fields, of which nulls are null */
    JSON_EVENT_MAP_KEY,     /* s, len: its bytes */
    JSON_EVENT_END_MAP,
    JSON_EVENT_START_ARRAY, /* n items */
    JSON_EVENT_END_ARRAY
} json_event_type;

/* One event of a parsed document; s points into the parser's state (valid until destroy). */
typedef struct json_event {
    json_event_type type;
    const char *s;
    size_t len;
    long long i;
    double v;
    size_t n, nulls;
} json_event;

typedef struct json_parser {
    /* What json_parser() says runs: "simdjson". */
    const char *name;
    /* A new parser state, or NULL when memory runs out. */
    void *(*create)(void);
    /* Frees a state and the document it holds. */
    void (*destroy)(void *state);
    /* Parses text: 1 when accepted, else 0 (*oom set when memory ran out). */
    int (*parse)(void *state, const char *text, size_t len, int *oom);
    /* Writes the next events of the parsed document, at most max, into events: how many (0
       after the last). It calls no Lua, and returns before the decoder builds anything from
       them, so a Lua error (out of memory, a limit of the decoder) never unwinds a frame of the
       parser's: its frames, C++ ones included, are never between a longjmp and its target. */
    size_t (*next)(void *state, json_event *events, size_t max);
} json_parser;

#pragma GCC visibility pop

#ifdef __cplusplus
}
#endif

#endif
