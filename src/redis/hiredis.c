/*
 * hiredis.c - module posthog.event_definitions.hiredis: blocking Redis connections for the
 * pacing shared by a fleet outside nginx, over Debian's hiredis (the only library it links).
 * Every connect, write and read is bounded by the connection's timeout; replies come back as
 * Lua values. Inside nginx the library uses cosockets (lua-resty-redis) instead.
 */
#include <errno.h>
#include <string.h>
#include <sys/time.h>

#include <hiredis/hiredis.h>

#include "compat.h"

#define CONN_MT "posthog.event_definitions.hiredis.conn"
#define MAX_ARGS 64

typedef struct conn {
    redisContext *ctx; /* NULL once closed */
} conn;

static struct timeval timeval_of(double seconds)
{
    struct timeval tv;

    if (seconds < 0.001)
        seconds = 0.001;
    tv.tv_sec = (time_t)seconds;
    tv.tv_usec = (suseconds_t)((seconds - (double)tv.tv_sec) * 1e6);
    return tv;
}

/* hiredis.connect(host, port, timeout) -> conn | nil, message */
static int hiredis_connect(lua_State *L)
{
    const char *host = luaL_checkstring(L, 1);
    int port = (int)luaL_checkinteger(L, 2);
    struct timeval tv = timeval_of(luaL_checknumber(L, 3));
    redisContext *ctx;
    conn *c;

    ctx = redisConnectWithTimeout(host, port, tv);
    if (ctx == NULL) {
        lua_pushnil(L);
        lua_pushliteral(L, "connect: out of memory");
        return 2;
    }
    if (ctx->err != 0 || redisSetTimeout(ctx, tv) != REDIS_OK) {
        lua_pushnil(L);
        lua_pushfstring(L, "connect: %s", ctx->err != 0 ? ctx->errstr : "cannot set the timeout");
        redisFree(ctx);
        return 2;
    }
    c = lua_newuserdata(L, sizeof *c);
    c->ctx = ctx;
    luaL_getmetatable(L, CONN_MT);
    lua_setmetatable(L, -2);
    return 1;
}

static conn *check_conn(lua_State *L)
{
    return luaL_checkudata(L, 1, CONN_MT);
}

/* Pushes a reply as a Lua value: status and bulk strings as strings, integers as numbers, a
   nil bulk as false, arrays as tables (an error inside an array as { err = message }). An
   error reply at the top is handled by the caller. */
static void push_reply(lua_State *L, const redisReply *r)
{
    size_t i;

    luaL_checkstack(L, 3, "redis reply");
    switch (r->type) {
    case REDIS_REPLY_STRING:
    case REDIS_REPLY_STATUS:
        lua_pushlstring(L, r->str, r->len);
        break;
    case REDIS_REPLY_INTEGER:
        compat_pushint64(L, r->integer);
        break;
    case REDIS_REPLY_ARRAY:
        lua_createtable(L, (int)r->elements, 0);
        for (i = 0; i < r->elements; i++) {
            push_reply(L, r->element[i]);
            lua_rawseti(L, -2, (int)i + 1);
        }
        break;
    case REDIS_REPLY_ERROR:
        lua_createtable(L, 0, 1);
        lua_pushlstring(L, r->str, r->len);
        lua_setfield(L, -2, "err");
        break;
    default: /* REDIS_REPLY_NIL */
        lua_pushboolean(L, 0);
        break;
    }
}

/* conn:command(arg, ...) -> reply | nil, message, true (Redis answered an error; the
   connection stays usable) | nil, message (the connection failed; it is closed) */
static int conn_command(lua_State *L)
{
    conn *c = check_conn(L);
    const char *argv[MAX_ARGS];
    size_t lens[MAX_ARGS];
    int argc = lua_gettop(L) - 1, i;
    redisReply *r;

    if (c->ctx == NULL) {
        lua_pushnil(L);
        lua_pushliteral(L, "the connection is closed");
        return 2;
    }
    luaL_argcheck(L, argc >= 1 && argc <= MAX_ARGS, 2, "1 to 64 arguments expected");
    for (i = 0; i < argc; i++) {
        if (lua_type(L, i + 2) != LUA_TSTRING && lua_type(L, i + 2) != LUA_TNUMBER)
            return luaL_argerror(L, i + 2, "string or number expected");
        argv[i] = lua_tolstring(L, i + 2, &lens[i]);
    }
    r = redisCommandArgv(c->ctx, argc, argv, lens);
    if (r == NULL) {
        lua_pushnil(L);
        if (c->ctx->err == REDIS_ERR_IO && (errno == EAGAIN || errno == EWOULDBLOCK))
            lua_pushliteral(L, "timeout");
        else
            lua_pushstring(L, c->ctx->err != 0 ? c->ctx->errstr : "no reply");
        redisFree(c->ctx);
        c->ctx = NULL;
        return 2;
    }
    if (r->type == REDIS_REPLY_ERROR) {
        lua_pushnil(L);
        lua_pushlstring(L, r->str, r->len);
        lua_pushboolean(L, 1);
        freeReplyObject(r);
        return 3;
    }
    push_reply(L, r);
    freeReplyObject(r);
    return 1;
}

/* conn:close(); idempotent */
static int conn_close(lua_State *L)
{
    conn *c = check_conn(L);

    if (c->ctx != NULL) {
        redisFree(c->ctx);
        c->ctx = NULL;
    }
    return 0;
}

/* conn:closed() -> true once closed (by close, or by a failed command) */
static int conn_closed(lua_State *L)
{
    lua_pushboolean(L, check_conn(L)->ctx == NULL);
    return 1;
}

static const luaL_Reg conn_methods[] = {
    { "command", conn_command },
    { "close", conn_close },
    { "closed", conn_closed },
    { NULL, NULL },
};

__attribute__((visibility("default"))) int luaopen_posthog_event_definitions_hiredis(lua_State *L)
{
    if (luaL_newmetatable(L, CONN_MT)) {
        lua_newtable(L);
        compat_luaL_setfuncs(L, conn_methods, 0);
        lua_setfield(L, -2, "__index");
        lua_pushcfunction(L, conn_close);
        lua_setfield(L, -2, "__gc");
    }
    lua_pop(L, 1);
    lua_createtable(L, 0, 1);
    lua_pushcfunction(L, hiredis_connect);
    lua_setfield(L, -2, "connect");
    return 1;
}
