/*
 * guard.h - memory owned by a userdata, so that a Lua error (out of memory, or any raise
 * between two allocations) cannot leak it: released by guard_release, or by the collector
 * when a raise skipped that. All of it comes from the Lua state's allocator, but for one object
 * of a library with its own (guard_own).
 */
#ifndef PHED_GUARD_H
#define PHED_GUARD_H

#include "compat.h"
#include "mem/buffer.h"

/* internal to the module (see core.h) */
#pragma GCC visibility push(hidden)

/* A block handed out by an arena carries this header (aligned like any allocation). */
typedef union arena_header {
    struct {
        union arena_header *prev, *next;
        size_t size;
    } link;
    long double align_ld;
    long long align_ll;
    void *align_p;
} arena_header;

/* Blocks of a third-party library (yajl) that are all freed at once on release, whatever
   state the library was left in by a raise. Allocation failures raise. */
typedef struct arena {
    lua_State *L;
    lua_Alloc alloc;
    void *alloc_ud;
    arena_header *blocks; /* every live block, newest first */
} arena;

typedef struct guard {
    buffer out, aux, keys;
    arena mem;
    void (*drop)(void *); /* frees owned, memory of a library with its own allocator */
    void *owned;
} guard;

/* Registers the guard metatable (called once per state by luaopen). */
void guard_register(lua_State *L);

/* Pushes a new, empty guard whose memory comes from L's allocator. */
guard *guard_push(lua_State *L);

/* Gives the guard p, to be freed by drop(p) on release (one such object at a time). */
void guard_own(guard *g, void *p, void (*drop)(void *));

/* Frees everything the guard holds (idempotent; the guard stays usable). */
void guard_release(guard *g);

/* Raises "<what>: not enough memory". */
int guard_oom(lua_State *L, const char *what);

/* Allocates size bytes from the arena; raises when memory runs out. */
void *arena_malloc(arena *a, size_t size);

/* Resizes a block of the arena (p may be NULL); raises when memory runs out, leaving p. */
void *arena_realloc(arena *a, void *p, size_t size);

/* Frees a block of the arena (p may be NULL). */
void arena_free(arena *a, void *p);

#pragma GCC visibility pop

#endif
