/*
 * buffer.h - a growable byte buffer, grown geometrically.
 *
 * A buffer takes its memory from a Lua state's allocator when it has one (buffer_use_lua, so
 * that everything the core allocates goes through lua_getallocf and a test allocator sees it),
 * and from malloc otherwise (the zero buffer; the libcurl driver's, filled in curl callbacks).
 *
 * Allocation failures never longjmp: they set `failed`, later writes are ignored, and the
 * owner checks the flag once when done (and raises, outside any callback).
 */
#ifndef PHED_BUFFER_H
#define PHED_BUFFER_H

#include <stddef.h>

#include <lua.h>

/* internal to the module (see core.h) */
#pragma GCC visibility push(hidden)

typedef struct buffer {
    char *data;
    size_t len, cap;
    int failed;
    lua_Alloc alloc; /* NULL: malloc and free */
    void *alloc_ud;
} buffer;

/* Makes the (empty) buffer take its memory from L's allocator. */
void buffer_use_lua(buffer *b, lua_State *L);

/* Makes room for extra more bytes; returns 0 (and sets failed) when memory runs out. */
int buffer_reserve(buffer *b, size_t extra);

/* Appends n bytes. */
void buffer_add(buffer *b, const void *p, size_t n);

/* Releases the memory and empties the buffer (it stays usable, with the same allocator). */
void buffer_free(buffer *b);

/* Appends one byte. */
static inline void buffer_addc(buffer *b, char c)
{
    if (b->len < b->cap || buffer_reserve(b, 1))
        b->data[b->len++] = c;
}

#pragma GCC visibility pop

#endif
