/* core/fetch.h: the upstream-fetch interface the engine calls.
 *
 * server/upstream.c implements it with libcurl's multi interface; unit tests
 * use a fake.  Callback rule: fetch() either returns an error and never calls
 * cb, or returns JC_OK and calls cb exactly once, later, from the event loop.
 * Event thread only. */
#ifndef JC_CORE_FETCH_H
#define JC_CORE_FETCH_H

#include <stddef.h>
#include <stdint.h>

#include "core/err.h"

struct jc_entry;
struct jc_header_kv;

struct jc_fetch_request {
    const char *url;                    /* complete URL, key already encoded */
    const struct jc_header_kv *headers; /* extra request headers */
    size_t n_headers;
    uint64_t timeout_ms;   /* whole-transfer timeout */
    size_t max_body_bytes; /* body cap */
};

/* err: JC_OK with entry = new reference to the response (any HTTP status,
 * stored_at_ms unset); JC_ERR_UPSTREAM, JC_ERR_UPSTREAM_TIMEOUT or
 * JC_ERR_TOO_LARGE with entry == NULL. */
typedef void jc_fetch_done_fn(void *arg, enum jc_err err, struct jc_entry *entry);

struct jc_fetcher {
    /* Starts a fetch.  Borrows req (copies what it needs). */
    enum jc_err (*fetch)(void *ctx, const struct jc_fetch_request *req, jc_fetch_done_fn *cb,
                         void *arg);
    void *ctx;
};

#endif
