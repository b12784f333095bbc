/* server/conn.c: accepting, reading and answering HTTP/1.1 connections.
 *
 * libevent's evconnlistener accepts; each connection then has one event,
 * re-armed for what it waits for:
 *   READING  readable, 75 s idle timeout: bytes go to its jc_wire until a
 *            whole request is read, which goes to the handler;
 *   BUSY     the handler has the request: readable without a timeout, to
 *            keep the bytes of a pipelined next request (up to 64 KiB) and
 *            to learn that the client left: a reset ends the request (the
 *            handler forgets it); an EOF only means no more requests;
 *   WRITING  writable, 75 s: the rest of an answer the socket did not take
 *            at once, with a reference to the response;
 *   LINGER   after the last answer of a closing connection, its write side
 *            shut: reading and dropping until 2 s pass without a byte (5 s
 *            at most), so a client still sending gets the answer rather
 *            than a reset.
 * Reads go to one buffer shared by all connections; a connection keeps
 * bytes only when they are a head still incomplete or a pipelined request.
 * An answer is written with one sendmsg() of three pieces: the response's
 * head, this connection's Date and Connection lines, and the body; most of
 * the time the socket takes it all and nothing is copied or kept.
 * After an answer, bytes already read are parsed on the loop's next turn
 * (event_active), never from inside the handler that answered. */
#include "server/conn.h"

#include <errno.h>
#include <event2/event.h>
#include <event2/event_struct.h>
#include <event2/listener.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include "core/log.h"
#include "core/loop.h"
#include "core/mem.h"

#define CONN_IDLE_S        75
#define CONN_LINGER_S      2
#define CONN_LINGER_BYTES  (1024 * 1024)
#define CONN_LINGER_MAX_MS 5000
#define CONN_MAX           60000
#define CONN_MAX_PIPELINED 65536
#define CONN_READ_BUF      65536

enum conn_state { CONN_READING, CONN_BUSY, CONN_WRITING, CONN_LINGER };

/* The part of an answer the socket has not taken yet. */
struct pending_out {
    struct jc_response *resp;
    struct iovec iov[3];
    int iovcnt;
    char tail[96];
};

struct jc_conn {
    struct jc_conns *owner;
    struct jc_conn *prev; /* in owner->all */
    struct jc_conn *next;
    struct event ev;
    int fd;
    enum conn_state state;
    bool keep_alive; /* after this answer, read the next request */
    bool head;       /* the request is a HEAD: no body in the answer */
    bool http10;
    bool eof;      /* the client has shut its side: only bytes kept remain */
    void *request; /* the handler's, while BUSY */
    char *in;      /* bytes read past the current request */
    size_t in_len;
    size_t dropped;        /* LINGER: bytes read and dropped */
    uint64_t linger_until; /* LINGER: the latest time to close (loop ms) */
    struct pending_out *out;
    struct jc_wire wire;
};

struct jc_conns {
    struct jc_loop *loop;
    struct event_base *base;
    struct evconnlistener *listener;
    struct jc_timer *resume; /* re-enables accepting after EMFILE */
    struct jc_conns_handler handler;
    const struct timeval *idle_tv; /* libevent common timeouts */
    const struct timeval *linger_tv;
    struct jc_conn *all;
    size_t count;
    size_t in_flight;
    bool quiescing;
    int port;
    uint64_t date_s;
    char date[48]; /* "Date: ...\r\n" for date_s */
    char rbuf[CONN_READ_BUF];
};

static void on_event(evutil_socket_t fd, short what, void *arg);

/* ---- connection lifetime ---- */

static void conn_wait_for(struct jc_conn *c, short what, const struct timeval *tv)
{
    if (event_initialized(&c->ev)) {
        event_del(&c->ev);
    }
    if (what == 0) {
        return;
    }
    event_assign(&c->ev, c->owner->base, c->fd, what | EV_PERSIST, on_event, c);
    event_add(&c->ev, tv);
}

static void conn_free(struct jc_conn *c)
{
    struct jc_conns *o = c->owner;
    event_del(&c->ev);
    close(c->fd);
    if (c->prev != NULL) {
        c->prev->next = c->next;
    } else {
        o->all = c->next;
    }
    if (c->next != NULL) {
        c->next->prev = c->prev;
    }
    if (c->out != NULL) {
        jc_response_unref(c->out->resp);
        free(c->out);
    }
    jc_wire_clear(&c->wire);
    free(c->in);
    free(c);
    o->count--;
}

/* The request of a BUSY connection will not be answered: its client left. */
static void conn_gone(struct jc_conn *c)
{
    struct jc_conns *o = c->owner;
    void *request = c->request;
    c->request = NULL;
    o->in_flight--;
    conn_free(c);
    if (request != NULL) {
        o->handler.gone(o->handler.arg, request);
    }
}

static void conn_linger(struct jc_conn *c)
{
    if (shutdown(c->fd, SHUT_WR) != 0) {
        conn_free(c);
        return;
    }
    c->state = CONN_LINGER;
    c->linger_until = jc_loop_now_ms(c->owner->loop) + CONN_LINGER_MAX_MS;
    conn_wait_for(c, EV_READ, c->owner->linger_tv);
}

/* Keeps data[0..len) for the next request (after those already kept). */
static void conn_keep(struct jc_conn *c, const char *data, size_t len)
{
    c->in = jc_xrealloc(c->in, c->in_len + len);
    memcpy(c->in + c->in_len, data, len);
    c->in_len += len;
}

/* ---- requests ---- */

static void conn_dispatch(struct jc_conn *c)
{
    struct jc_conns *o = c->owner;
    struct jc_wire_request req = c->wire.request;
    memset(&c->wire.request, 0, sizeof(c->wire.request));
    jc_wire_next(&c->wire);
    c->state = CONN_BUSY;
    c->keep_alive = req.keep_alive;
    c->head = req.head;
    c->http10 = req.http10;
    o->in_flight++;
    /* Still readable (to see the client leave), without the idle timeout:
     * only the timer changes, not the epoll set. */
    if (c->in_len < CONN_MAX_PIPELINED) {
        event_remove_timer(&c->ev);
    } else {
        conn_wait_for(c, 0, NULL);
    }
    o->handler.request(o->handler.arg, c, &req);
    jc_wire_request_clear(&req);
}

static void conn_reject(struct jc_conn *c, enum jc_wire_status st)
{
    struct jc_conns *o = c->owner;
    c->state = CONN_BUSY;
    c->keep_alive = false;
    c->head = false; /* not the previous request's */
    c->http10 = false;
    o->in_flight++;
    conn_wait_for(c, 0, NULL);
    if (st == JC_WIRE_URI_TOO_LONG) {
        o->handler.reject(o->handler.arg, c, 414, "uri_too_long",
                          "the request line is longer than 16384 bytes");
    } else if (st == JC_WIRE_HEAD_TOO_LARGE) {
        o->handler.reject(o->handler.arg, c, 431, "headers_too_large",
                          "the request head is larger than 16384 bytes");
    } else {
        char msg[160];
        snprintf(msg, sizeof(msg), "malformed HTTP request: %s", c->wire.error);
        o->handler.reject(o->handler.arg, c, 400, "bad_request", msg);
    }
}

/* Returns false when the socket did not take the whole line (only a client
 * that reads nothing fills it): half a line would corrupt the answer. */
static bool send_continue(struct jc_conn *c)
{
    static const char line[] = "HTTP/1.1 100 Continue\r\n\r\n";
    ssize_t n = send(c->fd, line, sizeof(line) - 1, MSG_NOSIGNAL);
    return n == (ssize_t)(sizeof(line) - 1);
}

/* Parses data[0..len) (not c's own memory).  c may be freed on return. */
static void conn_parse(struct jc_conn *c, const char *data, size_t len)
{
    size_t used;
    enum jc_wire_status st = jc_wire_feed(&c->wire, data, len, &used);
    if (c->wire.send_continue) {
        c->wire.send_continue = false;
        if (!send_continue(c)) {
            conn_free(c);
            return;
        }
    }
    if (st == JC_WIRE_MORE) {
        return;
    }
    if (st != JC_WIRE_REQUEST) {
        conn_reject(c, st);
        return;
    }
    if (used < len) {
        conn_keep(c, data + used, len - used);
    }
    conn_dispatch(c);
}

static void on_reading(struct jc_conn *c)
{
    if (c->in_len > 0) {
        char *in = c->in;
        size_t len = c->in_len;
        c->in = NULL;
        c->in_len = 0;
        conn_parse(c, in, len);
        free(in);
        return;
    }
    ssize_t n = recv(c->fd, c->owner->rbuf, sizeof(c->owner->rbuf), 0);
    if (n > 0) {
        conn_parse(c, c->owner->rbuf, (size_t)n);
    } else if (n == 0 || (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)) {
        conn_free(c);
    }
}

static void on_busy(struct jc_conn *c)
{
    ssize_t n = recv(c->fd, c->owner->rbuf, sizeof(c->owner->rbuf), 0);
    if (n > 0) {
        conn_keep(c, c->owner->rbuf, (size_t)n);
        if (c->in_len >= CONN_MAX_PIPELINED) {
            conn_wait_for(c, 0, NULL);
        }
    } else if (n == 0) {
        /* Half-closed: the client may still read its answer (a request
         * sent with "shutdown(SHUT_WR)" after it, say), so it gets one;
         * a client that is really gone shows at the write. */
        c->eof = true;
        conn_wait_for(c, 0, NULL);
    } else if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) {
        conn_gone(c);
    }
}

static void on_linger(struct jc_conn *c)
{
    ssize_t n = recv(c->fd, c->owner->rbuf, sizeof(c->owner->rbuf), 0);
    if (n > 0) {
        c->dropped += (size_t)n;
        if (c->dropped > CONN_LINGER_BYTES || jc_loop_now_ms(c->owner->loop) > c->linger_until) {
            conn_free(c);
        }
    } else if (n == 0 || (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)) {
        conn_free(c);
    }
}

/* ---- answers ---- */

/* The answer is sent: read the next request, or close. */
static void conn_answered(struct jc_conn *c)
{
    c->owner->in_flight--;
    if (!c->keep_alive || c->owner->quiescing || (c->eof && c->in_len == 0)) {
        conn_linger(c);
        return;
    }
    bool reading = event_pending(&c->ev, EV_READ, NULL) != 0;
    c->state = CONN_READING;
    if (reading) {
        event_add(&c->ev, c->owner->idle_tv); /* the timer again, nothing else */
    } else {
        conn_wait_for(c, EV_READ, c->owner->idle_tv);
    }
    if (c->in_len > 0) {
        event_active(&c->ev, EV_READ, 1);
    }
}

/* Sends what the socket takes of iov; returns false on an error (c freed). */
static bool conn_send(struct jc_conn *c, struct iovec *iov, int *iovcnt)
{
    struct msghdr msg = {.msg_iov = iov, .msg_iovlen = (size_t)*iovcnt};
    ssize_t n = sendmsg(c->fd, &msg, MSG_NOSIGNAL);
    if (n < 0) {
        if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) {
            return true;
        }
        c->owner->in_flight--;
        conn_free(c);
        return false;
    }
    size_t left = (size_t)n;
    int first = 0;
    while (first < *iovcnt && left >= iov[first].iov_len) {
        left -= iov[first].iov_len;
        first++;
    }
    if (first < *iovcnt) {
        iov[first].iov_base = (char *)iov[first].iov_base + left;
        iov[first].iov_len -= left;
    }
    memmove(iov, iov + first, (size_t)(*iovcnt - first) * sizeof(*iov));
    *iovcnt -= first;
    return true;
}

static void on_writing(struct jc_conn *c)
{
    struct pending_out *out = c->out;
    if (!conn_send(c, out->iov, &out->iovcnt)) {
        return;
    }
    if (out->iovcnt == 0) {
        jc_response_unref(out->resp);
        free(out);
        c->out = NULL;
        conn_answered(c);
    }
}

/* Writes "Date: ...\r\n", the Connection line and the blank line into buf. */
static size_t conn_tail(struct jc_conn *c, char *buf, size_t size)
{
    struct jc_conns *o = c->owner;
    uint64_t now_s = jc_loop_wall_ms(o->loop) / 1000;
    if (now_s != o->date_s || o->date[0] == '\0') {
        time_t t = (time_t)now_s;
        struct tm tm;
        gmtime_r(&t, &tm);
        strftime(o->date, sizeof(o->date), "Date: %a, %d %b %Y %H:%M:%S GMT\r\n", &tm);
        o->date_s = now_s;
    }
    const char *conn = !c->keep_alive ? "Connection: close\r\n"
                       : c->http10    ? "Connection: keep-alive\r\n"
                                      : "";
    int n = snprintf(buf, size, "%s%s\r\n", o->date, conn);
    return n > 0 && (size_t)n < size ? (size_t)n : 0;
}

void jc_conn_reply(struct jc_conn *c, struct jc_response *resp)
{
    char tail[sizeof(c->out->tail)];
    c->request = NULL;
    if (c->owner->quiescing) {
        c->keep_alive = false;
    }
    struct iovec iov[3];
    int iovcnt = 0;
    size_t body_len;
    const void *body = jc_response_body(resp, &body_len);
    /* iovec has no const: the bytes are only read. */
    iov[iovcnt].iov_base = (void *)(uintptr_t)jc_response_head(resp, &iov[iovcnt].iov_len);
    iovcnt++;
    iov[iovcnt].iov_base = tail;
    iov[iovcnt].iov_len = conn_tail(c, tail, sizeof(tail));
    iovcnt++;
    if (body_len > 0 && !c->head) {
        iov[iovcnt].iov_base = (void *)(uintptr_t)body;
        iov[iovcnt].iov_len = body_len;
        iovcnt++;
    }
    if (!conn_send(c, iov, &iovcnt)) {
        return;
    }
    if (iovcnt == 0) {
        conn_answered(c);
        return;
    }
    /* The socket is full: keep the rest (the tail is copied, the rest is
     * the response's own memory). */
    struct pending_out *out = jc_xcalloc(1, sizeof(*out));
    out->resp = jc_response_ref(resp);
    for (int i = 0; i < iovcnt; i++) {
        out->iov[i] = iov[i];
        if (iov[i].iov_base >= (void *)tail && iov[i].iov_base < (void *)(tail + sizeof(tail))) {
            size_t off = (size_t)((char *)iov[i].iov_base - tail);
            memcpy(out->tail + off, iov[i].iov_base, iov[i].iov_len);
            out->iov[i].iov_base = out->tail + off;
        }
    }
    out->iovcnt = iovcnt;
    c->out = out;
    c->state = CONN_WRITING;
    conn_wait_for(c, EV_WRITE, c->owner->idle_tv);
}

void jc_conn_attach(struct jc_conn *conn, void *request)
{
    conn->request = request;
}

/* ---- events ---- */

static void on_event(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    struct jc_conn *c = arg;
    if ((what & EV_TIMEOUT) != 0) {
        if (c->state == CONN_WRITING) {
            c->owner->in_flight--;
        }
        conn_free(c);
        return;
    }
    switch (c->state) {
    case CONN_READING:
        on_reading(c);
        break;
    case CONN_BUSY:
        on_busy(c);
        break;
    case CONN_WRITING:
        on_writing(c);
        break;
    case CONN_LINGER:
        on_linger(c);
        break;
    }
}

static void on_accept(struct evconnlistener *l, evutil_socket_t fd, struct sockaddr *sa, int sa_len,
                      void *arg)
{
    (void)l;
    (void)sa;
    (void)sa_len;
    struct jc_conns *o = arg;
    if (o->count >= CONN_MAX || o->quiescing) {
        close(fd);
        return;
    }
    int one = 1;
    (void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    struct jc_conn *c = jc_xcalloc(1, sizeof(*c));
    c->owner = o;
    c->fd = fd;
    c->state = CONN_READING;
    jc_wire_init(&c->wire);
    c->next = o->all;
    if (o->all != NULL) {
        o->all->prev = c;
    }
    o->all = c;
    o->count++;
    conn_wait_for(c, EV_READ, o->idle_tv);
}

static void on_resume(void *arg)
{
    struct jc_conns *o = arg;
    if (o->listener != NULL) {
        evconnlistener_enable(o->listener);
    }
}

/* accept() failed (out of descriptors, say): pause for 100 ms rather than
 * spin on a listening socket that stays readable. */
static void on_accept_error(struct evconnlistener *l, void *arg)
{
    struct jc_conns *o = arg;
    jc_log_warn("http: accept: %s", strerror(errno));
    evconnlistener_disable(l);
    jc_timer_start(o->resume, 100);
}

/* ---- the whole ---- */

enum jc_err jc_conns_open(struct jc_loop *loop, const struct sockaddr *addr, socklen_t addr_len,
                          const struct jc_conns_handler *handler, struct jc_conns **out)
{
    struct jc_conns *o = jc_xcalloc(1, sizeof(*o));
    o->loop = loop;
    o->base = jc_loop_base(loop);
    o->handler = *handler;
    o->listener = evconnlistener_new_bind(
        o->base, on_accept, o, LEV_OPT_CLOSE_ON_FREE | LEV_OPT_REUSEABLE | LEV_OPT_CLOSE_ON_EXEC,
        4096, addr, (int)addr_len);
    if (o->listener == NULL) {
        free(o);
        return JC_ERR_INVALID;
    }
    evconnlistener_set_error_cb(o->listener, on_accept_error);
    struct sockaddr_storage bound;
    socklen_t bound_len = sizeof(bound);
    if (getsockname(evconnlistener_get_fd(o->listener), (struct sockaddr *)&bound, &bound_len) ==
        0) {
        o->port = bound.ss_family == AF_INET6 ? ntohs(((struct sockaddr_in6 *)&bound)->sin6_port)
                                              : ntohs(((struct sockaddr_in *)&bound)->sin_port);
    }
    struct timeval idle = {CONN_IDLE_S, 0};
    struct timeval linger = {CONN_LINGER_S, 0};
    o->idle_tv = event_base_init_common_timeout(o->base, &idle);
    o->linger_tv = event_base_init_common_timeout(o->base, &linger);
    o->resume = jc_timer_new(loop, on_resume, o);
    *out = o;
    return JC_OK;
}

int jc_conns_port(const struct jc_conns *conns)
{
    return conns->port;
}

void jc_conns_quiesce(struct jc_conns *o)
{
    o->quiescing = true;
    if (o->listener != NULL) {
        evconnlistener_free(o->listener);
        o->listener = NULL;
    }
    struct jc_conn *c = o->all;
    while (c != NULL) {
        struct jc_conn *next = c->next;
        if (c->state == CONN_READING && c->in_len == 0 && !jc_wire_started(&c->wire)) {
            conn_free(c);
        }
        c = next;
    }
}

size_t jc_conns_in_flight(const struct jc_conns *conns)
{
    return conns->in_flight;
}

void jc_conns_close(struct jc_conns *o)
{
    if (o == NULL) {
        return;
    }
    while (o->all != NULL) {
        struct jc_conn *c = o->all;
        if (c->state == CONN_BUSY) {
            conn_gone(c);
        } else {
            conn_free(c);
        }
    }
    if (o->listener != NULL) {
        evconnlistener_free(o->listener);
    }
    jc_timer_free(o->resume);
    free(o);
}
