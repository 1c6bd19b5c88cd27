/*
 * result.c - what a finished transfer becomes in Lua: a response (its head parsed by the one
 * header normalisation of http/head.c) or a transport error.
 */
#include <stdio.h>
#include <string.h>

#include "curl/driver.h"
#include "http/head.h"

/* ===== Recording (no Lua here) ===== */

/* Whether the request may have reached the server is what libcurl did, not what it says: it
   counts the bytes of request heads it wrote (CURLINFO_REQUEST_SIZE, over every attempt of
   the transfer, its own replay on a stale connection included), and a code such as
   CURLE_UNSUPPORTED_PROTOCOL comes before sending (a scheme it refuses) as well as after (an
   answer that is not HTTP/1.x). */
void result_record(transfer *t, CURLcode rc)
{
    long request_size = 0;

    t->result = rc;
    curl_easy_getinfo(t->easy, CURLINFO_RESPONSE_CODE, &t->status);
    curl_easy_getinfo(t->easy, CURLINFO_REQUEST_SIZE, &request_size);
    t->sent = request_size > 0;
    /* libcurl 7.88 buffers each header line whole before our callback sees it, and reports a
       line past its 100 KB limit as out of memory */
    if (rc == CURLE_OUT_OF_MEMORY && t->sent && !t->head_done)
        t->too_large = 2;
}

/* ===== Lua values ===== */

static void set_string(lua_State *L, const char *field, const char *value)
{
    lua_pushstring(L, value);
    lua_setfield(L, -2, field);
}

/* Pushes { kind, sent, detail, retryable } for a failed transfer (an answer over
   max_response_bytes, or with a head over HEAD_MAX, is not retryable: it would be as large
   again). */
static void push_transport_error(lua_State *L, transfer *t, const char *detail)
{
    lua_createtable(L, 0, 4);
    if (t->too_large || t->result == CURLE_FILESIZE_EXCEEDED) {
        char msg[80];
        if (t->too_large == 2)
            snprintf(msg, sizeof msg, "response head larger than %d bytes", HEAD_MAX);
        else
            snprintf(msg, sizeof msg, "response larger than max_response_bytes (%lld)", t->max_bytes);
        set_string(L, "kind", "transport");
        set_string(L, "detail", msg);
        lua_pushboolean(L, 0);
        lua_setfield(L, -2, "retryable");
        lua_pushboolean(L, 1);
    } else {
        set_string(L, "kind", t->result == CURLE_OPERATION_TIMEDOUT ? "timeout" : "transport");
        if (detail != NULL)
            set_string(L, "detail", detail);
        else if (t->resp.failed || t->head.failed)
            set_string(L, "detail", "not enough memory for the response");
        else
            set_string(L, "detail", t->errbuf[0] != '\0' ? t->errbuf : curl_easy_strerror(t->result));
        lua_pushboolean(L, t->sent);
    }
    lua_setfield(L, -2, "sent");
}

/* Whether the Content-Length of the headers table on the top of the stack (repeated ones
   joined with ", ") frames the body: absent, or one decimal number, or a list of that same
   number (RFC 9110 §8.6). libcurl 7.88 takes the first number of "10, 42" and the last of two
   fields, and so returns a body cut short, or one past a length the server also gave. */
static int length_ok(lua_State *L)
{
    const char *v, *first = NULL;
    size_t n = 0, k;

    lua_getfield(L, -1, "content-length");
    v = lua_tostring(L, -1);
    lua_pop(L, 1); /* v stays valid: the table holds the string */
    if (v == NULL)
        return 1;
    for (;;) {
        for (k = 0; v[k] >= '0' && v[k] <= '9'; k++)
            ;
        if (k == 0 || (first != NULL && (k != n || memcmp(v, first, k) != 0)))
            return 0;
        first = v;
        n = k;
        v += k;
        if (*v == '\0')
            return 1;
        if (v[0] != ',' || v[1] != ' ')
            return 0;
        v += 2;
    }
}

/* Pushes {status, headers, body, replayed} for the complete answer of t (replayed: libcurl sent
   the request again after a reused connection died, so an earlier copy may have been applied)
   and returns 1, or pushes
   nothing, sets *err and returns 0 when its head is malformed or its framing is not one. */
static int push_response(lua_State *L, transfer *t, const char **err)
{
    int status, minor;

    lua_createtable(L, 0, 3);
    if (!head_parse_push(L, t->head.data != NULL ? t->head.data : "", t->head.len, &status, &minor, err)) {
        lua_pop(L, 1);
        return 0;
    }
    if (!length_ok(L)) {
        lua_pop(L, 2);
        *err = "the response's Content-Length is not one number";
        return 0;
    }
    lua_setfield(L, -2, "headers");
    lua_pushinteger(L, (lua_Integer)t->status);
    lua_setfield(L, -2, "status");
    lua_pushlstring(L, t->resp.data != NULL ? t->resp.data : "", t->resp.len);
    lua_setfield(L, -2, "body");
    if (t->requests > 1) {
        lua_pushboolean(L, 1);
        lua_setfield(L, -2, "replayed");
    }
    return 1;
}

void result_push(lua_State *L, transfer *t)
{
    const char *err = NULL;

    lua_createtable(L, 0, 2);
    lua_pushinteger(L, t->id);
    lua_setfield(L, -2, "id");
    if (t->result == CURLE_OK) {
        t->sent = 1; /* an answer came back, so the request went out */
        if (!t->head_done) {
            err = "the response was cut off inside its head";
        } else if (push_response(L, t, &err)) {
            lua_setfield(L, -2, "res");
            return;
        }
    }
    push_transport_error(L, t, err);
    lua_setfield(L, -2, "err");
}
