/*
 * head.h - the one normalisation of HTTP response headers, shared by the core (parse_head,
 * normalize_headers) and the libcurl driver: names lower-cased, repeated headers joined with
 * ", ", obsolete folded continuation lines appended with a space, malformed lines an error.
 */
#ifndef PHED_HEAD_H
#define PHED_HEAD_H

#include <stddef.h>

#include "compat.h"

/* internal to the module (see core.h) */
#pragma GCC visibility push(hidden)

/* Parses one HTTP/1.x response head in text: the status line and the header lines (CRLF or
   LF line ends) up to the first empty line or the end of the text; what follows the empty
   line (a body, trailers) is ignored. On success pushes the headers table, sets *status and
   *minor and returns 1; otherwise pushes nothing, sets *err ("malformed status line" or
   "malformed header line") and returns 0. Raises only when memory runs out. */
int head_parse_push(lua_State *L, const char *text, size_t len, int *status, int *minor, const char **err);

/* Pushes name lower-cased (ASCII). */
void head_push_name(lua_State *L, const char *name, size_t len);

/* With a name and a value on the top of the stack, sets t[name] = value, or to the value
   already there, sep and value joined (an empty value adds nothing to a list: "a" and "" give
   "a"); pops both. */
void head_join(lua_State *L, int t, const char *sep);

#pragma GCC visibility pop

#endif
