/*
 * scanner.h - a faster scanner that a module registers for edge_core.scan (the module
 * posthog.event_definitions.edge.simdjson, edge/src/simdjson/): it scans a body whole into plain
 * C records and calls no Lua, then the core turns its records into what edge_core.scan returns.
 * It must give exactly what the yajl scanner gives for every body it accepts (events, byte
 * ranges, names, tokens, properties' kind and keys), and refuse whatever the yajl scanner
 * refuses: what it refuses, or does not scan (too long, too deep, too many events), the yajl
 * scanner scans and reports, so edge_core.scan's answer never depends on which scanner ran.
 */
#ifndef PHED_EDGE_SCANNER_H
#define PHED_EDGE_SCANNER_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

#pragma GCC visibility push(hidden)

/* The registry field that holds the registered scanner (a light userdata: an edge_scanner *).
   Its number is the version of this interface: a module built against another one registers
   under another name, and the core scans with yajl alone. */
#define EDGE_SCANNER_KEY "posthog.event_definitions.edge.scanner.1"

/* A string of the body, unescaped: s == NULL when there is none (false in Lua). */
typedef struct edge_text {
    const char *s;
    size_t len;
} edge_text;

enum { EDGE_PROPS_ABSENT, EDGE_PROPS_OBJECT, EDGE_PROPS_NULL, EDGE_PROPS_OTHER };
enum { EDGE_FORM_BATCH, EDGE_FORM_ARRAY, EDGE_FORM_SINGLE };

/* One event, as edge.h lists its fields (byte positions 1-based, 0 when absent). */
typedef struct edge_event {
    size_t first, last, vfirst, vlast, pkeys, ekeys;
    int pkind;
    edge_text name, token, dtoken, api_key, ptoken;
} edge_event;

/* What a scan found: the form, the events in body order, and the root object's api_key and token. */
typedef struct edge_scan_out {
    int form;
    const edge_event *events;
    size_t n;
    edge_text api_key, token;
} edge_scan_out;

typedef struct edge_scanner {
    /* What edge_core.scanner() says runs: "simdjson". */
    const char *name;
    /* A new scanner state, or NULL when memory runs out. */
    void *(*create)(void);
    /* Frees a state and what it holds. */
    void (*destroy)(void *state);
    /* Scans text: 1 when it accepts it (out filled; its strings point into the state, valid until
       the next scan or destroy), 0 when it refuses it or does not scan it (the yajl scanner
       then does). It calls no Lua and throws nothing, so a Lua error never unwinds one of its
       frames (C++ ones included): the core calls Lua only after it has returned. */
    int (*scan)(void *state, const char *text, size_t len, size_t max_events, edge_scan_out *out);
} edge_scanner;

#pragma GCC visibility pop

#ifdef __cplusplus
}
#endif

#endif
