/*
 * driver.h - the libcurl multi driver's parts: transfers (transfer.c), results (result.c) and
 * the driver that Lua loops over (driver.c).
 */
#ifndef PHED_DRIVER_H
#define PHED_DRIVER_H

#include <curl/curl.h>

#include "compat.h"
#include "mem/buffer.h"

/* internal to the module (see core.h) */
#pragma GCC visibility push(hidden)

#define POOL_MAX 16       /* idle easy handles kept for reuse */
#define HEAD_MAX 65536    /* the largest response head taken (libcurl's own limits are 100 KB a
                             line and 300 KB in all, reported as out of memory and retried) */

typedef struct transfer {
    struct transfer *next;
    CURL *easy;                  /* NULL once finished (the handle is back in the pool) */
    lua_Integer id;
    struct curl_slist *headers;
    char *body;                  /* the request body (curl does not copy POSTFIELDS) */
    buffer resp;                 /* the response body */
    buffer head;                 /* the last response's head as received (after any 1xx) */
    int head_done;               /* the blank line that ends that head arrived */
    long long max_bytes;         /* 0 = unlimited */
    int too_large;               /* the body went over max_bytes (1) or the head over HEAD_MAX (2) */
    /* set when it finishes */
    CURLcode result;
    long status;                 /* the final response's status code */
    int sent;                    /* whether any byte of the request left (libcurl's count) */
    int requests;                /* requests libcurl started on a connection: 2 or more when it
                                    replayed one that died on a stale keep-alive connection */
    char errbuf[CURL_ERROR_SIZE];
} transfer;

typedef struct driver {
    CURLM *multi;                /* NULL once closed */
    transfer *active;            /* in flight */
    transfer *finished;          /* done, result not delivered yet; oldest first */
    CURL *pool[POOL_MAX];
    int npool;
    lua_Integer next_id;
} driver;

/* ===== driver.c ===== */

/* Seconds on CLOCK_MONOTONIC (from an arbitrary start): for deadlines and elapsed times. */
double monotonic_now(void);

/* ===== transfer.c ===== */

/* driver:add(req [, options]) -> id (see transfer.c) */
int transfer_add(lua_State *L, driver *d);

/* Stops t: takes its easy handle out of the multi handle and back to the pool. */
void transfer_detach(driver *d, transfer *t);

/* Frees t (detached first). */
void transfer_free(transfer *t);

/* ===== result.c ===== */

/* Records the outcome of the finished transfer t (curl's result code) while its easy handle
   is still attached. */
void result_record(transfer *t, CURLcode rc);

/* Pushes { id, res = {status, headers, body} } or { id, err = {kind, sent, detail[, retryable]} }
   for the finished transfer t. Raises only when memory runs out. */
void result_push(lua_State *L, transfer *t);

/* ===== interrupt.c ===== */

/* The read end of the pipe that a caught SIGINT or SIGTERM writes to, or -1 when none is
   trapped: poll() it to wake up when one arrives. */
int interrupt_fd(void);

/* Empties that pipe. */
void interrupt_drain(void);

/* Adds trap, untrap, caught and nap to the module table on the top of the stack. */
void interrupt_register(lua_State *L);

#pragma GCC visibility pop

#endif
