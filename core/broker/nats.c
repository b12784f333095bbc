/* core/broker/nats.c: jc_broker_nats_ops, broker events over NATS core
 * subjects.
 *
 * One connection per replica and one subscription on "<prefix>.ev.>".  An
 * event goes to "<prefix>.ev.<cache>.<key>", both names made safe tokens by
 * jc_event_codec_subject_token; the subject only helps people watching the
 * traffic (nats sub 'jcached.ev.weather.>'), the payload (event_codec.h)
 * carries every field.
 *
 * Threads.  nats.c runs its own threads: a read loop and a flusher per
 * connection, one dispatcher per subscription, and one thread for
 * connection-state callbacks.  We keep them rather than the libevent adapter
 * (nats/adapters/libevent.h): the adapter only moves socket reads and writes
 * onto the loop, it needs libevent built with thread support because nats.c
 * calls it from its reconnect thread, and messages would still be delivered on
 * the subscription's own thread.  So the message handler decodes the payload
 * on the nats thread, appends the event to a mutex-protected queue and wakes
 * the loop with jc_async_send; the loop drains the queue and calls on_event.
 * Connection state is an atomic flag written by the connected, disconnected,
 * reconnected and closed callbacks and read by is_ready.
 *
 * Reconnects: forever, every 250 ms (plus nats.c's jitter), and the first
 * connect is retried the same way, so open succeeds while NATS is down.  The
 * subscription is re-sent by nats.c on every reconnect.  While disconnected,
 * publish returns JC_ERR_BROKER rather than letting nats.c buffer the event:
 * a late completion event is worth less than the caller knowing (waiters poll
 * the store anyway).
 *
 * Close waits until nats.c reports that the subscription's handler has
 * returned for the last time (natsSubscription_SetOnCompleteCB) and that the
 * closed callback ran, because both threads hold a pointer to this broker.
 * natsStatus becomes enum jc_err here and nowhere else.  Event thread only,
 * except the static callbacks named on_nats_*, which run on nats threads. */
#include "core/broker/broker_impl.h"

#include <errno.h>
#include <nats/nats.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/broker/event_codec.h"
#include "core/log.h"
#include "core/loop.h"
#include "core/mem.h"

#define RECONNECT_WAIT_MS 250
#define FIRST_FLUSH_MS    2000
#define CLOSE_WAIT_S      5
#define MAX_RETRY_MS      5000

/* One decoded event waiting for the loop. */
struct queued_event {
    struct queued_event *next;
    struct jc_event *ev; /* from jc_event_codec_decode */
};

struct nats_broker {
    struct jc_broker base;
    struct jc_loop *loop;
    jc_broker_event_fn *on_event;
    void *arg;
    char *prefix;
    natsOptions *opts;
    natsConnection *nc;     /* NULL between a lost connection and the retry */
    natsSubscription *sub;  /* NULL likewise */
    bool sub_has_complete;  /* sub got its completion callback */
    struct jc_async *async; /* events queued, or the connection closed */
    struct jc_timer *retry; /* makes a new connection after nats.c gave up */
    uint64_t retry_ms;
    bool dispatching; /* on_loop_wakeup is calling on_event */
    bool closed;      /* closed from on_event: on_loop_wakeup frees b */
    atomic_bool connected;

    pthread_mutex_t mu; /* guards everything below */
    pthread_cond_t cond;
    struct queued_event *head;
    struct queued_event *tail;
    bool sub_complete; /* the message handler will not run again */
    bool conn_closed;  /* the closed callback ran */
    bool closing;      /* jc_broker_close is running */
};

static enum jc_err err_from_nats(natsStatus s)
{
    switch (s) {
    case NATS_OK:
        return JC_OK;
    case NATS_INVALID_ARG:
    case NATS_INVALID_SUBJECT:
    case NATS_ADDRESS_MISSING:
    case NATS_MAX_PAYLOAD:
        return JC_ERR_INVALID;
    default:
        return JC_ERR_BROKER;
    }
}

static void log_nats_error(const char *what, natsStatus s)
{
    const char *detail = nats_GetLastError(NULL);
    jc_log_warn("broker nats: %s: %s%s%s", what, natsStatus_GetText(s),
                detail != NULL && detail[0] != '\0' ? ": " : "", detail != NULL ? detail : "");
}

static void set_connected(struct nats_broker *b, natsConnection *nc)
{
    bool now = natsConnection_Status(nc) == NATS_CONN_STATUS_CONNECTED;
    bool before = atomic_exchange(&b->connected, now);
    if (now && !before) {
        jc_log_info("broker nats: connected");
    }
}

static void on_nats_connected(natsConnection *nc, void *closure)
{
    set_connected(closure, nc);
}

static void on_nats_disconnected(natsConnection *nc, void *closure)
{
    (void)nc;
    struct nats_broker *b = closure;
    if (atomic_exchange(&b->connected, false)) {
        pthread_mutex_lock(&b->mu);
        bool closing = b->closing;
        pthread_mutex_unlock(&b->mu);
        if (!closing) {
            jc_log_warn("broker nats: disconnected, reconnecting");
        }
    }
}

/* nats.c closes a connection for good when we close it, and also after the
 * server refused our credentials twice in a row; in that second case the loop
 * is woken to start a new connection later. */
static void on_nats_closed(natsConnection *nc, void *closure)
{
    struct nats_broker *b = closure;
    atomic_store(&b->connected, false);
    pthread_mutex_lock(&b->mu);
    b->conn_closed = true;
    if (!b->closing) {
        const char *why = NULL;
        natsStatus s = natsConnection_GetLastError(nc, &why);
        jc_log_warn("broker nats: the connection gave up: %s%s%s", natsStatus_GetText(s),
                    why != NULL && why[0] != '\0' ? ": " : "", why != NULL ? why : "");
        /* Under the mutex: close frees async only after taking it. */
        jc_async_send(b->async);
    }
    pthread_cond_broadcast(&b->cond);
    pthread_mutex_unlock(&b->mu);
}

static void on_nats_error(natsConnection *nc, natsSubscription *sub, natsStatus err, void *closure)
{
    (void)nc;
    (void)sub;
    (void)closure;
    jc_log_warn("broker nats: asynchronous error: %s", natsStatus_GetText(err));
}

static void on_nats_sub_complete(void *closure)
{
    struct nats_broker *b = closure;
    pthread_mutex_lock(&b->mu);
    b->sub_complete = true;
    pthread_cond_broadcast(&b->cond);
    pthread_mutex_unlock(&b->mu);
}

static void on_nats_msg(natsConnection *nc, natsSubscription *sub, natsMsg *msg, void *closure)
{
    (void)nc;
    (void)sub;
    struct nats_broker *b = closure;
    struct jc_event *ev = NULL;

    if (jc_event_codec_decode(natsMsg_GetData(msg), (size_t)natsMsg_GetDataLength(msg), &ev) !=
        JC_OK) {
        jc_log_warn("broker nats: dropping a malformed event on %s", natsMsg_GetSubject(msg));
        natsMsg_Destroy(msg);
        return;
    }
    natsMsg_Destroy(msg);
    struct queued_event *q = jc_xcalloc(1, sizeof(*q));
    q->ev = ev;
    pthread_mutex_lock(&b->mu);
    if (b->tail != NULL) {
        b->tail->next = q;
    } else {
        b->head = q;
    }
    b->tail = q;
    pthread_mutex_unlock(&b->mu);
    /* close waits for this handler to return before freeing async. */
    jc_async_send(b->async);
}

/* Takes the whole queue (the caller frees it) and reports a lost connection. */
static struct queued_event *take_queue(struct nats_broker *b, bool *conn_closed)
{
    pthread_mutex_lock(&b->mu);
    struct queued_event *q = b->head;
    b->head = NULL;
    b->tail = NULL;
    *conn_closed = b->conn_closed;
    pthread_mutex_unlock(&b->mu);
    return q;
}

static void schedule_retry(struct nats_broker *b)
{
    if (jc_timer_is_pending(b->retry)) {
        return;
    }
    jc_log_warn("broker nats: connection closed, opening a new one in %llu ms",
                (unsigned long long)b->retry_ms);
    jc_timer_start(b->retry, b->retry_ms);
    b->retry_ms = b->retry_ms * 2 > MAX_RETRY_MS ? MAX_RETRY_MS : b->retry_ms * 2;
}

static void on_loop_wakeup(void *arg)
{
    struct nats_broker *b = arg;
    bool conn_closed;
    struct queued_event *q = take_queue(b, &conn_closed);
    if (conn_closed && b->nc != NULL) {
        schedule_retry(b);
    }
    /* on_event may close the broker; then the rest is freed, not delivered,
     * and b itself is freed here, once nothing uses it any more. */
    b->dispatching = true;
    while (q != NULL) {
        struct queued_event *next = q->next;
        if (!b->closed) {
            b->on_event(b->arg, q->ev);
        }
        jc_event_codec_free(q->ev);
        free(q);
        q = next;
    }
    b->dispatching = false;
    if (b->closed) {
        free(b);
    }
}

static natsStatus set_servers(natsOptions *opts, const struct jc_broker_config *cfg)
{
    if (cfg->n_urls == 0) {
        return NATS_OK; /* nats.c's default, nats://localhost:4222 */
    }
    if (cfg->n_urls > INT32_MAX) {
        return NATS_INVALID_ARG;
    }
    const char **urls = jc_xcalloc(cfg->n_urls, sizeof(*urls));
    for (size_t i = 0; i < cfg->n_urls; i++) {
        urls[i] = cfg->urls[i];
    }
    natsStatus s = natsOptions_SetServers(opts, urls, (int)cfg->n_urls);
    free(urls);
    return s;
}

static natsStatus set_callbacks(struct nats_broker *b)
{
    natsStatus s = natsOptions_SetRetryOnFailedConnect(b->opts, true, on_nats_connected, b);
    if (s == NATS_OK) {
        s = natsOptions_SetDisconnectedCB(b->opts, on_nats_disconnected, b);
    }
    if (s == NATS_OK) {
        s = natsOptions_SetReconnectedCB(b->opts, on_nats_connected, b);
    }
    if (s == NATS_OK) {
        s = natsOptions_SetClosedCB(b->opts, on_nats_closed, b);
    }
    if (s == NATS_OK) {
        s = natsOptions_SetErrorHandler(b->opts, on_nats_error, b);
    }
    return s;
}

static natsStatus make_options(struct nats_broker *b, const struct jc_broker_config *cfg)
{
    natsStatus s = natsOptions_Create(&b->opts);
    if (s == NATS_OK) {
        s = set_servers(b->opts, cfg);
    }
    if (s == NATS_OK && cfg->token != NULL && cfg->token[0] != '\0') {
        s = natsOptions_SetToken(b->opts, cfg->token);
    }
    if (s == NATS_OK && cfg->user != NULL && cfg->user[0] != '\0') {
        s = natsOptions_SetUserInfo(b->opts, cfg->user, cfg->password);
    }
    if (s == NATS_OK) {
        s = natsOptions_SetName(b->opts, "jcached");
    }
    if (s == NATS_OK) {
        s = natsOptions_SetMaxReconnect(b->opts, -1);
    }
    if (s == NATS_OK) {
        s = natsOptions_SetReconnectWait(b->opts, RECONNECT_WAIT_MS);
    }
    if (s == NATS_OK) {
        s = set_callbacks(b);
    }
    return s;
}

/* Connects (or starts connecting in the background) and subscribes.  The
 * first attempt runs on the calling thread: immediate for a refused port,
 * one round trip for a server that answers, at most nats.c's connect timeout
 * otherwise. */
static natsStatus connect_and_subscribe(struct nats_broker *b)
{
    natsStatus s = natsConnection_Connect(&b->nc, b->opts);
    if (s == NATS_NOT_YET_CONNECTED) {
        jc_log_warn("broker nats: not connected yet, retrying in the background");
        s = NATS_OK;
    }
    if (s != NATS_OK) {
        return s;
    }
    struct jc_buf subject;
    jc_buf_init(&subject, 0);
    jc_buf_printf(&subject, "%s.ev.>", b->prefix);
    s = natsConnection_Subscribe(&b->sub, b->nc, subject.data, on_nats_msg, b);
    jc_buf_reset(&subject);
    if (s == NATS_OK) {
        s = natsSubscription_SetOnCompleteCB(b->sub, on_nats_sub_complete, b);
        b->sub_has_complete = s == NATS_OK;
    }
    if (s == NATS_OK && natsConnection_Status(b->nc) == NATS_CONN_STATUS_CONNECTED) {
        /* Once open returns with the server up, the server knows of the
         * subscription: events published by others from now on arrive. */
        if (natsConnection_FlushTimeout(b->nc, FIRST_FLUSH_MS) != NATS_OK) {
            jc_log_warn("broker nats: subscription not confirmed yet");
        }
        set_connected(b, b->nc);
    }
    return s;
}

/* Waits (a bounded time) until the nats threads are done with b. */
static void wait_for_nats_threads(struct nats_broker *b, bool want_sub, bool want_conn)
{
    struct timespec deadline;
    clock_gettime(CLOCK_REALTIME, &deadline);
    deadline.tv_sec += CLOSE_WAIT_S;
    pthread_mutex_lock(&b->mu);
    while ((want_sub && !b->sub_complete) || (want_conn && !b->conn_closed)) {
        if (pthread_cond_timedwait(&b->cond, &b->mu, &deadline) == ETIMEDOUT) {
            jc_log_error("broker nats: nats threads did not finish within %d s", CLOSE_WAIT_S);
            break;
        }
    }
    b->sub_complete = false;
    b->conn_closed = false;
    pthread_mutex_unlock(&b->mu);
}

/* Closes and frees the connection and subscription, if any. */
static void drop_connection(struct nats_broker *b)
{
    if (b->sub != NULL) {
        natsSubscription_Unsubscribe(b->sub);
    }
    if (b->nc != NULL) {
        natsConnection_Close(b->nc);
    }
    wait_for_nats_threads(b, b->sub != NULL && b->sub_has_complete, b->nc != NULL);
    natsSubscription_Destroy(b->sub);
    natsConnection_Destroy(b->nc);
    b->sub = NULL;
    b->nc = NULL;
    b->sub_has_complete = false;
    atomic_store(&b->connected, false);
}

/* Replaces the connection; on failure tries again later. */
static void reconnect(struct nats_broker *b)
{
    drop_connection(b);
    natsStatus s = connect_and_subscribe(b);
    if (s != NATS_OK) {
        log_nats_error("cannot connect", s);
        drop_connection(b);
        schedule_retry(b);
    } else if (atomic_load(&b->connected)) {
        b->retry_ms = RECONNECT_WAIT_MS;
    }
}

static void on_retry_timer(void *arg)
{
    reconnect(arg);
}

static void nats_close(struct jc_broker *broker);

static enum jc_err nats_open(struct jc_loop *loop, const struct jc_broker_config *cfg,
                             jc_broker_event_fn *on_event, void *arg, struct jc_broker **out)
{
    const char *prefix = cfg->subject_prefix != NULL ? cfg->subject_prefix : "jcached";
    if (prefix[0] == '\0' || strpbrk(prefix, "*> \t\r\n") != NULL) {
        jc_log_error("broker nats: subject prefix \"%s\" is not a valid subject", prefix);
        return JC_ERR_INVALID;
    }
    struct nats_broker *b = jc_xcalloc(1, sizeof(*b));
    b->base.ops = &jc_broker_nats_ops;
    b->loop = loop;
    b->on_event = on_event;
    b->arg = arg;
    b->prefix = jc_xstrdup(prefix);
    b->retry_ms = RECONNECT_WAIT_MS;
    atomic_init(&b->connected, false);
    pthread_mutex_init(&b->mu, NULL);
    pthread_cond_init(&b->cond, NULL);
    b->retry = jc_timer_new(loop, on_retry_timer, b);
    b->async = jc_async_new(loop, on_loop_wakeup, b);
    natsStatus s = b->async != NULL ? make_options(b, cfg) : NATS_SYS_ERROR;
    bool options_ok = s == NATS_OK;
    if (options_ok) {
        s = connect_and_subscribe(b);
    }
    if (s != NATS_OK && (!options_ok || err_from_nats(s) == JC_ERR_INVALID)) {
        /* A bad setting (a malformed URL, say): retrying cannot help. */
        log_nats_error("cannot open", s);
        enum jc_err err = err_from_nats(s);
        nats_close(&b->base);
        return err;
    }
    if (s != NATS_OK) {
        log_nats_error("cannot connect", s);
        drop_connection(b);
        schedule_retry(b);
    }
    *out = &b->base;
    return JC_OK;
}

static void nats_close(struct jc_broker *broker)
{
    struct nats_broker *b = (struct nats_broker *)broker;
    pthread_mutex_lock(&b->mu);
    b->closing = true;
    pthread_mutex_unlock(&b->mu);
    jc_timer_free(b->retry);
    drop_connection(b);
    natsOptions_Destroy(b->opts);
    jc_async_free(b->async);
    bool conn_closed;
    struct queued_event *q = take_queue(b, &conn_closed);
    while (q != NULL) {
        struct queued_event *next = q->next;
        jc_event_codec_free(q->ev);
        free(q);
        q = next;
    }
    pthread_cond_destroy(&b->cond);
    pthread_mutex_destroy(&b->mu);
    free(b->prefix);
    b->closed = true;
    if (!b->dispatching) {
        free(b);
    }
}

static bool nats_is_ready(struct jc_broker *broker)
{
    struct nats_broker *b = (struct nats_broker *)broker;
    return atomic_load(&b->connected) && b->nc != NULL && b->sub != NULL &&
           natsConnection_Status(b->nc) == NATS_CONN_STATUS_CONNECTED;
}

static enum jc_err nats_publish(struct jc_broker *broker, const struct jc_event *ev)
{
    struct nats_broker *b = (struct nats_broker *)broker;
    struct jc_buf payload, subject;

    if (!nats_is_ready(broker)) {
        return JC_ERR_BROKER;
    }
    jc_buf_init(&payload, 0);
    enum jc_err err = jc_event_codec_encode(ev, &payload);
    if (err != JC_OK) {
        jc_buf_reset(&payload);
        return err;
    }
    jc_buf_init(&subject, 0);
    jc_buf_printf(&subject, "%s.ev.", b->prefix);
    jc_event_codec_subject_token(ev->cache, ev->cache != NULL ? strlen(ev->cache) : 0, &subject);
    jc_buf_add(&subject, ".", 1);
    jc_event_codec_subject_token(ev->key, ev->key_len, &subject);
    natsStatus s = natsConnection_Publish(b->nc, subject.data, payload.data, (int)payload.len);
    if (s != NATS_OK) {
        log_nats_error("publish", s);
        err = err_from_nats(s);
    }
    jc_buf_reset(&subject);
    jc_buf_reset(&payload);
    return err;
}

const struct jc_broker_ops jc_broker_nats_ops = {
    .name = "nats",
    .open = nats_open,
    .close = nats_close,
    .is_ready = nats_is_ready,
    .publish = nats_publish,
};
