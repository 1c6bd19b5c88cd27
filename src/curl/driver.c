/*
 * driver.c - the module posthog.event_definitions.transport.libcurl: a non-blocking libcurl
 * multi driver that Lua loops over, the only C of the project that links libcurl.
 *
 * Sans-IO towards Lua: libcurl's callbacks only append to C buffers (transfer.c); results are
 * turned into Lua tables in poll() (result.c). A transfer that curl reports done first moves
 * to the driver's finished list, and leaves it only once its result was delivered, so that a
 * raise while building results (out of memory) loses nothing: the next poll delivers it.
 * Easy handles are pooled, and connections stay alive in the multi handle's cache.
 */
#include <pthread.h>
#include <string.h>
#include <time.h>

#include "curl/driver.h"

#define DRIVER_MT "posthog.event_definitions.transport.libcurl.driver"

/* ===== Finishing ===== */

/* Removes t from the list at *pp, if it is there; returns whether it was. */
static int unlink_transfer(transfer **pp, transfer *t)
{
    for (; *pp != NULL; pp = &(*pp)->next)
        if (*pp == t) {
            *pp = t->next;
            return 1;
        }
    return 0;
}

/* Moves every transfer that curl reports done from the active list to the end of the
   finished list, its outcome recorded and its easy handle back in the pool. No Lua here. */
static void harvest(driver *d)
{
    transfer **tail = &d->finished;
    CURLMsg *m;
    int queued;

    while (*tail != NULL)
        tail = &(*tail)->next;
    while ((m = curl_multi_info_read(d->multi, &queued)) != NULL) {
        char *priv = NULL;
        transfer *t;
        if (m->msg != CURLMSG_DONE)
            continue;
        curl_easy_getinfo(m->easy_handle, CURLINFO_PRIVATE, &priv);
        t = (transfer *)(void *)priv;
        result_record(t, m->data.result); /* before detaching: m dies with the handle */
        unlink_transfer(&d->active, t);
        transfer_detach(d, t);
        t->next = NULL;
        *tail = t;
        tail = &t->next;
    }
}

/* Pushes the array of the finished transfers' results; only once it is complete are they
   freed (a raise on the way leaves them all for the next poll). */
static void deliver(lua_State *L, driver *d)
{
    transfer *t;
    int n = 0;

    lua_newtable(L);
    for (t = d->finished; t != NULL; t = t->next) {
        result_push(L, t);
        lua_rawseti(L, -2, ++n);
    }
    while ((t = d->finished) != NULL) {
        d->finished = t->next;
        transfer_free(t);
    }
}

/* ===== Driver methods ===== */

/* The driver at argument 1, or NULL when it is closed. */
static driver *to_driver(lua_State *L)
{
    driver *d = luaL_checkudata(L, 1, DRIVER_MT);
    return d->multi != NULL ? d : NULL;
}

/* driver:close() -> releases every transfer, handle and connection (idempotent; also __gc) */
static int driver_close(lua_State *L)
{
    driver *d = luaL_checkudata(L, 1, DRIVER_MT);
    transfer *t;

    if (d->multi == NULL)
        return 0;
    while ((t = d->active) != NULL) {
        d->active = t->next;
        transfer_detach(d, t);
        transfer_free(t);
    }
    while ((t = d->finished) != NULL) {
        d->finished = t->next;
        transfer_free(t);
    }
    while (d->npool > 0)
        curl_easy_cleanup(d->pool[--d->npool]);
    curl_multi_cleanup(d->multi);
    d->multi = NULL;
    return 0;
}

/* driver:add(req [, options]) -> id (see transfer.c) */
static int driver_add(lua_State *L)
{
    driver *d = to_driver(L);

    if (d == NULL)
        return luaL_error(L, "driver is closed");
    return transfer_add(L, d);
}

double monotonic_now(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* driver:poll(timeout_seconds) -> array of { id, res } / { id, err }, possibly empty; waits up
   to timeout for a transfer to finish, and returns at once when none is in flight, or early
   (perhaps with nothing) when a trapped signal arrives (interrupt.c) */
static int driver_poll(lua_State *L)
{
    driver *d = to_driver(L);
    double timeout = luaL_optnumber(L, 2, 0), deadline = monotonic_now() + (timeout > 0 ? timeout : 0), left;
    CURLMcode mc;
    struct curl_waitfd wakeup;
    int running;

    if (d == NULL)
        return luaL_error(L, "driver is closed");
    lua_settop(L, 2);
    for (;;) {
        if (d->active != NULL) {
            if ((mc = curl_multi_perform(d->multi, &running)) != CURLM_OK)
                return luaL_error(L, "driver:poll: %s", curl_multi_strerror(mc));
            harvest(d);
        }
        if (d->finished != NULL || d->active == NULL || (left = deadline - monotonic_now()) <= 0)
            break;
        wakeup.fd = interrupt_fd();
        wakeup.events = CURL_WAIT_POLLIN;
        wakeup.revents = 0;
        mc = curl_multi_poll(d->multi, wakeup.fd >= 0 ? &wakeup : NULL, wakeup.fd >= 0 ? 1 : 0,
                             left > 3600 ? 3600000 : (int)(left * 1000) + 1, NULL);
        if (mc != CURLM_OK)
            return luaL_error(L, "driver:poll: %s", curl_multi_strerror(mc));
        if (wakeup.revents != 0) { /* a signal: Lua looks at what it means */
            interrupt_drain();
            break;
        }
    }
    deliver(L, d);
    return 1;
}

/* driver:remove(id) -> true when that transfer was in flight, or finished with its result not
   yet delivered: it is aborted and its result is never returned; false when unknown or done */
static int driver_remove(lua_State *L)
{
    driver *d = to_driver(L);
    lua_Integer id = luaL_checkinteger(L, 2);
    transfer *t;

    if (d == NULL)
        return luaL_error(L, "driver is closed");
    for (t = d->active; t != NULL && t->id != id; t = t->next)
        ;
    if (t != NULL) {
        unlink_transfer(&d->active, t);
        transfer_detach(d, t);
    } else {
        for (t = d->finished; t != NULL && t->id != id; t = t->next)
            ;
        if (t != NULL)
            unlink_transfer(&d->finished, t);
    }
    if (t != NULL)
        transfer_free(t);
    lua_pushboolean(L, t != NULL);
    return 1;
}

/* ===== Module ===== */

static const luaL_Reg driver_methods[] = {
    { "add", driver_add },
    { "poll", driver_poll },
    { "remove", driver_remove },
    { "close", driver_close },
    { NULL, NULL }
};

/* libcurl.new() -> a new driver */
static int driver_new(lua_State *L)
{
    driver *d = lua_newuserdata(L, sizeof *d);

    memset(d, 0, sizeof *d);
    luaL_getmetatable(L, DRIVER_MT);
    lua_setmetatable(L, -2);
    if ((d->multi = curl_multi_init()) == NULL)
        return luaL_error(L, "curl_multi_init failed");
    return 1;
}

static pthread_once_t once = PTHREAD_ONCE_INIT;
static CURLcode global_init_result;

static void init_once(void)
{
    global_init_result = curl_global_init(CURL_GLOBAL_DEFAULT);
}

/* require "posthog.event_definitions.transport.libcurl" -> { new = function, version = curl's
   version string, and trap, untrap, caught, nap (interrupt.c) }; initialises libcurl once per
   process */
__attribute__((visibility("default"))) int luaopen_posthog_event_definitions_transport_libcurl(lua_State *L)
{
    pthread_once(&once, init_once);
    if (global_init_result != CURLE_OK)
        return luaL_error(L, "curl_global_init failed: %s", curl_easy_strerror(global_init_result));

    luaL_newmetatable(L, DRIVER_MT);
    lua_newtable(L);
    compat_luaL_setfuncs(L, driver_methods, 0);
    lua_setfield(L, -2, "__index");
    lua_pushcfunction(L, driver_close);
    lua_setfield(L, -2, "__gc");
    lua_pushcfunction(L, driver_close);
    lua_setfield(L, -2, "__close");
    lua_pop(L, 1);

    lua_createtable(L, 0, 6);
    lua_pushcfunction(L, driver_new);
    lua_setfield(L, -2, "new");
    interrupt_register(L);
    lua_pushstring(L, curl_version());
    lua_setfield(L, -2, "version");
    return 1;
}
