/*
 * result.c - what a finished transfer becomes in Lua: a response (its head parsed by the one
 * header normalisation of http/head.c) or a transport error.
 */
#include <stdio.h>

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
}

/* ===== Lua values ===== */

static void set_string(lua_State *L, const char *field, const char *value)
{
    lua_pushstring(L, value);
    lua_setfield(L, -2, field);
}

/* Pushes { kind, sent, detail, retryable } for a failed transfer (an answer over
   max_response_bytes is not retryable: it would be as large again). */
static void push_transport_error(lua_State *L, transfer *t, const char *detail)
{
    lua_createtable(L, 0, 4);
    if (t->too_large || t->result == CURLE_FILESIZE_EXCEEDED) {
        char msg[80];
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

void result_push(lua_State *L, transfer *t)
{
    const char *err = NULL;
    int status, minor;

    lua_createtable(L, 0, 2);
    lua_pushinteger(L, t->id);
    lua_setfield(L, -2, "id");
    if (t->result == CURLE_OK && !t->head_done) {
        err = "the response was cut off inside its head";
        t->sent = 1;
    } else if (t->result == CURLE_OK) {
        lua_createtable(L, 0, 3);
        if (head_parse_push(L, t->head.data != NULL ? t->head.data : "", t->head.len, &status, &minor, &err)) {
            lua_setfield(L, -2, "headers");
            lua_pushinteger(L, (lua_Integer)t->status);
            lua_setfield(L, -2, "status");
            lua_pushlstring(L, t->resp.data != NULL ? t->resp.data : "", t->resp.len);
            lua_setfield(L, -2, "body");
            lua_setfield(L, -2, "res");
            return;
        }
        lua_pop(L, 1);
        t->sent = 1; /* an answer came back, so the request went out */
    }
    push_transport_error(L, t, err);
    lua_setfield(L, -2, "err");
}
