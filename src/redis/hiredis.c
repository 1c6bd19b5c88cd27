/*
 * hiredis.c - module posthog.event_definitions.hiredis: Redis connections for the pacing shared
 * by a fleet outside nginx, over Debian's hiredis (the only library it links). Inside nginx the
 * library speaks RESP over cosockets instead (redis.lua).
 *
 * A connection's server may be hostile or broken, so:
 *  - one timeout bounds all of a connect (the name lookup, in a thread of its own, included) and
 *    all of a command (sending it and reading the whole reply), however slowly bytes trickle in;
 *  - a reply is checked before hiredis parses it: lengths, element counts and nesting are
 *    refused when over the connection's bounds as soon as their header arrives, and hiredis
 *    only ever sees a complete reply within them (nothing is allocated for what is announced);
 *  - nothing leaks when Lua raises (out of memory) in the middle: the userdata exists before
 *    the socket, and a reply being converted is held by the connection until freed.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <netdb.h>
#include <poll.h>
#include <pthread.h>
#include <sys/socket.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <hiredis/hiredis.h>

#include "compat.h"

#define CONN_MT "posthog.event_definitions.hiredis.conn"
#define MAX_ARGS 64
#define MAX_DEPTH 7      /* arrays nested deeper are refused (hiredis' own limit) */
#define MAX_LINE 65536   /* the longest status, error or header line accepted */
#define MESSAGE 200      /* room for a message */

typedef struct conn {
    redisContext *ctx;  /* NULL once closed */
    redisReply *reply;  /* a reply being converted to Lua; freed at the next use if that raised */
    double timeout;     /* seconds for one whole command */
    long long max_bytes, max_elements; /* the bounds of one reply */
} conn;

static double monotonic(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Waits until fd is ready for `events` or the deadline passes: 1 ready, 0 timeout, -1 error. */
static int wait_fd(int fd, short events, double deadline)
{
    for (;;) {
        struct pollfd p = { fd, events, 0 };
        double left = deadline - monotonic();
        int n;

        if (left <= 0)
            return 0;
        n = poll(&p, 1, (int)ceil(left * 1000));
        if (n > 0)
            return 1;
        if (n < 0 && errno != EINTR)
            return -1;
    }
}

/* ===== Name lookup bounded by a deadline ===== */

/* A lookup in a detached thread; whichever of the caller and the thread lets go last frees it
   (a caller that times out leaves the thread to finish on its own). */
typedef struct lookup {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int refs, done, status;
    struct addrinfo *res;
    char port[8];
    char host[];
} lookup;

static void lookup_drop(lookup *l)
{
    int last;

    pthread_mutex_lock(&l->mu);
    last = --l->refs == 0;
    pthread_mutex_unlock(&l->mu);
    if (!last)
        return;
    if (l->res != NULL)
        freeaddrinfo(l->res);
    pthread_cond_destroy(&l->cv);
    pthread_mutex_destroy(&l->mu);
    free(l);
}

static void *lookup_run(void *arg)
{
    lookup *l = arg;
    struct addrinfo hints, *res = NULL;
    int status;

    memset(&hints, 0, sizeof hints);
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    status = getaddrinfo(l->host, l->port, &hints, &res);
    pthread_mutex_lock(&l->mu);
    l->status = status;
    l->res = status == 0 ? res : NULL;
    l->done = 1;
    pthread_cond_signal(&l->cv);
    pthread_mutex_unlock(&l->mu);
    lookup_drop(l);
    return NULL;
}

/* A new lookup of host (refs: the caller and the thread), or NULL. */
static lookup *lookup_new(const char *host, int port)
{
    size_t len = strlen(host);
    pthread_condattr_t attr;
    lookup *l = malloc(sizeof *l + len + 1);

    if (l == NULL)
        return NULL;
    memset(l, 0, sizeof *l);
    memcpy(l->host, host, len + 1);
    snprintf(l->port, sizeof l->port, "%d", port);
    l->refs = 2;
    pthread_condattr_init(&attr);
    pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    pthread_cond_init(&l->cv, &attr);
    pthread_condattr_destroy(&attr);
    pthread_mutex_init(&l->mu, NULL);
    return l;
}

#define MAX_ADDRESSES 4 /* the addresses of a name tried in turn */
typedef char address[INET6_ADDRSTRLEN];

/* Writes the numeric addresses of host into ips (a literal address is taken as is); returns
   how many (1 to MAX_ADDRESSES), or 0 with the reason in why. The lookup ends at the deadline
   whatever the resolver does. */
static int resolve(const char *host, int port, double deadline, address *ips, char *why)
{
    unsigned char scratch[sizeof(struct in6_addr)];
    struct timespec until;
    pthread_attr_t attr;
    pthread_t thread;
    struct addrinfo *res = NULL, *ai;
    int started, status = EAI_AGAIN, done, n = 0;
    lookup *l;

    if (inet_pton(AF_INET, host, scratch) == 1 || inet_pton(AF_INET6, host, scratch) == 1) {
        snprintf(ips[0], sizeof ips[0], "%s", host);
        return 1;
    }
    if ((l = lookup_new(host, port)) == NULL) {
        snprintf(why, MESSAGE, "out of memory");
        return 0;
    }
    pthread_attr_init(&attr);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    started = pthread_create(&thread, &attr, lookup_run, l) == 0;
    pthread_attr_destroy(&attr);
    if (!started) {
        l->refs = 1;
        lookup_drop(l);
        snprintf(why, MESSAGE, "cannot start a name lookup");
        return 0;
    }
    until.tv_sec = (time_t)deadline;
    until.tv_nsec = (long)((deadline - (double)until.tv_sec) * 1e9);
    pthread_mutex_lock(&l->mu);
    while (!l->done && pthread_cond_timedwait(&l->cv, &l->mu, &until) != ETIMEDOUT)
        ;
    done = l->done;
    if (done) {
        status = l->status;
        res = l->res;
        l->res = NULL;
    }
    pthread_mutex_unlock(&l->mu);
    lookup_drop(l);
    if (!done) {
        snprintf(why, MESSAGE, "timeout resolving %.100s", host);
        return 0;
    }
    if (status != 0) {
        snprintf(why, MESSAGE, "%.100s: %s", host, gai_strerror(status));
        return 0;
    }
    for (ai = res; ai != NULL && n < MAX_ADDRESSES; ai = ai->ai_next) {
        const void *addr = ai->ai_family == AF_INET
            ? (const void *)&((struct sockaddr_in *)ai->ai_addr)->sin_addr
            : (const void *)&((struct sockaddr_in6 *)ai->ai_addr)->sin6_addr;
        if ((ai->ai_family == AF_INET || ai->ai_family == AF_INET6)
            && inet_ntop(ai->ai_family, addr, ips[n], sizeof ips[n]) != NULL)
            n++;
    }
    freeaddrinfo(res);
    if (n == 0)
        snprintf(why, MESSAGE, "%.100s: no address", host);
    return n;
}

static struct timeval timeval_of(double seconds)
{
    struct timeval tv;

    if (seconds < 0.001)
        seconds = 0.001;
    tv.tv_sec = (time_t)seconds;
    tv.tv_usec = (suseconds_t)((seconds - (double)tv.tv_sec) * 1e6);
    return tv;
}

/* A context connected to one of the n addresses ips (tried in turn until the deadline), its
   socket non-blocking; or NULL with the reason in why. */
static redisContext *connect_any(const address *ips, int n, int port, double deadline, char *why)
{
    redisContext *ctx = NULL;
    int i;

    for (i = 0; i < n && (i == 0 || monotonic() < deadline); i++) {
        redisFree(ctx);
        ctx = redisConnectWithTimeout(ips[i], port, timeval_of(deadline - monotonic()));
        if (ctx != NULL && ctx->err == 0)
            break;
    }
    if (ctx == NULL || ctx->err != 0
        || fcntl(ctx->fd, F_SETFL, fcntl(ctx->fd, F_GETFL) | O_NONBLOCK) != 0) {
        snprintf(why, MESSAGE, "%s", ctx == NULL ? "out of memory"
            : ctx->err != 0 ? ctx->errstr : strerror(errno));
        redisFree(ctx);
        return NULL;
    }
    ctx->flags &= ~REDIS_BLOCK; /* its reads no longer wait: wait_fd does, to the deadline */
    return ctx;
}

/* hiredis.connect(host, port, timeout, max_bytes, max_elements) -> conn | nil, message.
   The timeout bounds the whole connect; each command is bounded by it too, until
   conn:settimeout changes it. A reply over max_bytes, or holding more than max_elements
   elements in all, is refused. */
static int hiredis_connect(lua_State *L)
{
    const char *host = luaL_checkstring(L, 1);
    int port = (int)luaL_checkinteger(L, 2), n;
    double timeout = luaL_checknumber(L, 3), deadline = monotonic() + timeout;
    long long max_bytes = (long long)luaL_checknumber(L, 4);
    long long max_elements = (long long)luaL_checknumber(L, 5);
    address ips[MAX_ADDRESSES];
    char why[MESSAGE];
    conn *c;

    c = lua_newuserdata(L, sizeof *c); /* first: a socket is never left without an owner */
    memset(c, 0, sizeof *c);
    c->timeout = timeout;
    c->max_bytes = max_bytes;
    c->max_elements = max_elements;
    luaL_getmetatable(L, CONN_MT);
    lua_setmetatable(L, -2);
    if ((n = resolve(host, port, deadline, ips, why)) == 0
        || (c->ctx = connect_any(ips, n, port, deadline, why)) == NULL) {
        lua_pushnil(L);
        lua_pushfstring(L, "connect: %s", why);
        return 2;
    }
    return 1;
}

static conn *check_conn(lua_State *L)
{
    return luaL_checkudata(L, 1, CONN_MT);
}

/* Frees what a connection holds: the reply of a conversion that raised, and (with `all`) the
   connection itself. */
static void release(conn *c, int all)
{
    if (c->reply != NULL) {
        freeReplyObject(c->reply);
        c->reply = NULL;
    }
    if (all && c->ctx != NULL) {
        redisFree(c->ctx);
        c->ctx = NULL;
    }
}

/* ===== Replies ===== */

/* Reads the integer of a RESP line (an optional minus sign, then 1 to 19 digits, within
   int64); returns 1, or 0 for anything else. */
static int line_integer(const char *p, size_t n, long long *out)
{
    int negative = n > 0 && p[0] == '-';
    size_t i = (size_t)negative;
    long long v = 0;

    if (i == n || n - i > 19)
        return 0;
    for (; i < n; i++) {
        int d = p[i] - '0';
        if (d < 0 || d > 9 || v > (9223372036854775807LL - d) / 10)
            return 0;
        v = v * 10 + d;
    }
    *out = negative ? -v : v;
    return 1;
}

/* The length of the one complete reply at the start of p[0..n): > 0 when it is all there, 0
   when more bytes are needed, -1 when it is refused (the reason in why). Lengths and counts
   are checked as soon as their header arrives, against the connection's bounds. */
static long long scan_reply(const conn *c, const char *p, size_t n, char *why)
{
    long long left[MAX_DEPTH]; /* the elements still expected by each open array */
    long long elements = 0, v = 0;
    int depth = 0;
    size_t pos = 0;

    for (;;) {
        const char *cr;
        size_t next;

        if (pos >= n)
            return 0;
        cr = memchr(p + pos, '\r', n - pos);
        if ((cr == NULL ? n - pos : (size_t)(cr - p) - pos) > MAX_LINE) {
            snprintf(why, MESSAGE, "reply refused: a line over %d bytes", MAX_LINE);
            return -1;
        }
        if (cr == NULL || (size_t)(cr - p) + 1 >= n)
            return 0;
        next = (size_t)(cr - p) + 2;
        if (cr[1] != '\n') {
            snprintf(why, MESSAGE, "protocol error: CR without LF");
            return -1;
        }
        switch (p[pos]) {
        case '+':
        case '-':
            break;
        case ':':
            if (!line_integer(p + pos + 1, next - pos - 3, &v)) {
                snprintf(why, MESSAGE, "protocol error: a malformed integer");
                return -1;
            }
            break;
        case '$':
            if (!line_integer(p + pos + 1, next - pos - 3, &v) || v < -1) {
                snprintf(why, MESSAGE, "protocol error: a malformed string length");
                return -1;
            }
            if (v > c->max_bytes - (long long)next - 2) {
                snprintf(why, MESSAGE, "reply refused: a string of %lld bytes (at most %lld in a reply)",
                    v, c->max_bytes);
                return -1;
            }
            if (v >= 0) {
                if (n - next < (size_t)v + 2)
                    return 0;
                if (p[next + v] != '\r' || p[next + v + 1] != '\n') {
                    snprintf(why, MESSAGE, "protocol error: a string longer than its length");
                    return -1;
                }
                next += (size_t)v + 2;
            }
            break;
        case '*':
            if (!line_integer(p + pos + 1, next - pos - 3, &v) || v < -1) {
                snprintf(why, MESSAGE, "protocol error: a malformed array length");
                return -1;
            }
            if (v > c->max_elements - elements) {
                snprintf(why, MESSAGE, "reply refused: an array of %lld elements (at most %lld in a reply)",
                    v, c->max_elements);
                return -1;
            }
            if (v > 0 && depth == MAX_DEPTH) {
                snprintf(why, MESSAGE, "reply refused: arrays nested over %d deep", MAX_DEPTH);
                return -1;
            }
            if (v > 0) {
                elements += v;
                left[depth++] = v;
                pos = next;
                continue;
            }
            break;
        default:
            snprintf(why, MESSAGE, "protocol error: a reply starting with byte %d", (unsigned char)p[pos]);
            return -1;
        }
        pos = next;
        if ((long long)pos > c->max_bytes) {
            snprintf(why, MESSAGE, "reply refused: over %lld bytes", c->max_bytes);
            return -1;
        }
        while (depth > 0 && --left[depth - 1] == 0)
            depth--;
        if (depth == 0)
            return (long long)pos;
    }
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

/* Closes the connection after a failure and returns nil, message (copied first: it may live
   in the context). */
static int fail(lua_State *L, conn *c, const char *message)
{
    char copy[MESSAGE];

    snprintf(copy, sizeof copy, "%s", message);
    release(c, 1);
    lua_pushnil(L);
    lua_pushstring(L, copy);
    return 2;
}

/* Sends the `len` bytes of `cmd` (MSG_NOSIGNAL: a closed peer is an error, not SIGPIPE) and
   waits for one whole reply, all before the deadline; returns the reply, or NULL (the reason
   in why). */
static redisReply *exchange(conn *c, const char *cmd, size_t len, double deadline, char *why)
{
    redisContext *ctx = c->ctx;
    void *reply = NULL;
    long long length;
    size_t sent = 0;
    int ready;

    while (sent < len) {
        ssize_t n = send(ctx->fd, cmd + sent, len - sent, MSG_NOSIGNAL);
        if (n > 0)
            sent += (size_t)n;
        else if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
            return snprintf(why, MESSAGE, "%s", strerror(errno)), NULL;
        else if ((ready = wait_fd(ctx->fd, POLLOUT, deadline)) <= 0)
            return snprintf(why, MESSAGE, "%s", ready == 0 ? "timeout" : strerror(errno)), NULL;
    }
    for (;;) {
        redisReader *r = ctx->reader;
        length = scan_reply(c, r->buf == NULL ? "" : r->buf + r->pos, r->len - r->pos, why);
        if (length > 0)
            break;
        if (length < 0)
            return NULL;
        if ((ready = wait_fd(ctx->fd, POLLIN, deadline)) <= 0)
            return snprintf(why, MESSAGE, "%s", ready == 0 ? "timeout" : strerror(errno)), NULL;
        if (redisBufferRead(ctx) != REDIS_OK)
            return snprintf(why, MESSAGE, "%s", ctx->errstr), NULL;
    }
    if ((size_t)length != ctx->reader->len - ctx->reader->pos)
        return snprintf(why, MESSAGE, "protocol error: more than one reply to a command"), NULL;
    if (redisGetReplyFromReader(ctx, &reply) != REDIS_OK || reply == NULL)
        return snprintf(why, MESSAGE, "%s", ctx->err != 0 ? ctx->errstr : "no reply"), NULL;
    return reply;
}

/* conn:command(arg, ...) -> reply | nil, message, true (Redis answered an error; the
   connection stays usable) | nil, message (the connection failed; it is closed). The
   connection's timeout bounds the whole command. */
static int conn_command(lua_State *L)
{
    conn *c = check_conn(L);
    const char *argv[MAX_ARGS];
    size_t lens[MAX_ARGS];
    int argc = lua_gettop(L) - 1, i, len;
    char why[MESSAGE], *cmd;
    redisReply *r;

    release(c, 0);
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
    if ((len = redisFormatCommandArgv(&cmd, argc, argv, lens)) < 0)
        return fail(L, c, "out of memory");
    r = exchange(c, cmd, (size_t)len, monotonic() + c->timeout, why);
    redisFreeCommand(cmd);
    if (r == NULL)
        return fail(L, c, why);
    c->reply = r; /* held while converting: a memory error frees it at the next use */
    if (r->type == REDIS_REPLY_ERROR) {
        lua_pushnil(L);
        lua_pushlstring(L, r->str, r->len);
        lua_pushboolean(L, 1);
        release(c, 0);
        return 3;
    }
    push_reply(L, r);
    release(c, 0);
    return 1;
}

/* conn:settimeout(seconds): the bound of each later command, whole */
static int conn_settimeout(lua_State *L)
{
    check_conn(L)->timeout = luaL_checknumber(L, 2);
    return 0;
}

/* conn:close(); idempotent */
static int conn_close(lua_State *L)
{
    release(check_conn(L), 1);
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
    { "settimeout", conn_settimeout },
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
