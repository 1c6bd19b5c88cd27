/*
 * shape.h - the shapes of what PostHog sends and accepts, described once.
 *
 * A record is a table of fields: name, JSON type, nullable (on write), writable, is-array,
 * required (on read), choices, the default PostHog stores, and how a list parameter goes into
 * a query string. The encoder validates writable fields and skips read-only ones; the decoder
 * checks every known field it meets (null is accepted for every field on read but a required
 * one) and keeps unknown ones; the request builder encodes list parameters; core.fields
 * exports the definition's record to Lua.
 */
#ifndef PHED_SHAPE_H
#define PHED_SHAPE_H

#include <stddef.h>

#include "compat.h"

/* internal to the module (see core.h) */
#pragma GCC visibility push(hidden)

typedef enum shape_type {
    SHAPE_ANY,     /* any JSON value */
    SHAPE_STRING,
    SHAPE_BOOLEAN,
    SHAPE_INTEGER,
    SHAPE_USER,    /* read: a UserBasic object (or an id); write: an integer user id */
    SHAPE_OBJECT,  /* any JSON object */
    SHAPE_RECORD,  /* an object whose known fields are those of `record` */
    SHAPE_MAP      /* an object each of whose values is a `values` */
} shape_type;

/* How a list parameter goes into the query string (build_request's query_shape "list"). */
typedef enum shape_query {
    QUERY_NONE,        /* not a query parameter (a bulk body's array) */
    QUERY_VALUE,       /* one parameter of the field's type; integers at least `min` */
    QUERY_REPEATED,    /* a string or an array of strings: one parameter per item */
    QUERY_NO_COMMA,    /* the same, and no item may hold a comma (PostHog splits on them) */
    QUERY_JSON_ARRAY   /* an array of strings, sent as one compact JSON array */
} shape_query;

struct shape_record;

/* What a deployment without PostHog's Enterprise package does with a writable field that its
   open-source serializer lacks (reference §20.4). */
typedef enum shape_enterprise {
    EE_NOT_NEEDED,     /* accepted by every deployment */
    EE_REFUSED,        /* answered 400 "This field is not supported by this deployment." */
    EE_IGNORED         /* dropped without a word */
} shape_enterprise;

typedef struct shape_field {
    const char *name;
    size_t len;
    shape_type type;                   /* the value's type; each item's type when is_array */
    unsigned char nullable;            /* null may be sent */
    unsigned char writable;            /* sent by encode; read-only fields are skipped */
    unsigned char is_array;
    unsigned char required;            /* decode: must be present and not null */
    unsigned char tags;                /* encode: the items are tags, checked as PostHog does */
    const char *const *choices;        /* the only strings that may be sent (NULL-ended), or NULL */
    const char *default_json;          /* what PostHog stores when a writable field is absent */
    const struct shape_record *record; /* SHAPE_RECORD: the object's known fields */
    const struct shape_field *values;  /* SHAPE_MAP: what each value must be */
    const char *wrong;                 /* decode: the message for a value of another type */
    const char *missing;               /* decode: the message for a required field absent or null */
    shape_query query;                 /* list parameters: how it goes into the query string */
    int min;                           /* QUERY_VALUE integers: the smallest value accepted */
    shape_enterprise without_ee;       /* writable fields: what a deployment without EE does */
} shape_field;

#define SHAPE_SLOTS 64

typedef struct shape_record {
    const shape_field *fields;
    int nfields;
    int size_hint;                     /* hash size for lua_createtable */
    const char *not_object;            /* decode: the message for an item that is not an object */
    int key_base;                      /* index of fields[0]'s name in the key cache */
    unsigned long long required;       /* bit i set: fields[i].required */
    unsigned char slots[SHAPE_SLOTS];  /* open addressing: field index + 1, 0 = empty */
} shape_record;

/* Shapes that a caller can name (core.encode, core.decode, core.decode_response); the order
   is that of shape_opt's names. */
typedef enum shape_id {
    SHAPE_ID_ANY,
    SHAPE_ID_DEFINITION,
    SHAPE_ID_PAGE,
    SHAPE_ID_CODEGEN,
    SHAPE_ID_NONE,
    SHAPE_ID_BULK,
    SHAPE_ID_PRIMARY_PROPERTIES,
    SHAPE_ID_OBJECT
} shape_id;

#define SHAPE_BIT(id) (1u << (id))

/* The event definition, the list page, UserBasic, and the list parameters / bulk bodies. */
extern shape_record shape_definition, shape_page, shape_user, shape_params;

/* The pseudo-field that the top-level value of a decode with shape id must match, or NULL. */
const shape_field *shape_top(shape_id id);

/* Builds the lookup slots of every record (call once, before any lookup). */
void shape_init(void);

/* Pushes the key cache: an array holding every record's field names (see key_base). */
void shape_push_key_cache(lua_State *L);

/* The field named k (len bytes) of r, with its index in *index, or NULL when unknown. */
const shape_field *shape_lookup(const shape_record *r, const char *k, size_t len, int *index);

/* True when k names an array field of the definition or of the parameters: its empty table
   is an empty JSON array wherever it appears. */
int shape_is_array_name(const char *k, size_t len);

/* Reads the optional shape name at arg; raises on a name not in the allowed bitmask
   (SHAPE_BIT(id)). An absent or nil argument is SHAPE_ID_ANY. */
shape_id shape_opt(lua_State *L, int arg, unsigned allowed);

/* Writes what a value of f must be on write, e.g. "an array of strings" or "a boolean or null". */
void shape_describe_write(const shape_field *f, char *out, size_t size);

/* What a value of f must be on read, e.g. "array of strings" or "boolean". */
const char *shape_describe_read(const shape_field *f);

/* The name of f's type as core.fields gives it: "string", "boolean", "integer", "user", ... */
const char *shape_type_name(const shape_field *f);

#pragma GCC visibility pop

#endif
