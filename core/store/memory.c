/* core/store/memory.c: the single-process store (the embedded default).
 *
 * One uthash table maps (cache, key) -- the cache name, a NUL, then the key
 * bytes -- to an item that is exactly one of a lock (its fencing token and
 * lease), a value (an entry and its TTL) or a tombstone (the failed outcome
 * of the fetch with some token).  An absent item is EMPTY.  Each op runs its
 * whole transition at once, at the time of the call, which makes it atomic
 * because everything runs on the event thread; only the answer is queued.
 *
 * Time is jc_loop_now_ms() (the loop's injectable clock): a lease, TTL or
 * tombstone ends when now >= expires_at (0 = never).  An ended item is
 * removed when an op touches it, and by a sweep timer, which runs every
 * SWEEP_MS of real time while some item can expire, so that an idle loop
 * with nothing to expire has no pending timer.
 *
 * Answers wait in a FIFO queue drained by a zero-delay timer, so a callback
 * never runs before its op returns and answers arrive in the order of the
 * ops.  A queued lookup answer holds its own reference on its entry until the
 * callback has run.  Closing the store answers whatever is still queued with
 * JC_ERR_SHUTDOWN, during the close (as hiredis does when a context is
 * freed); closing from inside a callback finishes the drain first.
 *
 * The store keeps its own copy of every committed entry (commit borrows a
 * const entry) and hands out references to that copy.  Tokens count up from
 * 1 per store.  Event thread only; no locks. */
#include "core/store/store_impl.h"

#include <stdlib.h>
#include <string.h>

#include "core/entry.h"
#include "core/loop.h"
#include "core/mem.h"

#define uthash_malloc(sz)    jc_xmalloc(sz)
#define uthash_free(ptr, sz) free(ptr)
#define uthash_fatal(msg)    abort()
#include <uthash.h>

#define SWEEP_MS 5000

enum item_kind { ITEM_LOCK, ITEM_VALUE, ITEM_TOMBSTONE };

struct mem_item {
    UT_hash_handle hh;
    char *hkey; /* cache, NUL, key bytes */
    size_t hkey_len;
    enum item_kind kind;
    uint64_t token;         /* lock: the holder's; tombstone: the failed fetch's */
    struct jc_entry *entry; /* value, tombstone: one reference owned by the item */
    /* lock taken over a tombstone: that tombstone's token and outcome, still
     * answered to the failed fetch's waiters (one reference, or NULL) */
    uint64_t failed_token;
    struct jc_entry *failed_entry;
    uint64_t expires_at; /* jc_loop_now_ms() time; 0 = never */
};

enum op_kind { OP_LOOKUP, OP_DONE, OP_STATUS };

struct mem_op {
    struct mem_op *next;
    enum op_kind kind;
    jc_store_lookup_fn *lookup_cb;
    jc_store_done_fn *done_cb;
    jc_store_status_fn *status_cb;
    void *arg;
    enum jc_err err;
    struct jc_store_reply reply; /* lookup: entry is a reference owned by the op */
    enum jc_key_status status;
    int64_t ttl_ms;
};

struct mem_store {
    struct jc_store base;
    struct jc_loop *loop;
    struct mem_item *items;
    size_t n_expiring; /* items with expires_at != 0 */
    uint64_t last_token;
    struct mem_op *queue_head;
    struct mem_op *queue_tail;
    struct jc_timer *deliver;
    struct jc_timer *sweep;
    bool draining;
    bool close_requested;
};

static struct mem_store *mem_of(struct jc_store *store)
{
    return (struct mem_store *)store;
}

static bool item_is_over(const struct mem_item *item, uint64_t now)
{
    return item->expires_at != 0 && now >= item->expires_at;
}

static void item_set_expiry(struct mem_store *m, struct mem_item *item, uint64_t expires_at)
{
    if (item->expires_at == 0 && expires_at != 0) {
        m->n_expiring++;
    } else if (item->expires_at != 0 && expires_at == 0) {
        m->n_expiring--;
    }
    item->expires_at = expires_at;
    if (m->n_expiring > 0 && !jc_timer_is_pending(m->sweep)) {
        jc_timer_start(m->sweep, SWEEP_MS);
    }
}

static void item_remove(struct mem_store *m, struct mem_item *item)
{
    item_set_expiry(m, item, 0);
    HASH_DEL(m->items, item);
    jc_entry_unref(item->entry);
    jc_entry_unref(item->failed_entry);
    free(item->hkey);
    free(item);
}

/* Sets the item's content, dropping what it held before. */
static void item_set(struct mem_store *m, struct mem_item *item, enum item_kind kind,
                     uint64_t token, struct jc_entry *entry, uint64_t expires_at)
{
    jc_entry_unref(item->entry);
    jc_entry_unref(item->failed_entry);
    item->failed_entry = NULL;
    item->failed_token = 0;
    item->kind = kind;
    item->token = token;
    item->entry = entry;
    item_set_expiry(m, item, expires_at);
}

static char *make_hkey(const struct jc_store_key *k, size_t *len)
{
    size_t cache_len = strlen(k->cache);
    char *h = jc_xmalloc(cache_len + 1 + k->key_len);
    memcpy(h, k->cache, cache_len + 1);
    if (k->key_len > 0) {
        memcpy(h + cache_len + 1, k->key, k->key_len);
    }
    *len = cache_len + 1 + k->key_len;
    return h;
}

/* Returns borrowed: the live item of k, or NULL (an ended one is removed). */
static struct mem_item *item_find(struct mem_store *m, const struct jc_store_key *k, uint64_t now)
{
    size_t len;
    char *h = make_hkey(k, &len);
    struct mem_item *item = NULL;
    HASH_FIND(hh, m->items, h, (unsigned)len, item);
    free(h);
    if (item != NULL && item_is_over(item, now)) {
        item_remove(m, item);
        item = NULL;
    }
    return item;
}

static struct mem_item *item_add(struct mem_store *m, const struct jc_store_key *k)
{
    struct mem_item *item = jc_xcalloc(1, sizeof(*item));
    item->hkey = make_hkey(k, &item->hkey_len);
    HASH_ADD_KEYPTR(hh, m->items, item->hkey, (unsigned)item->hkey_len, item);
    return item;
}

/* Returns new: a copy of e with one reference, owned by the store. */
static struct jc_entry *entry_clone(const struct jc_entry *e)
{
    struct jc_entry *c = jc_entry_new();
    c->failed = e->failed;
    c->err = e->err;
    c->status = e->status;
    c->stored_at_ms = e->stored_at_ms;
    for (int i = 0; i < JC_HDR_COUNT; i++) {
        if (e->headers[i] != NULL) {
            jc_entry_set_header(c, (enum jc_entry_header)i, e->headers[i], strlen(e->headers[i]));
        }
    }
    jc_entry_set_body(c, e->body, e->body_len);
    return c;
}

static int64_t ttl_left(const struct mem_item *item, uint64_t now)
{
    return item->expires_at == 0 ? -1 : (int64_t)(item->expires_at - now);
}

static uint64_t deadline_of(uint64_t now, int64_t ttl_ms)
{
    return ttl_ms < 0 ? 0 : now + (uint64_t)ttl_ms;
}

static bool key_is_valid(const struct jc_store_key *k)
{
    return k != NULL && k->cache != NULL && (k->key != NULL || k->key_len == 0);
}

/* ---- the answer queue ---- */

static void op_finish(struct mem_op *op, enum jc_err err)
{
    switch (op->kind) {
    case OP_LOOKUP:
        op->lookup_cb(op->arg, err, err == JC_OK ? &op->reply : NULL);
        break;
    case OP_DONE:
        op->done_cb(op->arg, err);
        break;
    case OP_STATUS:
        op->status_cb(op->arg, err, err == JC_OK ? op->status : JC_KEY_EMPTY,
                      err == JC_OK ? op->ttl_ms : -1);
        break;
    }
    jc_entry_unref(op->reply.entry);
    free(op);
}

static struct mem_op *op_pop(struct mem_store *m)
{
    struct mem_op *op = m->queue_head;
    if (op != NULL) {
        m->queue_head = op->next;
        if (m->queue_head == NULL) {
            m->queue_tail = NULL;
        }
    }
    return op;
}

static void store_free(struct mem_store *m);

/* Delivers the answers queued before this run; later ones wait for the next
 * run so that a callback issuing ops cannot starve the loop. */
static void on_deliver(void *arg)
{
    struct mem_store *m = arg;
    struct mem_op *last = m->queue_tail;
    m->draining = true;
    while (last != NULL) {
        struct mem_op *op = op_pop(m);
        bool was_last = op == last;
        op_finish(op, op->err);
        if (was_last) {
            break;
        }
    }
    m->draining = false;
    if (m->close_requested) {
        store_free(m);
        return;
    }
    if (m->queue_head != NULL) {
        jc_timer_start(m->deliver, 0);
    }
}

static struct mem_op *op_queue(struct mem_store *m, enum op_kind kind, void *arg)
{
    struct mem_op *op = jc_xcalloc(1, sizeof(*op));
    op->kind = kind;
    op->arg = arg;
    op->ttl_ms = -1;
    if (m->queue_tail != NULL) {
        m->queue_tail->next = op;
    } else {
        m->queue_head = op;
    }
    m->queue_tail = op;
    if (!m->draining && !jc_timer_is_pending(m->deliver)) {
        jc_timer_start(m->deliver, 0);
    }
    return op;
}

static void queue_done(struct mem_store *m, jc_store_done_fn *cb, void *arg, enum jc_err err)
{
    struct mem_op *op = op_queue(m, OP_DONE, arg);
    op->done_cb = cb;
    op->err = err;
}

/* ---- sweeping ---- */

static void on_sweep(void *arg)
{
    struct mem_store *m = arg;
    uint64_t now = jc_loop_now_ms(m->loop);
    struct mem_item *item, *tmp;
    HASH_ITER(hh, m->items, item, tmp)
    {
        if (item_is_over(item, now)) {
            item_remove(m, item);
        }
    }
    if (m->n_expiring > 0) {
        jc_timer_start(m->sweep, SWEEP_MS);
    }
}

/* ---- the ops ---- */

static enum jc_err mem_open(struct jc_loop *loop, const struct jc_store_config *cfg,
                            struct jc_store **out)
{
    (void)cfg;
    struct mem_store *m = jc_xcalloc(1, sizeof(*m));
    m->base.ops = &jc_store_memory_ops;
    m->loop = loop;
    m->deliver = jc_timer_new(loop, on_deliver, m);
    m->sweep = jc_timer_new(loop, on_sweep, m);
    *out = &m->base;
    return JC_OK;
}

static void store_free(struct mem_store *m)
{
    struct mem_op *op;
    while ((op = op_pop(m)) != NULL) {
        op_finish(op, JC_ERR_SHUTDOWN);
    }
    struct mem_item *item, *tmp;
    HASH_ITER(hh, m->items, item, tmp)
    {
        item_remove(m, item);
    }
    jc_timer_free(m->deliver);
    jc_timer_free(m->sweep);
    free(m);
}

static void mem_close(struct jc_store *store)
{
    struct mem_store *m = mem_of(store);
    if (m->draining) {
        m->close_requested = true;
        return;
    }
    store_free(m);
}

static bool mem_is_ready(struct jc_store *store)
{
    (void)store;
    return true;
}

/* Fills reply with what the item holds for this lookup, taking the lock
 * when the lookup may and the key is (as far as this caller sees) empty. */
static void lookup_apply(struct mem_store *m, const struct jc_store_key *k,
                         const struct jc_store_lookup *lookup, struct jc_store_reply *reply)
{
    uint64_t now = jc_loop_now_ms(m->loop);
    struct mem_item *item = item_find(m, k, now);
    if (item != NULL && item->kind == ITEM_LOCK && lookup->waited_token != 0 &&
        item->failed_entry != NULL && item->failed_token == lookup->waited_token) {
        reply->state = JC_STORE_FAILED;
        reply->token = item->failed_token;
        reply->entry = jc_entry_ref(item->failed_entry);
        return;
    }
    if (item != NULL && item->kind == ITEM_LOCK) {
        reply->state = JC_STORE_PENDING;
        reply->token = item->token;
        return;
    }
    if (item != NULL && item->kind == ITEM_VALUE) {
        if (lookup->slide_ms > 0) {
            item_set_expiry(m, item, now + (uint64_t)lookup->slide_ms);
        }
        reply->state = JC_STORE_VALUE;
        reply->entry = jc_entry_ref(item->entry);
        reply->ttl_ms = ttl_left(item, now);
        return;
    }
    if (item != NULL && lookup->waited_token != 0 && item->token == lookup->waited_token) {
        reply->state = JC_STORE_FAILED;
        reply->token = item->token;
        reply->entry = jc_entry_ref(item->entry);
        return;
    }
    /* Nothing, or a tombstone of a fetch this caller did not wait for. */
    if (!lookup->acquire) {
        reply->state = JC_STORE_EMPTY;
        return;
    }
    if (item == NULL) {
        item = item_add(m, k);
    }
    /* A lock over a tombstone keeps its outcome for the failed fetch's
     * waiters that have not read it yet: a new fetch starts at once, and the
     * old one's waiters still get the old one's failure. */
    uint64_t failed_token = item->kind == ITEM_TOMBSTONE ? item->token : 0;
    struct jc_entry *failed_entry =
        item->kind == ITEM_TOMBSTONE && item->entry != NULL ? jc_entry_ref(item->entry) : NULL;
    item_set(m, item, ITEM_LOCK, ++m->last_token, NULL, now + lookup->lease_ms);
    item->failed_token = failed_token;
    item->failed_entry = failed_entry;
    reply->state = JC_STORE_ACQUIRED;
    reply->token = item->token;
}

static enum jc_err mem_lookup(struct jc_store *store, const struct jc_store_key *k,
                              const struct jc_store_lookup *lookup, jc_store_lookup_fn *cb,
                              void *arg)
{
    struct mem_store *m = mem_of(store);
    if (!key_is_valid(k) || lookup == NULL || cb == NULL ||
        (lookup->acquire && lookup->lease_ms == 0)) {
        return JC_ERR_INVALID;
    }
    struct mem_op *op = op_queue(m, OP_LOOKUP, arg);
    op->lookup_cb = cb;
    op->reply.ttl_ms = -1;
    lookup_apply(m, k, lookup, &op->reply);
    return JC_OK;
}

/* Returns borrowed: the lock of k when token holds it now, else NULL. */
static struct mem_item *held_lock(struct mem_store *m, const struct jc_store_key *k, uint64_t token,
                                  uint64_t now)
{
    struct mem_item *item = item_find(m, k, now);
    if (item == NULL || item->kind != ITEM_LOCK || item->token != token || token == 0) {
        return NULL;
    }
    return item;
}

static enum jc_err mem_commit(struct jc_store *store, const struct jc_store_key *k, uint64_t token,
                              const struct jc_entry *entry, int64_t ttl_ms, jc_store_done_fn *cb,
                              void *arg)
{
    struct mem_store *m = mem_of(store);
    if (!key_is_valid(k) || entry == NULL || cb == NULL || ttl_ms == 0 || ttl_ms < -1) {
        return JC_ERR_INVALID;
    }
    uint64_t now = jc_loop_now_ms(m->loop);
    struct mem_item *item = held_lock(m, k, token, now);
    if (item == NULL) {
        queue_done(m, cb, arg, JC_ERR_FENCED);
        return JC_OK;
    }
    item_set(m, item, ITEM_VALUE, 0, entry_clone(entry), deadline_of(now, ttl_ms));
    queue_done(m, cb, arg, JC_OK);
    return JC_OK;
}

static enum jc_err mem_fail(struct jc_store *store, const struct jc_store_key *k, uint64_t token,
                            const struct jc_entry *entry, uint64_t tombstone_ms,
                            jc_store_done_fn *cb, void *arg)
{
    struct mem_store *m = mem_of(store);
    if (!key_is_valid(k) || entry == NULL || cb == NULL) {
        return JC_ERR_INVALID;
    }
    uint64_t now = jc_loop_now_ms(m->loop);
    struct mem_item *item = held_lock(m, k, token, now);
    if (item == NULL) {
        queue_done(m, cb, arg, JC_ERR_FENCED);
        return JC_OK;
    }
    if (tombstone_ms == 0) {
        /* A tombstone kept for no time at all is just a released lock. */
        item_remove(m, item);
    } else {
        item_set(m, item, ITEM_TOMBSTONE, token, entry_clone(entry), now + tombstone_ms);
    }
    queue_done(m, cb, arg, JC_OK);
    return JC_OK;
}

static enum jc_err mem_delete(struct jc_store *store, const struct jc_store_key *k,
                              jc_store_done_fn *cb, void *arg)
{
    struct mem_store *m = mem_of(store);
    if (!key_is_valid(k) || cb == NULL) {
        return JC_ERR_INVALID;
    }
    struct mem_item *item = item_find(m, k, jc_loop_now_ms(m->loop));
    if (item != NULL) {
        item_remove(m, item);
    }
    queue_done(m, cb, arg, JC_OK);
    return JC_OK;
}

static enum jc_err mem_status(struct jc_store *store, const struct jc_store_key *k,
                              jc_store_status_fn *cb, void *arg)
{
    struct mem_store *m = mem_of(store);
    if (!key_is_valid(k) || cb == NULL) {
        return JC_ERR_INVALID;
    }
    uint64_t now = jc_loop_now_ms(m->loop);
    struct mem_item *item = item_find(m, k, now);
    struct mem_op *op = op_queue(m, OP_STATUS, arg);
    op->status_cb = cb;
    op->status = JC_KEY_EMPTY;
    if (item != NULL && item->kind == ITEM_LOCK) {
        op->status = JC_KEY_PENDING;
    } else if (item != NULL && item->kind == ITEM_VALUE) {
        op->status = JC_KEY_EXISTS;
        op->ttl_ms = ttl_left(item, now);
    }
    return JC_OK;
}

static enum jc_err mem_touch(struct jc_store *store, const struct jc_store_key *k, int64_t ttl_ms,
                             jc_store_done_fn *cb, void *arg)
{
    struct mem_store *m = mem_of(store);
    if (!key_is_valid(k) || cb == NULL || ttl_ms == 0 || ttl_ms < -1) {
        return JC_ERR_INVALID;
    }
    uint64_t now = jc_loop_now_ms(m->loop);
    struct mem_item *item = item_find(m, k, now);
    if (item == NULL || item->kind != ITEM_VALUE) {
        queue_done(m, cb, arg, JC_ERR_NOT_FOUND);
        return JC_OK;
    }
    item_set_expiry(m, item, deadline_of(now, ttl_ms));
    queue_done(m, cb, arg, JC_OK);
    return JC_OK;
}

const struct jc_store_ops jc_store_memory_ops = {
    .name = "memory",
    .open = mem_open,
    .close = mem_close,
    .is_ready = mem_is_ready,
    .lookup = mem_lookup,
    .commit = mem_commit,
    .fail = mem_fail,
    .del = mem_delete,
    .status = mem_status,
    .touch = mem_touch,
};
