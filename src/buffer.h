/*
 * buffer.h - a growable byte buffer (malloc'd, grown geometrically).
 *
 * Allocation failures never longjmp: they set `failed`, later writes are ignored, and the
 * owner checks the flag once when done. This keeps the buffer usable from libcurl callbacks.
 */
#ifndef PHED_BUFFER_H
#define PHED_BUFFER_H

#include <stddef.h>

typedef struct buffer {
    char *data;
    size_t len, cap;
    int failed;
} buffer;

/* Makes room for extra more bytes; returns 0 (and sets failed) when memory runs out. */
int buffer_reserve(buffer *b, size_t extra);

/* Appends n bytes. */
void buffer_add(buffer *b, const void *p, size_t n);

/* Releases the memory and empties the buffer (it stays usable). */
void buffer_free(buffer *b);

/* Appends one byte. */
static inline void buffer_addc(buffer *b, char c)
{
    if (b->len < b->cap || buffer_reserve(b, 1))
        b->data[b->len++] = c;
}

#endif
