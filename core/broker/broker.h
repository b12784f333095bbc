/* core/broker/broker.h: the broker, which carries events between replicas
 * (what core uses).
 *
 * Two kinds of event, both about one (cache, key):
 *   - DONE: the fetch holding token finished; ok = 1 when a value was stored,
 *     0 when it failed (its outcome is then a tombstone in the store).
 *     Waiters re-read the store when it arrives.
 *   - INVALIDATE: the key was deleted or got a new value; every replica drops
 *     its L1 copy.
 * Each event carries the publishing replica's id (origin) so a replica can
 * ignore its own events.  Delivery is best effort: waiters also poll.
 *
 * One subscription per replica receives every event of every cache; the
 * backend hands each one to the event loop and calls the on_event callback
 * given at open time there.  Event thread only. */
#ifndef JC_CORE_BROKER_BROKER_H
#define JC_CORE_BROKER_BROKER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/err.h"

struct jc_loop;
struct jc_broker;
struct jc_store_config;

struct jc_broker_config {
    char *type;  /* "local", "nats" or "redis" */
    char **urls; /* nats: server URLs */
    size_t n_urls;
    char *token; /* nats: token auth, or NULL */
    char *user;  /* nats: user/password auth, or NULL */
    char *password;
    char *subject_prefix; /* nats/redis: subject or channel prefix, default "jcached" */
    const struct jc_store_config *redis; /* redis: the store's connection settings */
};

enum jc_event_kind { JC_EVENT_DONE = 1, JC_EVENT_INVALIDATE = 2 };

struct jc_event {
    enum jc_event_kind kind;
    const char *cache;
    const char *key; /* binary, key_len bytes */
    size_t key_len;
    uint64_t token;     /* DONE: the fetch's token */
    bool ok;            /* DONE: a value was stored */
    const char *origin; /* the publishing replica's id */
};

/* Called on the event thread for every event received (including this
 * replica's own).  ev and its strings are borrowed for the call. */
typedef void jc_broker_event_fn(void *arg, const struct jc_event *ev);

/* Opens the backend named by cfg->type and subscribes.  On JC_OK *out is new
 * (close with jc_broker_close).  A backend whose server is down still opens
 * and connects in the background.  JC_ERR_INVALID for an unknown type or a bad
 * setting.  Borrows loop and cfg (they must outlive the broker). */
enum jc_err jc_broker_open(struct jc_loop *loop, const struct jc_broker_config *cfg,
                           jc_broker_event_fn *on_event, void *arg,
                           struct jc_broker **out) JC_MUST_CHECK;
void jc_broker_close(struct jc_broker *broker);

const char *jc_broker_name(const struct jc_broker *broker);
/* Returns whether the broker is connected and subscribed now (for /readyz). */
bool jc_broker_is_ready(struct jc_broker *broker);

/* Publishes ev (fire and forget; delivered to every replica, this one
 * included, later, from the loop).  JC_ERR_BROKER when disconnected.  Borrows ev. */
enum jc_err jc_broker_publish(struct jc_broker *broker, const struct jc_event *ev);

#endif
