/*
 * json_decode.c - JSON text to Lua values in one pass over parse events.
 *
 * yajl parses, or first the parser a module registered (posthog.event_definitions.simdjson,
 * see json_parser.h), which parses the text whole and hands it out as events; what that one
 * refuses (it takes a subset of what yajl takes) yajl parses, with the same events, and its
 * messages, so the result never depends on which parser ran. The values are built on the Lua
 * stack with an explicit frame stack (no recursion): an open object is a table with, while a
 * value is pending, its key above it; an open array is a table. Known fields of the shape's
 * records are checked as their values arrive, and their keys come from the key cache (interned
 * once) instead of being hashed again. A key that comes again takes its last value, as
 * Python's json (PostHog's) reads it. The parsers' memory is the guard's, freed on any raise.
 */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include <yajl/yajl_parse.h>

#include "codec/json.h"
#include "codec/json_parser.h"

typedef enum json_kind { K_NULL, K_BOOLEAN, K_INTEGER, K_FLOAT, K_STRING, K_OBJECT, K_ARRAY } json_kind;

typedef struct frame {
    const shape_record *record; /* known fields of this object, or NULL */
    const shape_field *field;   /* an array: the field its items belong to; a map: what each
                                   value must be; or NULL */
    int is_array;
    int n;                      /* items so far (arrays) */
    unsigned long long seen;    /* required fields of record met so far (bit = field index) */
} frame;

typedef struct decoder {
    lua_State *L;
    guard *g;                   /* aux: scratch for long numbers */
    const char *text;           /* the text yajl parses (to read strings as written) */
    yajl_handle yajl;           /* while yajl parses */
    const shape_field *want;    /* field of the next value, or NULL for anything */
    int item;                   /* the next value is an item of want's array */
    int keep_nulls;             /* an object's null becomes core.null instead of an absent key */
    int again;                  /* the key just read may have come before in its object */
    int depth;                  /* open containers */
    frame stack[JSON_MAX_DEPTH];
    char err[CORE_ERRMAX];      /* why a callback stopped the parse */
} decoder;

/* ===== Shape checks ===== */

static const char *kind_name(json_kind k)
{
    static const char *const names[] = { "null", "boolean", "number", "number", "string", "object", "array" };
    return names[k];
}

/* Writes why a value of kind k does not fit d->want; returns 0 (stop the parse). */
static int mismatch(decoder *d, json_kind k)
{
    const shape_field *f = d->want;

    if (d->depth == 0)
        snprintf(d->err, sizeof d->err, "decode: expected a JSON object, got %s", kind_name(k));
    else if (d->item && f->type == SHAPE_RECORD && f->record->not_object != NULL)
        snprintf(d->err, sizeof d->err, "decode: %s", f->record->not_object);
    else if (!d->item && f->wrong != NULL)
        snprintf(d->err, sizeof d->err, "decode: %s", f->wrong);
    else
        snprintf(d->err, sizeof d->err, "decode: field '%s' expected %s", f->name, shape_describe_read(f));
    return 0;
}

static int missing(decoder *d, const shape_field *f)
{
    if (f->missing != NULL)
        snprintf(d->err, sizeof d->err, "decode: %s", f->missing);
    else
        snprintf(d->err, sizeof d->err, "decode: field '%s' is required", f->name);
    return 0;
}

/* Accepts a value of kind k where d->want is expected. Null is fine for any field but a
   required one; not for an item of a typed array nor for the top-level value of a shape. */
static int check(decoder *d, json_kind k)
{
    const shape_field *f = d->want;

    if (f == NULL)
        return 1;
    if (k == K_NULL) {
        if (d->depth == 0 || d->item)
            return mismatch(d, k);
        return !f->required || missing(d, f);
    }
    if (f->is_array && !d->item)
        return k == K_ARRAY || mismatch(d, k);
    switch (f->type) {
    case SHAPE_ANY:     return 1;
    case SHAPE_STRING:  return k == K_STRING || mismatch(d, k);
    case SHAPE_BOOLEAN: return k == K_BOOLEAN || mismatch(d, k);
    case SHAPE_INTEGER: return k == K_INTEGER || mismatch(d, k);
    case SHAPE_USER:    return k == K_OBJECT || k == K_INTEGER || mismatch(d, k);
    default:            return k == K_OBJECT || mismatch(d, k);
    }
}

/* The known fields of an object that is a value of f. */
static const shape_record *record_of(const shape_field *f)
{
    if (f == NULL)
        return NULL;
    if (f->type == SHAPE_RECORD)
        return f->record;
    return f->type == SHAPE_USER ? &shape_user : NULL;
}

/* ===== Building values ===== */

/* Stores the value on the top of the stack into the open container, if any. */
static void put(decoder *d)
{
    frame *f;

    if (d->depth == 0)
        return;
    f = &d->stack[d->depth - 1];
    if (f->is_array)
        lua_rawseti(d->L, -2, ++f->n);
    else
        lua_rawset(d->L, -3);
}

static int on_null(void *ud)
{
    decoder *d = ud;

    if (!check(d, K_NULL))
        return 0;
    if (d->depth > 0 && !d->stack[d->depth - 1].is_array && !d->keep_nulls) {
        /* an object's null is an absent key, even after another value for it (a rawset of nil
           to a key not there would insert it, and grow the table) */
        if (d->again) {
            lua_pushvalue(d->L, -1);
            lua_rawget(d->L, -3);
        }
        if (!d->again || lua_isnil(d->L, -1)) {
            lua_pop(d->L, d->again ? 2 : 1); /* nothing, and the key */
            return 1;
        }
        lua_pop(d->L, 1);
        lua_pushnil(d->L);
    } else {
        core_push_null(d->L);
    }
    put(d);
    return 1;
}

static int on_boolean(void *ud, int b)
{
    decoder *d = ud;

    if (!check(d, K_BOOLEAN))
        return 0;
    lua_pushboolean(d->L, b);
    put(d);
    return 1;
}

static int on_integer(void *ud, long long i)
{
    decoder *d = ud;

    if (!check(d, K_INTEGER))
        return 0;
    compat_pushint64(d->L, i);
    put(d);
    return 1;
}

static int on_double(void *ud, double v)
{
    decoder *d = ud;

    if (!check(d, K_FLOAT))
        return 0;
    lua_pushnumber(d->L, (lua_Number)v);
    put(d);
    return 1;
}

/* yajl's number: its text. */
static int on_number_text(void *ud, const char *s, size_t len)
{
    decoder *d = ud;
    long long i;
    double v;

    if (json_parse_int64(s, len, &i))
        return on_integer(ud, i);
    if (isinf(v = json_parse_double(d->L, s, len, &d->g->aux))) {
        if (!check(d, K_FLOAT))
            return 0;
        snprintf(d->err, sizeof d->err, "decode: a number beyond the range of a double");
        return 0;
    }
    return on_double(ud, v);
}

static int on_string(void *ud, const char *s, size_t len)
{
    decoder *d = ud;

    if (!check(d, K_STRING))
        return 0;
    lua_pushlstring(d->L, s, len);
    put(d);
    return 1;
}

/* Opens a container of kind k where d->want is expected: returns its frame (record, field and
   is_array set), or NULL to stop the parse (the message in d->err). */
static frame *open_container(decoder *d, json_kind k)
{
    frame *f;

    if (!check(d, k))
        return NULL;
    if (d->depth == JSON_MAX_DEPTH) {
        snprintf(d->err, sizeof d->err, "decode: nested deeper than %d levels", JSON_MAX_DEPTH);
        return NULL;
    }
    f = &d->stack[d->depth++];
    f->is_array = k == K_ARRAY;
    f->n = 0;
    f->seen = 0;
    if (f->is_array) {
        f->record = NULL;
        f->field = d->want != NULL && d->want->is_array && !d->item ? d->want : NULL;
    } else {
        f->record = record_of(d->want);
        f->field = d->want != NULL && d->want->type == SHAPE_MAP ? d->want->values : NULL;
    }
    return f;
}

/* The size of a container that yajl opens: not known yet. */
#define SIZE_UNKNOWN ((size_t)-1)

/* Opens an object of n fields of which nulls are null (n SIZE_UNKNOWN: yajl's): its table is
   made for the fields it will hold (a null is an absent key unless keep_nulls), or else for its
   record's. */
static int on_start_map(void *ud, size_t n, size_t nulls)
{
    decoder *d = ud;
    frame *f = open_container(d, K_OBJECT);
    size_t size = n == SIZE_UNKNOWN ? 0 : d->keep_nulls ? n : n - nulls;

    if (f == NULL)
        return 0;
    if (n == SIZE_UNKNOWN && f->record != NULL)
        size = (size_t)f->record->size_hint;
    lua_createtable(d->L, 0, size < 1024 ? (int)size : 1024);
    return 1;
}

static int on_map_key(void *ud, const char *k, size_t len)
{
    decoder *d = ud;
    frame *f = &d->stack[d->depth - 1];
    int index;

    d->item = 0;
    if (f->record != NULL && (d->want = shape_lookup(f->record, k, len, &index)) != NULL) {
        d->again = (f->seen >> index) & 1;
        f->seen |= 1ull << index;
        lua_rawgeti(d->L, CORE_UV_KEYS, f->record->key_base + index);
        return 1;
    }
    d->again = 1;
    d->want = f->field;
    lua_pushlstring(d->L, k, len);
    return 1;
}

/* Stores the container just closed into its parent and restores what the parent expects. */
static int end_container(decoder *d)
{
    frame *parent;

    d->depth--;
    put(d);
    if (d->depth > 0 && (parent = &d->stack[d->depth - 1])->is_array) {
        d->want = parent->field;
        d->item = parent->field != NULL;
    }
    return 1;
}

static int on_end_map(void *ud)
{
    decoder *d = ud;
    const frame *f = &d->stack[d->depth - 1];
    unsigned long long absent;
    int i;

    if (f->record != NULL && (absent = f->record->required & ~f->seen) != 0) {
        for (i = 0; !(absent & (1ull << i)); i++)
            ;
        return missing(d, &f->record->fields[i]);
    }
    return end_container(d);
}

/* Opens an array of n items (SIZE_UNKNOWN: yajl's). */
static int on_start_array(void *ud, size_t n)
{
    decoder *d = ud;
    frame *f = open_container(d, K_ARRAY);

    if (f == NULL)
        return 0;
    d->want = f->field;
    d->item = f->field != NULL;
    lua_createtable(d->L, n == SIZE_UNKNOWN ? 0 : n < 65536 ? (int)n : 65536, 0);
    return 1;
}

static int on_end_array(void *ud)
{
    decoder *d = ud;

    if (d->stack[d->depth - 1].n == 0) { /* so that it encodes back as [] */
        lua_pushvalue(d->L, CORE_UV_ARRAY_MT);
        lua_setmetatable(d->L, -2);
    }
    return end_container(d);
}

/* Builds the value of one event of a registered parser: 1, or 0 to stop. */
static int on_event(decoder *d, const json_event *ev)
{
    switch (ev->type) {
    case JSON_EVENT_NULL:        return on_null(d);
    case JSON_EVENT_BOOLEAN:     return on_boolean(d, (int)ev->i);
    case JSON_EVENT_INTEGER:     return on_integer(d, ev->i);
    case JSON_EVENT_NUMBER:      return on_double(d, ev->v);
    case JSON_EVENT_STRING:      return on_string(d, ev->s, ev->len);
    case JSON_EVENT_START_MAP:   return on_start_map(d, ev->n, ev->nulls);
    case JSON_EVENT_MAP_KEY:     return on_map_key(d, ev->s, ev->len);
    case JSON_EVENT_END_MAP:     return on_end_map(d);
    case JSON_EVENT_START_ARRAY: return on_start_array(d, ev->n);
    default:                     return on_end_array(d);
    }
}

/* ===== yajl ===== */

/* Writes "decode: <what> at line L, column C" for the byte at pos of the text; returns 0. */
static int fail_at(decoder *d, const char *what, size_t pos)
{
    size_t line, column;

    json_text_position(d->text, pos, &line, &column);
    snprintf(d->err, sizeof d->err, "decode: %s at line %zu, column %zu", what, line, column);
    return 0;
}

/* Checks a string (or key: what) that yajl decoded into s: valid UTF-8 (yajl lets overlong
   forms, surrogates and code points above U+10FFFF through, and its \u escapes make some),
   and no unpaired surrogate escape in it as written (the string token just lexed, which ends
   where yajl stands). Python's json reads such an escape as a lone surrogate, which UTF-8
   cannot hold: refused, never altered. Returns 1, or 0 with the message in d->err. */
static int yajl_string_ok(decoder *d, const unsigned char *s, size_t len, const char *what)
{
    size_t end, start;
    const char *bad;
    char message[64];

    if (json_string_plain(s, len))
        return 1;
    end = yajl_get_bytes_consumed(d->yajl);
    start = json_string_start(d->text, end);
    if ((bad = json_unpaired_surrogate(d->text + start + 1, end - start - 2)) != NULL) {
        snprintf(message, sizeof message, "a %s with an unpaired surrogate escape (%.6s)", what, bad);
        return fail_at(d, message, (size_t)(bad - d->text));
    }
    if (utf8_valid((const char *)s, len))
        return 1;
    snprintf(message, sizeof message, "a %s that is not valid UTF-8", what);
    return fail_at(d, message, start);
}

/* yajl's strings and numbers come as unsigned bytes and text. */
static int on_yajl_string(void *ud, const unsigned char *s, size_t len)
{
    return yajl_string_ok(ud, s, len, "string") && on_string(ud, (const char *)s, len);
}

static int on_yajl_key(void *ud, const unsigned char *s, size_t len)
{
    return yajl_string_ok(ud, s, len, "key") && on_map_key(ud, (const char *)s, len);
}

static int on_yajl_start_map(void *ud)
{
    return on_start_map(ud, SIZE_UNKNOWN, 0);
}

static int on_yajl_start_array(void *ud)
{
    return on_start_array(ud, SIZE_UNKNOWN);
}

static const yajl_callbacks callbacks = {
    on_null, on_boolean, NULL, NULL, on_number_text, on_yajl_string,
    on_yajl_start_map, on_yajl_key, on_end_map, on_yajl_start_array, on_end_array
};

/* ===== Entry points ===== */

static void *arena_yajl_malloc(void *ctx, size_t size)
{
    return arena_malloc(ctx, size);
}

static void *arena_yajl_realloc(void *ctx, void *p, size_t size)
{
    return arena_realloc(ctx, p, size);
}

static void arena_yajl_free(void *ctx, void *p)
{
    arena_free(ctx, p);
}

void json_yajl_funcs(yajl_alloc_funcs *funcs, arena *a)
{
    funcs->malloc = arena_yajl_malloc;
    funcs->realloc = arena_yajl_realloc;
    funcs->free = arena_yajl_free;
    funcs->ctx = a;
}

/* Writes the message of a failed parse: what yajl says and where (line and column). yajl
   stands past the token that a parse error or an invalid character ended, and on the byte that
   ended any other lexical error; at_end: the text ended too soon. */
static void syntax_error(decoder *d, const char *text, size_t len, int at_end)
{
    unsigned char *msg;
    size_t i, n, pos = yajl_get_bytes_consumed(d->yajl);
    char what[96];

    for (i = 0; i < len && strchr(" \t\r\n", text[i]) != NULL; i++)
        ;
    if (i == len) {
        snprintf(d->err, sizeof d->err, "decode: empty input");
        return;
    }
    msg = yajl_get_error(d->yajl, 0, (const unsigned char *)text, len);
    n = msg != NULL ? strlen((char *)msg) : 0;
    while (n > 0 && strchr(" \t\r\n.", msg[n - 1]) != NULL)
        n--;
    snprintf(what, sizeof what, "%.*s", (int)(n < 80 ? n : 80), msg != NULL ? (char *)msg : "invalid JSON");
    if (at_end)
        pos = len;
    else if (pos > 0 && (strncmp(what, "parse error", 11) == 0 || strstr(what, "invalid char in json text") != NULL))
        pos--;
    if (msg != NULL)
        yajl_free_error(d->yajl, msg);
    fail_at(d, what, pos);
}

/* Parses text with yajl into d: 1, or 0 with the message in d->err. */
static int parse_yajl(decoder *d, const char *text, size_t len)
{
    yajl_alloc_funcs funcs;
    yajl_status st;

    json_yajl_funcs(&funcs, &d->g->mem);
    d->text = text;
    d->yajl = yajl_alloc(&callbacks, &funcs, d); /* raises rather than return NULL */
    st = yajl_parse(d->yajl, (const unsigned char *)text, len);
    if (st == yajl_status_error)
        syntax_error(d, text, len, 0);
    else if (st == yajl_status_ok && (st = yajl_complete_parse(d->yajl)) == yajl_status_error)
        syntax_error(d, text, len, 1);
    yajl_free(d->yajl);
    return st == yajl_status_ok;
}

/* The parser registered in L's registry, or NULL. */
static const json_parser *registered_parser(lua_State *L)
{
    const json_parser *p;

    lua_getfield(L, LUA_REGISTRYINDEX, JSON_PARSER_KEY);
    p = lua_touserdata(L, -1);
    lua_pop(L, 1);
    return p;
}

/* How many events of a registered parser are asked for at once. */
#define EVENT_BATCH 64

/* json_decode_push, with parser (may be NULL) first, then yajl. */
static int decode_push(lua_State *L, const char *text, size_t len, shape_id shape, int keep_nulls,
                       const json_parser *parser)
{
    int top = lua_gettop(L), ok, oom;
    void *state = NULL;
    decoder d;

    luaL_checkstack(L, 2 * JSON_MAX_DEPTH + 8, "decode");
    d.L = L;
    d.g = guard_push(L);
    d.want = shape_top(shape);
    d.item = 0;
    d.keep_nulls = keep_nulls;
    d.depth = 0;
    if (parser != NULL) {
        if ((state = parser->create()) == NULL)
            return guard_oom(L, "decode");
        guard_own(d.g, state, parser->destroy);
        if (!parser->parse(state, text, len, &oom)) {
            if (oom)
                return guard_oom(L, "decode");
            state = NULL; /* refused: yajl parses it, and says why */
        }
    }
    if (state != NULL) {
        json_event events[EVENT_BATCH];
        size_t i, n;
        ok = 1;
        while (ok && (n = parser->next(state, events, EVENT_BATCH)) > 0)
            for (i = 0; ok && i < n; i++)
                ok = on_event(&d, &events[i]);
    } else {
        ok = parse_yajl(&d, text, len);
    }
    guard_release(d.g);
    if (!ok) {
        lua_settop(L, top);
        lua_pushstring(L, d.err);
        return 0;
    }
    lua_replace(L, top + 1); /* the value over the guard */
    return 1;
}

int json_decode_push(lua_State *L, const char *text, size_t len, shape_id shape, int keep_nulls)
{
    return decode_push(L, text, len, shape, keep_nulls, registered_parser(L));
}

/* core.decode, with the registered parser first (decode_push's parser) or with yajl alone. */
static int decode_lua(lua_State *L, int yajl_alone)
{
    size_t len;
    const char *text = luaL_checklstring(L, 1, &len);
    shape_id shape = shape_opt(L, 2, SHAPE_BIT(SHAPE_ID_DEFINITION) | SHAPE_BIT(SHAPE_ID_PAGE) |
                                         SHAPE_BIT(SHAPE_ID_BULK) | SHAPE_BIT(SHAPE_ID_PRIMARY_PROPERTIES) |
                                         SHAPE_BIT(SHAPE_ID_OBJECT));

    if (decode_push(L, text, len, shape, lua_toboolean(L, 3), yajl_alone ? NULL : registered_parser(L)))
        return 1;
    return core_fail(L, "decode", lua_tostring(L, -1));
}

/* core.decode(text [, shape [, keep_nulls]]) -> value | nil, {kind = "decode", detail};
   shape is "definition", "page", "bulk", "primary_properties" or "object". With keep_nulls an
   object's null is kept as core.null (a desired-state file's "clear this field"). */
int core_decode(lua_State *L)
{
    return decode_lua(L, 0);
}

int json_decode_yajl(lua_State *L)
{
    return decode_lua(L, 1);
}

/* core.json_parser() -> "simdjson" (a registered parser's name) or "yajl": which parser
   core.decode tries first in this Lua state. */
int core_json_parser(lua_State *L)
{
    const json_parser *p = registered_parser(L);

    lua_pushstring(L, p != NULL ? p->name : "yajl");
    return 1;
}
