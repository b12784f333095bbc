/* server/response.h: an HTTP response, serialized once, sent many times.
 *
 * A response is its status line and headers, already written out as bytes,
 * and a body it owns or borrows.  It is reference-counted, so one response
 * (a cached value's, say) can be the answer of many requests at once, and a
 * connection that could not send it all in one go keeps it alive until it
 * has.  The per-connection lines (Date, Connection) are added by the sender.
 * Event thread only. */
#ifndef JC_SERVER_RESPONSE_H
#define JC_SERVER_RESPONSE_H

#include <stdbool.h>
#include <stddef.h>

#include "core/mem.h"

struct jc_response;

/* Returns new (one reference): a response with this status and no body. */
struct jc_response *jc_response_new(unsigned int status);

/* Adds a header; only before the response is first sent (jc_response_head). */
void jc_response_add_header(struct jc_response *resp, const char *name, const char *value);

/* Sets the body: takes buf's bytes. */
void jc_response_take_body(struct jc_response *resp, struct jc_buf *buf);

/* Sets the body: borrows body[0..len), which must stay valid until release
 * (when not NULL) is called with arg, when the response is freed. */
void jc_response_borrow_body(struct jc_response *resp, const void *body, size_t len,
                             void (*release)(void *arg), void *arg);

struct jc_response *jc_response_ref(struct jc_response *resp);
void jc_response_unref(struct jc_response *resp);

unsigned int jc_response_status(const struct jc_response *resp);

/* Returns borrowed: the status line and headers, with Content-Length for a
 * status that has a body, without the blank line that ends the head.  The
 * response takes no more headers after this. */
const char *jc_response_head(struct jc_response *resp, size_t *len);

/* Returns borrowed: the body (NULL and 0 for a status without one). */
const void *jc_response_body(const struct jc_response *resp, size_t *len);

/* The reason phrase of an HTTP status ("OK", "Not Found"...). */
const char *jc_response_reason(unsigned int status);

#endif
