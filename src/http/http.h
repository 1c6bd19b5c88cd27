/*
 * http.h - what the HTTP parts of the core share: the query string, HTTP dates, and the
 * response head (shared with the libcurl driver through head.h).
 */
#ifndef PHED_HTTP_H
#define PHED_HTTP_H

#include <time.h>

#include "core.h"
#include "codec/json.h"

/* internal to the module (see core.h) */
#pragma GCC visibility push(hidden)

/* Writes the query table at idx into g->aux (g->out serves as scratch), keys sorted bytewise;
   with list, the list endpoint's parameters (shape_params; their names and Lua types checked
   by query_check_params first) are checked and encoded its way.
   Returns 1, or 0 with a message in err (CORE_ERRMAX bytes). Raises when memory runs out. */
int query_build(lua_State *L, int idx, int list, guard *g, char *err);

/* Raises unless every key of the list parameters table at idx is a parameter of the list
   endpoint (shape_params) and its value has the Lua type that parameter takes. */
void query_check_params(lua_State *L, int idx);

/* Parses an HTTP-date (IMF-fixdate, RFC 850 or asctime; RFC 9110 §5.6.7) of len bytes into
   *out (seconds since the epoch, UTC); now resolves RFC 850's two-digit years. Returns 1, or 0
   when the text is no HTTP-date. */
int httpdate_parse(const char *s, size_t len, time_t now, time_t *out);

#pragma GCC visibility pop

#endif
