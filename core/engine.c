/* core/engine.c: build-or-retrieve, exactly once across replicas.
 *
 * A request for a key that is not in L1 joins this replica's flight for the
 * key, creating it if there is none.  A flight is the one conversation this
 * replica has with the store about the key: one lookup at a time (so 10,000
 * local waiters cost one store call), then
 *   - VALUE: every waiter gets it; the flight ends;
 *   - ACQUIRED: this replica holds the lock and fetches the upstream once;
 *     the outcome is committed with the lock's token (or, for a failure,
 *     left as a tombstone for the waiters of that token), DONE is published,
 *     and every local waiter gets the outcome;
 *   - PENDING: another replica fetches; the flight waits for its DONE event
 *     and re-reads the store every poll_interval_ms in case the event is lost.
 *     When the holder's lease ends, the store hands the lock to the next
 *     lookup, so a waiting replica takes over after a crash;
 *   - FAILED: the fetch we waited for failed; every waiter gets its outcome.
 * Waiters are registered in the flight before the flight reads the store, so
 * an event cannot slip between the read and the wait.
 *
 * Lifetime: a flight sits in the engine's table while it can still take
 * waiters.  When its outcome is known it is "retired" (taken out of the
 * table, so the next request starts afresh) and freed once no store call or
 * fetch still points at it (f->ops == 0).  A waiter is freed when its
 * callback has run or it was cancelled.  Event thread only. */
#include "core/engine.h"

#include <stdlib.h>
#include <string.h>
#include <uthash.h>

#include "core/broker/broker.h"
#include "core/cache.h"
#include "core/entry.h"
#include "core/expiry.h"
#include "core/fetch.h"
#include "core/key.h"
#include "core/l1.h"
#include "core/log.h"
#include "core/loop.h"
#include "core/mem.h"

const uint64_t jc_engine_fetch_buckets_ms[12] = {5,   10,   25,   50,   100,   250,
                                                 500, 1000, 2500, 5000, 10000, UINT64_MAX};

enum flight_phase {
    PHASE_LOOKUP = 0, /* the first store read is under way */
    PHASE_WAITING,    /* another replica holds the lock */
    PHASE_FETCHING,   /* this replica holds the lock and fetches */
    PHASE_DONE,       /* the outcome is known */
};

struct cache_state {
    const struct jc_cache_config *cfg;
    struct jc_engine *engine;
    struct jc_l1 *l1; /* NULL when L1 is off */
    struct jc_timer *purge_timer;
};

struct flight;

struct jc_engine_wait {
    struct flight *flight; /* NULL once resolved (a DELETE then runs its delete) */
    struct jc_engine *engine;
    enum jc_engine_op op;
    bool expired; /* its wait ended during the flight's first store read */
    struct jc_timer *timer;
    jc_engine_done_fn *cb;          /* NULL once cancelled */
    jc_engine_status_fn *status_cb; /* a status read: NULL once cancelled */
    void *arg;
    struct jc_engine_wait *prev;
    struct jc_engine_wait *next;
};

struct flight {
    UT_hash_handle hh;
    char *hkey; /* 2 bytes of cache index, then the key */
    size_t hkey_len;
    struct jc_engine *engine;
    struct cache_state *cache;
    const char *key; /* points into hkey */
    size_t key_len;
    enum flight_phase phase;
    bool retired;     /* out of the engine's table: new requests start a new flight */
    bool reading;     /* a lookup is under way */
    bool reread;      /* something happened during that lookup: read again */
    bool saw_pending; /* the value was built by a fetch we waited for */
    uint64_t waited_token;
    uint64_t fetch_token;
    uint64_t fetch_started_ms;
    struct jc_engine_wait *owner; /* the request that started this replica's fetch */
    struct jc_engine_wait *head;
    struct jc_engine_wait *tail;
    size_t n_waiters;
    struct jc_timer *poll;
    int ops;             /* store calls and fetches that point at this flight */
    enum jc_err refused; /* what the store said when it refused a read */
    bool stale;          /* an INVALIDATE came during the read or fetch: keep no L1 copy */
    uint64_t read_started_ms;
};

struct jc_engine {
    struct jc_loop *loop;
    struct jc_store *store;
    struct jc_broker *broker;
    const struct jc_fetcher *fetcher;
    struct cache_state *caches;
    size_t n_caches;
    const char *replica_id;
    struct flight *flights;
    bool stopping;
    size_t active_fetches;
    size_t lookups; /* store reads under way (one may take a lock) */
    struct jc_engine_stats stats;
};

/* A store call made on behalf of one request after its flight ended
 * (DELETE) or on behalf of nobody (the L1 sliding touch). */
struct side_op {
    struct jc_engine *engine;
    struct cache_state *cache;
    char *key;
    size_t key_len;
    struct jc_engine_wait *wait; /* DELETE: the request to answer */
    uint64_t sent_ms;            /* touch: when it was sent */
};

static void flight_read(struct flight *f);
static void flight_maybe_free(struct flight *f);
static void wait_free(struct jc_engine_wait *w);

static uint64_t now_ms(const struct jc_engine *e)
{
    return jc_loop_now_ms(e->loop);
}

static struct jc_store_key store_key(const struct cache_state *c, const char *key, size_t len)
{
    struct jc_store_key k = {c->cfg->name, key, len};
    return k;
}

static void publish(struct jc_engine *e, enum jc_event_kind kind, const struct cache_state *c,
                    const char *key, size_t key_len, uint64_t token, bool ok)
{
    if (e->broker == NULL) {
        return;
    }
    struct jc_event ev = {kind, c->cfg->name, key, key_len, token, ok, e->replica_id};
    enum jc_err err = jc_broker_publish(e->broker, &ev);
    if (err != JC_OK) {
        jc_log_debug("publish failed: %s (waiters elsewhere will poll)", jc_strerror(err));
    }
}

/* ---- per-cache state ---- */

static void on_purge(void *arg)
{
    struct cache_state *c = arg;
    size_t n = jc_l1_purge(c->l1, now_ms(c->engine));
    if (n > 0) {
        jc_log_debug("cache %s: purged %zu expired L1 entries", c->cfg->name, n);
    }
    jc_timer_start(c->purge_timer, c->cfg->l1_purge_interval_s * 1000u);
}

struct jc_engine *jc_engine_new(struct jc_loop *loop, struct jc_store *store,
                                const struct jc_fetcher *fetcher,
                                const struct jc_cache_config *caches, size_t n_caches,
                                const char *replica_id)
{
    struct jc_engine *e = jc_xcalloc(1, sizeof(*e));
    e->loop = loop;
    e->store = store;
    e->fetcher = fetcher;
    e->replica_id = replica_id;
    e->n_caches = n_caches;
    e->caches = jc_xcalloc(n_caches, sizeof(*e->caches));
    for (size_t i = 0; i < n_caches; i++) {
        struct cache_state *c = &e->caches[i];
        c->cfg = &caches[i];
        c->engine = e;
        if (!c->cfg->l1_enabled) {
            continue;
        }
        c->l1 = jc_l1_new(c->cfg->l1_max_entries);
        if (c->cfg->l1_purge_interval_s > 0) {
            c->purge_timer = jc_timer_new(loop, on_purge, c);
            jc_timer_start(c->purge_timer, c->cfg->l1_purge_interval_s * 1000u);
        }
    }
    return e;
}

void jc_engine_set_broker(struct jc_engine *engine, struct jc_broker *broker)
{
    engine->broker = broker;
}

void jc_engine_free(struct jc_engine *engine)
{
    if (engine == NULL) {
        return;
    }
    struct flight *f, *tmp;
    HASH_ITER(hh, engine->flights, f, tmp)
    {
        HASH_DEL(engine->flights, f);
        while (f->head != NULL) {
            struct jc_engine_wait *w = f->head;
            f->head = w->next;
            wait_free(w);
        }
        jc_timer_free(f->poll);
        free(f->hkey);
        free(f);
    }
    for (size_t i = 0; i < engine->n_caches; i++) {
        jc_timer_free(engine->caches[i].purge_timer);
        jc_l1_free(engine->caches[i].l1);
    }
    free(engine->caches);
    free(engine);
}

int jc_engine_find_cache(const struct jc_engine *engine, const char *name)
{
    for (size_t i = 0; i < engine->n_caches; i++) {
        if (strcmp(engine->caches[i].cfg->name, name) == 0) {
            return (int)i;
        }
    }
    return -1;
}

const struct jc_cache_config *jc_engine_cache(const struct jc_engine *engine, int cache)
{
    return engine->caches[cache].cfg;
}

/* ---- L1 ---- */

static struct side_op *side_op_new(struct jc_engine *e, struct cache_state *c, const char *key,
                                   size_t key_len)
{
    struct side_op *op = jc_xcalloc(1, sizeof(*op));
    op->engine = e;
    op->cache = c;
    op->key = jc_xmemdup(key, key_len);
    op->key_len = key_len;
    return op;
}

static void side_op_free(struct side_op *op)
{
    free(op->key);
    free(op);
}

/* The L1 deadline moves only once the store has extended its TTL, counted
 * from when the touch was sent; a touch that failed leaves it where it was,
 * and a value that is gone leaves L1 too. */
static void on_touch_done(void *arg, enum jc_err err)
{
    struct side_op *op = arg;
    struct jc_l1 *l1 = op->cache->l1;
    if (err == JC_OK) {
        int64_t ttl = (int64_t)op->cache->cfg->expiry_ms;
        jc_l1_slide(l1, op->key, op->key_len, jc_expiry_l1_deadline(ttl, op->sent_ms), op->sent_ms);
    } else if (err == JC_ERR_NOT_FOUND) {
        jc_l1_remove(l1, op->key, op->key_len);
    }
    side_op_free(op);
}

struct jc_entry *jc_engine_l1_lookup(struct jc_engine *engine, int cache, const char *key,
                                     size_t key_len)
{
    struct cache_state *c = &engine->caches[cache];
    if (c->l1 == NULL) {
        return NULL;
    }
    uint64_t now = now_ms(engine);
    struct jc_entry *entry;
    uint64_t touched;
    if (!jc_l1_get(c->l1, key, key_len, now, &entry, &touched)) {
        return NULL;
    }
    entry = jc_entry_ref(entry);
    if (jc_expiry_l1_needs_touch(c->cfg, touched, now)) {
        int64_t ttl = (int64_t)c->cfg->expiry_ms;
        struct side_op *op = side_op_new(engine, c, key, key_len);
        struct jc_store_key k = store_key(c, key, key_len);
        op->sent_ms = now;
        if (jc_store_touch(engine->store, &k, ttl, on_touch_done, op) == JC_OK) {
            jc_l1_set_touched(c->l1, key, key_len, now);
        } else {
            side_op_free(op);
        }
    }
    engine->stats.requests_l1_hit++;
    return entry;
}

/* Keeps entry in L1.  The store's TTL ttl_ms started no earlier than
 * since_ms (when the call that set it was sent), so counting from there the
 * L1 copy never outlives the store's. */
static void l1_store(struct cache_state *c, const char *key, size_t key_len, struct jc_entry *entry,
                     int64_t ttl_ms, uint64_t since_ms)
{
    if (c->l1 == NULL || entry->failed) {
        return;
    }
    jc_l1_put(c->l1, key, key_len, entry, jc_expiry_l1_deadline(ttl_ms, since_ms), since_ms);
}

/* ---- waiters ---- */

static void wait_free(struct jc_engine_wait *w)
{
    jc_timer_free(w->timer);
    free(w);
}

static void flight_unlink(struct flight *f, struct jc_engine_wait *w)
{
    if (w->prev != NULL) {
        w->prev->next = w->next;
    } else {
        f->head = w->next;
    }
    if (w->next != NULL) {
        w->next->prev = w->prev;
    } else {
        f->tail = w->prev;
    }
    w->prev = NULL;
    w->next = NULL;
    w->flight = NULL;
    jc_timer_stop(w->timer);
    f->n_waiters--;
    f->engine->stats.waiters--;
    if (f->owner == w) {
        f->owner = NULL;
    }
}

static void count_outcome(struct jc_engine *e, const struct jc_outcome *o)
{
    if (o->err != JC_OK) {
        e->stats.requests_error++;
        return;
    }
    if (o->entry == NULL) {
        return;
    }
    switch (o->source) {
    case JC_SOURCE_L1:
        e->stats.requests_l1_hit++;
        break;
    case JC_SOURCE_STORE:
        e->stats.requests_hit++;
        break;
    case JC_SOURCE_FETCHED:
        e->stats.requests_miss++;
        break;
    case JC_SOURCE_COLLAPSED:
        e->stats.requests_collapsed++;
        break;
    }
}

/* Answers w (already unlinked from its flight) and frees it. */
static void wait_answer(struct jc_engine_wait *w, const struct jc_outcome *o)
{
    count_outcome(w->engine, o);
    if (w->cb != NULL) {
        w->cb(w->arg, o);
    }
    wait_free(w);
}

static void wait_answer_err(struct jc_engine_wait *w, enum jc_err err)
{
    struct jc_outcome o = {.err = err};
    wait_answer(w, &o);
}

static void on_delete_done(void *arg, enum jc_err err)
{
    struct side_op *op = arg;
    if (err == JC_OK) {
        if (op->cache->l1 != NULL) {
            jc_l1_remove(op->cache->l1, op->key, op->key_len);
        }
        publish(op->engine, JC_EVENT_INVALIDATE, op->cache, op->key, op->key_len, 0, true);
    }
    wait_answer_err(op->wait, err);
    side_op_free(op);
}

/* A DELETE whose wait for a pending build is over: delete now. */
static void wait_start_delete(struct flight *f, struct jc_engine_wait *w)
{
    struct side_op *op = side_op_new(f->engine, f->cache, f->key, f->key_len);
    op->wait = w;
    struct jc_store_key k = store_key(f->cache, f->key, f->key_len);
    enum jc_err err = jc_store_delete(f->engine->store, &k, on_delete_done, op);
    if (err != JC_OK) {
        side_op_free(op);
        wait_answer_err(w, err);
    }
}

enum answer_who { ANSWER_ALL, ANSWER_POSTS, ANSWER_ALL_BUT_POSTS };

/* Answers the waiters of f that who selects, each by its kind: the value or
 * failure to BUILD and GET, the key's status to POST; a DELETE, whose wait
 * for a pending build is over, deletes now. */
static void flight_answer(struct flight *f, const struct jc_outcome *value, enum answer_who who)
{
    struct jc_engine_wait *w = f->head;
    while (w != NULL) {
        struct jc_engine_wait *next = w->next;
        bool post = w->op == JC_OP_POST;
        if ((who == ANSWER_POSTS && !post) || (who == ANSWER_ALL_BUT_POSTS && post)) {
            w = next;
            continue;
        }
        bool is_owner = f->owner == w;
        flight_unlink(f, w);
        if (w->op == JC_OP_DELETE && value->err == JC_OK) {
            wait_start_delete(f, w);
        } else if (w->op == JC_OP_POST && value->err == JC_OK) {
            struct jc_outcome o = {.err = JC_OK, .status = value->status};
            wait_answer(w, &o);
        } else {
            struct jc_outcome o = *value;
            if (o.source == JC_SOURCE_FETCHED && !is_owner) {
                o.source = JC_SOURCE_COLLAPSED;
            }
            wait_answer(w, &o);
        }
        w = next;
    }
}

/* Answers the waiters whose time ran out while the first read was under
 * way: the value was not there, so they would have had to wait. */
static void flight_expire_waiters(struct flight *f)
{
    struct jc_engine_wait *w = f->head;
    while (w != NULL) {
        struct jc_engine_wait *next = w->next;
        if (w->expired) {
            flight_unlink(f, w);
            wait_answer_err(w, JC_ERR_WAIT_TIMEOUT);
        }
        w = next;
    }
}

static void on_wait_timeout(void *arg)
{
    struct jc_engine_wait *w = arg;
    struct flight *f = w->flight;
    if (f->reading && f->phase == PHASE_LOOKUP) {
        /* timeout_ms bounds the wait for a build, not the read that finds a
         * stored value: decide when the read answers. */
        w->expired = true;
        return;
    }
    flight_unlink(f, w);
    wait_answer_err(w, JC_ERR_WAIT_TIMEOUT);
    flight_maybe_free(f);
}

void jc_engine_cancel(struct jc_engine_wait *wait)
{
    if (wait == NULL) {
        return;
    }
    struct flight *f = wait->flight;
    if (f == NULL) {
        /* A DELETE under way, a POST whose answer is deferred or a status
         * read: it frees itself when answered. */
        wait->cb = NULL;
        wait->status_cb = NULL;
        return;
    }
    flight_unlink(f, wait);
    wait_free(wait);
    flight_maybe_free(f);
}

/* ---- flights ---- */

static char *flight_hkey(int cache, const char *key, size_t key_len, size_t *len)
{
    char *h = jc_xmalloc(key_len + 2);
    h[0] = (char)(cache & 0xff);
    h[1] = (char)((cache >> 8) & 0xff);
    memcpy(h + 2, key, key_len);
    *len = key_len + 2;
    return h;
}

static void on_poll(void *arg)
{
    flight_read(arg);
}

static struct flight *flight_find(struct jc_engine *e, int cache, const char *key, size_t key_len)
{
    size_t hlen;
    char *h = flight_hkey(cache, key, key_len, &hlen);
    struct flight *f = NULL;
    HASH_FIND(hh, e->flights, h, hlen, f);
    free(h);
    return f;
}

static struct flight *flight_new(struct jc_engine *e, int cache, const char *key, size_t key_len)
{
    struct flight *f = jc_xcalloc(1, sizeof(*f));
    f->engine = e;
    f->cache = &e->caches[cache];
    f->hkey = flight_hkey(cache, key, key_len, &f->hkey_len);
    f->key = f->hkey + 2;
    f->key_len = key_len;
    f->poll = jc_timer_new(e->loop, on_poll, f);
    HASH_ADD_KEYPTR(hh, e->flights, f->hkey, f->hkey_len, f);
    return f;
}

static void flight_retire(struct flight *f)
{
    if (!f->retired) {
        HASH_DEL(f->engine->flights, f);
        f->retired = true;
    }
    jc_timer_stop(f->poll);
}

/* Frees f when nothing needs it any more; retires it when no one waits and
 * it does not fetch. */
static void flight_maybe_free(struct flight *f)
{
    if (f->n_waiters == 0 && f->phase != PHASE_FETCHING) {
        flight_retire(f);
    }
    if (!f->retired || f->ops > 0 || f->n_waiters > 0) {
        return;
    }
    jc_timer_free(f->poll);
    free(f->hkey);
    free(f);
}

static bool flight_has(const struct flight *f, enum jc_engine_op op)
{
    for (const struct jc_engine_wait *w = f->head; w != NULL; w = w->next) {
        if (w->op == op) {
            return true;
        }
    }
    return false;
}

/* Answers every waiter with err and ends the flight. */
static void flight_fail_all(struct flight *f, enum jc_err err)
{
    while (f->head != NULL) {
        struct jc_engine_wait *w = f->head;
        flight_unlink(f, w);
        wait_answer_err(w, err);
    }
}

/* ---- the fetch ---- */

struct fetch_ctx {
    struct flight *flight;
    struct jc_entry *entry;
    enum jc_err refused;        /* what the fetcher said when it refused */
    uint64_t commit_started_ms; /* the store's TTL starts no earlier than this */
};

static void record_fetch_duration(struct jc_engine *e, uint64_t ms)
{
    for (int i = 0; i < 12; i++) {
        if (ms <= jc_engine_fetch_buckets_ms[i]) {
            e->stats.fetch_duration_buckets[i]++;
        }
    }
    e->stats.fetch_duration_count++;
    e->stats.fetch_duration_sum_ms += ms;
}

/* The outcome of this replica's fetch is in the store (or could not be
 * put there): answer the local waiters and end the flight. */
static void fetch_finish(struct fetch_ctx *ctx)
{
    struct flight *f = ctx->flight;
    struct jc_engine *e = f->engine;
    struct jc_outcome o = {
        .err = JC_OK, .entry = ctx->entry, .source = JC_SOURCE_FETCHED, .status = JC_KEY_EXISTS};
    f->phase = PHASE_DONE;
    flight_retire(f);
    flight_answer(f, &o, ANSWER_ALL);
    jc_entry_unref(ctx->entry);
    free(ctx);
    e->active_fetches--;
    f->ops--;
    flight_maybe_free(f);
}

static void on_commit_done(void *arg, enum jc_err err)
{
    struct fetch_ctx *ctx = arg;
    struct flight *f = ctx->flight;
    struct jc_engine *e = f->engine;
    if (err == JC_OK) {
        e->stats.fetches_stored++;
        if (!f->stale) {
            l1_store(f->cache, f->key, f->key_len, ctx->entry, jc_expiry_write_ttl(f->cache->cfg),
                     ctx->commit_started_ms);
        }
        publish(e, JC_EVENT_DONE, f->cache, f->key, f->key_len, f->fetch_token, true);
        publish(e, JC_EVENT_INVALIDATE, f->cache, f->key, f->key_len, f->fetch_token, true);
    } else if (err == JC_ERR_FENCED) {
        e->stats.fetches_fenced++;
        jc_log_warn("cache %s: a fetch outlived its lease; its value was not stored",
                    f->cache->cfg->name);
    } else {
        jc_log_warn("cache %s: could not store a fetched value: %s", f->cache->cfg->name,
                    jc_strerror(err));
    }
    fetch_finish(ctx);
}

static void on_fail_done(void *arg, enum jc_err err)
{
    struct fetch_ctx *ctx = arg;
    struct flight *f = ctx->flight;
    if (err == JC_OK) {
        publish(f->engine, JC_EVENT_DONE, f->cache, f->key, f->key_len, f->fetch_token, false);
    }
    fetch_finish(ctx);
}

static uint64_t tombstone_ms(const struct jc_cache_config *cfg)
{
    return 2 * cfg->poll_interval_ms + cfg->lease_grace_ms;
}

static void on_store_refused(void *arg)
{
    fetch_finish(arg);
}

static void on_fetch_done(void *arg, enum jc_err err, struct jc_entry *entry)
{
    struct fetch_ctx *ctx = arg;
    struct flight *f = ctx->flight;
    struct jc_engine *e = f->engine;
    const struct jc_cache_config *cfg = f->cache->cfg;
    record_fetch_duration(e, now_ms(e) - f->fetch_started_ms);
    if (err != JC_OK) {
        entry = jc_entry_new_error(err);
        e->stats.fetches_failed++;
    } else if (!jc_cache_is_cacheable_status(cfg, entry->status)) {
        entry->failed = 1;
        e->stats.fetches_not_stored++;
    }
    entry->stored_at_ms = jc_loop_wall_ms(e->loop);
    ctx->entry = entry;
    ctx->commit_started_ms = now_ms(e);
    struct jc_store_key k = store_key(f->cache, f->key, f->key_len);
    enum jc_err serr;
    if (entry->failed) {
        serr = jc_store_fail(e->store, &k, f->fetch_token, entry, tombstone_ms(cfg), on_fail_done,
                             ctx);
    } else {
        serr = jc_store_commit(e->store, &k, f->fetch_token, entry, jc_expiry_write_ttl(cfg),
                               on_commit_done, ctx);
    }
    if (serr != JC_OK) {
        jc_loop_defer(e->loop, on_store_refused, ctx);
    }
}

static void on_fetch_refused(void *arg)
{
    struct fetch_ctx *ctx = arg;
    on_fetch_done(ctx, ctx->refused, NULL);
}

static void flight_fetch(struct flight *f, uint64_t token)
{
    struct jc_engine *e = f->engine;
    const struct jc_cache_config *cfg = f->cache->cfg;
    f->phase = PHASE_FETCHING;
    f->stale = false;
    f->fetch_token = token;
    f->saw_pending = true;
    f->fetch_started_ms = now_ms(e);
    for (struct jc_engine_wait *w = f->head; w != NULL; w = w->next) {
        if (w->op == JC_OP_BUILD && !w->expired) {
            f->owner = w;
            break;
        }
    }
    e->active_fetches++;
    f->ops++;
    struct fetch_ctx *ctx = jc_xcalloc(1, sizeof(*ctx));
    ctx->flight = f;
    char *url = jc_key_upstream_url(cfg->upstream_url, f->key, f->key_len);
    struct jc_fetch_request req = {url, cfg->upstream_headers, cfg->n_upstream_headers,
                                   cfg->upstream_timeout_ms, cfg->max_body_bytes};
    enum jc_err err = e->fetcher->fetch(e->fetcher->ctx, &req, on_fetch_done, ctx);
    free(url);
    if (err != JC_OK) {
        ctx->refused = err;
        jc_loop_defer(e->loop, on_fetch_refused, ctx);
    }
}

/* ---- reading the store ---- */

static void flight_on_value(struct flight *f, const struct jc_store_reply *r)
{
    f->phase = PHASE_DONE;
    if (!f->stale) {
        l1_store(f->cache, f->key, f->key_len, r->entry, r->ttl_ms, f->read_started_ms);
    }
    struct jc_outcome o = {.err = JC_OK,
                           .entry = r->entry,
                           .source = f->saw_pending ? JC_SOURCE_COLLAPSED : JC_SOURCE_STORE,
                           .status = JC_KEY_EXISTS};
    flight_retire(f);
    flight_answer(f, &o, ANSWER_ALL);
}

/* The fetch this flight waited for failed: its waiters get the failure.  A
 * POST asked for a build, and that fetch is over: read again, without the
 * failed token, so the tombstone counts as EMPTY and this replica builds. */
static void flight_on_failed(struct flight *f, const struct jc_store_reply *r)
{
    struct jc_outcome o = {
        .err = JC_OK, .entry = r->entry, .source = JC_SOURCE_COLLAPSED, .status = JC_KEY_EMPTY};
    flight_answer(f, &o, ANSWER_ALL_BUT_POSTS);
    if (f->n_waiters > 0) {
        f->waited_token = 0;
        flight_read(f);
        return;
    }
    f->phase = PHASE_DONE;
    flight_retire(f);
}

/* EMPTY comes only from a read that could not take the lock: answer the
 * only-if-cached reads and the deletes; builders that joined meanwhile read
 * again, with the lock. */
static void flight_on_empty(struct flight *f)
{
    struct jc_engine_wait *w = f->head;
    while (w != NULL) {
        struct jc_engine_wait *next = w->next;
        if (w->op == JC_OP_GET) {
            flight_unlink(f, w);
            wait_answer_err(w, JC_ERR_NOT_CACHED);
        } else if (w->op == JC_OP_DELETE) {
            flight_unlink(f, w);
            wait_start_delete(f, w);
        }
        w = next;
    }
    if (f->n_waiters > 0) {
        flight_read(f);
    }
}

static void flight_on_pending(struct flight *f, uint64_t token)
{
    struct jc_outcome pending = {.err = JC_OK, .status = JC_KEY_PENDING};
    f->phase = PHASE_WAITING;
    f->saw_pending = true;
    f->waited_token = token;
    flight_answer(f, &pending, ANSWER_POSTS);
    flight_expire_waiters(f);
    if (f->n_waiters == 0) {
        return;
    }
    if (f->reread) {
        flight_read(f);
        return;
    }
    jc_timer_start(f->poll, f->cache->cfg->poll_interval_ms);
}

static void on_lookup(void *arg, enum jc_err err, const struct jc_store_reply *r)
{
    struct flight *f = arg;
    f->reading = false;
    f->engine->lookups--;
    /* The lookup's hold on f (f->ops) is dropped only at the end, so nothing
     * below can free f under our feet. */
    if (f->retired && f->n_waiters == 0 && (err != JC_OK || r->state != JC_STORE_ACQUIRED)) {
        f->ops--;
        flight_maybe_free(f);
        return;
    }
    if (err != JC_OK) {
        flight_retire(f);
        flight_fail_all(f, err);
    } else {
        switch (r->state) {
        case JC_STORE_VALUE:
            flight_on_value(f, r);
            break;
        case JC_STORE_FAILED:
            flight_on_failed(f, r);
            break;
        case JC_STORE_EMPTY:
            flight_on_empty(f);
            break;
        case JC_STORE_PENDING:
            flight_on_pending(f, r->token);
            break;
        case JC_STORE_ACQUIRED: {
            struct jc_outcome pending = {.err = JC_OK, .status = JC_KEY_PENDING};
            flight_answer(f, &pending, ANSWER_POSTS);
            flight_fetch(f, r->token);
            flight_expire_waiters(f);
            break;
        }
        }
    }
    f->ops--;
    flight_maybe_free(f);
}

static void on_read_refused(void *arg)
{
    struct flight *f = arg;
    on_lookup(f, f->refused, NULL);
}

static void flight_read(struct flight *f)
{
    if (f->reading) {
        f->reread = true;
        return;
    }
    if (f->phase == PHASE_FETCHING || f->phase == PHASE_DONE || f->retired) {
        return;
    }
    const struct jc_cache_config *cfg = f->cache->cfg;
    struct jc_store_lookup lookup = {
        .acquire = flight_has(f, JC_OP_BUILD) || flight_has(f, JC_OP_POST),
        .lease_ms = jc_cache_lease_ms(cfg),
        .waited_token = f->waited_token,
        .slide_ms = jc_expiry_read_slide(cfg),
    };
    struct jc_store_key k = store_key(f->cache, f->key, f->key_len);
    jc_timer_stop(f->poll);
    f->reading = true;
    f->engine->lookups++;
    f->reread = false;
    f->stale = false;
    f->read_started_ms = now_ms(f->engine);
    f->ops++;
    enum jc_err err = jc_store_lookup(f->engine->store, &k, &lookup, on_lookup, f);
    if (err != JC_OK) {
        /* Answer from the loop: flight_read may run inside jc_engine_start. */
        f->refused = err;
        jc_loop_defer(f->engine->loop, on_read_refused, f);
    }
}

/* ---- requests ---- */

static void on_post_pending(void *arg)
{
    struct jc_outcome o = {.err = JC_OK, .status = JC_KEY_PENDING};
    wait_answer(arg, &o);
}

enum jc_err jc_engine_start(struct jc_engine *engine, int cache, const char *key, size_t key_len,
                            enum jc_engine_op op, uint64_t timeout_ms, jc_engine_done_fn *cb,
                            void *arg, struct jc_engine_wait **out)
{
    if (engine->stopping) {
        return JC_ERR_SHUTDOWN;
    }
    struct jc_engine_wait *w = jc_xcalloc(1, sizeof(*w));
    w->engine = engine;
    w->op = op;
    w->cb = cb;
    w->arg = arg;
    if (out != NULL) {
        *out = w;
    }
    struct flight *f = flight_find(engine, cache, key, key_len);
    if (f != NULL && f->phase == PHASE_FETCHING && op == JC_OP_POST) {
        /* This replica is building the value already: nothing to ask. */
        jc_loop_defer(engine->loop, on_post_pending, w);
        return JC_OK;
    }
    bool fresh = f == NULL;
    if (fresh) {
        f = flight_new(engine, cache, key, key_len);
    }
    w->flight = f;
    w->prev = f->tail;
    if (f->tail != NULL) {
        f->tail->next = w;
    } else {
        f->head = w;
    }
    f->tail = w;
    f->n_waiters++;
    engine->stats.waiters++;
    w->timer = jc_timer_new(engine->loop, on_wait_timeout, w);
    jc_timer_start(w->timer, timeout_ms);
    if (fresh || op == JC_OP_POST) {
        /* A POST needs the store's answer even when the flight only waits. */
        flight_read(f);
    }
    return JC_OK;
}

static void on_status(void *arg, enum jc_err err, enum jc_key_status status, int64_t ttl_ms)
{
    struct jc_engine_wait *w = arg;
    if (w->status_cb != NULL) {
        w->status_cb(w->arg, err, status, ttl_ms);
    }
    wait_free(w);
}

enum jc_err jc_engine_status(struct jc_engine *engine, int cache, const char *key, size_t key_len,
                             jc_engine_status_fn *cb, void *arg, struct jc_engine_wait **out)
{
    /* A wait with no flight, so jc_engine_cancel can forget it (it then
     * frees itself when the store answers). */
    struct jc_engine_wait *w = jc_xcalloc(1, sizeof(*w));
    w->engine = engine;
    w->status_cb = cb;
    w->arg = arg;
    struct jc_store_key k = store_key(&engine->caches[cache], key, key_len);
    enum jc_err err = jc_store_status(engine->store, &k, on_status, w);
    if (err != JC_OK) {
        wait_free(w);
        return err;
    }
    if (out != NULL) {
        *out = w;
    }
    return JC_OK;
}

void jc_engine_on_event(struct jc_engine *engine, const struct jc_event *ev)
{
    int cache = jc_engine_find_cache(engine, ev->cache);
    if (cache < 0) {
        return;
    }
    if (ev->kind == JC_EVENT_INVALIDATE) {
        /* This replica's own L1 is already up to date. */
        if (ev->origin != NULL && strcmp(ev->origin, engine->replica_id) == 0) {
            return;
        }
        struct cache_state *c = &engine->caches[cache];
        if (c->l1 != NULL) {
            jc_l1_remove(c->l1, ev->key, ev->key_len);
            struct flight *g = flight_find(engine, cache, ev->key, ev->key_len);
            if (g != NULL) {
                g->stale = true;
            }
        }
        return;
    }
    struct flight *f = flight_find(engine, cache, ev->key, ev->key_len);
    if (f != NULL && (f->phase == PHASE_WAITING || f->phase == PHASE_LOOKUP)) {
        flight_read(f);
    }
}

void jc_engine_shutdown(struct jc_engine *engine)
{
    engine->stopping = true;
    struct flight *f, *tmp;
    HASH_ITER(hh, engine->flights, f, tmp)
    {
        if (f->phase == PHASE_FETCHING) {
            continue;
        }
        flight_retire(f);
        flight_fail_all(f, JC_ERR_SHUTDOWN);
        flight_maybe_free(f);
    }
}

size_t jc_engine_active_fetches(const struct jc_engine *engine)
{
    return engine->active_fetches + engine->lookups;
}

void jc_engine_stats(const struct jc_engine *engine, struct jc_engine_stats *stats)
{
    *stats = engine->stats;
    stats->fetches_active = engine->active_fetches;
    stats->l1_entries = 0;
    for (size_t i = 0; i < engine->n_caches; i++) {
        if (engine->caches[i].l1 != NULL) {
            stats->l1_entries += jc_l1_count(engine->caches[i].l1);
        }
    }
}
