/*
 * shape.h - the event definition's shape, described once.
 *
 * A record is a table of fields: name, JSON type, nullable (on write), writable, is-array.
 * The encoder validates writable fields and skips read-only ones; the decoder checks every
 * known field it meets (null is accepted for every field on read) and keeps unknown ones.
 */
#ifndef PHED_SHAPE_H
#define PHED_SHAPE_H

#include <stddef.h>

#include "compat.h"

typedef enum shape_type {
    SHAPE_ANY,        /* any JSON value */
    SHAPE_STRING,
    SHAPE_BOOLEAN,
    SHAPE_INTEGER,
    SHAPE_USER,       /* read: a UserBasic object (or an id); write: an integer user id */
    SHAPE_OBJECT,     /* any JSON object */
    SHAPE_DEFINITION, /* an event definition object */
    SHAPE_PAGE        /* a list page: {count, next, previous, results, count_is_capped} */
} shape_type;

typedef struct shape_field {
    const char *name;
    size_t len;
    shape_type type;           /* the value's type; each item's type when is_array */
    unsigned char nullable;    /* null may be sent */
    unsigned char writable;    /* sent by encode; read-only fields are skipped */
    unsigned char is_array;
    const char *const *choices; /* the only strings that may be sent, NULL-terminated, or NULL */
} shape_field;

#define SHAPE_SLOTS 64

typedef struct shape_record {
    const shape_field *fields;
    int nfields;
    int size_hint;                       /* hash size for lua_createtable */
    int key_base;                        /* index of fields[0]'s name in the key cache */
    unsigned char slots[SHAPE_SLOTS];    /* open addressing: field index + 1, 0 = empty */
} shape_record;

/* Shapes that a caller can name (core.encode, core.decode, core.decode_response). */
typedef enum shape_id {
    SHAPE_ID_ANY,
    SHAPE_ID_DEFINITION,
    SHAPE_ID_PAGE,
    SHAPE_ID_CODEGEN,
    SHAPE_ID_NONE
} shape_id;

extern shape_record shape_definition, shape_page, shape_user;

/* The pseudo-field that the top-level value of a decode with shape id must match, or NULL. */
const shape_field *shape_top(shape_id id);

/* Builds the lookup slots of every record (call once, before any lookup). */
void shape_init(void);

/* Pushes the key cache: an array holding every record's field names (see key_base). */
void shape_push_key_cache(lua_State *L);

/* The field named k (len bytes) of r, with its index in *index, or NULL when unknown. */
const shape_field *shape_lookup(const shape_record *r, const char *k, size_t len, int *index);

/* Reads the optional shape name at arg; raises on a name not in the allowed bitmask
   (bit 1 << shape_id). An absent or nil argument is SHAPE_ID_ANY. */
shape_id shape_opt(lua_State *L, int arg, unsigned allowed);

/* Writes what a value of f must be on write, e.g. "an array of strings" or "a boolean or null". */
void shape_describe_write(const shape_field *f, char *out, size_t size);

/* What a value of f must be on read, e.g. "array of strings" or "boolean". */
const char *shape_describe_read(const shape_field *f);

#endif
