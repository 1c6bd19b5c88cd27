/*
 * json_simd.h - Debian's simdjson as the decoder's json_parser (json_parser.h).
 */
#ifndef PHED_JSON_SIMD_H
#define PHED_JSON_SIMD_H

#include "codec/json_parser.h"

#ifdef __cplusplus
extern "C" {
#endif

#pragma GCC visibility push(hidden)

/* simdjson's DOM parser: it takes a subset of what yajl takes (no BOM, no \f or \v as space, no
   integer beyond uint64, no number beyond a double, no unpaired surrogate, no document nested
   deeper than 128 levels), and refuses strings that are not valid UTF-8. */
extern const json_parser json_simd;

#pragma GCC visibility pop

#ifdef __cplusplus
}
#endif

#endif
