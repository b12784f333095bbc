/* server/conn.h: HTTP/1.1 connections on the process's event loop.
 *
 * Accepts on one listening socket, reads each connection's requests with
 * server/wire.h and hands every whole request to a handler, which answers
 * it with jc_conn_reply now or later.  A connection whose request waits
 * costs a few hundred bytes and no thread: nothing of its head is kept once
 * the handler has seen it.  Keep-alive, pipelining (answers in order),
 * "100 Continue", idle timeouts and a lingering close after the last answer
 * are handled here.  A client that resets its connection while its request
 * waits is reported to the handler, which forgets the request; one that
 * only shuts its side still gets its answer.
 * Event thread only. */
#ifndef JC_SERVER_CONN_H
#define JC_SERVER_CONN_H

#include <stddef.h>
#include <sys/socket.h>

#include "core/err.h"
#include "server/response.h"
#include "server/wire.h"

struct jc_loop;
struct jc_conns;
struct jc_conn;

struct jc_conns_handler {
    /* A whole request was read on conn; req is borrowed for the call.
     * Answer with jc_conn_reply, now or later, exactly once. */
    void (*request)(void *arg, struct jc_conn *conn, const struct jc_wire_request *req);
    /* The bytes on conn are not a request (status 400, 414 or 431, with an
     * error code and a static message): answer, now, with jc_conn_reply. */
    void (*reject)(void *arg, struct jc_conn *conn, unsigned int status, const char *code,
                   const char *message);
    /* conn's client went away before its answer: forget the request
     * attached with jc_conn_attach (conn is gone too). */
    void (*gone)(void *arg, void *request);
    void *arg;
};

/* Listens on addr.  On JC_OK *out is new (close with jc_conns_close).
 * JC_ERR_INVALID when addr cannot be bound (logged).  Borrows handler. */
enum jc_err jc_conns_open(struct jc_loop *loop, const struct sockaddr *addr, socklen_t addr_len,
                          const struct jc_conns_handler *handler,
                          struct jc_conns **out) JC_MUST_CHECK;

/* The port listened on. */
int jc_conns_port(const struct jc_conns *conns);

/* Stops accepting, closes idle connections; every later answer closes its
 * connection. */
void jc_conns_quiesce(struct jc_conns *conns);

/* Requests read and not yet answered in full (sent to the socket). */
size_t jc_conns_in_flight(const struct jc_conns *conns);

/* Closes every connection (reporting waiting requests as gone) and the
 * listening socket. */
void jc_conns_close(struct jc_conns *conns);

/* Names what handler->gone receives should conn's client go away. */
void jc_conn_attach(struct jc_conn *conn, void *request);

/* Answers conn's request with resp (borrowed: a reference is taken when the
 * socket cannot take it all at once).  conn may be closed and freed before
 * this returns: do not use it afterwards. */
void jc_conn_reply(struct jc_conn *conn, struct jc_response *resp);

#endif
