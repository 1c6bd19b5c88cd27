/*
 * scan.c - byte ranges of the events in a capture body, in one pass over yajl's parse events.
 *
 * The edge enforcement (lua/posthog/event_definitions/edge/) forwards the events it passes byte
 * for byte, so it never decodes and re-encodes a body: it needs where each event starts and ends,
 * its name, and where its properties object is (to insert a property or, for the few events with
 * a schema, to look at the kinds of their values). yajl reports, inside each callback, how many
 * bytes of the text it has consumed, which is just past the token that fired the callback: a '{'
 * or '}' therefore sits at byte `consumed` (1-based). Strings arrive unescaped, so an event name
 * written with \u escapes is compared as PostHog reads it. yajl's memory comes from the guard's
 * arena, freed whole on any raise.
 */
#include <stdio.h>
#include <string.h>

#include <yajl/yajl_parse.h>

#include "codec/json.h"

/* ===== State ===== */

enum { KEY_OTHER, KEY_EVENT, KEY_PROPERTIES, KEY_BATCH };
enum { ROOT_NONE, ROOT_OBJECT, ROOT_ARRAY };

/* One event object being scanned: the root object of a single-event body, or an item. */
typedef struct evrec {
    int active;
    int depth;        /* open containers inside the event object (its keys are at this depth) */
    int key;          /* the key whose value comes next, at the event's level */
    int in_props;     /* inside its properties object */
    int has_name;     /* "event" was a string (its text is on the Lua stack at name_slot) */
    size_t first, last, pfirst, plast;
    long pkeys;       /* keys of the properties object */
} evrec;

typedef struct scanner {
    lua_State *L;
    yajl_handle h;
    int depth;
    int root;
    int batch_open;   /* inside the array of the root's "batch" */
    int batch_seen;
    int out;          /* stack index of the flat result table */
    int root_name;    /* stack slots of the names */
    int item_name;
    long n;           /* events emitted */
    evrec top, item;
    char err[CORE_ERRMAX];
} scanner;

#define FIELDS_PER_EVENT 6

static size_t here(scanner *s)
{
    return yajl_get_bytes_consumed(s->h);
}

static int key_of(const unsigned char *k, size_t len, int root)
{
    if (len == 5 && memcmp(k, "event", 5) == 0)
        return KEY_EVENT;
    if (len == 10 && memcmp(k, "properties", 10) == 0)
        return KEY_PROPERTIES;
    if (root && len == 5 && memcmp(k, "batch", 5) == 0)
        return KEY_BATCH;
    return KEY_OTHER;
}

static int stop(scanner *s, const char *why)
{
    snprintf(s->err, sizeof s->err, "%s", why);
    return 0;
}

/* Appends the event r to the result table. */
static void emit(scanner *s, evrec *r, int name_slot)
{
    lua_State *L = s->L;
    lua_Number base = (lua_Number)(s->n * FIELDS_PER_EVENT);

    lua_pushnumber(L, (lua_Number)r->first);
    lua_rawseti(L, s->out, (int)base + 1);
    lua_pushnumber(L, (lua_Number)r->last);
    lua_rawseti(L, s->out, (int)base + 2);
    if (r->has_name)
        lua_pushvalue(L, name_slot);
    else
        lua_pushboolean(L, 0);
    lua_rawseti(L, s->out, (int)base + 3);
    lua_pushnumber(L, (lua_Number)r->pfirst);
    lua_rawseti(L, s->out, (int)base + 4);
    lua_pushnumber(L, (lua_Number)r->plast);
    lua_rawseti(L, s->out, (int)base + 5);
    lua_pushnumber(L, (lua_Number)r->pkeys);
    lua_rawseti(L, s->out, (int)base + 6);
    s->n++;
}

static void open_event(evrec *r, int depth, size_t first)
{
    memset(r, 0, sizeof *r);
    r->active = 1;
    r->depth = depth;
    r->first = first;
}

/* A value starts at depth d (before a container it opens is counted): is it the value of an
   event's key, an item of the events array, or the root? `map` says whether it opens an object,
   `str`/`len` carry a string value. Returns 0 to stop the parse. */
static int value(scanner *s, int map, int array, const unsigned char *str, size_t len)
{
    int d = s->depth;
    evrec *r = NULL;
    int name_slot = 0;

    if (d == 0) {
        s->root = map ? ROOT_OBJECT : array ? ROOT_ARRAY : ROOT_NONE;
        if (s->root == ROOT_NONE)
            return stop(s, "the body is neither an object nor an array");
        if (map)
            open_event(&s->top, 1, here(s));
        return 1;
    }
    if ((s->root == ROOT_ARRAY && d == 1) || (s->batch_open && d == 2)) {
        if (!map)
            return stop(s, "an item of the events array is not an object");
        open_event(&s->item, d + 1, here(s));
        return 1;
    }
    if (s->item.active && d == s->item.depth) {
        r = &s->item;
        name_slot = s->item_name;
    } else if (s->top.active && d == 1) {
        r = &s->top;
        name_slot = s->root_name;
        if (r->key == KEY_BATCH) {
            if (!array)
                return stop(s, "\"batch\" is not an array");
            if (s->batch_seen)
                return stop(s, "more than one \"batch\"");
            s->batch_open = s->batch_seen = 1;
        }
    }
    if (r == NULL)
        return 1;
    if (r->key == KEY_EVENT) {
        if (str != NULL && !utf8_valid((const char *)str, len))
            return stop(s, "an event name is not valid UTF-8"); /* yajl lets a lone \udc00 through */
        r->has_name = str != NULL;
        if (str != NULL) {
            lua_pushlstring(s->L, (const char *)str, len);
            lua_replace(s->L, name_slot);
        }
    } else if (r->key == KEY_PROPERTIES) {
        r->in_props = map;
        r->pfirst = r->plast = 0;
        r->pkeys = 0;
        if (map)
            r->pfirst = here(s);
    }
    r->key = KEY_OTHER;
    return 1;
}

/* ===== yajl callbacks ===== */

static int on_null(void *ctx)
{
    return value(ctx, 0, 0, NULL, 0);
}

static int on_boolean(void *ctx, int b)
{
    (void)b;
    return value(ctx, 0, 0, NULL, 0);
}

static int on_number(void *ctx, const char *n, size_t len)
{
    (void)n;
    (void)len;
    return value(ctx, 0, 0, NULL, 0);
}

static int on_string(void *ctx, const unsigned char *str, size_t len)
{
    return value(ctx, 0, 0, str, len);
}

static int on_start_map(void *ctx)
{
    scanner *s = ctx;
    if (!value(s, 1, 0, NULL, 0))
        return 0;
    s->depth++;
    return 1;
}

static int on_start_array(void *ctx)
{
    scanner *s = ctx;
    if (!value(s, 0, 1, NULL, 0))
        return 0;
    s->depth++;
    return 1;
}

static int on_map_key(void *ctx, const unsigned char *k, size_t len)
{
    scanner *s = ctx;
    int d = s->depth;

    if (s->item.active && d == s->item.depth)
        s->item.key = key_of(k, len, 0);
    else if (s->item.active && s->item.in_props && d == s->item.depth + 1)
        s->item.pkeys++;
    if (s->top.active && d == 1)
        s->top.key = key_of(k, len, 1);
    else if (s->top.active && s->top.in_props && d == 2)
        s->top.pkeys++;
    return 1;
}

static int on_end_map(void *ctx)
{
    scanner *s = ctx;
    int d = s->depth--;

    if (s->item.active && s->item.in_props && d == s->item.depth + 1) {
        s->item.plast = here(s);
        s->item.in_props = 0;
    } else if (s->item.active && d == s->item.depth) {
        s->item.last = here(s);
        s->item.active = 0;
        emit(s, &s->item, s->item_name);
    } else if (s->top.active && s->top.in_props && d == 2) {
        s->top.plast = here(s);
        s->top.in_props = 0;
    } else if (s->top.active && d == 1) {
        s->top.last = here(s);
    }
    return 1;
}

static int on_end_array(void *ctx)
{
    scanner *s = ctx;
    int d = s->depth--;

    if (s->batch_open && d == 2)
        s->batch_open = 0;
    return 1;
}

static const yajl_callbacks callbacks = {
    on_null, on_boolean, NULL, NULL, on_number, on_string,
    on_start_map, on_map_key, on_end_map, on_start_array, on_end_array
};

/* Runs yajl over text with the callbacks cb and context ctx (pushes a guard, which the caller
   drops); returns 1 when the text is one complete JSON value that the callbacks accepted. */
static int run(lua_State *L, const yajl_callbacks *cb, void *ctx, yajl_handle *hp, const char *text, size_t len)
{
    yajl_alloc_funcs funcs;
    guard *g = guard_push(L);
    yajl_status st;

    json_yajl_funcs(&funcs, &g->mem);
    *hp = yajl_alloc(cb, &funcs, ctx); /* raises rather than return NULL */
    st = yajl_parse(*hp, (const unsigned char *)text, len);
    if (st == yajl_status_ok)
        st = yajl_complete_parse(*hp);
    yajl_free(*hp);
    guard_release(g);
    return st == yajl_status_ok;
}

/* core.scan_events(body) -> form, events, n | nil, {kind = "decode", detail}.
   form is "batch" ({"batch": [...]}), "array" ([...]) or "single" (one event object); events is a
   flat array of 6 values per event, in body order: first and last byte of the event object
   (1-based, '{' and '}'), its name (false when "event" is missing or not a string), the first and
   last byte of its properties object (0, 0 when it has none or it is not an object) and how many
   keys that object has. Any JSON error, or an item that is not an object, is a failure. */
int core_scan_events(lua_State *L)
{
    size_t len;
    const char *text = luaL_checklstring(L, 1, &len);
    scanner s;
    int ok;

    memset(&s, 0, sizeof s);
    s.L = L;
    lua_settop(L, 1);
    lua_newtable(L);
    s.out = lua_gettop(L);
    lua_pushboolean(L, 0);
    s.root_name = lua_gettop(L);
    lua_pushboolean(L, 0);
    s.item_name = lua_gettop(L);
    snprintf(s.err, sizeof s.err, "not valid JSON");
    ok = run(L, &callbacks, &s, &s.h, text, len);
    lua_settop(L, s.item_name);
    if (!ok)
        return core_fail(L, "decode", s.err);
    if (s.root == ROOT_OBJECT && !s.batch_seen) {
        if (!s.top.has_name)
            return core_fail(L, "decode", "the object is neither an event nor a batch");
        s.n = 0;
        emit(&s, &s.top, s.root_name);
    }
    lua_pushstring(L, s.batch_seen ? "batch" : s.root == ROOT_ARRAY ? "array" : "single");
    lua_pushvalue(L, s.out);
    lua_pushnumber(L, (lua_Number)s.n);
    return 3;
}

/* ===== Kinds of the values of one object ===== */

typedef struct kinds {
    lua_State *L;
    int depth;
    int out;
    int have_key;
} kinds;

static int kind(void *ctx, const char *name)
{
    kinds *k = ctx;
    if (k->depth == 1 && k->have_key) {
        lua_pushstring(k->L, name);
        lua_rawset(k->L, k->out); /* the key is on the stack below it */
        k->have_key = 0;
    }
    return 1;
}

static int k_null(void *ctx) { return kind(ctx, "null"); }
static int k_boolean(void *ctx, int b) { (void)b; return kind(ctx, "boolean"); }
static int k_number(void *ctx, const char *n, size_t len) { (void)n; (void)len; return kind(ctx, "number"); }
static int k_string(void *ctx, const unsigned char *str, size_t len)
{
    (void)str;
    (void)len;
    return kind(ctx, "string");
}

static int k_start_map(void *ctx)
{
    kinds *k = ctx;
    if (k->depth == 0) {
        k->depth = 1;
        return 1;
    }
    kind(ctx, "object");
    k->depth++;
    return 1;
}

static int k_start_array(void *ctx)
{
    kinds *k = ctx;
    if (k->depth == 0)
        return 0;
    kind(ctx, "array");
    k->depth++;
    return 1;
}

static int k_end(void *ctx)
{
    ((kinds *)ctx)->depth--;
    return 1;
}

static int k_map_key(void *ctx, const unsigned char *key, size_t len)
{
    kinds *k = ctx;
    if (k->depth == 1) {
        if (k->have_key)
            lua_pop(k->L, 1);
        lua_pushlstring(k->L, (const char *)key, len);
        k->have_key = 1;
    }
    return 1;
}

static const yajl_callbacks kind_callbacks = {
    k_null, k_boolean, NULL, NULL, k_number, k_string,
    k_start_map, k_map_key, k_end, k_start_array, k_end
};

/* core.scan_props(body, first, last) -> {key = kind} | nil, {kind = "decode", detail}: the kind
   ("string", "number", "boolean", "null", "object" or "array") of each value of the JSON object
   at bytes first..last of body (a repeated key: its last value). */
int core_scan_props(lua_State *L)
{
    size_t len;
    const char *text = luaL_checklstring(L, 1, &len);
    lua_Integer first = (lua_Integer)luaL_checknumber(L, 2), last = (lua_Integer)luaL_checknumber(L, 3);
    yajl_handle h;
    kinds k;

    if (first < 1 || last < first || (size_t)last > len)
        return core_fail(L, "decode", "byte range out of the body");
    lua_settop(L, 3);
    lua_newtable(L);
    k.L = L;
    k.depth = 0;
    k.out = lua_gettop(L);
    k.have_key = 0;
    luaL_checkstack(L, 8, "scan_props");
    if (!run(L, &kind_callbacks, &k, &h, text + first - 1, (size_t)(last - first + 1)))
        return core_fail(L, "decode", "not a JSON object");
    lua_settop(L, k.out);
    return 1;
}
