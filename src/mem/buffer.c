/*
 * buffer.c - the growable byte buffer of buffer.h.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "mem/buffer.h"

/* ===== Allocator ===== */

void buffer_use_lua(buffer *b, lua_State *L)
{
    b->alloc = lua_getallocf(L, &b->alloc_ud);
}

/* Resizes the block of b to size bytes (0 frees it); NULL when that fails. */
static void *resize(buffer *b, size_t size)
{
    if (b->alloc != NULL)
        return b->alloc(b->alloc_ud, b->data, b->cap, size);
    if (size == 0) {
        free(b->data);
        return NULL;
    }
    return realloc(b->data, size);
}

/* ===== Growth ===== */

int buffer_reserve(buffer *b, size_t extra)
{
    size_t cap;
    char *p;

    if (b->failed)
        return 0;
    if (b->cap - b->len >= extra)
        return 1;
    cap = b->cap ? b->cap : 256;
    while (cap - b->len < extra) {
        if (cap > SIZE_MAX / 2) {
            b->failed = 1;
            return 0;
        }
        cap *= 2;
    }
    p = resize(b, cap);
    if (p == NULL) {
        b->failed = 1;
        return 0;
    }
    b->data = p;
    b->cap = cap;
    return 1;
}

/* ===== Appending and release ===== */

void buffer_add(buffer *b, const void *p, size_t n)
{
    if (n > 0 && buffer_reserve(b, n)) {
        memcpy(b->data + b->len, p, n);
        b->len += n;
    }
}

void buffer_free(buffer *b)
{
    if (b->data != NULL)
        resize(b, 0);
    b->data = NULL;
    b->len = b->cap = 0;
    b->failed = 0;
}
