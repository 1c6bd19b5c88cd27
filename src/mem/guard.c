/*
 * guard.c - the cleanup guard of guard.h and its arena.
 */
#include <string.h>

#include "mem/guard.h"

#define GUARD_MT "posthog.event_definitions.core.guard"

/* ===== Arena ===== */

static void link_block(arena *a, arena_header *h, size_t size)
{
    h->link.size = size;
    h->link.prev = NULL;
    h->link.next = a->blocks;
    if (a->blocks != NULL)
        a->blocks->link.prev = h;
    a->blocks = h;
}

static void unlink_block(arena *a, arena_header *h)
{
    if (h->link.prev != NULL)
        h->link.prev->link.next = h->link.next;
    else
        a->blocks = h->link.next;
    if (h->link.next != NULL)
        h->link.next->link.prev = h->link.prev;
}

/* Raises the arena's memory error (the NULL is never returned: it types the raise). */
static void *arena_oom(arena *a)
{
    return (void)guard_oom(a->L, "decode"), NULL;
}

void *arena_realloc(arena *a, void *p, size_t size)
{
    arena_header *old = p != NULL ? (arena_header *)p - 1 : NULL, *h;
    size_t osize = old != NULL ? old->link.size + sizeof *old : 0;

    if (size > (size_t)-1 - sizeof *h)
        return arena_oom(a);
    if (old != NULL)
        unlink_block(a, old);
    h = a->alloc(a->alloc_ud, old, osize, size + sizeof *h);
    if (h == NULL) {
        if (old != NULL)
            link_block(a, old, old->link.size);
        return arena_oom(a);
    }
    link_block(a, h, size);
    return h + 1;
}

void *arena_malloc(arena *a, size_t size)
{
    return arena_realloc(a, NULL, size);
}

void arena_free(arena *a, void *p)
{
    arena_header *h;

    if (p == NULL)
        return;
    h = (arena_header *)p - 1;
    unlink_block(a, h);
    a->alloc(a->alloc_ud, h, h->link.size + sizeof *h, 0);
}

/* ===== Guard ===== */

int guard_oom(lua_State *L, const char *what)
{
    return luaL_error(L, "%s: not enough memory", what);
}

void guard_own(guard *g, void *p, void (*drop)(void *))
{
    g->owned = p;
    g->drop = drop;
}

void guard_release(guard *g)
{
    if (g->drop != NULL) {
        g->drop(g->owned);
        g->drop = NULL;
        g->owned = NULL;
    }
    buffer_free(&g->out);
    buffer_free(&g->aux);
    buffer_free(&g->keys);
    while (g->mem.blocks != NULL)
        arena_free(&g->mem, g->mem.blocks + 1);
}

static int guard_gc(lua_State *L)
{
    guard_release(lua_touserdata(L, 1));
    return 0;
}

void guard_register(lua_State *L)
{
    luaL_newmetatable(L, GUARD_MT);
    lua_pushcfunction(L, guard_gc);
    lua_setfield(L, -2, "__gc");
    lua_pop(L, 1);
}

guard *guard_push(lua_State *L)
{
    guard *g = lua_newuserdata(L, sizeof *g);

    memset(g, 0, sizeof *g);
    buffer_use_lua(&g->out, L);
    buffer_use_lua(&g->aux, L);
    buffer_use_lua(&g->keys, L);
    g->mem.L = L;
    g->mem.alloc = lua_getallocf(L, &g->mem.alloc_ud);
    luaL_getmetatable(L, GUARD_MT);
    lua_setmetatable(L, -2);
    return g;
}
