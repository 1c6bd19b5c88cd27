/*
 * transfer.c - one transfer of the libcurl driver: the request read from Lua, the easy handle
 * set up, and libcurl's callbacks, which only append to C buffers and call no Lua.
 */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "curl/driver.h"

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

/* Keeps the head of the last response as received; it is parsed once, when the transfer is
   done (see result.c). A status line starts a new head, so 1xx interim heads are dropped; the
   empty line completes it (libcurl 7.88 reports a head cut before it as a whole answer). */
static size_t on_header(char *p, size_t size, size_t n, void *ud)
{
    transfer *t = ud;
    size_t len = size * n;

    if (len >= 5 && memcmp(p, "HTTP/", 5) == 0) {
        t->head.len = 0;
        t->head_done = 0;
    } else if ((len == 2 && p[0] == '\r' && p[1] == '\n') || (len == 1 && p[0] == '\n')) {
        t->head_done = 1;
    }
    if (!t->head_done && t->head.len + len > HEAD_MAX) {
        t->too_large = 2;
        return 0;
    }
    buffer_add(&t->head, p, len);
    return t->head.failed ? 0 : len;
}

#if LIBCURL_VERSION_NUM >= 0x075000
/* Called by libcurl right before it sends a request on a connection, new or reused: twice in one
   transfer when it replayed the request after a reused connection died under it. */
static int on_request(void *ud, char *ip, char *local_ip, int port, int local_port)
{
    transfer *t = ud;

    t->requests++;
    return CURL_PREREQFUNC_OK;
}
#endif

/* ===== Lifetime ===== */

void transfer_free(transfer *t)
{
    curl_slist_free_all(t->headers);
    free(t->body);
    buffer_free(&t->resp);
    buffer_free(&t->head);
    free(t);
}

void transfer_detach(driver *d, transfer *t)
{
    if (t->easy == NULL)
        return;
    curl_multi_remove_handle(d->multi, t->easy);
    curl_easy_reset(t->easy); /* drop every pointer into t */
    if (d->npool < POOL_MAX)
        d->pool[d->npool++] = t->easy;
    else
        curl_easy_cleanup(t->easy);
    t->easy = NULL;
}

/* ===== The request ===== */

/* Pushes field name of the table at idx: returns 1 when it has the type, 0 when it is nil;
   raises for any other type. */
static int opt_field(lua_State *L, int idx, const char *name, int type, const char *what)
{
    lua_getfield(L, idx, name);
    if (lua_isnil(L, -1))
        return 0;
    if (lua_type(L, -1) != type)
        return luaL_error(L, "bad field '%s' (%s expected, got %s)", name, what, luaL_typename(L, -1));
    return 1;
}

/* Raises unless every name and value of the headers table at idx is a string, and none is a
   framing header: libcurl would send a caller's Content-Length as it is, whatever the body. */
static int check_headers(lua_State *L, int idx)
{
    static const char *const framing[] = { "host", "content-length", "transfer-encoding", "connection" };
    size_t i, len;

    if (!lua_istable(L, idx))
        return 0;
    lua_pushnil(L);
    while (lua_next(L, idx) != 0) {
        const char *name;
        if (lua_type(L, -2) != LUA_TSTRING || lua_type(L, -1) != LUA_TSTRING)
            return luaL_error(L, "bad field 'headers' (names and values must be strings)");
        name = lua_tolstring(L, -2, &len);
        for (i = 0; i < sizeof framing / sizeof framing[0]; i++)
            if (len == strlen(framing[i]) && strncasecmp(name, framing[i], len) == 0)
                return luaL_error(L, "bad field 'headers' (the framing header '%s' is the driver's)", framing[i]);
        lua_pop(L, 1);
    }
    return 0;
}

/* Builds the curl header list from the (checked) headers table at idx: "Name: value" lines,
   plus the empty Expect: and, when there is no Content-Type of ours, an empty one (so curl
   adds none). Returns 0 when memory runs out. */
static int header_list(lua_State *L, int idx, transfer *t, int has_body)
{
    buffer line = { NULL, 0, 0, 0, NULL, NULL };
    struct curl_slist *next;
    int content_type = 0, ok = 1;

    if (lua_istable(L, idx)) {
        lua_pushnil(L);
        while (ok && lua_next(L, idx) != 0) {
            size_t nlen, vlen;
            const char *name = lua_tolstring(L, -2, &nlen), *value = lua_tolstring(L, -1, &vlen);
            content_type |= nlen == 12 && strncasecmp(name, "content-type", 12) == 0;
            line.len = 0;
            buffer_add(&line, name, nlen);
            buffer_add(&line, vlen > 0 ? ": " : ";", vlen > 0 ? 2 : 1); /* "Name;" sends it empty */
            buffer_add(&line, value, vlen);
            buffer_addc(&line, '\0');
            ok = !line.failed && (next = curl_slist_append(t->headers, line.data)) != NULL;
            if (ok)
                t->headers = next;
            lua_pop(L, ok ? 1 : 2);
        }
    }
    buffer_free(&line);
    if (ok && (next = curl_slist_append(t->headers, "Expect:")) != NULL)
        t->headers = next;
    else
        ok = 0;
    if (ok && has_body && !content_type) {
        if ((next = curl_slist_append(t->headers, "Content-Type:")) != NULL)
            t->headers = next;
        else
            ok = 0;
    }
    return ok;
}

/* Sets the easy handle's options for the request (method and body as posts says). */
static void set_options(CURL *e, transfer *t, const char *url, const char *method, int posts, size_t body_len,
                        long timeout_ms, int insecure, const char *ca_file)
{
    curl_easy_setopt(e, CURLOPT_URL, url);
    curl_easy_setopt(e, CURLOPT_PRIVATE, (char *)t);
    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(e, CURLOPT_ERRORBUFFER, t->errbuf);
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(e, CURLOPT_WRITEDATA, (void *)t);
    curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(e, CURLOPT_HEADERDATA, (void *)t);
    curl_easy_setopt(e, CURLOPT_HTTPHEADER, t->headers);
#if LIBCURL_VERSION_NUM >= 0x075000
    curl_easy_setopt(e, CURLOPT_PREREQFUNCTION, on_request);
    curl_easy_setopt(e, CURLOPT_PREREQDATA, (void *)t);
#endif
    if (timeout_ms > 0) {
        curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, timeout_ms);
        curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, timeout_ms);
    }
    curl_easy_setopt(e, CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_1_1);
    curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, 0L);
    curl_easy_setopt(e, CURLOPT_ACCEPT_ENCODING, "");
#if LIBCURL_VERSION_NUM >= 0x075500
    curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
#else
    curl_easy_setopt(e, CURLOPT_PROTOCOLS, (long)(CURLPROTO_HTTP | CURLPROTO_HTTPS));
#endif
    curl_easy_setopt(e, CURLOPT_SSL_VERIFYPEER, insecure ? 0L : 1L);
    curl_easy_setopt(e, CURLOPT_SSL_VERIFYHOST, insecure ? 0L : 2L);
    if (ca_file != NULL)
        curl_easy_setopt(e, CURLOPT_CAINFO, ca_file);
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
}

static int is_method(const char *m)
{
    return strcmp(m, "GET") == 0 || strcmp(m, "POST") == 0 || strcmp(m, "PUT") == 0 || strcmp(m, "PATCH") == 0 ||
           strcmp(m, "DELETE") == 0;
}

/* driver:add(req [, options]) -> id; starts the transfer without blocking. req = {method, url,
   headers, body, timeout (seconds; absent: none)}; options = {max_response_bytes, ca_file,
   insecure}. Wrong types raise. */
int transfer_add(lua_State *L, driver *d)
{
    enum { SELF = 1, REQ, OPTS, METHOD, URL, HEADERS, BODY, TIMEOUT, MAXB, CA, INSECURE };
    const char *method, *url, *body = NULL;
    size_t body_len = 0;
    long timeout_ms = 0;
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
    if (!is_method(method))
        return luaL_argerror(L, REQ, "field 'method': GET, POST, PUT, PATCH or DELETE expected");
    opt_field(L, REQ, "headers", LUA_TTABLE, "table");
    check_headers(L, HEADERS);
    if (opt_field(L, REQ, "body", LUA_TSTRING, "string"))
        body = lua_tolstring(L, BODY, &body_len);
    if (opt_field(L, REQ, "timeout", LUA_TNUMBER, "number")) {
        double ms = (double)lua_tonumber(L, TIMEOUT) * 1000;
        if (!(ms > 0))
            return luaL_argerror(L, REQ, "field 'timeout': a positive number expected");
        timeout_ms = ms >= 2147483647.0 ? 2147483647L : (long)ms;
        if ((double)timeout_ms < ms) /* round up */
            timeout_ms++;
    }
    if (opt_field(L, OPTS, "max_response_bytes", LUA_TNUMBER, "number") && !(lua_tonumber(L, MAXB) >= 1))
        return luaL_argerror(L, OPTS, "field 'max_response_bytes': a positive number expected");
    opt_field(L, OPTS, "ca_file", LUA_TSTRING, "string");
    opt_field(L, OPTS, "insecure", LUA_TBOOLEAN, "boolean");
    posts = body != NULL || strcmp(method, "POST") == 0 || strcmp(method, "PUT") == 0 ||
            strcmp(method, "PATCH") == 0;

    /* everything is checked: from here on only memory can fail */
    if ((t = calloc(1, sizeof *t)) == NULL)
        return luaL_error(L, "driver:add: not enough memory");
    if (!lua_isnil(L, MAXB) && lua_tonumber(L, MAXB) < 9.2e18)
        t->max_bytes = (long long)lua_tonumber(L, MAXB);
    if ((body_len > 0 && (t->body = malloc(body_len)) == NULL) || !header_list(L, HEADERS, t, posts)) {
        transfer_free(t);
        return luaL_error(L, "driver:add: not enough memory");
    }
    if (body_len > 0)
        memcpy(t->body, body, body_len);
    if ((e = d->npool > 0 ? d->pool[--d->npool] : curl_easy_init()) == NULL) {
        transfer_free(t);
        return luaL_error(L, "driver:add: curl_easy_init failed");
    }
    t->easy = e;
    set_options(e, t, url, method, posts, body_len, timeout_ms, lua_toboolean(L, INSECURE),
                lua_isnil(L, CA) ? NULL : lua_tostring(L, CA));
    if (curl_multi_add_handle(d->multi, e) != CURLM_OK) {
        transfer_detach(d, t);
        transfer_free(t);
        return luaL_error(L, "driver:add: curl_multi_add_handle failed");
    }
    t->id = ++d->next_id;
    t->next = d->active;
    d->active = t;
    lua_pushinteger(L, t->id);
    curl_multi_perform(d->multi, &running);
    return 1;
}
