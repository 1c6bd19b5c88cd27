/*
 * registered.c - edge_core.scan through a scanner a module registered (scanner.h): its state,
 * kept per Lua state in the registry (freed by the collector), and its records turned into what
 * edge_core.scan returns. The scanner has returned before any Lua call here, so a Lua error
 * (out of memory) unwinds C frames only, and the state it leaves is whole.
 */
#include <string.h>

#include "edge.h"
#include "scanner.h"

#define STATE_MT "posthog.event_definitions.edge.scanner_state"
#define STATE_KEY "posthog.event_definitions.edge.scanner_state.1"

typedef struct owned_state {
    const edge_scanner *scanner;
    void *state;
} owned_state;

static int state_gc(lua_State *L)
{
    owned_state *o = luaL_checkudata(L, 1, STATE_MT);
    if (o->state != NULL)
        o->scanner->destroy(o->state);
    o->state = NULL;
    return 0;
}

/* The registered scanner, or NULL. */
static const edge_scanner *registered(lua_State *L)
{
    const edge_scanner *sc;
    lua_getfield(L, LUA_REGISTRYINDEX, EDGE_SCANNER_KEY);
    sc = lua_touserdata(L, -1);
    lua_pop(L, 1);
    return sc;
}

/* The state of scanner sc in this Lua state, made at its first use; NULL when memory runs out. */
static void *scanner_state(lua_State *L, const edge_scanner *sc)
{
    owned_state *o;
    lua_getfield(L, LUA_REGISTRYINDEX, STATE_KEY);
    o = lua_touserdata(L, -1);
    lua_pop(L, 1);
    if (o != NULL && o->scanner == sc) {
        if (o->state == NULL)
            o->state = sc->create();
        return o->state;
    }
    o = lua_newuserdata(L, sizeof *o);
    o->scanner = sc;
    o->state = NULL;
    if (luaL_newmetatable(L, STATE_MT)) {
        lua_pushcfunction(L, state_gc);
        lua_setfield(L, -2, "__gc");
    }
    lua_setmetatable(L, -2);
    o->state = sc->create();
    lua_setfield(L, LUA_REGISTRYINDEX, STATE_KEY);
    return o->state;
}

static void push_text(lua_State *L, edge_text t)
{
    if (t.s != NULL)
        lua_pushlstring(L, t.s, t.len);
    else
        lua_pushboolean(L, 0);
}

/* Sets t[i] to the count n. */
static void set_count(lua_State *L, int t, int i, size_t n)
{
    edge_pushcount(L, n);
    lua_rawseti(L, t, i);
}

static void set_text(lua_State *L, int t, int i, edge_text text)
{
    push_text(L, text);
    lua_rawseti(L, t, i);
}

/* What edge_core.scan returns for what the scanner found: form, events, n, api_key, token. */
static int push_scan(lua_State *L, const edge_scan_out *out)
{
    static const char *const FORMS[] = { "batch", "array", "single" };
    int t;
    size_t i;

    lua_pushstring(L, FORMS[out->form]);
    edge_events_table(L, 3, out->n);
    t = lua_gettop(L);
    for (i = 0; i < out->n; i++) {
        const edge_event *e = &out->events[i];
        int base = (int)(i * EDGE_FIELDS);
        set_count(L, t, base + 1, e->first);
        set_count(L, t, base + 2, e->last);
        set_text(L, t, base + 3, e->name);
        set_count(L, t, base + 4, e->vfirst);
        set_count(L, t, base + 5, e->vlast);
        set_count(L, t, base + 6, (size_t)e->pkind);
        set_count(L, t, base + 7, e->pkeys);
        set_count(L, t, base + 8, e->ekeys);
        set_text(L, t, base + 9, e->token);
        set_text(L, t, base + 10, e->dtoken);
        set_text(L, t, base + 11, e->api_key);
        set_text(L, t, base + 12, e->ptoken);
    }
    edge_pushcount(L, out->n);
    push_text(L, out->api_key);
    push_text(L, out->token);
    return 5;
}

int edge_scan_registered(lua_State *L, const char *text, size_t len, long max_events)
{
    const edge_scanner *sc = registered(L);
    edge_scan_out out;
    void *state;

    if (sc == NULL || (state = scanner_state(L, sc)) == NULL)
        return 0;
    memset(&out, 0, sizeof out);
    if (sc->scan(state, text, len, (size_t)max_events, &out) != 1)
        return 0;
    return push_scan(L, &out);
}

/* edge_core.scan_registered(body, max_events [, into]) -> what edge_core.scan returns, when the
   registered scanner accepts the body; nil when it does not, or none is registered (specs and
   make fuzz compare it with edge_core.scan_yajl). */
int edge_scan_registered_alone(lua_State *L)
{
    size_t len;
    long max;
    const char *text = edge_scan_args(L, &len, &max);

    if (edge_scan_registered(L, text, len, max))
        return 5;
    lua_pushnil(L);
    return 1;
}

/* edge_core.scanner() -> "simdjson" (a registered scanner's name) or "yajl": which scanner
   edge_core.scan tries first in this Lua state. */
int edge_scanner_name(lua_State *L)
{
    const edge_scanner *sc = registered(L);
    lua_pushstring(L, sc != NULL ? sc->name : "yajl");
    return 1;
}
