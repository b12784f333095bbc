/* server/wire.h: HTTP/1.x requests read off a connection's bytes.
 *
 * Wraps Node's http-parser (libhttp-parser) for one connection: bytes go in
 * as they arrive, one whole request comes out (its head, with the few
 * headers jcached reads; its body read and dropped).  A head split across
 * reads is held and parsed again whole once more bytes come, so only a
 * client that is still sending its head costs a held buffer; a request that
 * was read costs nothing here.  No sockets: the caller reads and writes.
 * Thread-compatible (one jc_wire per connection). */
#ifndef JC_SERVER_WIRE_H
#define JC_SERVER_WIRE_H

#include <http_parser.h>
#include <stdbool.h>
#include <stddef.h>

/* The most bytes a request head (request line and headers) may take.  The
 * longest valid key fully percent-encoded is 3,072 bytes. */
#define JC_WIRE_MAX_HEAD 16384

/* The request headers jcached reads (the first of each name counts). */
enum jc_wire_header {
    JC_WIRE_AUTHORIZATION,
    JC_WIRE_CACHE_CONTROL,
    JC_WIRE_IF_NONE_MATCH,
    JC_WIRE_PREFER,
    JC_WIRE_HEADER_COUNT
};

struct jc_wire_request {
    const char *method;                  /* static, e.g. "GET" */
    bool head;                           /* the method is HEAD: the answer has no body */
    bool keep_alive;                     /* the connection may carry another request */
    bool http10;                         /* HTTP/1.0: keep-alive must be said out loud */
    char *path;                          /* new: the raw request target up to '?' */
    char *query;                         /* new: the raw query after '?', or NULL */
    char *headers[JC_WIRE_HEADER_COUNT]; /* new: values, or NULL */
};

enum jc_wire_status {
    JC_WIRE_MORE,          /* every byte was taken; more are needed */
    JC_WIRE_REQUEST,       /* a whole request was read: see jc_wire.request */
    JC_WIRE_BAD,           /* malformed: jc_wire.error says how */
    JC_WIRE_URI_TOO_LONG,  /* the request line passed JC_WIRE_MAX_HEAD */
    JC_WIRE_HEAD_TOO_LARGE /* the head passed JC_WIRE_MAX_HEAD */
};

struct jc_wire {
    http_parser parser;
    bool in_body;       /* the head was read; the body is being dropped */
    bool done;          /* the whole request was read */
    bool send_continue; /* the client waits for "100 Continue" (caller clears) */
    char *held;         /* a head still incomplete, or NULL */
    size_t held_len;
    const char *error; /* static, after JC_WIRE_BAD */
    struct jc_wire_request request;
};

void jc_wire_init(struct jc_wire *w);

/* Reads data[0..len).  *used is how many bytes were taken: all of them
 * unless a request ended inside them (JC_WIRE_REQUEST: the rest belongs to
 * the next request; read it after jc_wire_next).  After an error the
 * connection cannot be read any further. */
enum jc_wire_status jc_wire_feed(struct jc_wire *w, const char *data, size_t len, size_t *used);

/* Frees req's strings. */
void jc_wire_request_clear(struct jc_wire_request *req);

/* Forgets the request read and gets ready for the next one. */
void jc_wire_next(struct jc_wire *w);

/* Whether some bytes of a request were read but not all of it. */
bool jc_wire_started(const struct jc_wire *w);

void jc_wire_clear(struct jc_wire *w);

#endif
