/* server/upstream.h: the libcurl fetcher (struct jc_fetcher of core/fetch.h).
 *
 * One curl multi handle driven by the process's one event loop through the
 * multi-socket API, so any number of fetches are in flight without a thread
 * each, and connections to an upstream are kept alive and reused across
 * fetches.
 *
 * Per fetch: GET req->url with req->headers, no redirects followed (a 301 is a
 * value like any other), only http and https, no Accept-Encoding added (bytes
 * are stored as the upstream sent them).  Outcomes: JC_OK with an entry for any
 * HTTP status (Content-Type, Content-Encoding, Content-Language, ETag and
 * Last-Modified of the final response, and the body);
 * JC_ERR_UPSTREAM_TIMEOUT when req->timeout_ms passes (0 = no limit);
 * JC_ERR_TOO_LARGE when the body (or its Content-Length) passes
 * req->max_body_bytes (0 = no cap); JC_ERR_UPSTREAM on any connect, DNS, TLS,
 * protocol or read error.
 *
 * Event thread only. */
#ifndef JC_SERVER_UPSTREAM_H
#define JC_SERVER_UPSTREAM_H

#include <stddef.h>

#include "core/err.h"
#include "core/fetch.h"

struct jc_loop;
struct jc_upstream;

/* Creates a fetcher on loop.  On JC_OK, *out is new (close with
 * jc_upstream_close before freeing the loop).  Borrows loop, which must
 * outlive the fetcher.  libcurl itself starts at the first fetch, which
 * fails with JC_ERR_UPSTREAM when it cannot be initialised. */
enum jc_err jc_upstream_open(struct jc_loop *loop, struct jc_upstream **out) JC_MUST_CHECK;

/* Aborts the fetches still running and frees up.  Each aborted fetch's
 * callback runs once, inside this call, with JC_ERR_SHUTDOWN and no entry
 * (the loop may no longer be running, so it cannot wait for it); a fetch
 * started from such a callback fails with JC_ERR_SHUTDOWN.  Must not be called
 * from inside a fetch callback.  up may be NULL. */
void jc_upstream_close(struct jc_upstream *up);

/* Returns the fetcher interface over up (ctx = up, borrowed).  Its fetch()
 * borrows the request (copies what it needs), returns JC_ERR_INVALID for a
 * request that cannot be sent (no URL, a header name or value with CR or LF,
 * a URL libcurl refuses to take), JC_ERR_SHUTDOWN while closing,
 * JC_ERR_UPSTREAM when libcurl cannot be started (logged once), and otherwise
 * JC_OK and calls cb exactly once, later, from the loop. */
struct jc_fetcher jc_upstream_fetcher(struct jc_upstream *up);

/* Returns the number of fetches in flight. */
size_t jc_upstream_active(const struct jc_upstream *up);

/* Returns static: libcurl's version ("libcurl/7.88.1"). */
const char *jc_upstream_version(void);

#endif
