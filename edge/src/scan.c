/*
 * scan.c - the events of a capture body as byte ranges, in one pass over yajl's parse events.
 *
 * The edge forwards the events it passes byte for byte, so it never decodes and re-encodes a
 * body: it needs where each event starts and ends, its name, its tokens (where PostHog's capture
 * reads the project), and where its properties value is (to insert a tag, or to read the few
 * properties a schema requires). yajl reports, inside each callback, how many bytes of the text
 * it has consumed, which is just past the token that fired the callback: a '{' or '}' therefore
 * sits at byte `consumed` (1-based), and a scalar ends at it. Strings arrive unescaped, so names
 * and tokens written with \u escapes are compared as PostHog reads them.
 *
 * yajl's handle lives in a userdata whose __gc frees it, so a memory error raised by Lua inside
 * a callback leaks nothing.
 */
#include <stdio.h>
#include <string.h>

#include <yajl/yajl_parse.h>

#include "codec/json_escape.h"
#include "codec/utf8.h"
#include "edge.h"

/* ===== State ===== */

enum { KEY_OTHER, KEY_EVENT, KEY_PROPERTIES, KEY_BATCH, KEY_TOKEN, KEY_DTOKEN, KEY_API_KEY };
enum { ROOT_NONE, ROOT_OBJECT, ROOT_ARRAY };
enum { PROPS_ABSENT, PROPS_OBJECT, PROPS_NULL, PROPS_OTHER };

/* Stack slots of the strings of one event record, relative to its base slot. */
enum { SLOT_NAME, SLOT_TOKEN, SLOT_DTOKEN, SLOT_API_KEY, SLOT_PTOKEN, SLOTS };

/* One event object being scanned: the root object of a single-event body, or an item. */
typedef struct evrec {
    int active;
    int depth;        /* open containers inside the event object (its keys are at this depth) */
    int key;          /* the key whose value comes next, at the event's level */
    int in_props;     /* inside its properties object */
    int props_key;    /* the properties key whose value comes next is "token" */
    int slots;        /* first stack slot of its strings (SLOTS of them) */
    size_t first, last, vfirst, vlast;
    long pkeys, ekeys;
    int pkind;
} evrec;

typedef struct scanner {
    lua_State *L;
    yajl_handle h;
    int depth;
    int root;
    int batch_open;   /* inside the array of the root's "batch" */
    int batch_seen;
    int out;          /* stack index of the flat result table */
    long n;           /* events emitted */
    long max_events;
    evrec top, item;
    const char *text; /* the body */
    const char *why;
    int too_many;     /* the parse stopped at more events than max_events */
} scanner;

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
    if (len == 5 && memcmp(k, "token", 5) == 0)
        return KEY_TOKEN;
    if (len == 6 && memcmp(k, "$token", 6) == 0)
        return KEY_DTOKEN;
    if (len == 7 && memcmp(k, "api_key", 7) == 0)
        return KEY_API_KEY;
    if (root && len == 5 && memcmp(k, "batch", 5) == 0)
        return KEY_BATCH;
    return KEY_OTHER;
}

static int stop(scanner *s, const char *why)
{
    s->why = why;
    return 0;
}

/* Clears the string slots of r (false each). */
static void clear_slots(scanner *s, evrec *r)
{
    int i;
    for (i = 0; i < SLOTS; i++) {
        lua_pushboolean(s->L, 0);
        lua_replace(s->L, r->slots + i);
    }
}

static void open_event(scanner *s, evrec *r, int depth, size_t first)
{
    int slots = r->slots;
    memset(r, 0, sizeof *r);
    r->slots = slots;
    r->active = 1;
    r->depth = depth;
    r->first = first;
    clear_slots(s, r);
}

/* Appends the event r to the result table: EDGE_FIELDS values (see edge.h). */
static void emit(scanner *s, evrec *r)
{
    lua_State *L = s->L;
    int base = (int)(s->n * EDGE_FIELDS), i;
    size_t nums[] = { r->first, r->last, 0, r->vfirst, r->vlast, (size_t)r->pkind, (size_t)r->pkeys,
                      (size_t)r->ekeys };

    for (i = 0; i < 8; i++) {
        if (i == 2)
            lua_pushvalue(L, r->slots + SLOT_NAME);
        else
            edge_pushcount(L, nums[i]);
        lua_rawseti(L, s->out, base + i + 1);
    }
    for (i = SLOT_TOKEN; i < SLOTS; i++) {
        lua_pushvalue(L, r->slots + i);
        lua_rawseti(L, s->out, base + 8 + i);
    }
    s->n++;
}

/* Keeps a string value in slot `slot` of r (valid UTF-8: the body is, and so are its escapes). */
static void keep_string(scanner *s, evrec *r, int slot, const unsigned char *str, size_t len)
{
    lua_pushlstring(s->L, (const char *)str, len);
    lua_replace(s->L, r->slots + slot);
}

/* The first byte of the scalar that ends at byte `last` (1-based) of text. */
static size_t scalar_first(const char *text, size_t last)
{
    size_t i = last;
    if (text[last - 1] == '"')
        return json_string_start(text, last) + 1;
    while (i > 1 && !strchr(" \t\r\n:", text[i - 2]))
        i--;
    return i;
}

/* A value starts at depth d (before a container it opens is counted): is it the value of an
   event's key, an item of the events array, or the root? `map` / `array` say whether it opens a
   container, `str`/`len` carry a string value, `isnull` a null. Returns 0 to stop the parse. */
static int value(scanner *s, int map, int array, int isnull, const unsigned char *str, size_t len)
{
    int d = s->depth;
    evrec *r = NULL;

    if (d == 0) {
        s->root = map ? ROOT_OBJECT : array ? ROOT_ARRAY : ROOT_NONE;
        if (s->root == ROOT_NONE)
            return stop(s, "the body is neither an object nor an array");
        if (map)
            open_event(s, &s->top, 1, here(s));
        return 1;
    }
    if ((s->root == ROOT_ARRAY && d == 1) || (s->batch_open && d == 2)) {
        if (!map)
            return stop(s, "an item of the events array is not an object");
        if (s->n >= s->max_events) {
            s->too_many = 1;
            return stop(s, "more events than max_events");
        }
        open_event(s, &s->item, d + 1, here(s));
        return 1;
    }
    if (s->item.active && d == s->item.depth + 1 && s->item.in_props) {
        r = &s->item;
    } else if (s->top.active && d == 2 && s->top.in_props) {
        r = &s->top;
    }
    if (r != NULL) { /* a value of the properties object: only "token" matters */
        if (r->props_key && str != NULL)
            keep_string(s, r, SLOT_PTOKEN, str, len);
        r->props_key = 0;
        return 1;
    }
    if (s->item.active && d == s->item.depth) {
        r = &s->item;
    } else if (s->top.active && d == 1) {
        r = &s->top;
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
    switch (r->key) {
    case KEY_EVENT:
        if (str != NULL) {
            keep_string(s, r, SLOT_NAME, str, len);
        } else {
            lua_pushboolean(s->L, 0);
            lua_replace(s->L, r->slots + SLOT_NAME);
        }
        break;
    case KEY_TOKEN:
    case KEY_DTOKEN:
    case KEY_API_KEY:
        if (str != NULL) {
            int slot = r->key == KEY_TOKEN ? SLOT_TOKEN : r->key == KEY_DTOKEN ? SLOT_DTOKEN : SLOT_API_KEY;
            keep_string(s, r, slot, str, len);
        }
        break;
    case KEY_PROPERTIES: /* the last "properties" counts, as for PostHog */
        r->in_props = map;
        r->pkind = map ? PROPS_OBJECT : isnull ? PROPS_NULL : PROPS_OTHER;
        r->pkeys = 0;
        r->vlast = 0;
        lua_pushboolean(s->L, 0);
        lua_replace(s->L, r->slots + SLOT_PTOKEN);
        if (map || array) {
            r->vfirst = here(s);
        } else { /* a scalar ends where yajl stands; its first byte is found backwards (in the
                    body only: see scan_yajl) */
            r->vlast = here(s);
            r->vfirst = s->text != NULL ? scalar_first(s->text, r->vlast) : 0;
        }
        break;
    default:
        break;
    }
    r->key = KEY_OTHER;
    return 1;
}

/* ===== yajl callbacks ===== */

static int on_null(void *ctx)
{
    return value(ctx, 0, 0, 1, NULL, 0);
}

static int on_boolean(void *ctx, int b)
{
    (void)b;
    return value(ctx, 0, 0, 0, NULL, 0);
}

static int on_number(void *ctx, const char *n, size_t len)
{
    (void)n;
    (void)len;
    return value(ctx, 0, 0, 0, NULL, 0);
}

static int on_string(void *ctx, const unsigned char *str, size_t len)
{
    return value(ctx, 0, 0, 0, str, len);
}

static int on_start_map(void *ctx)
{
    scanner *s = ctx;
    if (!value(s, 1, 0, 0, NULL, 0))
        return 0;
    s->depth++;
    return 1;
}

static int on_start_array(void *ctx)
{
    scanner *s = ctx;
    if (!value(s, 0, 1, 0, NULL, 0))
        return 0;
    s->depth++;
    return 1;
}

static int on_map_key(void *ctx, const unsigned char *k, size_t len)
{
    scanner *s = ctx;
    int d = s->depth;

    if (s->item.active && d == s->item.depth) {
        s->item.key = key_of(k, len, 0);
        s->item.ekeys++;
    } else if (s->item.active && s->item.in_props && d == s->item.depth + 1) {
        s->item.pkeys++;
        s->item.props_key = len == 5 && memcmp(k, "token", 5) == 0;
    }
    if (s->top.active && d == 1) {
        s->top.key = key_of(k, len, 1);
        s->top.ekeys++;
    } else if (s->top.active && s->top.in_props && d == 2) {
        s->top.pkeys++;
        s->top.props_key = len == 5 && memcmp(k, "token", 5) == 0;
    }
    return 1;
}

/* Closes the container at depth d (before the decrement): an event, or its properties. */
static void close_container(scanner *s, int d)
{
    evrec *item = &s->item, *top = &s->top;

    if (item->active && item->vfirst && !item->vlast && d == item->depth + 1) {
        item->vlast = here(s);
        item->in_props = 0;
    } else if (item->active && d == item->depth) {
        item->last = here(s);
        item->active = 0;
        emit(s, item);
    } else if (top->active && top->vfirst && !top->vlast && d == 2) {
        top->vlast = here(s);
        top->in_props = 0;
    } else if (top->active && d == 1) {
        top->last = here(s);
    }
}

static int on_end_map(void *ctx)
{
    scanner *s = ctx;
    close_container(s, s->depth--);
    return 1;
}

static int on_end_array(void *ctx)
{
    scanner *s = ctx;
    int d = s->depth--;

    if (s->batch_open && d == 2)
        s->batch_open = 0;
    else
        close_container(s, d);
    return 1;
}

static const yajl_callbacks callbacks = {
    on_null, on_boolean, NULL, NULL, on_number, on_string,
    on_start_map, on_map_key, on_end_map, on_start_array, on_end_array
};

/* The arguments of edge_core.scan: the body and max_events (default 10^9). */
const char *edge_scan_args(lua_State *L, size_t *len, long *max_events)
{
    const char *text = luaL_checklstring(L, 1, len);
    lua_Number max = luaL_optnumber(L, 2, 1e9);
    *max_events = max < 0 ? 0 : max > 1e9 ? 1000000000L : (long)max;
    return text;
}

/* edge_core.scan with yajl, its arguments read (edge_scan_args): text is argument 1 (len bytes),
   max the events' limit; argument 3 may be the table to fill. */
static int scan_yajl(lua_State *L, const char *text, size_t len, long max)
{
    scanner s;
    void **hp;
    yajl_status st;
    int i;

    if (!utf8_valid(text, len)) {
        lua_pushnil(L);
        lua_pushstring(L, "json");
        lua_pushstring(L, "the body is not valid UTF-8 (PostHog refuses the request)");
        return 3;
    }
    /* yajl would turn an escaped surrogate that is not a pair into "?" or a wrong code point,
       where PostHog's capture refuses the whole request */
    if (json_unpaired_surrogate(text, len) != NULL) {
        lua_pushnil(L);
        lua_pushstring(L, "json");
        lua_pushstring(L, "an escaped surrogate that is not a pair (PostHog refuses the request)");
        return 3;
    }
    memset(&s, 0, sizeof s);
    s.L = L;
    s.text = text;
    s.max_events = max;
    s.why = "not valid JSON";
    lua_settop(L, 3);
    luaL_checkstack(L, 2 * SLOTS + 8, "scan");
    hp = edge_yajl_handle(L);                 /* slot 4: frees the handle on any raise */
    edge_events_table(L, 3, 0);               /* slot 5: the events */
    s.out = lua_gettop(L);
    s.top.slots = s.out + 1;
    s.item.slots = s.out + 1 + SLOTS;
    for (i = 0; i < 2 * SLOTS; i++)
        lua_pushboolean(L, 0);
    *hp = s.h = yajl_alloc(&callbacks, NULL, &s);
    if (s.h == NULL)
        return luaL_error(L, "scan: out of memory");
    yajl_config(s.h, yajl_dont_validate_strings, 1); /* utf8_valid passed the whole body, more strictly */
    st = yajl_parse(s.h, (const unsigned char *)text, len);
    /* yajl_complete_parse reads a buffer of its own, so where yajl stands is no byte of the body:
       a number it ends there (the last bytes of a body cut short, which fails) has no first byte */
    s.text = NULL;
    if (st == yajl_status_ok)
        st = yajl_complete_parse(s.h);
    yajl_free(s.h);
    *hp = NULL;
    if (st != yajl_status_ok) {
        lua_pushnil(L);
        lua_pushstring(L, s.too_many ? "too_many_events" : "json");
        lua_pushstring(L, s.why);
        return 3;
    }
    if (s.root == ROOT_OBJECT && !s.batch_seen) {
        if (lua_toboolean(L, s.top.slots + SLOT_NAME) == 0 && s.top.ekeys == 0) {
            lua_pushnil(L);
            lua_pushstring(L, "json");
            lua_pushstring(L, "an empty object is neither an event nor a batch");
            return 3;
        }
        s.n = 0;
        emit(&s, &s.top);
    }
    lua_pushstring(L, s.batch_seen ? "batch" : s.root == ROOT_ARRAY ? "array" : "single");
    lua_pushvalue(L, s.out);
    edge_pushcount(L, s.n);
    lua_pushvalue(L, s.top.slots + SLOT_API_KEY);
    lua_pushvalue(L, s.top.slots + SLOT_TOKEN);
    return 5;
}

/* edge_core.scan_yajl(body, max_events [, into]): edge_core.scan with yajl, whatever is registered. */
int edge_scan_yajl(lua_State *L)
{
    size_t len;
    long max;
    const char *text = edge_scan_args(L, &len, &max);

    return scan_yajl(L, text, len, max);
}

/* Pushes the table the events go into: the argument at `arg` when it is a table (its items past
   the events' are left as they are), else a new one with room for n events. */
void edge_events_table(lua_State *L, int arg, size_t n)
{
    if (lua_istable(L, arg))
        lua_pushvalue(L, arg);
    else
        lua_createtable(L, (int)(n * EDGE_FIELDS), 0);
}

/* edge_core.scan(body, max_events [, into]) -> form, events, n, api_key, token
                                     | nil, reason ("json" or "too_many_events"), detail.
   form is "batch" ({"batch": [...]}), "array" ([...]) or "single" (one event object); events is
   a flat array of EDGE_FIELDS values per event, in body order (see edge.h): the table `into`
   when given (reused from scan to scan: only its first n * FIELDS items are this body's), else
   a new one; api_key and token are the root object's (false when absent). Any JSON error, or an item that is not an object,
   is a failure; so is a body with more than max_events events (the parse stops there). A
   registered scanner (scanner.h) scans first; what it does not accept, yajl scans. */
int edge_scan(lua_State *L)
{
    size_t len;
    long max;
    const char *text = edge_scan_args(L, &len, &max);

    if (edge_scan_registered(L, text, len, max))
        return 5;
    return scan_yajl(L, text, len, max);
}
