/* core/broker/local.c: in-process event delivery (the embedded default).
 *
 * With one process there is one replica, so publishing an event means
 * handing it back to this broker's own on_event callback.  That happens
 * later, from the loop, never inside jc_broker_publish(): the publisher may
 * hold state that the handler also touches.  Each published event is deep
 * copied (cache, key bytes, origin) into a FIFO queue that a zero-delay timer
 * drains; events published by a handler wait for the next drain, so a
 * handler that publishes cannot starve the loop.
 *
 * Closing drops the events still queued (delivery is best effort, and nobody
 * waits for a publish).  Closing from inside on_event is allowed: the drain
 * stops and frees the broker when the handler returns.  Event thread only. */
#include "core/broker/broker_impl.h"

#include <stdlib.h>
#include <string.h>

#include "core/loop.h"
#include "core/mem.h"

struct local_event {
    struct local_event *next;
    struct jc_event ev; /* its strings point to the copies below */
    char *cache;
    char *key;
    char *origin;
};

struct local_broker {
    struct jc_broker base;
    struct jc_loop *loop;
    jc_broker_event_fn *on_event;
    void *arg;
    struct local_event *head;
    struct local_event *tail;
    struct jc_timer *deliver;
    bool draining;
    bool close_requested;
};

static struct local_broker *local_of(struct jc_broker *broker)
{
    return (struct local_broker *)broker;
}

static void event_free(struct local_event *le)
{
    free(le->cache);
    free(le->key);
    free(le->origin);
    free(le);
}

static struct local_event *event_pop(struct local_broker *b)
{
    struct local_event *le = b->head;
    if (le != NULL) {
        b->head = le->next;
        if (b->head == NULL) {
            b->tail = NULL;
        }
    }
    return le;
}

static void broker_free(struct local_broker *b)
{
    struct local_event *le;
    while ((le = event_pop(b)) != NULL) {
        event_free(le);
    }
    jc_timer_free(b->deliver);
    free(b);
}

/* Delivers the events queued before this run. */
static void on_deliver(void *arg)
{
    struct local_broker *b = arg;
    struct local_event *last = b->tail;
    b->draining = true;
    while (last != NULL && !b->close_requested) {
        struct local_event *le = event_pop(b);
        bool was_last = le == last;
        b->on_event(b->arg, &le->ev);
        event_free(le);
        if (was_last) {
            break;
        }
    }
    b->draining = false;
    if (b->close_requested) {
        broker_free(b);
        return;
    }
    if (b->head != NULL) {
        jc_timer_start(b->deliver, 0);
    }
}

static enum jc_err local_open(struct jc_loop *loop, const struct jc_broker_config *cfg,
                              jc_broker_event_fn *on_event, void *arg, struct jc_broker **out)
{
    (void)cfg;
    if (on_event == NULL) {
        return JC_ERR_INVALID;
    }
    struct local_broker *b = jc_xcalloc(1, sizeof(*b));
    b->base.ops = &jc_broker_local_ops;
    b->loop = loop;
    b->on_event = on_event;
    b->arg = arg;
    b->deliver = jc_timer_new(loop, on_deliver, b);
    *out = &b->base;
    return JC_OK;
}

static void local_close(struct jc_broker *broker)
{
    struct local_broker *b = local_of(broker);
    if (b->draining) {
        b->close_requested = true;
        return;
    }
    broker_free(b);
}

static bool local_is_ready(struct jc_broker *broker)
{
    (void)broker;
    return true;
}

static enum jc_err local_publish(struct jc_broker *broker, const struct jc_event *ev)
{
    struct local_broker *b = local_of(broker);
    if (ev == NULL || ev->cache == NULL || (ev->key == NULL && ev->key_len > 0)) {
        return JC_ERR_INVALID;
    }
    struct local_event *le = jc_xcalloc(1, sizeof(*le));
    le->ev = *ev;
    le->cache = jc_xstrdup(ev->cache);
    le->key = jc_xmemdup(ev->key != NULL ? ev->key : "", ev->key_len);
    le->origin = ev->origin != NULL ? jc_xstrdup(ev->origin) : NULL;
    le->ev.cache = le->cache;
    le->ev.key = le->key;
    le->ev.origin = le->origin;
    if (b->tail != NULL) {
        b->tail->next = le;
    } else {
        b->head = le;
    }
    b->tail = le;
    if (!b->draining && !jc_timer_is_pending(b->deliver)) {
        jc_timer_start(b->deliver, 0);
    }
    return JC_OK;
}

const struct jc_broker_ops jc_broker_local_ops = {
    .name = "local",
    .open = local_open,
    .close = local_close,
    .is_ready = local_is_ready,
    .publish = local_publish,
};
