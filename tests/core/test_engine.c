/* tests/core/test_engine.c: core/engine.c, the build-or-retrieve state
 * machine, together with its use of the L1 and of sliding and absolute
 * expiry.
 *
 * The engine runs on a real jc_loop with the test clock installed, against
 * the real memory store and local broker, and a fake fetcher
 * (tests/support/fake_fetcher.h).  Two "replicas" are two engines sharing the
 * one store; each has its own local broker, whose handler hands every event
 * to its own engine and, unless the test drops them, to the other engine
 * too, as a real broker would.
 *
 * Time: leases, TTLs and L1 deadlines run on the test clock, which only the
 * tests move.  Wait timeouts, poll intervals and fetch delays are loop timers
 * and run in real time, so tests use a few ms of them and never sleep.
 *
 * Between the engine and the memory store sits a "tap": a store that counts
 * every call and can make the next call of one kind fail (at once or through
 * its callback) or hold the answers of deletes until the test lets them go.
 *
 * The fixture checks the callback rule of every request at the end of each
 * test: no callback ran inside its own jc_engine_start(), and none ran twice. */
#include "core/engine.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/broker/broker.h"
#include "core/cache.h"
#include "core/entry.h"
#include "core/fetch.h"
#include "core/loop.h"
#include "core/mem.h"
#include "core/store/store_impl.h"
#include "tests/support/fake_fetcher.h"
#include "tests/support/jc_test.h"
#include "tests/support/servers.h"

#define MAX_REQS 256
#define LONG_MS  60000 /* a wait or poll interval that never ends within a test */

/* ---- the tap store ---- */

enum tap_op { TAP_LOOKUP = 0, TAP_COMMIT, TAP_FAIL, TAP_DELETE, TAP_STATUS, TAP_TOUCH, TAP_N };

struct tap_call;

struct tap_store {
    struct jc_store base;
    struct jc_store *inner;
    struct jc_loop *loop;
    int calls[TAP_N];
    enum jc_err refuse[TAP_N]; /* the next call returns this at once (then JC_OK again) */
    enum jc_err lookup_fail;   /* the next lookup answers this through its callback */
    bool hold[TAP_N];          /* answers of that op wait for tap_release (not status) */
    struct tap_call *held;     /* newest first */
    int n_held;
};

/* One call passing through the tap, kept until its answer is handed on. */
struct tap_call {
    struct tap_call *next;
    struct tap_store *tap;
    enum tap_op op;
    jc_store_done_fn *done_cb;
    jc_store_lookup_fn *lookup_cb;
    void *arg;
    enum jc_err err;
    struct jc_store_reply reply; /* lookups: entry is a reference of our own */
};

static struct tap_store *tap_of(struct jc_store *store)
{
    return (struct tap_store *)store;
}

/* Counts a call of op; returns the error to refuse it with, or JC_OK. */
static enum jc_err tap_enter(struct tap_store *t, enum tap_op op)
{
    t->calls[op]++;
    enum jc_err err = t->refuse[op];
    t->refuse[op] = JC_OK;
    return err;
}

static struct tap_call *tap_call_new(struct tap_store *t, enum tap_op op, void *arg)
{
    struct tap_call *c = jc_xcalloc(1, sizeof(*c));
    c->tap = t;
    c->op = op;
    c->arg = arg;
    return c;
}

static void tap_call_free(struct tap_call *c)
{
    jc_entry_unref(c->reply.entry);
    free(c);
}

/* Hands the answer on and frees c. */
static void tap_answer(void *arg)
{
    struct tap_call *c = arg;
    if (c->op == TAP_LOOKUP) {
        c->lookup_cb(c->arg, c->err, c->err == JC_OK ? &c->reply : NULL);
    } else {
        c->done_cb(c->arg, c->err);
    }
    tap_call_free(c);
}

/* The inner store answered c: hand it on now, or keep it. */
static void tap_arrived(struct tap_call *c)
{
    if (!c->tap->hold[c->op]) {
        tap_answer(c);
        return;
    }
    c->next = c->tap->held;
    c->tap->held = c;
    c->tap->n_held++;
}

static void tap_on_done(void *arg, enum jc_err err)
{
    struct tap_call *c = arg;
    c->err = err;
    tap_arrived(c);
}

static void tap_on_lookup(void *arg, enum jc_err err, const struct jc_store_reply *reply)
{
    struct tap_call *c = arg;
    c->err = err;
    if (err == JC_OK) {
        c->reply = *reply;
        if (reply->entry != NULL) {
            jc_entry_ref(reply->entry);
        }
    }
    tap_arrived(c);
}

/* Frees c when the inner store refused the call (its callback never runs). */
static enum jc_err tap_sent(struct tap_call *c, enum jc_err err)
{
    if (err != JC_OK) {
        tap_call_free(c);
    }
    return err;
}

/* Stops holding and hands on the held answers, oldest first, from the loop. */
static void tap_release(struct tap_store *t)
{
    memset(t->hold, 0, sizeof(t->hold));
    struct tap_call *oldest_first = NULL;
    while (t->held != NULL) {
        struct tap_call *c = t->held;
        t->held = c->next;
        c->next = oldest_first;
        oldest_first = c;
    }
    t->n_held = 0;
    while (oldest_first != NULL) {
        struct tap_call *c = oldest_first;
        oldest_first = c->next;
        jc_loop_defer(t->loop, tap_answer, c);
    }
}

static enum jc_err tap_lookup(struct jc_store *store, const struct jc_store_key *k,
                              const struct jc_store_lookup *lookup, jc_store_lookup_fn *cb,
                              void *arg)
{
    struct tap_store *t = tap_of(store);
    enum jc_err err = tap_enter(t, TAP_LOOKUP);
    if (err != JC_OK) {
        return err;
    }
    struct tap_call *c = tap_call_new(t, TAP_LOOKUP, arg);
    c->lookup_cb = cb;
    if (t->lookup_fail != JC_OK) {
        c->err = t->lookup_fail;
        t->lookup_fail = JC_OK;
        jc_loop_defer(t->loop, tap_answer, c);
        return JC_OK;
    }
    return tap_sent(c, jc_store_lookup(t->inner, k, lookup, tap_on_lookup, c));
}

static struct tap_call *tap_done_new(struct tap_store *t, enum tap_op op, jc_store_done_fn *cb,
                                     void *arg)
{
    struct tap_call *c = tap_call_new(t, op, arg);
    c->done_cb = cb;
    return c;
}

static enum jc_err tap_commit(struct jc_store *store, const struct jc_store_key *k, uint64_t token,
                              const struct jc_entry *entry, int64_t ttl_ms, jc_store_done_fn *cb,
                              void *arg)
{
    struct tap_store *t = tap_of(store);
    enum jc_err err = tap_enter(t, TAP_COMMIT);
    if (err != JC_OK) {
        return err;
    }
    struct tap_call *d = tap_done_new(t, TAP_COMMIT, cb, arg);
    return tap_sent(d, jc_store_commit(t->inner, k, token, entry, ttl_ms, tap_on_done, d));
}

static enum jc_err tap_fail(struct jc_store *store, const struct jc_store_key *k, uint64_t token,
                            const struct jc_entry *entry, uint64_t tombstone_ms,
                            jc_store_done_fn *cb, void *arg)
{
    struct tap_store *t = tap_of(store);
    enum jc_err err = tap_enter(t, TAP_FAIL);
    if (err != JC_OK) {
        return err;
    }
    struct tap_call *d = tap_done_new(t, TAP_FAIL, cb, arg);
    return tap_sent(d, jc_store_fail(t->inner, k, token, entry, tombstone_ms, tap_on_done, d));
}

static enum jc_err tap_delete(struct jc_store *store, const struct jc_store_key *k,
                              jc_store_done_fn *cb, void *arg)
{
    struct tap_store *t = tap_of(store);
    enum jc_err err = tap_enter(t, TAP_DELETE);
    if (err != JC_OK) {
        return err;
    }
    struct tap_call *d = tap_done_new(t, TAP_DELETE, cb, arg);
    return tap_sent(d, jc_store_delete(t->inner, k, tap_on_done, d));
}

static enum jc_err tap_status(struct jc_store *store, const struct jc_store_key *k,
                              jc_store_status_fn *cb, void *arg)
{
    struct tap_store *t = tap_of(store);
    enum jc_err err = tap_enter(t, TAP_STATUS);
    if (err != JC_OK) {
        return err;
    }
    return jc_store_status(t->inner, k, cb, arg);
}

static enum jc_err tap_touch(struct jc_store *store, const struct jc_store_key *k, int64_t ttl_ms,
                             jc_store_done_fn *cb, void *arg)
{
    struct tap_store *t = tap_of(store);
    enum jc_err err = tap_enter(t, TAP_TOUCH);
    if (err != JC_OK) {
        return err;
    }
    struct tap_call *d = tap_done_new(t, TAP_TOUCH, cb, arg);
    return tap_sent(d, jc_store_touch(t->inner, k, ttl_ms, tap_on_done, d));
}

static bool tap_is_ready(struct jc_store *store)
{
    (void)store;
    return true;
}

static void tap_close(struct jc_store *store)
{
    struct tap_store *t = tap_of(store);
    while (t->held != NULL) {
        struct tap_call *c = t->held;
        t->held = c->next;
        tap_call_free(c);
    }
    jc_store_close(t->inner);
    free(t);
}

static const struct jc_store_ops tap_ops = {
    .name = "tap",
    .close = tap_close,
    .is_ready = tap_is_ready,
    .lookup = tap_lookup,
    .commit = tap_commit,
    .fail = tap_fail,
    .del = tap_delete,
    .status = tap_status,
    .touch = tap_touch,
};

/* ---- the fixture ---- */

struct fx;

/* One request and what its callback saw. */
struct req {
    struct fx *f;
    int calls;
    bool early;          /* the callback ran inside this request's jc_engine_start */
    struct jc_outcome o; /* o.entry: a reference of our own */
    struct jc_engine_wait *wait;
};

struct replica {
    struct fx *f;
    int index;
    char id[16];
    struct jc_engine *engine;
    struct jc_broker *broker;
    bool forward; /* also hand this replica's events to the other replica */
};

struct fx {
    struct jc_test_clock clock;
    struct jc_loop *loop;
    struct tap_store *tap;
    struct jc_store *inner; /* the memory store behind the tap */
    struct jc_store *store; /* what the engines use: the tap */
    struct jc_store_config store_cfg;
    struct jc_broker_config broker_cfg;
    struct jc_fake_fetcher *ff;
    struct jc_cache_config cfg;
    int statuses[4];
    struct replica r[2];
    int n_replicas;
    struct req reqs[MAX_REQS];
    int n_reqs;
    int n_done;
    struct req *starting; /* the request inside jc_engine_start */
};

static struct fx F;

/* The config structs hold char *; these give them writable strings. */
static char store_type[] = "memory";
static char broker_type[] = "local";
static char cache_name[] = "c";
static char upstream_url[] = "http://origin.test/{key}";

static void fx_setup(void)
{
    struct fx *f = &F;
    memset(f, 0, sizeof(*f));
    f->loop = jc_loop_new();
    ck_assert_ptr_nonnull(f->loop);
    jc_test_clock_install(f->loop, &f->clock);
    f->store_cfg.type = store_type;
    ck_assert_int_eq(jc_store_open(f->loop, &f->store_cfg, &f->inner), JC_OK);
    f->tap = jc_xcalloc(1, sizeof(*f->tap));
    f->tap->base.ops = &tap_ops;
    f->tap->inner = f->inner;
    f->tap->loop = f->loop;
    f->store = &f->tap->base;
    f->ff = jc_fake_fetcher_new(f->loop);
    f->broker_cfg.type = broker_type;
    jc_cache_config_defaults(&f->cfg);
    f->cfg.name = cache_name;
    f->cfg.upstream_url = upstream_url;
    f->cfg.upstream_timeout_ms = 10000;
    f->cfg.lease_grace_ms = 2000;
    f->cfg.poll_interval_ms = 50;
}

static void on_broker_event(void *arg, const struct jc_event *ev)
{
    struct replica *rep = arg;
    struct fx *f = rep->f;
    jc_engine_on_event(rep->engine, ev);
    if (f->n_replicas == 2 && rep->forward) {
        jc_engine_on_event(f->r[1 - rep->index].engine, ev);
    }
}

/* Starts n engines ("A", "B") on the cache options the test has set. */
static void fx_start(struct fx *f, int n)
{
    f->n_replicas = n;
    for (int i = 0; i < n; i++) {
        struct replica *rep = &f->r[i];
        rep->f = f;
        rep->index = i;
        rep->forward = true;
        snprintf(rep->id, sizeof(rep->id), "%c", 'A' + i);
        rep->engine =
            jc_engine_new(f->loop, f->store, jc_fake_fetcher_fetcher(f->ff), &f->cfg, 1, rep->id);
        ck_assert_ptr_nonnull(rep->engine);
        ck_assert_int_eq(
            jc_broker_open(f->loop, &f->broker_cfg, on_broker_event, rep, &rep->broker), JC_OK);
        jc_engine_set_broker(rep->engine, rep->broker);
    }
}

/* Runs the loop (real time, 2 ms slices) until *counter >= want or
 * timeout_ms pass.  Returns whether it got there. */
static bool run_until(struct fx *f, const int *counter, int want, int timeout_ms)
{
    for (int waited = 0; *counter < want && waited < timeout_ms; waited += 2) {
        jc_test_loop_for(f->loop, 2);
    }
    return *counter >= want;
}

static bool fetches_idle(struct fx *f)
{
    if (jc_fake_fetcher_pending(f->ff) > 0) {
        return false;
    }
    for (int i = 0; i < f->n_replicas; i++) {
        if (jc_engine_active_fetches(f->r[i].engine) > 0) {
            return false;
        }
    }
    return true;
}

/* Lets every held fetch go and runs the loop until no fetch is left. */
static void drain(struct fx *f)
{
    jc_fake_fetcher_release(f->ff, NULL);
    tap_release(f->tap);
    for (int waited = 0; !fetches_idle(f) && waited < 2000; waited += 2) {
        jc_test_loop_for(f->loop, 2);
    }
    jc_test_loop_for(f->loop, 5);
}

static void fx_teardown(void)
{
    struct fx *f = &F;
    if (f->n_replicas > 0) {
        drain(f);
    }
    for (int i = 0; i < f->n_reqs; i++) {
        ck_assert_msg(!f->reqs[i].early, "request %d: callback inside jc_engine_start", i);
        ck_assert_msg(f->reqs[i].calls <= 1, "request %d: callback ran %d times", i,
                      f->reqs[i].calls);
        jc_entry_unref(f->reqs[i].o.entry);
    }
    for (int i = 0; i < f->n_replicas; i++) {
        jc_engine_free(f->r[i].engine);
        jc_broker_close(f->r[i].broker);
    }
    jc_store_close(f->store);
    jc_fake_fetcher_free(f->ff);
    jc_loop_free(f->loop);
}

/* ---- requests ---- */

static void on_done(void *arg, const struct jc_outcome *o)
{
    struct req *r = arg;
    r->calls++;
    if (r->f->starting == r) {
        r->early = true;
    }
    jc_entry_unref(r->o.entry);
    r->o = *o;
    if (o->entry != NULL) {
        jc_entry_ref(o->entry);
    }
    r->f->n_done++;
}

/* Starts op on key at replica; returns what jc_engine_start returned. */
static enum jc_err start_raw(struct fx *f, int replica, const char *key, enum jc_engine_op op,
                             uint64_t timeout_ms, struct req **out)
{
    ck_assert_int_lt(f->n_reqs, MAX_REQS);
    struct req *r = &f->reqs[f->n_reqs++];
    r->f = f;
    f->starting = r;
    enum jc_err err = jc_engine_start(f->r[replica].engine, 0, key, strlen(key), op, timeout_ms,
                                      on_done, r, &r->wait);
    f->starting = NULL;
    *out = r;
    return err;
}

static struct req *start(struct fx *f, int replica, const char *key, enum jc_engine_op op,
                         uint64_t timeout_ms)
{
    struct req *r;
    ck_assert_int_eq(start_raw(f, replica, key, op, timeout_ms, &r), JC_OK);
    ck_assert_int_eq(r->calls, 0);
    return r;
}

static struct req *build(struct fx *f, int replica, const char *key)
{
    return start(f, replica, key, JC_OP_BUILD, LONG_MS);
}

/* Runs the loop until r was answered (at most 2 s). */
static void wait_req(struct fx *f, struct req *r)
{
    ck_assert_msg(run_until(f, &r->calls, 1, 2000), "no answer");
}

/* Builds key on replica and waits for it; returns the request. */
static struct req *build_wait(struct fx *f, int replica, const char *key)
{
    struct req *r = build(f, replica, key);
    wait_req(f, r);
    return r;
}

static void assert_value(const struct req *r, const char *body, enum jc_source source)
{
    ck_assert_int_eq(r->calls, 1);
    ck_assert_msg(r->o.err == JC_OK, "err %s", jc_err_name(r->o.err));
    ck_assert_ptr_nonnull(r->o.entry);
    ck_assert_int_eq(r->o.entry->failed, 0);
    ck_assert_uint_eq(r->o.entry->body_len, strlen(body));
    ck_assert_mem_eq(r->o.entry->body, body, strlen(body));
    ck_assert_int_eq(r->o.source, source);
}

static void assert_err(const struct req *r, enum jc_err err)
{
    ck_assert_int_eq(r->calls, 1);
    ck_assert_msg(r->o.err == err, "got %s, want %s", jc_err_name(r->o.err), jc_err_name(err));
}

static const char *url_of(const char *key)
{
    static char buf[256];
    snprintf(buf, sizeof(buf), "http://origin.test/%s", key);
    return buf;
}

static void script(struct fx *f, const char *key, const struct jc_fake_reply *reply)
{
    jc_fake_fetcher_script(f->ff, key != NULL ? url_of(key) : NULL, reply);
}

static void script_body(struct fx *f, const char *key, int status, const char *body)
{
    struct jc_fake_reply reply = {.status = status, .body = body};
    script(f, key, &reply);
}

static void script_hold(struct fx *f, const char *key, int status, const char *body)
{
    struct jc_fake_reply reply = {.status = status, .body = body, .hold = true};
    script(f, key, &reply);
}

static size_t fetches(struct fx *f)
{
    return jc_fake_fetcher_calls(f->ff, NULL);
}

struct status_answer {
    int calls;
    enum jc_err err;
    enum jc_key_status status;
    int64_t ttl_ms;
};

static void on_status(void *arg, enum jc_err err, enum jc_key_status status, int64_t ttl_ms)
{
    struct status_answer *a = arg;
    a->calls++;
    a->err = err;
    a->status = status;
    a->ttl_ms = ttl_ms;
}

/* Returns the key's status through replica's engine; *ttl_ms (if not NULL)
 * gets the remaining TTL. */
static enum jc_key_status status_of(struct fx *f, int replica, const char *key, int64_t *ttl_ms)
{
    struct status_answer a = {0};
    ck_assert_int_eq(
        jc_engine_status(f->r[replica].engine, 0, key, strlen(key), on_status, &a, NULL), JC_OK);
    ck_assert_int_eq(a.calls, 0);
    ck_assert(run_until(f, &a.calls, 1, 1000));
    ck_assert_int_eq(a.err, JC_OK);
    if (ttl_ms != NULL) {
        *ttl_ms = a.ttl_ms;
    }
    return a.status;
}

/* Returns whether replica's L1 has key; checks the body on a hit. */
static bool l1_has(struct fx *f, int replica, const char *key, const char *body)
{
    struct jc_entry *e = jc_engine_l1_lookup(f->r[replica].engine, 0, key, strlen(key));
    if (e == NULL) {
        return false;
    }
    if (body != NULL) {
        ck_assert_uint_eq(e->body_len, strlen(body));
        ck_assert_mem_eq(e->body, body, strlen(body));
    }
    jc_entry_unref(e);
    return true;
}

static struct jc_engine_stats stats_of(struct fx *f, int replica)
{
    struct jc_engine_stats s;
    jc_engine_stats(f->r[replica].engine, &s);
    return s;
}

static void send_event(struct fx *f, int replica, enum jc_event_kind kind, const char *cache,
                       const char *key, const char *origin)
{
    struct jc_event ev = {kind, cache, key, strlen(key), 0, true, origin};
    jc_engine_on_event(f->r[replica].engine, &ev);
}

static void on_store_done(void *arg, enum jc_err err)
{
    (void)err;
    ++*(int *)arg;
}

/* Deletes key in the store itself, behind the engines' backs. */
static void store_delete_behind(struct fx *f, const char *key)
{
    struct jc_store_key k = {"c", key, strlen(key)};
    int done = 0;
    ck_assert_int_eq(jc_store_delete(f->inner, &k, on_store_done, &done), JC_OK);
    ck_assert(run_until(f, &done, 1, 1000));
}

/* ---- collapsing ---- */

START_TEST(hundred_builds_of_a_cold_key_fetch_once)
{
    struct fx *f = &F;
    fx_start(f, 1);
    struct jc_fake_reply reply = {
        .status = 200,
        .body = "forecast",
        .headers = {[JC_HDR_CONTENT_TYPE] = "text/plain", [JC_HDR_ETAG] = "\"v1\""},
        .delay_ms = 5};
    script(f, NULL, &reply);
    for (int i = 0; i < 100; i++) {
        build(f, 0, "a/b");
    }
    ck_assert(run_until(f, &f->n_done, 100, 2000));
    ck_assert_uint_eq(fetches(f), 1);
    const struct jc_fake_request *fr = jc_fake_fetcher_last(f->ff);
    ck_assert_str_eq(fr->url, "http://origin.test/a%2Fb");
    ck_assert_uint_eq(fr->timeout_ms, 10000);
    ck_assert_uint_eq(fr->max_body_bytes, f->cfg.max_body_bytes);
    int fetched = 0;
    int collapsed = 0;
    for (int i = 0; i < 100; i++) {
        const struct req *r = &f->reqs[i];
        assert_value(r, "forecast", r->o.source);
        ck_assert_int_eq(r->o.entry->status, 200);
        ck_assert_str_eq(r->o.entry->headers[JC_HDR_CONTENT_TYPE], "text/plain");
        ck_assert_str_eq(r->o.entry->headers[JC_HDR_ETAG], "\"v1\"");
        fetched += r->o.source == JC_SOURCE_FETCHED;
        collapsed += r->o.source == JC_SOURCE_COLLAPSED;
    }
    ck_assert_int_eq(fetched, 1);
    ck_assert_int_eq(collapsed, 99);
    ck_assert_int_eq(f->reqs[0].o.source, JC_SOURCE_FETCHED);
    struct jc_engine_stats s = stats_of(f, 0);
    ck_assert_uint_eq(s.requests_miss, 1);
    ck_assert_uint_eq(s.requests_collapsed, 99);
    ck_assert_uint_eq(s.requests_hit + s.requests_l1_hit + s.requests_error, 0);
    ck_assert_uint_eq(s.fetches_stored, 1);
    ck_assert_uint_eq(s.fetches_not_stored + s.fetches_failed + s.fetches_fenced, 0);
    ck_assert_uint_eq(s.fetch_duration_count, 1);
    ck_assert_uint_eq(s.fetch_duration_buckets[11], 1);
    ck_assert_uint_eq(s.waiters, 0);
    ck_assert_uint_eq(s.fetches_active, 0);
    /* One flight: one store read and one commit for all hundred. */
    ck_assert_int_eq(f->tap->calls[TAP_LOOKUP], 1);
    ck_assert_int_eq(f->tap->calls[TAP_COMMIT], 1);
    int64_t ttl;
    ck_assert_int_eq(status_of(f, 0, "a/b", &ttl), JC_KEY_EXISTS);
    ck_assert_int_eq(ttl, -1);
}
END_TEST

START_TEST(hundred_builds_on_two_replicas_fetch_once)
{
    struct fx *f = &F;
    fx_start(f, 2);
    struct jc_fake_reply reply = {.status = 200, .body = "shared", .delay_ms = 5};
    script(f, NULL, &reply);
    for (int i = 0; i < 100; i++) {
        build(f, i % 2, "k");
    }
    ck_assert(run_until(f, &f->n_done, 100, 2000));
    ck_assert_uint_eq(fetches(f), 1);
    for (int i = 0; i < 100; i++) {
        const struct req *r = &f->reqs[i];
        assert_value(r, "shared", i == 0 ? JC_SOURCE_FETCHED : JC_SOURCE_COLLAPSED);
    }
    struct jc_engine_stats a = stats_of(f, 0);
    struct jc_engine_stats b = stats_of(f, 1);
    ck_assert_uint_eq(a.requests_miss, 1);
    ck_assert_uint_eq(a.requests_collapsed, 49);
    ck_assert_uint_eq(b.requests_miss, 0);
    ck_assert_uint_eq(b.requests_collapsed, 50);
    ck_assert_uint_eq(a.fetches_stored, 1);
    ck_assert_uint_eq(b.fetches_stored, 0);
    ck_assert_uint_eq(b.fetch_duration_count, 0);
}
END_TEST

START_TEST(different_keys_do_not_share_a_fetch)
{
    struct fx *f = &F;
    fx_start(f, 1);
    struct req *x = build(f, 0, "x");
    struct req *y = build(f, 0, "y");
    struct req *x2 = build(f, 0, "x");
    ck_assert(run_until(f, &f->n_done, 3, 1000));
    ck_assert_uint_eq(jc_fake_fetcher_calls(f->ff, url_of("x")), 1);
    ck_assert_uint_eq(jc_fake_fetcher_calls(f->ff, url_of("y")), 1);
    assert_value(x, url_of("x"), JC_SOURCE_FETCHED);
    assert_value(y, url_of("y"), JC_SOURCE_FETCHED);
    assert_value(x2, url_of("x"), JC_SOURCE_COLLAPSED);
}
END_TEST

/* ---- hits and the L1 ---- */

START_TEST(stored_value_is_a_store_hit_with_l1_off)
{
    struct fx *f = &F;
    fx_start(f, 1);
    script_body(f, "k", 200, "v");
    assert_value(build_wait(f, 0, "k"), "v", JC_SOURCE_FETCHED);
    assert_value(build_wait(f, 0, "k"), "v", JC_SOURCE_STORE);
    ck_assert_uint_eq(fetches(f), 1);
    ck_assert(!l1_has(f, 0, "k", NULL));
    struct jc_engine_stats s = stats_of(f, 0);
    ck_assert_uint_eq(s.requests_hit, 1);
    ck_assert_uint_eq(s.requests_l1_hit, 0);
    ck_assert_uint_eq(s.l1_entries, 0);
}
END_TEST

START_TEST(l1_returns_the_fetched_value)
{
    struct fx *f = &F;
    f->cfg.l1_enabled = true;
    fx_start(f, 1);
    script_body(f, "k", 200, "v");
    ck_assert(!l1_has(f, 0, "k", NULL));
    build_wait(f, 0, "k");
    ck_assert(l1_has(f, 0, "k", "v"));
    ck_assert(l1_has(f, 0, "k", "v"));
    struct jc_engine_stats s = stats_of(f, 0);
    ck_assert_uint_eq(s.requests_l1_hit, 2);
    ck_assert_uint_eq(s.l1_entries, 1);
    ck_assert_uint_eq(fetches(f), 1);
}
END_TEST

START_TEST(l1_is_filled_by_a_store_read)
{
    struct fx *f = &F;
    f->cfg.l1_enabled = true;
    fx_start(f, 2);
    script_body(f, "k", 200, "v");
    build_wait(f, 0, "k");
    ck_assert(!l1_has(f, 1, "k", NULL));
    assert_value(build_wait(f, 1, "k"), "v", JC_SOURCE_STORE);
    ck_assert(l1_has(f, 1, "k", "v"));
    ck_assert_uint_eq(fetches(f), 1);
}
END_TEST

START_TEST(l1_keeps_at_most_max_entries_evicting_the_least_recently_used)
{
    struct fx *f = &F;
    f->cfg.l1_enabled = true;
    f->cfg.l1_max_entries = 2;
    fx_start(f, 1);
    build_wait(f, 0, "a");
    build_wait(f, 0, "b");
    ck_assert(l1_has(f, 0, "a", url_of("a"))); /* "a" is now the most recently used */
    build_wait(f, 0, "c");
    ck_assert_uint_eq(stats_of(f, 0).l1_entries, 2);
    ck_assert(l1_has(f, 0, "a", url_of("a")));
    ck_assert(l1_has(f, 0, "c", url_of("c")));
    ck_assert(!l1_has(f, 0, "b", NULL));
    /* Evicted from L1 only: the store still has it. */
    assert_value(build_wait(f, 0, "b"), url_of("b"), JC_SOURCE_STORE);
}
END_TEST

START_TEST(l1_copy_ends_with_the_absolute_store_entry)
{
    struct fx *f = &F;
    f->cfg.l1_enabled = true;
    f->cfg.expiry_type = JC_EXPIRY_ABSOLUTE;
    f->cfg.expiry_ms = 1000;
    fx_start(f, 1);
    build_wait(f, 0, "k");
    jc_test_clock_advance(&f->clock, 999);
    ck_assert(l1_has(f, 0, "k", NULL));
    int64_t ttl;
    ck_assert_int_eq(status_of(f, 0, "k", &ttl), JC_KEY_EXISTS);
    ck_assert_int_eq(ttl, 1);
    jc_test_clock_advance(&f->clock, 1);
    ck_assert(!l1_has(f, 0, "k", NULL));
    ck_assert_int_eq(status_of(f, 0, "k", NULL), JC_KEY_EMPTY);
}
END_TEST

START_TEST(l1_purge_timer_drops_expired_copies)
{
    struct fx *f = &F;
    f->cfg.l1_enabled = true;
    f->cfg.l1_purge_interval_s = 1;
    f->cfg.expiry_type = JC_EXPIRY_ABSOLUTE;
    f->cfg.expiry_ms = 100;
    fx_start(f, 1);
    build_wait(f, 0, "a");
    build_wait(f, 0, "b");
    ck_assert_uint_eq(stats_of(f, 0).l1_entries, 2);
    jc_test_clock_advance(&f->clock, 100);
    ck_assert_uint_eq(stats_of(f, 0).l1_entries, 2);
    jc_test_loop_for(f->loop, 1100);
    ck_assert_uint_eq(stats_of(f, 0).l1_entries, 0);
}
END_TEST

START_TEST(invalidate_from_another_replica_drops_the_l1_copy)
{
    struct fx *f = &F;
    f->cfg.l1_enabled = true;
    fx_start(f, 1);
    build_wait(f, 0, "k");
    build_wait(f, 0, "other");
    send_event(f, 0, JC_EVENT_INVALIDATE, "c", "k", "A");
    ck_assert(l1_has(f, 0, "k", NULL));
    send_event(f, 0, JC_EVENT_INVALIDATE, "unknown-cache", "k", "Z");
    ck_assert(l1_has(f, 0, "k", NULL));
    send_event(f, 0, JC_EVENT_INVALIDATE, "c", "k", "Z");
    ck_assert(!l1_has(f, 0, "k", NULL));
    ck_assert(l1_has(f, 0, "other", NULL));
    /* Only the L1 copy went: the store still has the value. */
    assert_value(build_wait(f, 0, "k"), url_of("k"), JC_SOURCE_STORE);
}
END_TEST

START_TEST(delete_drops_the_l1_copy_of_every_replica)
{
    struct fx *f = &F;
    f->cfg.l1_enabled = true;
    fx_start(f, 2);
    build_wait(f, 0, "k");
    build_wait(f, 1, "k");
    ck_assert(l1_has(f, 0, "k", NULL));
    ck_assert(l1_has(f, 1, "k", NULL));
    struct req *d = start(f, 0, "k", JC_OP_DELETE, LONG_MS);
    wait_req(f, d);
    assert_err(d, JC_OK);
    ck_assert(!l1_has(f, 0, "k", NULL));
    jc_test_loop_for(f->loop, 10);
    ck_assert(!l1_has(f, 1, "k", NULL));
    ck_assert_int_eq(status_of(f, 1, "k", NULL), JC_KEY_EMPTY);
}
END_TEST

START_TEST(new_value_from_another_replica_drops_a_stale_l1_copy)
{
    struct fx *f = &F;
    f->cfg.l1_enabled = true;
    fx_start(f, 2);
    script_body(f, "k", 200, "v1");
    build_wait(f, 0, "k");
    assert_value(build_wait(f, 1, "k"), "v1", JC_SOURCE_STORE);
    /* The value goes without B hearing of it (a lost INVALIDATE)... */
    store_delete_behind(f, "k");
    ck_assert(l1_has(f, 1, "k", "v1"));
    /* ...then A builds a new one, whose INVALIDATE reaches B. */
    script_body(f, "k", 200, "v2");
    assert_value(build_wait(f, 0, "k"), "v2", JC_SOURCE_FETCHED);
    jc_test_loop_for(f->loop, 10);
    ck_assert(!l1_has(f, 1, "k", NULL));
    assert_value(build_wait(f, 1, "k"), "v2", JC_SOURCE_STORE);
}
END_TEST

/* ---- failed fetches ---- */

START_TEST(uncacheable_status_reaches_every_waiter_and_is_not_stored)
{
    struct fx *f = &F;
    f->cfg.l1_enabled = true;
    fx_start(f, 1);
    struct jc_fake_reply busy = {.status = 503, .body = "busy", .delay_ms = 2};
    script(f, "k", &busy);
    for (int i = 0; i < 10; i++) {
        build(f, 0, "k");
    }
    ck_assert(run_until(f, &f->n_done, 10, 1000));
    ck_assert_uint_eq(fetches(f), 1);
    for (int i = 0; i < 10; i++) {
        const struct req *r = &f->reqs[i];
        assert_err(r, JC_OK);
        ck_assert_ptr_nonnull(r->o.entry);
        ck_assert_int_eq(r->o.entry->failed, 1);
        ck_assert_int_eq(r->o.entry->err, JC_OK);
        ck_assert_int_eq(r->o.entry->status, 503);
        ck_assert_str_eq(r->o.entry->body, "busy");
        ck_assert_int_eq(r->o.source, i == 0 ? JC_SOURCE_FETCHED : JC_SOURCE_COLLAPSED);
    }
    ck_assert_int_eq(status_of(f, 0, "k", NULL), JC_KEY_EMPTY);
    ck_assert(!l1_has(f, 0, "k", NULL));
    struct jc_engine_stats s = stats_of(f, 0);
    ck_assert_uint_eq(s.fetches_not_stored, 1);
    ck_assert_uint_eq(s.fetches_stored, 0);
    ck_assert_uint_eq(s.fetches_active, 0);
    /* The lock is gone: the next request fetches afresh, at once. */
    script_body(f, "k", 200, "fine");
    assert_value(build_wait(f, 0, "k"), "fine", JC_SOURCE_FETCHED);
    ck_assert_uint_eq(fetches(f), 2);
}
END_TEST

START_TEST(status_in_cache_statuses_is_stored)
{
    struct fx *f = &F;
    f->statuses[0] = 200;
    f->statuses[1] = 503;
    f->cfg.cache_statuses = f->statuses;
    f->cfg.n_cache_statuses = 2;
    fx_start(f, 1);
    script_body(f, "a", 503, "kept");
    script_body(f, "b", 404, "dropped");
    assert_value(build_wait(f, 0, "a"), "kept", JC_SOURCE_FETCHED);
    struct req *b = build_wait(f, 0, "b");
    ck_assert_int_eq(b->o.entry->failed, 1);
    ck_assert_int_eq(b->o.entry->status, 404);
    ck_assert_int_eq(status_of(f, 0, "a", NULL), JC_KEY_EXISTS);
    ck_assert_int_eq(status_of(f, 0, "b", NULL), JC_KEY_EMPTY);
}
END_TEST

START_TEST(fetch_errors_reach_every_waiter)
{
    struct fx *f = &F;
    fx_start(f, 1);
    const enum jc_err errs[] = {JC_ERR_UPSTREAM, JC_ERR_UPSTREAM_TIMEOUT, JC_ERR_TOO_LARGE};
    const char *keys[] = {"e0", "e1", "e2"};
    for (int e = 0; e < 3; e++) {
        struct jc_fake_reply reply = {.err = errs[e], .delay_ms = 2};
        script(f, keys[e], &reply);
        for (int i = 0; i < 5; i++) {
            build(f, 0, keys[e]);
        }
    }
    ck_assert(run_until(f, &f->n_done, 15, 1000));
    ck_assert_uint_eq(fetches(f), 3);
    for (int i = 0; i < 15; i++) {
        const struct req *r = &f->reqs[i];
        assert_err(r, JC_OK);
        ck_assert_ptr_nonnull(r->o.entry);
        ck_assert_int_eq(r->o.entry->failed, 1);
        ck_assert_int_eq(r->o.entry->err, errs[i / 5]);
    }
    for (int e = 0; e < 3; e++) {
        ck_assert_int_eq(status_of(f, 0, keys[e], NULL), JC_KEY_EMPTY);
    }
    ck_assert_uint_eq(stats_of(f, 0).fetches_failed, 3);
    script_body(f, "e0", 200, "back");
    assert_value(build_wait(f, 0, "e0"), "back", JC_SOURCE_FETCHED);
}
END_TEST

START_TEST(refused_fetch_reaches_every_waiter_and_releases_the_lock)
{
    struct fx *f = &F;
    fx_start(f, 1);
    struct jc_fake_reply refuse = {.refuse = JC_ERR_UPSTREAM};
    script(f, "k", &refuse);
    struct req *a = build(f, 0, "k");
    struct req *b = build(f, 0, "k");
    ck_assert(run_until(f, &f->n_done, 2, 1000));
    ck_assert_int_eq(a->o.entry->failed, 1);
    ck_assert_int_eq(a->o.entry->err, JC_ERR_UPSTREAM);
    ck_assert_int_eq(b->o.entry->err, JC_ERR_UPSTREAM);
    ck_assert_int_eq(status_of(f, 0, "k", NULL), JC_KEY_EMPTY);
    script_body(f, "k", 200, "v");
    assert_value(build_wait(f, 0, "k"), "v", JC_SOURCE_FETCHED);
    ck_assert_uint_eq(fetches(f), 2);
}
END_TEST

START_TEST(failure_reaches_a_waiter_on_another_replica_by_its_event)
{
    struct fx *f = &F;
    f->cfg.poll_interval_ms = LONG_MS;
    fx_start(f, 2);
    script_hold(f, "k", 503, "busy");
    struct req *a = build(f, 0, "k");
    jc_test_loop_for(f->loop, 10);
    struct req *b = build(f, 1, "k");
    jc_test_loop_for(f->loop, 10);
    ck_assert_int_eq(b->calls, 0);
    jc_fake_fetcher_release(f->ff, NULL);
    ck_assert(run_until(f, &f->n_done, 2, 500));
    ck_assert_int_eq(a->o.entry->status, 503);
    ck_assert_int_eq(b->o.entry->failed, 1);
    ck_assert_int_eq(b->o.entry->status, 503);
    ck_assert_str_eq(b->o.entry->body, "busy");
    ck_assert_int_eq(b->o.source, JC_SOURCE_COLLAPSED);
    ck_assert_uint_eq(fetches(f), 1);
}
END_TEST

START_TEST(failure_reaches_a_waiter_on_another_replica_by_polling)
{
    struct fx *f = &F;
    f->cfg.poll_interval_ms = 20;
    fx_start(f, 2);
    f->r[0].forward = false;
    struct jc_fake_reply reply = {.err = JC_ERR_UPSTREAM_TIMEOUT, .hold = true};
    script(f, "k", &reply);
    build(f, 0, "k");
    jc_test_loop_for(f->loop, 10);
    struct req *b = build(f, 1, "k");
    jc_test_loop_for(f->loop, 10);
    jc_fake_fetcher_release(f->ff, NULL);
    ck_assert(run_until(f, &f->n_done, 2, 1000));
    ck_assert_int_eq(b->o.entry->failed, 1);
    ck_assert_int_eq(b->o.entry->err, JC_ERR_UPSTREAM_TIMEOUT);
    ck_assert_uint_eq(fetches(f), 1);
    /* A request after the failure fetches afresh. */
    script_body(f, "k", 200, "v");
    assert_value(build_wait(f, 1, "k"), "v", JC_SOURCE_FETCHED);
}
END_TEST

START_TEST(store_error_reaches_every_waiter)
{
    struct fx *f = &F;
    fx_start(f, 1);
    f->tap->lookup_fail = JC_ERR_STORE;
    for (int i = 0; i < 3; i++) {
        build(f, 0, "k");
    }
    ck_assert(run_until(f, &f->n_done, 3, 1000));
    for (int i = 0; i < 3; i++) {
        assert_err(&f->reqs[i], JC_ERR_STORE);
    }
    ck_assert_uint_eq(fetches(f), 0);
    ck_assert_uint_eq(stats_of(f, 0).requests_error, 3);
    assert_value(build_wait(f, 0, "k"), url_of("k"), JC_SOURCE_FETCHED);
}
END_TEST

START_TEST(store_refusing_the_commit_still_answers_every_waiter)
{
    struct fx *f = &F;
    fx_start(f, 1);
    script_body(f, "k", 200, "v");
    f->tap->refuse[TAP_COMMIT] = JC_ERR_STORE;
    struct req *a = build(f, 0, "k");
    struct req *b = build(f, 0, "k");
    ck_assert(run_until(f, &f->n_done, 2, 1000));
    assert_value(a, "v", JC_SOURCE_FETCHED);
    assert_value(b, "v", JC_SOURCE_COLLAPSED);
    ck_assert_uint_eq(stats_of(f, 0).fetches_stored, 0);
    ck_assert_uint_eq(jc_engine_active_fetches(f->r[0].engine), 0);
}
END_TEST

START_TEST(store_refusing_the_tombstone_of_a_refused_fetch)
{
    struct fx *f = &F;
    fx_start(f, 1);
    struct jc_fake_reply refuse = {.refuse = JC_ERR_UPSTREAM};
    script(f, "k", &refuse);
    f->tap->refuse[TAP_FAIL] = JC_ERR_STORE;
    struct req *a = build(f, 0, "k");
    struct req *b = build(f, 0, "k");
    ck_assert(run_until(f, &f->n_done, 2, 1000));
    ck_assert_int_eq(a->o.entry->err, JC_ERR_UPSTREAM);
    ck_assert_int_eq(b->o.entry->err, JC_ERR_UPSTREAM);
    ck_assert_uint_eq(jc_engine_active_fetches(f->r[0].engine), 0);
}
END_TEST

/* ---- timeouts and cancelling ---- */

START_TEST(wait_timeout_leaves_the_fetch_running)
{
    struct fx *f = &F;
    fx_start(f, 1);
    script_hold(f, "k", 200, "late");
    struct req *quick = start(f, 0, "k", JC_OP_BUILD, 20);
    struct req *patient = build(f, 0, "k");
    wait_req(f, quick);
    assert_err(quick, JC_ERR_WAIT_TIMEOUT);
    ck_assert_ptr_null(quick->o.entry);
    ck_assert_int_eq(patient->calls, 0);
    ck_assert_int_eq(status_of(f, 0, "k", NULL), JC_KEY_PENDING);
    jc_fake_fetcher_release(f->ff, NULL);
    wait_req(f, patient);
    assert_value(patient, "late", JC_SOURCE_COLLAPSED);
    ck_assert_int_eq(status_of(f, 0, "k", NULL), JC_KEY_EXISTS);
    ck_assert_uint_eq(fetches(f), 1);
    ck_assert_uint_eq(stats_of(f, 0).requests_error, 1);
}
END_TEST

START_TEST(last_waiter_timing_out_does_not_stop_the_fetch)
{
    struct fx *f = &F;
    fx_start(f, 1);
    script_hold(f, "k", 200, "late");
    struct req *r = start(f, 0, "k", JC_OP_BUILD, 10);
    wait_req(f, r);
    assert_err(r, JC_ERR_WAIT_TIMEOUT);
    ck_assert_uint_eq(jc_engine_active_fetches(f->r[0].engine), 1);
    drain(f);
    ck_assert_uint_eq(jc_engine_active_fetches(f->r[0].engine), 0);
    ck_assert_int_eq(status_of(f, 0, "k", NULL), JC_KEY_EXISTS);
    assert_value(build_wait(f, 0, "k"), "late", JC_SOURCE_STORE);
}
END_TEST

START_TEST(zero_timeout_answers_a_stored_value)
{
    struct fx *f = &F;
    fx_start(f, 1);
    build_wait(f, 0, "k");
    struct req *r = start(f, 0, "k", JC_OP_BUILD, 0);
    wait_req(f, r);
    assert_value(r, url_of("k"), JC_SOURCE_STORE);
}
END_TEST

START_TEST(zero_timeout_on_a_cold_key_times_out_and_the_build_goes_on)
{
    struct fx *f = &F;
    fx_start(f, 2);
    script_hold(f, "k", 200, "v");
    struct req *a = start(f, 0, "k", JC_OP_BUILD, 0);
    wait_req(f, a);
    assert_err(a, JC_ERR_WAIT_TIMEOUT);
    ck_assert_uint_eq(fetches(f), 1);
    struct req *b = start(f, 1, "k", JC_OP_BUILD, 0);
    wait_req(f, b);
    assert_err(b, JC_ERR_WAIT_TIMEOUT);
    drain(f);
    ck_assert_int_eq(status_of(f, 0, "k", NULL), JC_KEY_EXISTS);
    ck_assert_uint_eq(fetches(f), 1);
}
END_TEST

/* timeout_ms bounds the wait for a build, not the first store read: a wait
 * that ends during that read is decided by what the read finds. */
START_TEST(wait_ending_during_the_first_read_is_decided_by_the_read)
{
    struct fx *f = &F;
    fx_start(f, 2);
    build_wait(f, 0, "stored");
    script_hold(f, "locked", 200, "v");
    build(f, 0, "locked");
    jc_test_loop_for(f->loop, 10);
    f->tap->hold[TAP_LOOKUP] = true;
    struct req *hit = start(f, 1, "stored", JC_OP_BUILD, 5);
    struct req *wait = start(f, 1, "locked", JC_OP_BUILD, 5);
    ck_assert(run_until(f, &f->tap->n_held, 2, 1000));
    jc_test_loop_for(f->loop, 30);
    ck_assert_int_eq(hit->calls + wait->calls, 0);
    tap_release(f->tap);
    ck_assert(run_until(f, &f->n_done, 3, 1000));
    assert_value(hit, url_of("stored"), JC_SOURCE_STORE);
    assert_err(wait, JC_ERR_WAIT_TIMEOUT);
}
END_TEST

START_TEST(cancel_never_calls_back_and_the_fetch_goes_on)
{
    struct fx *f = &F;
    fx_start(f, 1);
    script_hold(f, "k", 200, "v");
    struct req *owner = build(f, 0, "k");
    struct req *other = build(f, 0, "k");
    jc_test_loop_for(f->loop, 10);
    ck_assert_uint_eq(fetches(f), 1);
    jc_engine_cancel(owner->wait);
    ck_assert_uint_eq(stats_of(f, 0).waiters, 1);
    jc_fake_fetcher_release(f->ff, NULL);
    wait_req(f, other);
    assert_value(other, "v", JC_SOURCE_COLLAPSED);
    jc_test_loop_for(f->loop, 10);
    ck_assert_int_eq(owner->calls, 0);
    ck_assert_int_eq(status_of(f, 0, "k", NULL), JC_KEY_EXISTS);
}
END_TEST

START_TEST(cancel_before_the_lock_still_builds_for_later_requests)
{
    struct fx *f = &F;
    f->cfg.poll_interval_ms = LONG_MS;
    fx_start(f, 1);
    script_hold(f, "k", 200, "v");
    struct req *gone = build(f, 0, "k");
    jc_engine_cancel(gone->wait);
    jc_test_loop_for(f->loop, 10);
    ck_assert_uint_eq(fetches(f), 1);
    ck_assert_int_eq(status_of(f, 0, "k", NULL), JC_KEY_PENDING);
    /* A new request waits for that fetch and learns of it by the DONE event. */
    struct req *later = build(f, 0, "k");
    jc_test_loop_for(f->loop, 10);
    ck_assert_int_eq(later->calls, 0);
    jc_fake_fetcher_release(f->ff, NULL);
    ck_assert(run_until(f, &later->calls, 1, 500));
    assert_value(later, "v", JC_SOURCE_COLLAPSED);
    ck_assert_int_eq(gone->calls, 0);
    ck_assert_uint_eq(fetches(f), 1);
}
END_TEST

START_TEST(cancel_of_a_waiter_on_another_replica)
{
    struct fx *f = &F;
    fx_start(f, 2);
    script_hold(f, "k", 200, "v");
    struct req *a = build(f, 0, "k");
    jc_test_loop_for(f->loop, 10);
    struct req *b = build(f, 1, "k");
    jc_test_loop_for(f->loop, 10);
    jc_engine_cancel(b->wait);
    ck_assert_uint_eq(stats_of(f, 1).waiters, 0);
    jc_fake_fetcher_release(f->ff, NULL);
    wait_req(f, a);
    jc_test_loop_for(f->loop, 100);
    ck_assert_int_eq(b->calls, 0);
    ck_assert_uint_eq(fetches(f), 1);
}
END_TEST

/* ---- only-if-cached, POST, DELETE, status ---- */

START_TEST(get_on_an_empty_key_is_not_cached_and_never_fetches)
{
    struct fx *f = &F;
    fx_start(f, 1);
    struct req *r = start(f, 0, "k", JC_OP_GET, LONG_MS);
    wait_req(f, r);
    assert_err(r, JC_ERR_NOT_CACHED);
    ck_assert_uint_eq(fetches(f), 0);
    ck_assert_int_eq(status_of(f, 0, "k", NULL), JC_KEY_EMPTY);
    build_wait(f, 0, "k");
    struct req *hit = start(f, 0, "k", JC_OP_GET, LONG_MS);
    wait_req(f, hit);
    assert_value(hit, url_of("k"), JC_SOURCE_STORE);
}
END_TEST

START_TEST(get_waits_for_a_pending_build_here)
{
    struct fx *f = &F;
    fx_start(f, 1);
    script_hold(f, "k", 200, "v");
    struct req *b = build(f, 0, "k");
    jc_test_loop_for(f->loop, 10);
    struct req *g = start(f, 0, "k", JC_OP_GET, LONG_MS);
    jc_test_loop_for(f->loop, 10);
    ck_assert_int_eq(g->calls, 0);
    jc_fake_fetcher_release(f->ff, NULL);
    ck_assert(run_until(f, &f->n_done, 2, 1000));
    assert_value(b, "v", JC_SOURCE_FETCHED);
    assert_value(g, "v", JC_SOURCE_COLLAPSED);
    ck_assert_uint_eq(fetches(f), 1);
}
END_TEST

START_TEST(get_waits_for_a_build_on_another_replica)
{
    struct fx *f = &F;
    fx_start(f, 2);
    script_hold(f, "k", 200, "v");
    build(f, 0, "k");
    jc_test_loop_for(f->loop, 10);
    struct req *g = start(f, 1, "k", JC_OP_GET, LONG_MS);
    jc_test_loop_for(f->loop, 20);
    ck_assert_int_eq(g->calls, 0);
    jc_fake_fetcher_release(f->ff, NULL);
    wait_req(f, g);
    assert_value(g, "v", JC_SOURCE_COLLAPSED);
    ck_assert_uint_eq(fetches(f), 1);
}
END_TEST

START_TEST(get_then_build_in_one_turn)
{
    struct fx *f = &F;
    fx_start(f, 1);
    struct req *g = start(f, 0, "k", JC_OP_GET, LONG_MS);
    struct req *b = build(f, 0, "k");
    ck_assert(run_until(f, &f->n_done, 2, 1000));
    assert_err(g, JC_ERR_NOT_CACHED);
    assert_value(b, url_of("k"), JC_SOURCE_FETCHED);
}
END_TEST

START_TEST(get_after_a_failed_fetch_is_not_cached)
{
    struct fx *f = &F;
    fx_start(f, 1);
    script_body(f, "k", 500, "oops");
    build_wait(f, 0, "k");
    struct req *g = start(f, 0, "k", JC_OP_GET, LONG_MS);
    wait_req(f, g);
    assert_err(g, JC_ERR_NOT_CACHED);
}
END_TEST

START_TEST(post_on_a_cold_key_builds_with_nobody_waiting)
{
    struct fx *f = &F;
    fx_start(f, 1);
    script_body(f, "k", 200, "v");
    struct req *p = start(f, 0, "k", JC_OP_POST, LONG_MS);
    wait_req(f, p);
    assert_err(p, JC_OK);
    ck_assert_ptr_null(p->o.entry);
    ck_assert_int_eq(p->o.status, JC_KEY_PENDING);
    ck_assert_uint_eq(fetches(f), 1);
    drain(f);
    ck_assert_int_eq(status_of(f, 0, "k", NULL), JC_KEY_EXISTS);
    ck_assert_uint_eq(stats_of(f, 0).waiters, 0);
    ck_assert_uint_eq(stats_of(f, 0).fetches_stored, 1);
    assert_value(build_wait(f, 0, "k"), "v", JC_SOURCE_STORE);
}
END_TEST

START_TEST(post_on_a_stored_key_is_exists)
{
    struct fx *f = &F;
    fx_start(f, 1);
    build_wait(f, 0, "k");
    struct req *p = start(f, 0, "k", JC_OP_POST, LONG_MS);
    wait_req(f, p);
    assert_err(p, JC_OK);
    ck_assert_int_eq(p->o.status, JC_KEY_EXISTS);
    ck_assert_uint_eq(fetches(f), 1);
}
END_TEST

START_TEST(post_while_building_is_pending_without_a_second_fetch)
{
    struct fx *f = &F;
    fx_start(f, 2);
    script_hold(f, "k", 200, "v");
    struct req *b = build(f, 0, "k");
    jc_test_loop_for(f->loop, 10);
    struct req *here = start(f, 0, "k", JC_OP_POST, LONG_MS);
    struct req *there = start(f, 1, "k", JC_OP_POST, LONG_MS);
    ck_assert(run_until(f, &f->n_done, 2, 1000));
    ck_assert_int_eq(here->o.status, JC_KEY_PENDING);
    ck_assert_int_eq(there->o.status, JC_KEY_PENDING);
    ck_assert_int_eq(b->calls, 0);
    jc_fake_fetcher_release(f->ff, NULL);
    wait_req(f, b);
    assert_value(b, "v", JC_SOURCE_FETCHED);
    ck_assert_uint_eq(fetches(f), 1);
}
END_TEST

START_TEST(post_and_build_in_one_turn_share_the_fetch)
{
    struct fx *f = &F;
    fx_start(f, 1);
    struct req *p = start(f, 0, "k", JC_OP_POST, LONG_MS);
    struct req *b = build(f, 0, "k");
    ck_assert(run_until(f, &f->n_done, 2, 1000));
    ck_assert_int_eq(p->o.status, JC_KEY_PENDING);
    assert_value(b, url_of("k"), JC_SOURCE_FETCHED);
    ck_assert_uint_eq(fetches(f), 1);
}
END_TEST

START_TEST(delete_waits_for_a_pending_build_then_deletes)
{
    struct fx *f = &F;
    f->cfg.l1_enabled = true;
    fx_start(f, 1);
    script_hold(f, "k", 200, "v");
    struct req *b = build(f, 0, "k");
    jc_test_loop_for(f->loop, 10);
    struct req *d = start(f, 0, "k", JC_OP_DELETE, LONG_MS);
    jc_test_loop_for(f->loop, 20);
    ck_assert_int_eq(d->calls, 0);
    ck_assert_int_eq(f->tap->calls[TAP_DELETE], 0);
    jc_fake_fetcher_release(f->ff, NULL);
    ck_assert(run_until(f, &f->n_done, 2, 1000));
    assert_value(b, "v", JC_SOURCE_FETCHED);
    assert_err(d, JC_OK);
    ck_assert_int_eq(f->tap->calls[TAP_DELETE], 1);
    ck_assert_int_eq(status_of(f, 0, "k", NULL), JC_KEY_EMPTY);
    ck_assert(!l1_has(f, 0, "k", NULL));
    script_body(f, "k", 200, "v2");
    assert_value(build_wait(f, 0, "k"), "v2", JC_SOURCE_FETCHED);
    ck_assert_uint_eq(fetches(f), 2);
}
END_TEST

START_TEST(delete_waits_for_a_build_on_another_replica)
{
    struct fx *f = &F;
    fx_start(f, 2);
    script_hold(f, "k", 200, "v");
    build(f, 0, "k");
    jc_test_loop_for(f->loop, 10);
    struct req *d = start(f, 1, "k", JC_OP_DELETE, LONG_MS);
    jc_test_loop_for(f->loop, 20);
    ck_assert_int_eq(d->calls, 0);
    jc_fake_fetcher_release(f->ff, NULL);
    wait_req(f, d);
    assert_err(d, JC_OK);
    ck_assert_int_eq(status_of(f, 0, "k", NULL), JC_KEY_EMPTY);
}
END_TEST

START_TEST(delete_of_a_missing_key_is_ok)
{
    struct fx *f = &F;
    fx_start(f, 1);
    struct req *d = start(f, 0, "nothing", JC_OP_DELETE, LONG_MS);
    wait_req(f, d);
    assert_err(d, JC_OK);
    ck_assert_uint_eq(fetches(f), 0);
}
END_TEST

START_TEST(status_reports_empty_pending_and_exists_with_ttl)
{
    struct fx *f = &F;
    f->cfg.expiry_type = JC_EXPIRY_ABSOLUTE;
    f->cfg.expiry_ms = 1000;
    fx_start(f, 1);
    int64_t ttl = 0;
    ck_assert_int_eq(status_of(f, 0, "k", &ttl), JC_KEY_EMPTY);
    ck_assert_int_eq(ttl, -1);
    script_hold(f, "k", 200, "v");
    struct req *b = build(f, 0, "k");
    jc_test_loop_for(f->loop, 10);
    ck_assert_int_eq(status_of(f, 0, "k", NULL), JC_KEY_PENDING);
    jc_fake_fetcher_release(f->ff, NULL);
    wait_req(f, b);
    jc_test_clock_advance(&f->clock, 300);
    ck_assert_int_eq(status_of(f, 0, "k", &ttl), JC_KEY_EXISTS);
    ck_assert_int_eq(ttl, 700);
}
END_TEST

/* ---- replicas ---- */

START_TEST(waiter_on_another_replica_learns_by_the_done_event)
{
    struct fx *f = &F;
    f->cfg.poll_interval_ms = LONG_MS;
    fx_start(f, 2);
    script_hold(f, "k", 200, "v");
    struct req *a = build(f, 0, "k");
    jc_test_loop_for(f->loop, 10);
    struct req *b = build(f, 1, "k");
    jc_test_loop_for(f->loop, 20);
    ck_assert_int_eq(b->calls, 0);
    ck_assert_uint_eq(stats_of(f, 1).waiters, 1);
    int lookups = f->tap->calls[TAP_LOOKUP];
    jc_fake_fetcher_release(f->ff, NULL);
    ck_assert(run_until(f, &f->n_done, 2, 500));
    assert_value(a, "v", JC_SOURCE_FETCHED);
    assert_value(b, "v", JC_SOURCE_COLLAPSED);
    /* B read the store once more, after the event. */
    ck_assert_int_eq(f->tap->calls[TAP_LOOKUP], lookups + 1);
    ck_assert_uint_eq(fetches(f), 1);
    ck_assert_uint_eq(stats_of(f, 1).requests_collapsed, 1);
}
END_TEST

START_TEST(waiter_whose_event_is_lost_finishes_by_polling)
{
    struct fx *f = &F;
    f->cfg.poll_interval_ms = 20;
    fx_start(f, 2);
    f->r[0].forward = false;
    script_hold(f, "k", 200, "v");
    build(f, 0, "k");
    jc_test_loop_for(f->loop, 10);
    struct req *b = build(f, 1, "k");
    jc_test_loop_for(f->loop, 10);
    jc_fake_fetcher_release(f->ff, NULL);
    ck_assert(run_until(f, &b->calls, 1, 1000));
    assert_value(b, "v", JC_SOURCE_COLLAPSED);
    ck_assert_uint_eq(fetches(f), 1);
}
END_TEST

START_TEST(waiter_whose_event_is_lost_keeps_waiting_until_the_poll)
{
    struct fx *f = &F;
    f->cfg.poll_interval_ms = LONG_MS;
    fx_start(f, 2);
    f->r[0].forward = false;
    script_hold(f, "k", 200, "v");
    build(f, 0, "k");
    jc_test_loop_for(f->loop, 10);
    struct req *b = start(f, 1, "k", JC_OP_BUILD, 150);
    jc_test_loop_for(f->loop, 10);
    jc_fake_fetcher_release(f->ff, NULL);
    jc_test_loop_for(f->loop, 50);
    ck_assert_int_eq(b->calls, 0);
    wait_req(f, b);
    assert_err(b, JC_ERR_WAIT_TIMEOUT);
}
END_TEST

START_TEST(done_event_during_a_read_is_not_lost)
{
    struct fx *f = &F;
    f->cfg.poll_interval_ms = LONG_MS;
    fx_start(f, 2);
    script_hold(f, "k", 200, "v");
    build(f, 0, "k");
    jc_test_loop_for(f->loop, 10);
    /* B's read sees A's lock, but its answer is late... */
    f->tap->hold[TAP_LOOKUP] = true;
    struct req *b = build(f, 1, "k");
    ck_assert(run_until(f, &f->tap->n_held, 1, 1000));
    /* ...and A's DONE comes first. */
    jc_fake_fetcher_release(f->ff, NULL);
    jc_test_loop_for(f->loop, 20);
    ck_assert_int_eq(b->calls, 0);
    tap_release(f->tap);
    ck_assert(run_until(f, &b->calls, 1, 500));
    assert_value(b, "v", JC_SOURCE_COLLAPSED);
}
END_TEST

START_TEST(crashed_builder_loses_its_lease_and_its_late_commit_is_fenced)
{
    struct fx *f = &F;
    f->cfg.poll_interval_ms = 20;
    fx_start(f, 2);
    script_hold(f, "k", 200, "from-A");
    struct req *a = build(f, 0, "k");
    jc_test_loop_for(f->loop, 10);
    ck_assert_uint_eq(fetches(f), 1);
    script_body(f, "k", 200, "from-B");
    struct req *b = build(f, 1, "k");
    jc_test_loop_for(f->loop, 60);
    ck_assert_int_eq(b->calls, 0);
    /* The lease is upstream_timeout_ms + lease_grace_ms on the store's clock. */
    jc_test_clock_advance(&f->clock, 11999);
    jc_test_loop_for(f->loop, 60);
    ck_assert_int_eq(b->calls, 0);
    ck_assert_uint_eq(fetches(f), 1);
    jc_test_clock_advance(&f->clock, 1);
    wait_req(f, b);
    assert_value(b, "from-B", JC_SOURCE_FETCHED);
    ck_assert_uint_eq(fetches(f), 2);
    /* A comes back and tries to commit with its old token. */
    jc_fake_fetcher_release(f->ff, NULL);
    wait_req(f, a);
    ck_assert_uint_eq(stats_of(f, 0).fetches_fenced, 1);
    ck_assert_uint_eq(stats_of(f, 0).fetches_stored, 0);
    ck_assert_uint_eq(stats_of(f, 1).fetches_stored, 1);
    ck_assert_uint_eq(jc_engine_active_fetches(f->r[0].engine), 0);
    assert_value(build_wait(f, 0, "k"), "from-B", JC_SOURCE_STORE);
    assert_value(build_wait(f, 1, "k"), "from-B", JC_SOURCE_STORE);
    ck_assert_uint_eq(fetches(f), 2);
}
END_TEST

/* ---- expiry through the engine ---- */

START_TEST(sliding_store_hits_extend_the_ttl)
{
    struct fx *f = &F;
    f->cfg.expiry_type = JC_EXPIRY_SLIDING;
    f->cfg.expiry_ms = 1000;
    fx_start(f, 1);
    build_wait(f, 0, "k");
    for (int i = 0; i < 5; i++) {
        jc_test_clock_advance(&f->clock, 600);
        assert_value(build_wait(f, 0, "k"), url_of("k"), JC_SOURCE_STORE);
    }
    int64_t ttl;
    ck_assert_int_eq(status_of(f, 0, "k", &ttl), JC_KEY_EXISTS);
    ck_assert_int_eq(ttl, 1000);
    ck_assert_uint_eq(fetches(f), 1);
    jc_test_clock_advance(&f->clock, 1000);
    assert_value(build_wait(f, 0, "k"), url_of("k"), JC_SOURCE_FETCHED);
    ck_assert_uint_eq(fetches(f), 2);
}
END_TEST

START_TEST(absolute_store_hits_do_not_extend_the_ttl)
{
    struct fx *f = &F;
    f->cfg.expiry_type = JC_EXPIRY_ABSOLUTE;
    f->cfg.expiry_ms = 1000;
    fx_start(f, 1);
    build_wait(f, 0, "k");
    jc_test_clock_advance(&f->clock, 600);
    assert_value(build_wait(f, 0, "k"), url_of("k"), JC_SOURCE_STORE);
    jc_test_clock_advance(&f->clock, 399);
    assert_value(build_wait(f, 0, "k"), url_of("k"), JC_SOURCE_STORE);
    jc_test_clock_advance(&f->clock, 1);
    assert_value(build_wait(f, 0, "k"), url_of("k"), JC_SOURCE_FETCHED);
    ck_assert_uint_eq(fetches(f), 2);
}
END_TEST

START_TEST(sliding_l1_hits_touch_the_store_once_per_tenth)
{
    struct fx *f = &F;
    f->cfg.l1_enabled = true;
    f->cfg.expiry_type = JC_EXPIRY_SLIDING;
    f->cfg.expiry_ms = 1000;
    fx_start(f, 1);
    build_wait(f, 0, "k");
    for (int i = 1; i < 10; i++) {
        jc_test_clock_advance(&f->clock, 10);
        ck_assert(l1_has(f, 0, "k", NULL));
    }
    ck_assert_int_eq(f->tap->calls[TAP_TOUCH], 0);
    jc_test_clock_advance(&f->clock, 10);
    ck_assert(l1_has(f, 0, "k", NULL));
    ck_assert_int_eq(f->tap->calls[TAP_TOUCH], 1);
    int64_t ttl;
    ck_assert_int_eq(status_of(f, 0, "k", &ttl), JC_KEY_EXISTS);
    ck_assert_int_eq(ttl, 1000);
    jc_test_clock_advance(&f->clock, 99);
    ck_assert(l1_has(f, 0, "k", NULL));
    ck_assert_int_eq(f->tap->calls[TAP_TOUCH], 1);
    jc_test_clock_advance(&f->clock, 1);
    ck_assert(l1_has(f, 0, "k", NULL));
    ck_assert_int_eq(f->tap->calls[TAP_TOUCH], 2);
}
END_TEST

START_TEST(sliding_l1_hits_keep_the_store_entry_alive)
{
    struct fx *f = &F;
    f->cfg.l1_enabled = true;
    f->cfg.expiry_type = JC_EXPIRY_SLIDING;
    f->cfg.expiry_ms = 1000;
    fx_start(f, 1);
    build_wait(f, 0, "k");
    for (int i = 0; i < 30; i++) {
        jc_test_clock_advance(&f->clock, 100);
        ck_assert(l1_has(f, 0, "k", NULL));
        jc_loop_run_once(f->loop);
    }
    ck_assert_int_eq(status_of(f, 0, "k", NULL), JC_KEY_EXISTS);
    ck_assert_uint_eq(fetches(f), 1);
    assert_value(build_wait(f, 0, "k"), url_of("k"), JC_SOURCE_STORE);
}
END_TEST

START_TEST(sliding_l1_copy_never_outlives_the_store_entry)
{
    struct fx *f = &F;
    f->cfg.l1_enabled = true;
    f->cfg.expiry_type = JC_EXPIRY_SLIDING;
    f->cfg.expiry_ms = 1000;
    fx_start(f, 1);
    build_wait(f, 0, "k");
    jc_test_clock_advance(&f->clock, 50);
    ck_assert(l1_has(f, 0, "k", NULL)); /* too soon to touch the store */
    jc_test_clock_advance(&f->clock, 949);
    ck_assert_int_eq(status_of(f, 0, "k", NULL), JC_KEY_EXISTS);
    jc_test_clock_advance(&f->clock, 1);
    ck_assert_int_eq(status_of(f, 0, "k", NULL), JC_KEY_EMPTY);
    ck_assert(!l1_has(f, 0, "k", NULL));
}
END_TEST

START_TEST(absolute_l1_deadline_is_the_store_expiry_on_every_replica)
{
    struct fx *f = &F;
    f->cfg.l1_enabled = true;
    f->cfg.expiry_type = JC_EXPIRY_ABSOLUTE;
    f->cfg.expiry_ms = 1000;
    fx_start(f, 2);
    build_wait(f, 0, "k");
    jc_test_clock_advance(&f->clock, 400);
    assert_value(build_wait(f, 1, "k"), url_of("k"), JC_SOURCE_STORE);
    for (int i = 0; i < 5; i++) {
        jc_test_clock_advance(&f->clock, 100);
        ck_assert(l1_has(f, 0, "k", NULL));
        ck_assert(l1_has(f, 1, "k", NULL));
    }
    ck_assert_int_eq(f->tap->calls[TAP_TOUCH], 0);
    jc_test_clock_advance(&f->clock, 99);
    ck_assert(l1_has(f, 0, "k", NULL));
    ck_assert(l1_has(f, 1, "k", NULL));
    int64_t ttl;
    ck_assert_int_eq(status_of(f, 0, "k", &ttl), JC_KEY_EXISTS);
    ck_assert_int_eq(ttl, 1);
    jc_test_clock_advance(&f->clock, 1);
    ck_assert(!l1_has(f, 0, "k", NULL));
    ck_assert(!l1_has(f, 1, "k", NULL));
    ck_assert_int_eq(status_of(f, 0, "k", NULL), JC_KEY_EMPTY);
}
END_TEST

START_TEST(sliding_touch_of_a_vanished_value_drops_the_l1_copy)
{
    struct fx *f = &F;
    f->cfg.l1_enabled = true;
    f->cfg.expiry_type = JC_EXPIRY_SLIDING;
    f->cfg.expiry_ms = 1000;
    fx_start(f, 1);
    build_wait(f, 0, "k");
    store_delete_behind(f, "k");
    jc_test_clock_advance(&f->clock, 100);
    ck_assert(l1_has(f, 0, "k", NULL));
    ck_assert_int_eq(f->tap->calls[TAP_TOUCH], 1);
    jc_test_loop_for(f->loop, 10);
    ck_assert(!l1_has(f, 0, "k", NULL));
}
END_TEST

/* The store fixes the expiry when it applies the commit; its answer comes
 * later (a network round trip with Redis).  The L1 copy must still end when
 * the store's does. */
START_TEST(l1_copy_of_a_slow_commit_never_outlives_the_store_entry)
{
    struct fx *f = &F;
    f->cfg.l1_enabled = true;
    f->cfg.expiry_type = JC_EXPIRY_ABSOLUTE;
    f->cfg.expiry_ms = 1000;
    fx_start(f, 1);
    f->tap->hold[TAP_COMMIT] = true;
    struct req *r = build(f, 0, "k");
    ck_assert(run_until(f, &f->tap->n_held, 1, 1000));
    jc_test_clock_advance(&f->clock, 300);
    tap_release(f->tap);
    wait_req(f, r);
    assert_value(r, url_of("k"), JC_SOURCE_FETCHED);
    jc_test_clock_advance(&f->clock, 700);
    ck_assert_int_eq(status_of(f, 0, "k", NULL), JC_KEY_EMPTY);
    ck_assert_msg(!l1_has(f, 0, "k", NULL), "the L1 copy outlived the store entry");
}
END_TEST

/* The same for a value read from the store: the remaining TTL counts from
 * the store's read, not from when its answer arrived. */
START_TEST(l1_copy_of_a_slow_read_never_outlives_the_store_entry)
{
    struct fx *f = &F;
    f->cfg.l1_enabled = true;
    f->cfg.expiry_type = JC_EXPIRY_ABSOLUTE;
    f->cfg.expiry_ms = 1000;
    fx_start(f, 2);
    build_wait(f, 0, "k");
    jc_test_clock_advance(&f->clock, 400);
    f->tap->hold[TAP_LOOKUP] = true;
    struct req *r = build(f, 1, "k");
    ck_assert(run_until(f, &f->tap->n_held, 1, 1000));
    jc_test_clock_advance(&f->clock, 300);
    tap_release(f->tap);
    wait_req(f, r);
    assert_value(r, url_of("k"), JC_SOURCE_STORE);
    jc_test_clock_advance(&f->clock, 300);
    ck_assert_int_eq(status_of(f, 1, "k", NULL), JC_KEY_EMPTY);
    ck_assert_msg(!l1_has(f, 1, "k", NULL), "the L1 copy outlived the store entry");
}
END_TEST

/* B reads the value; A deletes it and its INVALIDATE reaches B before B's
 * read answers.  B must not keep the deleted value in its L1. */
START_TEST(invalidate_overtaking_a_read_leaves_no_stale_l1_copy)
{
    struct fx *f = &F;
    f->cfg.l1_enabled = true;
    fx_start(f, 2);
    build_wait(f, 0, "k");
    f->tap->hold[TAP_LOOKUP] = true;
    struct req *b = build(f, 1, "k");
    ck_assert(run_until(f, &f->tap->n_held, 1, 1000));
    f->tap->hold[TAP_LOOKUP] = false;
    struct req *d = start(f, 0, "k", JC_OP_DELETE, LONG_MS);
    wait_req(f, d);
    assert_err(d, JC_OK);
    jc_test_loop_for(f->loop, 10);
    tap_release(f->tap);
    wait_req(f, b);
    ck_assert_int_eq(status_of(f, 1, "k", NULL), JC_KEY_EMPTY);
    ck_assert_msg(!l1_has(f, 1, "k", NULL), "B's L1 serves a deleted value");
}
END_TEST

/* ---- shutdown ---- */

START_TEST(shutdown_ends_waits_on_others_and_lets_own_fetches_finish)
{
    struct fx *f = &F;
    fx_start(f, 2);
    script_hold(f, "k", 200, "v");
    struct req *a1 = build(f, 0, "k");
    struct req *a2 = build(f, 0, "k");
    jc_test_loop_for(f->loop, 10);
    struct req *b1 = build(f, 1, "k");
    struct req *b2 = start(f, 1, "k", JC_OP_GET, LONG_MS);
    jc_test_loop_for(f->loop, 10);
    jc_engine_shutdown(f->r[1].engine);
    jc_test_loop_for(f->loop, 10);
    assert_err(b1, JC_ERR_SHUTDOWN);
    assert_err(b2, JC_ERR_SHUTDOWN);
    ck_assert_uint_eq(stats_of(f, 1).waiters, 0);
    jc_engine_shutdown(f->r[0].engine);
    jc_test_loop_for(f->loop, 10);
    ck_assert_int_eq(a1->calls + a2->calls, 0);
    ck_assert_uint_eq(jc_engine_active_fetches(f->r[0].engine), 1);
    struct req *refused;
    ck_assert_int_eq(start_raw(f, 0, "k", JC_OP_BUILD, LONG_MS, &refused), JC_ERR_SHUTDOWN);
    ck_assert_int_eq(start_raw(f, 1, "x", JC_OP_BUILD, LONG_MS, &refused), JC_ERR_SHUTDOWN);
    jc_fake_fetcher_release(f->ff, NULL);
    ck_assert(run_until(f, &f->n_done, 4, 1000));
    assert_value(a1, "v", JC_SOURCE_FETCHED);
    assert_value(a2, "v", JC_SOURCE_COLLAPSED);
    ck_assert_uint_eq(jc_engine_active_fetches(f->r[0].engine), 0);
    ck_assert_int_eq(status_of(f, 0, "k", NULL), JC_KEY_EXISTS);
    jc_test_loop_for(f->loop, 10);
    ck_assert_int_eq(f->reqs[f->n_reqs - 1].calls, 0);
    ck_assert_int_eq(f->reqs[f->n_reqs - 2].calls, 0);
}
END_TEST

/* ---- the callback rule ---- */

/* Every kind of answer the engine can give at once: the fixture's teardown
 * fails the test if any callback ran inside its jc_engine_start. */
START_TEST(no_callback_runs_inside_start)
{
    struct fx *f = &F;
    f->cfg.l1_enabled = true;
    fx_start(f, 1);
    struct jc_fake_reply refuse = {.refuse = JC_ERR_UPSTREAM};
    script(f, "refused", &refuse);
    start(f, 0, "refused", JC_OP_BUILD, LONG_MS);
    start(f, 0, "empty", JC_OP_GET, LONG_MS);
    start(f, 0, "gone", JC_OP_DELETE, LONG_MS);
    start(f, 0, "zero", JC_OP_BUILD, 0);
    ck_assert(run_until(f, &f->n_done, 4, 1000));
    script_hold(f, "held", 200, "v");
    build(f, 0, "held");
    jc_test_loop_for(f->loop, 10);
    start(f, 0, "held", JC_OP_POST, LONG_MS); /* this replica fetches it already */
    start(f, 0, "held", JC_OP_BUILD, 0);
    ck_assert(run_until(f, &f->n_done, 6, 1000));
    build_wait(f, 0, "refused");
    start(f, 0, "held", JC_OP_POST, LONG_MS);
    drain(f);
    start(f, 0, "held", JC_OP_POST, LONG_MS);
    start(f, 0, "held", JC_OP_GET, LONG_MS);
    ck_assert(run_until(f, &f->n_done, 11, 1000));
}
END_TEST

START_TEST(store_refusing_a_lookup_never_calls_back_inside_start)
{
    struct fx *f = &F;
    fx_start(f, 1);
    f->tap->refuse[TAP_LOOKUP] = JC_ERR_STORE;
    struct req *r;
    enum jc_err err = start_raw(f, 0, "k", JC_OP_BUILD, LONG_MS, &r);
    ck_assert_msg(!r->early, "the callback ran inside jc_engine_start");
    jc_test_loop_for(f->loop, 10);
    if (err == JC_OK) {
        assert_err(r, JC_ERR_STORE);
    } else {
        ck_assert_int_eq(r->calls, 0);
    }
}
END_TEST

START_TEST(delete_timing_out_while_the_store_deletes)
{
    struct fx *f = &F;
    fx_start(f, 1);
    build_wait(f, 0, "k");
    f->tap->hold[TAP_DELETE] = true;
    struct req *d = start(f, 0, "k", JC_OP_DELETE, 20);
    ck_assert(run_until(f, &f->tap->n_held, 1, 1000));
    jc_test_loop_for(f->loop, 60);
    tap_release(f->tap);
    jc_test_loop_for(f->loop, 10);
    ck_assert_int_eq(d->calls, 1);
    ck_assert(d->o.err == JC_OK || d->o.err == JC_ERR_WAIT_TIMEOUT);
    ck_assert_int_eq(status_of(f, 0, "k", NULL), JC_KEY_EMPTY);
}
END_TEST

START_TEST(delete_cancelled_while_the_store_deletes)
{
    struct fx *f = &F;
    fx_start(f, 1);
    build_wait(f, 0, "k");
    f->tap->hold[TAP_DELETE] = true;
    struct req *d = start(f, 0, "k", JC_OP_DELETE, 20);
    ck_assert(run_until(f, &f->tap->n_held, 1, 1000));
    jc_engine_cancel(d->wait);
    jc_test_loop_for(f->loop, 60);
    tap_release(f->tap);
    jc_test_loop_for(f->loop, 10);
    ck_assert_int_eq(d->calls, 0);
    ck_assert_int_eq(status_of(f, 0, "k", NULL), JC_KEY_EMPTY);
}
END_TEST

static TCase *tcase(const char *name)
{
    TCase *tc = tcase_create(name);
    tcase_add_checked_fixture(tc, fx_setup, fx_teardown);
    tcase_set_timeout(tc, 30);
    return tc;
}

static void add_collapse_tests(Suite *s)
{
    TCase *tc = tcase("collapse");
    tcase_add_test(tc, hundred_builds_of_a_cold_key_fetch_once);
    tcase_add_test(tc, hundred_builds_on_two_replicas_fetch_once);
    tcase_add_test(tc, different_keys_do_not_share_a_fetch);
    suite_add_tcase(s, tc);
}

static void add_l1_tests(Suite *s)
{
    TCase *tc = tcase("l1");
    tcase_add_test(tc, stored_value_is_a_store_hit_with_l1_off);
    tcase_add_test(tc, l1_returns_the_fetched_value);
    tcase_add_test(tc, l1_is_filled_by_a_store_read);
    tcase_add_test(tc, l1_keeps_at_most_max_entries_evicting_the_least_recently_used);
    tcase_add_test(tc, l1_copy_ends_with_the_absolute_store_entry);
    tcase_add_test(tc, l1_purge_timer_drops_expired_copies);
    tcase_add_test(tc, invalidate_from_another_replica_drops_the_l1_copy);
    tcase_add_test(tc, delete_drops_the_l1_copy_of_every_replica);
    tcase_add_test(tc, new_value_from_another_replica_drops_a_stale_l1_copy);
    suite_add_tcase(s, tc);
}

static void add_failures_tests(Suite *s)
{
    TCase *tc = tcase("failures");
    tcase_add_test(tc, uncacheable_status_reaches_every_waiter_and_is_not_stored);
    tcase_add_test(tc, status_in_cache_statuses_is_stored);
    tcase_add_test(tc, fetch_errors_reach_every_waiter);
    tcase_add_test(tc, refused_fetch_reaches_every_waiter_and_releases_the_lock);
    tcase_add_test(tc, failure_reaches_a_waiter_on_another_replica_by_its_event);
    tcase_add_test(tc, failure_reaches_a_waiter_on_another_replica_by_polling);
    tcase_add_test(tc, store_error_reaches_every_waiter);
    tcase_add_test(tc, store_refusing_the_commit_still_answers_every_waiter);
    tcase_add_test(tc, store_refusing_the_tombstone_of_a_refused_fetch);
    suite_add_tcase(s, tc);
}

static void add_timeouts_tests(Suite *s)
{
    TCase *tc = tcase("timeouts");
    tcase_add_test(tc, wait_timeout_leaves_the_fetch_running);
    tcase_add_test(tc, last_waiter_timing_out_does_not_stop_the_fetch);
    tcase_add_test(tc, zero_timeout_answers_a_stored_value);
    tcase_add_test(tc, zero_timeout_on_a_cold_key_times_out_and_the_build_goes_on);
    tcase_add_test(tc, wait_ending_during_the_first_read_is_decided_by_the_read);
    tcase_add_test(tc, cancel_never_calls_back_and_the_fetch_goes_on);
    tcase_add_test(tc, cancel_before_the_lock_still_builds_for_later_requests);
    tcase_add_test(tc, cancel_of_a_waiter_on_another_replica);
    tcase_add_test(tc, delete_timing_out_while_the_store_deletes);
    tcase_add_test(tc, delete_cancelled_while_the_store_deletes);
    suite_add_tcase(s, tc);
}

static void add_ops_tests(Suite *s)
{
    TCase *tc = tcase("ops");
    tcase_add_test(tc, get_on_an_empty_key_is_not_cached_and_never_fetches);
    tcase_add_test(tc, get_waits_for_a_pending_build_here);
    tcase_add_test(tc, get_waits_for_a_build_on_another_replica);
    tcase_add_test(tc, get_then_build_in_one_turn);
    tcase_add_test(tc, get_after_a_failed_fetch_is_not_cached);
    tcase_add_test(tc, post_on_a_cold_key_builds_with_nobody_waiting);
    tcase_add_test(tc, post_on_a_stored_key_is_exists);
    tcase_add_test(tc, post_while_building_is_pending_without_a_second_fetch);
    tcase_add_test(tc, post_and_build_in_one_turn_share_the_fetch);
    tcase_add_test(tc, delete_waits_for_a_pending_build_then_deletes);
    tcase_add_test(tc, delete_waits_for_a_build_on_another_replica);
    tcase_add_test(tc, delete_of_a_missing_key_is_ok);
    tcase_add_test(tc, status_reports_empty_pending_and_exists_with_ttl);
    suite_add_tcase(s, tc);
}

static void add_replicas_tests(Suite *s)
{
    TCase *tc = tcase("replicas");
    tcase_add_test(tc, waiter_on_another_replica_learns_by_the_done_event);
    tcase_add_test(tc, waiter_whose_event_is_lost_finishes_by_polling);
    tcase_add_test(tc, waiter_whose_event_is_lost_keeps_waiting_until_the_poll);
    tcase_add_test(tc, done_event_during_a_read_is_not_lost);
    tcase_add_test(tc, crashed_builder_loses_its_lease_and_its_late_commit_is_fenced);
    suite_add_tcase(s, tc);
}

static void add_expiry_tests(Suite *s)
{
    TCase *tc = tcase("expiry");
    tcase_add_test(tc, sliding_store_hits_extend_the_ttl);
    tcase_add_test(tc, absolute_store_hits_do_not_extend_the_ttl);
    tcase_add_test(tc, sliding_l1_hits_touch_the_store_once_per_tenth);
    tcase_add_test(tc, sliding_l1_hits_keep_the_store_entry_alive);
    tcase_add_test(tc, sliding_l1_copy_never_outlives_the_store_entry);
    tcase_add_test(tc, absolute_l1_deadline_is_the_store_expiry_on_every_replica);
    tcase_add_test(tc, sliding_touch_of_a_vanished_value_drops_the_l1_copy);
    tcase_add_test(tc, l1_copy_of_a_slow_commit_never_outlives_the_store_entry);
    tcase_add_test(tc, l1_copy_of_a_slow_read_never_outlives_the_store_entry);
    tcase_add_test(tc, invalidate_overtaking_a_read_leaves_no_stale_l1_copy);
    suite_add_tcase(s, tc);
}

static void add_lifecycle_tests(Suite *s)
{
    TCase *tc = tcase("lifecycle");
    tcase_add_test(tc, shutdown_ends_waits_on_others_and_lets_own_fetches_finish);
    tcase_add_test(tc, no_callback_runs_inside_start);
    tcase_add_test(tc, store_refusing_a_lookup_never_calls_back_inside_start);
    suite_add_tcase(s, tc);
}

/* ---- found in review ---- */

/* A POST joins a flight waiting for a fetch that then fails: the failed
 * fetch's waiters get the failure, and the POST starts a new build. */
START_TEST(post_after_a_failed_wait_starts_a_build)
{
    struct fx *f = &F;
    f->cfg.poll_interval_ms = LONG_MS;
    fx_start(f, 2);
    f->r[0].forward = false; /* B misses A's DONE */
    struct jc_fake_reply reply = {.status = 503, .body = "busy", .hold = true};
    script(f, "k", &reply);
    build(f, 0, "k");
    jc_test_loop_for(f->loop, 10);
    struct req *b = build(f, 1, "k");
    jc_test_loop_for(f->loop, 10);
    jc_fake_fetcher_release(f->ff, NULL);
    jc_test_loop_for(f->loop, 20);
    ck_assert_int_eq(b->calls, 0);
    script_body(f, "k", 200, "v");
    struct req *p = start(f, 1, "k", JC_OP_POST, LONG_MS);
    wait_req(f, p);
    wait_req(f, b);
    ck_assert_int_eq(b->o.err, JC_OK);
    ck_assert_ptr_nonnull(b->o.entry);
    ck_assert_int_eq(b->o.entry->status, 503);
    ck_assert_int_eq(p->o.err, JC_OK);
    ck_assert_int_eq(p->o.status, JC_KEY_PENDING);
    jc_test_loop_for(f->loop, 20);
    ck_assert_uint_eq(fetches(f), 2);
    ck_assert_int_eq(status_of(f, 1, "k", NULL), JC_KEY_EXISTS);
}
END_TEST

/* A lookup that may take the lock counts as running work until it answers,
 * so a draining process waits for it (and for the fetch it may start). */
START_TEST(shutdown_waits_for_a_locking_lookup)
{
    struct fx *f = &F;
    fx_start(f, 1);
    script_hold(f, "k", 200, "v");
    f->tap->hold[TAP_LOOKUP] = true;
    build(f, 0, "k");
    jc_test_loop_for(f->loop, 10);
    jc_engine_shutdown(f->r[0].engine);
    jc_test_loop_for(f->loop, 10);
    ck_assert_uint_eq(jc_engine_active_fetches(f->r[0].engine), 1);
    tap_release(f->tap);
    jc_test_loop_for(f->loop, 20);
    ck_assert_uint_eq(jc_engine_active_fetches(f->r[0].engine), 1); /* now the fetch */
    jc_fake_fetcher_release(f->ff, NULL);
    jc_test_loop_for(f->loop, 20);
    ck_assert_uint_eq(jc_engine_active_fetches(f->r[0].engine), 0);
}
END_TEST

/* The first requester timed out during the first read: the request that
 * stays is the one that fetched ("stored"), not a collapsed waiter. */
START_TEST(owner_is_a_waiter_still_waiting)
{
    struct fx *f = &F;
    fx_start(f, 1);
    script_hold(f, "k", 200, "v");
    f->tap->hold[TAP_LOOKUP] = true;
    struct req *a = start(f, 0, "k", JC_OP_BUILD, 1);
    struct req *b = build(f, 0, "k");
    jc_test_loop_for(f->loop, 10);
    tap_release(f->tap);
    jc_test_loop_for(f->loop, 10);
    jc_fake_fetcher_release(f->ff, NULL);
    wait_req(f, b);
    ck_assert_int_eq(a->o.err, JC_ERR_WAIT_TIMEOUT);
    ck_assert_int_eq(b->o.source, JC_SOURCE_FETCHED);
    ck_assert_uint_eq(stats_of(f, 0).requests_miss, 1);
}
END_TEST

struct touch_fail {
    jc_store_done_fn *cb;
    void *arg;
};

static void touch_fail_answer(void *arg)
{
    struct touch_fail *t = arg;
    t->cb(t->arg, JC_ERR_STORE);
    free(t);
}

static enum jc_err failing_touch(struct jc_store *store, const struct jc_store_key *k,
                                 int64_t ttl_ms, jc_store_done_fn *cb, void *arg)
{
    (void)k;
    (void)ttl_ms;
    struct touch_fail *t = jc_xcalloc(1, sizeof(*t));
    t->cb = cb;
    t->arg = arg;
    jc_loop_defer(tap_of(store)->loop, touch_fail_answer, t);
    return JC_OK;
}

/* A sliding refresh the store did not make leaves the L1 deadline alone. */
START_TEST(failed_touch_does_not_extend_l1)
{
    struct fx *f = &F;
    f->cfg.l1_enabled = true;
    f->cfg.expiry_type = JC_EXPIRY_SLIDING;
    f->cfg.expiry_ms = 1000;
    fx_start(f, 1);
    script_body(f, "k", 200, "v");
    build_wait(f, 0, "k");
    static struct jc_store_ops failing_ops;
    failing_ops = *f->tap->base.ops;
    failing_ops.touch = failing_touch;
    f->tap->base.ops = &failing_ops;
    jc_test_clock_advance(&f->clock, 900);
    ck_assert(l1_has(f, 0, "k", "v")); /* sends a touch that fails */
    jc_test_loop_for(f->loop, 10);
    jc_test_clock_advance(&f->clock, 200);
    ck_assert_int_eq(status_of(f, 0, "k", NULL), JC_KEY_EMPTY);
    ck_assert(!l1_has(f, 0, "k", "v"));
}
END_TEST

/* Another replica deletes the key after this replica's commit reached the
 * store but before its reply: the deleted value must not enter L1. */
START_TEST(delete_overtaking_a_commit_reply_leaves_no_l1_copy)
{
    struct fx *f = &F;
    f->cfg.l1_enabled = true;
    fx_start(f, 1);
    script_body(f, "k", 200, "v");
    f->tap->hold[TAP_COMMIT] = true;
    struct req *a = build(f, 0, "k");
    jc_test_loop_for(f->loop, 10);
    store_delete_behind(f, "k");
    send_event(f, 0, JC_EVENT_INVALIDATE, "c", "k", "B");
    tap_release(f->tap);
    wait_req(f, a);
    ck_assert_int_eq(status_of(f, 0, "k", NULL), JC_KEY_EMPTY);
    ck_assert(!l1_has(f, 0, "k", "v"));
}
END_TEST

/* A status read whose client went away (the request freed at shutdown)
 * never calls back, even when the store answers later. */
START_TEST(cancelled_status_never_calls_back)
{
    struct fx *f = &F;
    fx_start(f, 1);
    f->tap->hold[TAP_STATUS] = true;
    struct status_answer a = {0};
    struct jc_engine_wait *w = NULL;
    ck_assert_int_eq(jc_engine_status(f->r[0].engine, 0, "k", 1, on_status, &a, &w), JC_OK);
    ck_assert_ptr_nonnull(w);
    jc_engine_cancel(w);
    tap_release(f->tap);
    jc_test_loop_for(f->loop, 20);
    ck_assert_int_eq(a.calls, 0);
}
END_TEST

static void add_review_tests(Suite *s)
{
    TCase *tc = tcase("review");
    tcase_add_test(tc, cancelled_status_never_calls_back);
    tcase_add_test(tc, post_after_a_failed_wait_starts_a_build);
    tcase_add_test(tc, shutdown_waits_for_a_locking_lookup);
    tcase_add_test(tc, owner_is_a_waiter_still_waiting);
    tcase_add_test(tc, failed_touch_does_not_extend_l1);
    tcase_add_test(tc, delete_overtaking_a_commit_reply_leaves_no_l1_copy);
    suite_add_tcase(s, tc);
}

static Suite *engine_suite(void)
{
    Suite *s = suite_create("engine");
    add_collapse_tests(s);
    add_l1_tests(s);
    add_failures_tests(s);
    add_timeouts_tests(s);
    add_ops_tests(s);
    add_replicas_tests(s);
    add_expiry_tests(s);
    add_lifecycle_tests(s);
    add_review_tests(s);
    return s;
}

JC_TEST_MAIN(engine_suite)
