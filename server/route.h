/* server/route.h: what a request asks for, from its raw path and headers.
 *
 * Pure string functions, kept apart from the connection plumbing of
 * server/conn.c and server/http.c so they can be tested one by one.  The path is the raw,
 * still percent-encoded one: each segment is decoded on its own, so "%2F"
 * stays inside a key.  Thread-safe. */
#ifndef JC_SERVER_ROUTE_H
#define JC_SERVER_ROUTE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/err.h"

enum jc_route_kind {
    JC_ROUTE_NOT_FOUND = 0, /* no such route */
    JC_ROUTE_BAD,           /* a malformed /caches/... path; why says what */
    JC_ROUTE_HEALTHZ,
    JC_ROUTE_READYZ,
    JC_ROUTE_METRICS,
    JC_ROUTE_CACHES, /* GET /caches */
    JC_ROUTE_VALUE,  /* /caches/{name}/{key} */
    JC_ROUTE_STATUS, /* /caches/{name}/{key}/status */
};

struct jc_route {
    enum jc_route_kind kind;
    char *cache; /* VALUE, STATUS: the decoded cache name (NUL-free), else NULL */
    char *key;   /* VALUE, STATUS: the decoded, valid key (key_len bytes), else NULL */
    size_t key_len;
    const char *why; /* BAD: a static reason for a person */
};

/* Parses the raw path.  The cache name is only decoded; whether such a cache
 * exists is the caller's question (asked before the key is judged, so an
 * unknown cache is reported even with a bad key: then kind is VALUE or
 * STATUS with key NULL and why set).  out's strings are new: release them
 * with jc_route_clear. */
void jc_route_parse(const char *path, struct jc_route *out);
void jc_route_clear(struct jc_route *route);

/* Finds the first parameter called name in a raw query string ("a=1&b=2",
 * may be NULL).  Returns false when there is none; else *value points into
 * query at its raw value (NULL, length 0, for a name without '='). */
bool jc_route_query_param(const char *query, const char *name, const char **value, size_t *len);

/* Parses the raw (percent-encoded) value of the timeout_ms parameter: a
 * non-negative decimal integer, saturating rather than overflowing.
 * JC_ERR_INVALID for anything else (empty, sign, fraction, letters). */
enum jc_err jc_route_parse_timeout(const char *raw, size_t len, uint64_t *ms) JC_MUST_CHECK;

/* Reads "wait=N" (seconds, RFC 7240) from a Prefer header into *ms.
 * Returns false (and leaves *ms) when there is none; prefer may be NULL. */
bool jc_route_prefer_wait(const char *prefer, uint64_t *ms);

/* Whether a Cache-Control header lists only-if-cached; cc may be NULL. */
bool jc_route_only_if_cached(const char *cc);

/* Whether an If-None-Match header matches etag (weak comparison, lists, "*"). */
bool jc_route_etag_matches(const char *if_none_match, const char *etag);

/* Whether an Authorization header carries "Bearer <token>"; the token is
 * compared in constant time.  An empty token admits everyone. */
bool jc_route_bearer_ok(const char *authorization, const char *token);

#endif
