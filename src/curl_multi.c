/*
 * curl_multi.c - core.multi(): a non-blocking libcurl multi driver that Lua loops over.
 *
 * Sans-IO towards Lua: libcurl's callbacks only append to C buffers; results are turned into
 * Lua tables in poll(). Easy handles are pooled, and connections stay alive in the multi
 * handle's cache between transfers.
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <curl/curl.h>

#include "core.h"

#define DRIVER_MT "posthog.event_definitions.core.driver"
#define POOL_MAX  16

typedef struct transfer {
    struct transfer *next;
    CURL *easy;
    lua_Integer id;
    struct curl_slist *headers;
    char *body;                  /* the request body (curl does not copy POSTFIELDS) */
    buffer resp;                 /* the response body */
    buffer resp_headers;         /* the last response's headers: "name\0value\0"... */
    long long max_bytes;         /* 0 = unlimited */
    int too_large;
    char errbuf[CURL_ERROR_SIZE];
} transfer;

typedef struct driver {
    CURLM *multi;                /* NULL once closed */
    transfer *active;            /* transfers in flight */
    CURL *pool[POOL_MAX];        /* idle easy handles */
    int npool;
    int pending;
    lua_Integer next_id;
} driver;

/* ===== libcurl callbacks (no Lua here) ===== */

static size_t on_body(char *p, size_t size, size_t n, void *ud)
{
    transfer *t = ud;
    size_t len = size * n;

    if (t->max_bytes > 0 && (long long)(t->resp.len + len) > t->max_bytes) {
        t->too_large = 1;
        return 0;
    }
    buffer_add(&t->resp, p, len);
    return t->resp.failed ? 0 : len;
}

static size_t on_header(char *p, size_t size, size_t n, void *ud)
{
    transfer *t = ud;
    size_t len = size * n, nlen, i;
    buffer *h = &t->resp_headers;
    char *colon;

    while (len > 0 && (p[len - 1] == '\r' || p[len - 1] == '\n'))
        len--;
    if (memchr(p, '\0', len) != NULL) /* would break the name\0value\0 pairs (libcurl refuses */
        return size * n;              /* such lines today): skip it */
    if (len >= 5 && memcmp(p, "HTTP/", 5) == 0) { /* a new response: forget the previous one's */
        h->len = 0;
        return size * n;
    }
    if (len > 0 && (p[0] == ' ' || p[0] == '\t') && h->len > 0) { /* obsolete line folding */
        h->len--;
        buffer_addc(h, ' ');
        while (len > 0 && (*p == ' ' || *p == '\t')) {
            p++;
            len--;
        }
        buffer_add(h, p, len);
        buffer_addc(h, '\0');
        return size * n;
    }
    if ((colon = memchr(p, ':', len)) == NULL)
        return size * n;
    for (nlen = (size_t)(colon - p); nlen > 0 && (p[nlen - 1] == ' ' || p[nlen - 1] == '\t'); nlen--)
        ;
    for (i = 0; i < nlen; i++)
        buffer_addc(h, (char)tolower((unsigned char)p[i]));
    buffer_addc(h, '\0');
    len -= (size_t)(colon + 1 - p);
    p = colon + 1;
    while (len > 0 && (*p == ' ' || *p == '\t')) {
        p++;
        len--;
    }
    while (len > 0 && (p[len - 1] == ' ' || p[len - 1] == '\t'))
        len--;
    buffer_add(h, p, len);
    buffer_addc(h, '\0');
    return h->failed ? 0 : size * n;
}

/* ===== Transfers ===== */

static void transfer_free(transfer *t)
{
    curl_slist_free_all(t->headers);
    free(t->body);
    buffer_free(&t->resp);
    buffer_free(&t->resp_headers);
    free(t);
}

/* Detaches t from the driver, returns its easy handle to the pool and frees t. */
static void transfer_finish(driver *d, transfer *t)
{
    transfer **pp;

    for (pp = &d->active; *pp != NULL; pp = &(*pp)->next)
        if (*pp == t) {
            *pp = t->next;
            break;
        }
    d->pending--;
    if (t->easy != NULL) {
        curl_multi_remove_handle(d->multi, t->easy);
        curl_easy_reset(t->easy); /* drop every pointer into t */
        if (d->npool < POOL_MAX)
            d->pool[d->npool++] = t->easy;
        else
            curl_easy_cleanup(t->easy);
    }
    transfer_free(t);
}

/* ===== Driver ===== */

static driver *check_driver(lua_State *L)
{
    driver *d = luaL_checkudata(L, 1, DRIVER_MT);

    if (d->multi == NULL)
        luaL_error(L, "driver is closed");
    return d;
}

/* driver:close() -> releases every transfer, handle and connection (idempotent) */
static int driver_close(lua_State *L)
{
    driver *d = luaL_checkudata(L, 1, DRIVER_MT);

    if (d->multi == NULL)
        return 0;
    while (d->active != NULL)
        transfer_finish(d, d->active);
    while (d->npool > 0)
        curl_easy_cleanup(d->pool[--d->npool]);
    curl_multi_cleanup(d->multi);
    d->multi = NULL;
    return 0;
}

/* Reads an optional field of the table at idx, raising when it has another type. */
static int opt_field(lua_State *L, int idx, const char *name, int type, const char *what)
{
    lua_getfield(L, idx, name);
    if (lua_isnil(L, -1))
        return 0;
    if (lua_type(L, -1) != type)
        luaL_error(L, "bad field '%s' (%s expected, got %s)", name, what, luaL_typename(L, -1));
    return 1;
}

/* Builds the curl header list from req.headers (at idx): "Name: value" lines, plus the empty
   Expect: and, when there is no Content-Type of ours, an empty one (so curl adds none). */
static struct curl_slist *header_list(lua_State *L, int idx, transfer *t, int has_body)
{
    struct curl_slist *list = NULL, *next;
    buffer line = { NULL, 0, 0, 0 };
    int content_type = 0, ok = 1;

    if (lua_istable(L, idx)) {
        lua_pushnil(L);
        while (ok && lua_next(L, idx) != 0) {
            size_t nlen, vlen;
            const char *name, *value;
            if (lua_type(L, -2) != LUA_TSTRING || lua_type(L, -1) != LUA_TSTRING) {
                curl_slist_free_all(list);
                buffer_free(&line);
                transfer_free(t);
                luaL_error(L, "bad field 'headers' (names and values must be strings)");
            }
            name = lua_tolstring(L, -2, &nlen);
            value = lua_tolstring(L, -1, &vlen);
            content_type |= nlen == 12 && strncasecmp(name, "content-type", 12) == 0;
            line.len = 0;
            buffer_add(&line, name, nlen);
            buffer_add(&line, vlen > 0 ? ": " : ";", vlen > 0 ? 2 : 1); /* "Name;" sends it empty */
            buffer_add(&line, value, vlen);
            buffer_addc(&line, '\0');
            ok = !line.failed && (next = curl_slist_append(list, line.data)) != NULL;
            if (ok)
                list = next;
            lua_pop(L, 1);
        }
        if (!ok)
            lua_pop(L, 1);
    }
    buffer_free(&line);
    if (ok && (next = curl_slist_append(list, "Expect:")) != NULL)
        list = next;
    else
        ok = 0;
    if (ok && has_body && !content_type) {
        if ((next = curl_slist_append(list, "Content-Type:")) != NULL)
            list = next;
        else
            ok = 0;
    }
    if (!ok) {
        curl_slist_free_all(list);
        transfer_free(t);
        luaL_error(L, "driver:add: not enough memory");
    }
    return list;
}

/* driver:add(req [, opts]) -> id; starts the transfer without blocking */
static int driver_add(lua_State *L)
{
    enum { SELF = 1, REQ, OPTS, METHOD, URL, HEADERS, BODY, TIMEOUT, MAXB, CA, INSECURE };
    driver *d = check_driver(L);
    const char *method, *url, *body = NULL;
    size_t body_len = 0;
    long timeout_ms = 30000;
    int posts, running;
    transfer *t;
    CURL *e;

    luaL_checktype(L, REQ, LUA_TTABLE);
    lua_settop(L, OPTS);
    if (lua_isnil(L, OPTS)) {
        lua_newtable(L);
        lua_replace(L, OPTS);
    }
    luaL_checktype(L, OPTS, LUA_TTABLE);
    lua_getfield(L, REQ, "method");
    lua_getfield(L, REQ, "url");
    method = luaL_checkstring(L, METHOD);
    url = luaL_checkstring(L, URL);
    if (strcmp(method, "GET") != 0 && strcmp(method, "POST") != 0 && strcmp(method, "PUT") != 0 &&
        strcmp(method, "PATCH") != 0 && strcmp(method, "DELETE") != 0)
        luaL_argerror(L, REQ, "field 'method': GET, POST, PUT, PATCH or DELETE expected");
    opt_field(L, REQ, "headers", LUA_TTABLE, "table");
    if (opt_field(L, REQ, "body", LUA_TSTRING, "string"))
        body = lua_tolstring(L, BODY, &body_len);
    if (opt_field(L, REQ, "timeout", LUA_TNUMBER, "number")) {
        double ms = (double)lua_tonumber(L, TIMEOUT) * 1000;
        if (!(ms > 0))
            luaL_argerror(L, REQ, "field 'timeout': a positive number expected");
        timeout_ms = ms >= 2147483647.0 ? 2147483647L : (long)ms;
        if ((double)timeout_ms < ms) /* round up */
            timeout_ms++;
    }
    if (opt_field(L, OPTS, "max_response_bytes", LUA_TNUMBER, "number") && !(lua_tonumber(L, MAXB) >= 1))
        luaL_argerror(L, OPTS, "field 'max_response_bytes': a positive number expected");
    opt_field(L, OPTS, "ca_file", LUA_TSTRING, "string");
    opt_field(L, OPTS, "insecure", LUA_TBOOLEAN, "boolean");
    posts = body != NULL || strcmp(method, "POST") == 0 || strcmp(method, "PUT") == 0 ||
            strcmp(method, "PATCH") == 0;

    if ((t = calloc(1, sizeof *t)) == NULL)
        return luaL_error(L, "driver:add: not enough memory");
    if (body_len > 0 && (t->body = malloc(body_len)) == NULL) {
        free(t);
        return luaL_error(L, "driver:add: not enough memory");
    }
    if (body_len > 0)
        memcpy(t->body, body, body_len);
    t->headers = header_list(L, HEADERS, t, posts);
    if (!lua_isnil(L, MAXB) && lua_tonumber(L, MAXB) < 9.2e18)
        t->max_bytes = (long long)lua_tonumber(L, MAXB);
    e = d->npool > 0 ? d->pool[--d->npool] : curl_easy_init();
    if (e == NULL) {
        transfer_free(t);
        return luaL_error(L, "driver:add: curl_easy_init failed");
    }
    t->easy = e;
    t->id = ++d->next_id;
    t->next = d->active;
    d->active = t;
    d->pending++;

    curl_easy_setopt(e, CURLOPT_URL, url);
    curl_easy_setopt(e, CURLOPT_PRIVATE, (char *)t);
    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(e, CURLOPT_ERRORBUFFER, t->errbuf);
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(e, CURLOPT_WRITEDATA, (void *)t);
    curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(e, CURLOPT_HEADERDATA, (void *)t);
    curl_easy_setopt(e, CURLOPT_HTTPHEADER, t->headers);
    curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, timeout_ms);
    curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, timeout_ms);
    curl_easy_setopt(e, CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_1_1);
    curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, 0L);
    curl_easy_setopt(e, CURLOPT_ACCEPT_ENCODING, "");
#if LIBCURL_VERSION_NUM >= 0x075500
    curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
#else
    curl_easy_setopt(e, CURLOPT_PROTOCOLS, (long)(CURLPROTO_HTTP | CURLPROTO_HTTPS));
#endif
    curl_easy_setopt(e, CURLOPT_SSL_VERIFYPEER, lua_toboolean(L, INSECURE) ? 0L : 1L);
    curl_easy_setopt(e, CURLOPT_SSL_VERIFYHOST, lua_toboolean(L, INSECURE) ? 0L : 2L);
    if (!lua_isnil(L, CA))
        curl_easy_setopt(e, CURLOPT_CAINFO, lua_tostring(L, CA));
    if (t->max_bytes > 0)
        curl_easy_setopt(e, CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)t->max_bytes);
    if (posts) {
        if (strcmp(method, "POST") == 0)
            curl_easy_setopt(e, CURLOPT_POST, 1L);
        else
            curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, method);
        curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)body_len);
        curl_easy_setopt(e, CURLOPT_POSTFIELDS, t->body != NULL ? t->body : "");
    } else {
        curl_easy_setopt(e, CURLOPT_HTTPGET, 1L);
        if (strcmp(method, "GET") != 0)
            curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, method);
    }
    if (curl_multi_add_handle(d->multi, e) != CURLM_OK) {
        transfer_finish(d, t);
        return luaL_error(L, "driver:add: curl_multi_add_handle failed");
    }
    lua_pushinteger(L, t->id);
    curl_multi_perform(d->multi, &running);
    return 1;
}

/* ===== Results ===== */

/* Whether a failure with this code certainly happened before any byte of the request left. */
static int before_sending(CURLcode rc)
{
    switch (rc) {
    case CURLE_UNSUPPORTED_PROTOCOL:
    case CURLE_URL_MALFORMAT:
    case CURLE_COULDNT_RESOLVE_PROXY:
    case CURLE_COULDNT_RESOLVE_HOST:
    case CURLE_COULDNT_CONNECT:
    case CURLE_SSL_CONNECT_ERROR:
    case CURLE_PEER_FAILED_VERIFICATION:
    case CURLE_SSL_CACERT_BADFILE:
    case CURLE_SSL_CERTPROBLEM:
    case CURLE_SSL_CIPHER:
    case CURLE_SSL_ENGINE_NOTFOUND:
    case CURLE_SSL_ENGINE_SETFAILED:
    case CURLE_SSL_ENGINE_INITFAILED:
    case CURLE_SSL_CRL_BADFILE:
    case CURLE_SSL_ISSUER_ERROR:
    case CURLE_SSL_PINNEDPUBKEYNOTMATCH:
    case CURLE_SSL_INVALIDCERTSTATUS:
        return 1;
    default:
        return 0;
    }
}

static void set_string(lua_State *L, const char *field, const char *value)
{
    lua_pushstring(L, value);
    lua_setfield(L, -2, field);
}

/* Pushes { kind, sent, detail, retryable } for a failed transfer (an answer over
   max_response_bytes is not retryable: it would be as large again). */
static void push_transport_error(lua_State *L, transfer *t, CURLcode rc)
{
    curl_off_t pretransfer = 0;
    int sent = 1;

    lua_createtable(L, 0, 4);
    if (t->too_large || rc == CURLE_FILESIZE_EXCEEDED) {
        char msg[80];
        snprintf(msg, sizeof msg, "response larger than max_response_bytes (%lld)", t->max_bytes);
        set_string(L, "kind", "transport");
        set_string(L, "detail", msg);
        lua_pushboolean(L, 0);
        lua_setfield(L, -2, "retryable");
    } else {
        if (rc == CURLE_OPERATION_TIMEDOUT) {
            curl_easy_getinfo(t->easy, CURLINFO_PRETRANSFER_TIME_T, &pretransfer);
            sent = pretransfer > 0;
        } else {
            sent = !before_sending(rc);
        }
        set_string(L, "kind", rc == CURLE_OPERATION_TIMEDOUT ? "timeout" : "transport");
        if (t->resp.failed || t->resp_headers.failed)
            set_string(L, "detail", "not enough memory for the response");
        else
            set_string(L, "detail", t->errbuf[0] != '\0' ? t->errbuf : curl_easy_strerror(rc));
    }
    lua_pushboolean(L, sent);
    lua_setfield(L, -2, "sent");
}

/* Pushes { status, headers, body } for a finished transfer. */
static void push_response(lua_State *L, transfer *t)
{
    const char *p = t->resp_headers.data, *end = p + t->resp_headers.len;
    long status = 0;

    curl_easy_getinfo(t->easy, CURLINFO_RESPONSE_CODE, &status);
    lua_createtable(L, 0, 3);
    lua_pushinteger(L, (lua_Integer)status);
    lua_setfield(L, -2, "status");
    lua_newtable(L);
    while (p < end) { /* repeated headers are joined with ", " */
        const char *name = p, *value = p + strlen(p) + 1;
        p = value + strlen(value) + 1;
        lua_pushstring(L, name);
        lua_pushvalue(L, -1);
        lua_rawget(L, -3);
        if (lua_isnil(L, -1)) {
            lua_pop(L, 1);
            lua_pushstring(L, value);
        } else {
            lua_pushliteral(L, ", ");
            lua_pushstring(L, value);
            lua_concat(L, 3);
        }
        lua_rawset(L, -3);
    }
    lua_setfield(L, -2, "headers");
    lua_pushlstring(L, t->resp.data != NULL ? t->resp.data : "", t->resp.len);
    lua_setfield(L, -2, "body");
}

/* Appends the transfers that finished to the array at idx (holding n items); returns n. */
static int collect(lua_State *L, driver *d, int idx, int n)
{
    CURLMsg *m;
    int queued;

    while ((m = curl_multi_info_read(d->multi, &queued)) != NULL) {
        CURLcode rc = m->data.result;
        char *priv = NULL;
        transfer *t;
        if (m->msg != CURLMSG_DONE)
            continue;
        curl_easy_getinfo(m->easy_handle, CURLINFO_PRIVATE, &priv);
        t = (transfer *)(void *)priv;
        lua_createtable(L, 0, 2);
        lua_pushinteger(L, t->id);
        lua_setfield(L, -2, "id");
        if (rc == CURLE_OK) {
            push_response(L, t);
            lua_setfield(L, -2, "res");
        } else {
            push_transport_error(L, t, rc);
            lua_setfield(L, -2, "err");
        }
        lua_rawseti(L, idx, ++n);
        transfer_finish(d, t);
    }
    return n;
}

static double monotonic_now(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* driver:poll(timeout_seconds) -> array of { id, res } / { id, err }, possibly empty */
static int driver_poll(lua_State *L)
{
    driver *d = check_driver(L);
    double timeout = luaL_optnumber(L, 2, 0), deadline = monotonic_now() + (timeout > 0 ? timeout : 0);
    int n = 0, running, idx;

    lua_settop(L, 2);
    lua_newtable(L);
    idx = lua_gettop(L);
    while (d->pending > 0) {
        double left;
        CURLMcode mc = curl_multi_perform(d->multi, &running);
        if (mc != CURLM_OK)
            return luaL_error(L, "driver:poll: %s", curl_multi_strerror(mc));
        if ((n = collect(L, d, idx, n)) > 0 || (left = deadline - monotonic_now()) <= 0)
            break;
        mc = curl_multi_poll(d->multi, NULL, 0, left > 3600 ? 3600000 : (int)(left * 1000) + 1, NULL);
        if (mc != CURLM_OK)
            return luaL_error(L, "driver:poll: %s", curl_multi_strerror(mc));
    }
    return 1;
}

/* driver:remove(id) -> true if that transfer was in flight (it is aborted, with no result) */
static int driver_remove(lua_State *L)
{
    driver *d = check_driver(L);
    lua_Integer id = luaL_checkinteger(L, 2);
    transfer *t;

    for (t = d->active; t != NULL; t = t->next)
        if (t->id == id) {
            transfer_finish(d, t);
            lua_pushboolean(L, 1);
            return 1;
        }
    lua_pushboolean(L, 0);
    return 1;
}

/* driver:pending() -> number of transfers in flight */
static int driver_pending(lua_State *L)
{
    lua_pushinteger(L, check_driver(L)->pending);
    return 1;
}

static const luaL_Reg driver_methods[] = {
    { "add", driver_add },
    { "poll", driver_poll },
    { "remove", driver_remove },
    { "pending", driver_pending },
    { "close", driver_close },
    { NULL, NULL }
};

void driver_register(lua_State *L)
{
    luaL_newmetatable(L, DRIVER_MT);
    lua_newtable(L);
    compat_luaL_setfuncs(L, driver_methods, 0);
    lua_setfield(L, -2, "__index");
    lua_pushcfunction(L, driver_close);
    lua_setfield(L, -2, "__gc");
    lua_pushcfunction(L, driver_close);
    lua_setfield(L, -2, "__close");
    lua_pop(L, 1);
}

/* core.multi() -> a new driver */
int core_multi(lua_State *L)
{
    driver *d = lua_newuserdata(L, sizeof *d);

    memset(d, 0, sizeof *d);
    luaL_getmetatable(L, DRIVER_MT);
    lua_setmetatable(L, -2);
    if ((d->multi = curl_multi_init()) == NULL)
        return luaL_error(L, "curl_multi_init failed");
    return 1;
}
