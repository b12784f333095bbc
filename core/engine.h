/* core/engine.h: build-or-retrieve, get, POST, status and delete for the
 * configured caches, over a store, a broker and a fetcher.
 *
 * A request for a cold key joins this replica's "flight" for that key (one
 * per key per replica, so concurrent requests share one store round trip and
 * one wait).  The flight asks the store for the value or the lock; the
 * replica that gets the lock fetches once, commits with the lock's token and
 * publishes DONE; the others wait for DONE, re-reading the store every
 * poll_interval_ms in case the event is lost.  Event thread only. */
#ifndef JC_CORE_ENGINE_H
#define JC_CORE_ENGINE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/err.h"
#include "core/store/store.h"

struct jc_loop;
struct jc_store;
struct jc_broker;
struct jc_event;
struct jc_entry;
struct jc_fetcher;
struct jc_cache_config;
struct jc_engine;
struct jc_engine_wait;

/* How a value reached the client, for Cache-Status. */
enum jc_source {
    JC_SOURCE_L1 = 0,    /* hit; detail=l1 */
    JC_SOURCE_STORE,     /* hit */
    JC_SOURCE_FETCHED,   /* this request's fetch: fwd=uri-miss; stored (or detail=not-stored) */
    JC_SOURCE_COLLAPSED, /* waited for another request's fetch: fwd=uri-miss; collapsed */
};

enum jc_engine_op {
    JC_OP_BUILD = 0, /* GET: build or retrieve */
    JC_OP_GET,       /* GET with only-if-cached: never fetches */
    JC_OP_POST,      /* start a build in the background */
    JC_OP_DELETE,    /* wait for a pending build, then delete */
};

/* The answer to one request.  err != JC_OK: a JSON error.  Otherwise:
 * BUILD/GET: entry is the value (entry->failed: a not-stored upstream
 * answer); POST: status is JC_KEY_PENDING or JC_KEY_EXISTS; DELETE: done. */
struct jc_outcome {
    enum jc_err err;
    struct jc_entry *entry; /* borrowed for the callback; jc_entry_ref to keep */
    enum jc_source source;
    enum jc_key_status status;
};

typedef void jc_engine_done_fn(void *arg, const struct jc_outcome *outcome);
typedef void jc_engine_status_fn(void *arg, enum jc_err err, enum jc_key_status status,
                                 int64_t ttl_ms);

/* Counters for /metrics. */
struct jc_engine_stats {
    uint64_t requests_l1_hit;
    uint64_t requests_hit;
    uint64_t requests_miss; /* the request that fetched */
    uint64_t requests_collapsed;
    uint64_t requests_error;
    uint64_t fetches_stored;
    uint64_t fetches_not_stored;         /* an upstream status outside cache_statuses */
    uint64_t fetches_failed;             /* unreachable, timeout, too large */
    uint64_t fetches_fenced;             /* the lease was lost before the commit */
    uint64_t fetch_duration_buckets[12]; /* cumulative counts per JC_ENGINE_FETCH_BUCKETS */
    uint64_t fetch_duration_count;
    uint64_t fetch_duration_sum_ms;
    uint64_t waiters; /* requests waiting now */
    uint64_t l1_entries;
    uint64_t fetches_active;
};

/* Upper bounds in ms of the fetch-duration histogram buckets (the last is +Inf). */
extern const uint64_t jc_engine_fetch_buckets_ms[12];

/* Returns new: an engine for caches[0..n_caches).  Borrows everything (they
 * must outlive the engine); replica_id identifies this process in events.
 * The broker is set later with jc_engine_set_broker (it needs the engine as
 * its event sink). */
struct jc_engine *jc_engine_new(struct jc_loop *loop, struct jc_store *store,
                                const struct jc_fetcher *fetcher,
                                const struct jc_cache_config *caches, size_t n_caches,
                                const char *replica_id);
void jc_engine_set_broker(struct jc_engine *engine, struct jc_broker *broker);
void jc_engine_free(struct jc_engine *engine);

/* Returns the index of the cache called name, or -1. */
int jc_engine_find_cache(const struct jc_engine *engine, const char *name);
const struct jc_cache_config *jc_engine_cache(const struct jc_engine *engine, int cache);

/* Looks the key up in the cache's L1, synchronously.  On a hit returns a new
 * reference (refreshing the store's TTL in the background for sliding
 * expiry), else NULL. */
struct jc_entry *jc_engine_l1_lookup(struct jc_engine *engine, int cache, const char *key,
                                     size_t key_len);

/* Starts op on (cache, key); the client waits at most timeout_ms.  On JC_OK
 * calls cb exactly once, later, unless jc_engine_cancel is called first; if
 * out is not NULL *out is the handle for jc_engine_cancel (valid until cb
 * runs).  Borrows key. */
enum jc_err jc_engine_start(struct jc_engine *engine, int cache, const char *key, size_t key_len,
                            enum jc_engine_op op, uint64_t timeout_ms, jc_engine_done_fn *cb,
                            void *arg, struct jc_engine_wait **out) JC_MUST_CHECK;

/* Forgets a started request: its callback will not be called.  A fetch it
 * started goes on for the others. */
void jc_engine_cancel(struct jc_engine_wait *wait);

/* Asks the store for the key's status.  Callback rule as jc_engine_start;
 * if out is not NULL *out is the handle for jc_engine_cancel (valid until cb
 * runs). */
enum jc_err jc_engine_status(struct jc_engine *engine, int cache, const char *key, size_t key_len,
                             jc_engine_status_fn *cb, void *arg,
                             struct jc_engine_wait **out) JC_MUST_CHECK;

/* Receives an event from the broker (the broker's on_event callback). */
void jc_engine_on_event(struct jc_engine *engine, const struct jc_event *ev);

/* Stops taking new work: pending waits that depend on other replicas end
 * with JC_ERR_SHUTDOWN; this replica's own fetches go on. */
void jc_engine_shutdown(struct jc_engine *engine);
/* Returns how many fetches (with their commits) and store reads are still
 * running here: a read may take a lock, which must then be fetched and
 * released before the process exits. */
size_t jc_engine_active_fetches(const struct jc_engine *engine);

/* Fills *stats with the current counters. */
void jc_engine_stats(const struct jc_engine *engine, struct jc_engine_stats *stats);

#endif
