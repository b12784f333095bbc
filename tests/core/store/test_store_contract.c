/* tests/core/store/test_store_contract.c: the contract of store.h, run
 * against every store backend.
 *
 * One body of tests, run once per entry of store_backends[] below (check's
 * loop index is the backend).  Adding a backend is one entry: its name,
 * whether it keeps its own clock, the length of one time unit, and a setup
 * and teardown that start its servers (tests/support/servers.h) and fill in
 * its config.
 *
 * Time: every duration in the tests is a number of units.  A backend with
 * real_time == false reads the loop's clock, which the tests move by hand
 * (no sleeping; one unit is 1000 ms of test time).  A real-time backend keeps
 * its own clock, so the tests wait for real, with a short unit (say 100 ms),
 * and compare TTLs with one unit of slack.
 *
 * Every op goes through a helper that checks the callback rule: the callback
 * runs after the op returned, exactly once (or never, when the op returned
 * an error); the fixture checks the counts again at the end of each test. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/entry.h"
#include "core/loop.h"
#include "core/store/store.h"
#include "tests/support/jc_test.h"
#include "tests/support/servers.h"

#define MAX_CALLS   64
#define MAX_SERVERS 3
#define WAIT_MS     5000

struct store_env {
    struct jc_store_config cfg; /* the setup points its strings at the buffers below */
    char type[16];
    char url[256];
    char prefix[64];
    char password[64];
    struct jc_test_server servers[MAX_SERVERS];
};

struct store_backend {
    const char *name;
    bool real_time;   /* the backend measures time itself: tests wait for real */
    uint64_t unit_ms; /* one time unit of the tests */
    int (*setup)(struct store_env *env);
    void (*teardown)(struct store_env *env);
};

/* ---- the backends ---- */

static int memory_setup(struct store_env *env)
{
    snprintf(env->type, sizeof(env->type), "memory");
    return 0;
}

/* A redis-server of its own per test; leases and TTLs run on Redis's clock. */
static int redis_setup(struct store_env *env)
{
    snprintf(env->type, sizeof(env->type), "redis");
    snprintf(env->prefix, sizeof(env->prefix), "contract");
    if (jc_test_redis_start(&env->servers[0], NULL) != 0) {
        return -1;
    }
    jc_test_redis_url(&env->servers[0], env->url, sizeof(env->url));
    env->cfg.url = env->url;
    env->cfg.prefix = env->prefix;
    return 0;
}

static const struct store_backend store_backends[] = {
    {.name = "memory", .real_time = false, .unit_ms = 1000, .setup = memory_setup},
    {.name = "redis", .real_time = true, .unit_ms = 100, .setup = redis_setup},
};

#define N_BACKENDS ((int)(sizeof(store_backends) / sizeof(store_backends[0])))

/* ---- the fixture ---- */

/* One op's answer, kept until the end of the test so that a late second
 * callback is still caught. */
struct call {
    struct fx *f;
    int calls;
    int expect_calls;
    bool returned;
    bool done;
    enum jc_err err;
    struct jc_store_reply reply; /* entry: a reference taken in the callback */
    enum jc_key_status status;
    int64_t ttl_ms;
};

struct fx {
    const struct store_backend *backend;
    struct store_env env;
    struct jc_test_clock clock;
    struct jc_loop *loop;
    struct jc_store *store;
    struct call calls[MAX_CALLS];
    int n_calls;
};

static void fx_open(struct fx *f, int backend)
{
    memset(f, 0, sizeof(*f));
    f->backend = &store_backends[backend];
    f->env.cfg.type = f->env.type;
    f->loop = jc_loop_new();
    ck_assert_ptr_nonnull(f->loop);
    if (!f->backend->real_time) {
        jc_test_clock_install(f->loop, &f->clock);
    }
    ck_assert_msg(f->backend->setup(&f->env) == 0, "%s: setup failed", f->backend->name);
    ck_assert_int_eq(jc_store_open(f->loop, &f->env.cfg, &f->store), JC_OK);
    ck_assert_str_eq(jc_store_name(f->store), f->backend->name);
    uint64_t waited = 0;
    while (!jc_store_is_ready(f->store) && waited < WAIT_MS) {
        jc_test_loop_for(f->loop, 10);
        waited += 10;
    }
    ck_assert_msg(jc_store_is_ready(f->store), "%s: store not ready", f->backend->name);
}

static void fx_close(struct fx *f)
{
    jc_loop_run_once(f->loop);
    for (int i = 0; i < f->n_calls; i++) {
        ck_assert_msg(f->calls[i].calls == f->calls[i].expect_calls,
                      "%s: op %d: callback ran %d times, expected %d", f->backend->name, i,
                      f->calls[i].calls, f->calls[i].expect_calls);
        jc_entry_unref(f->calls[i].reply.entry);
    }
    jc_store_close(f->store);
    if (f->backend->teardown != NULL) {
        f->backend->teardown(&f->env);
    }
    for (int i = 0; i < MAX_SERVERS; i++) {
        jc_test_server_stop(&f->env.servers[i]);
    }
    jc_loop_free(f->loop);
}

static uint64_t unit(const struct fx *f, double n)
{
    return (uint64_t)(n * (double)f->backend->unit_ms);
}

/* Lets n units of time pass. */
static void advance(struct fx *f, double n)
{
    if (f->backend->real_time) {
        jc_test_loop_for(f->loop, (int)unit(f, n));
    } else {
        jc_test_clock_advance(&f->clock, unit(f, n));
    }
}

/* Checks a TTL against n units (n < 0: no expiry). */
static void assert_ttl(const struct fx *f, int64_t got, double n)
{
    if (n < 0) {
        ck_assert_int_eq(got, -1);
        return;
    }
    int64_t want = (int64_t)unit(f, n);
    int64_t slack = f->backend->real_time ? (int64_t)f->backend->unit_ms : 0;
    ck_assert_msg(got <= want && got >= want - slack, "%s: ttl %lld, expected %lld (-%lld)",
                  f->backend->name, (long long)got, (long long)want, (long long)slack);
}

static struct call *call_new(struct fx *f)
{
    ck_assert_int_lt(f->n_calls, MAX_CALLS);
    struct call *c = &f->calls[f->n_calls++];
    c->f = f;
    return c;
}

static void call_begin(struct call *c)
{
    ck_assert_msg(c->returned, "callback ran before its op returned");
    c->calls++;
    c->done = true;
    ck_assert_int_eq(c->calls, 1);
}

/* Records how the op returned, then waits for its callback when it has one. */
static void call_wait(struct call *c, enum jc_err returned)
{
    c->returned = true;
    if (returned != JC_OK) {
        c->err = returned;
        return;
    }
    c->expect_calls = 1;
    jc_test_loop_until(c->f->loop, &c->done, WAIT_MS);
    ck_assert_msg(c->calls == 1, "%s: no callback within %d ms", c->f->backend->name, WAIT_MS);
}

static void on_lookup(void *arg, enum jc_err err, const struct jc_store_reply *reply)
{
    struct call *c = arg;
    call_begin(c);
    c->err = err;
    if (err == JC_OK) {
        c->reply = *reply;
        if (reply->entry != NULL) {
            c->reply.entry = jc_entry_ref(reply->entry);
        }
    }
}

static void on_done(void *arg, enum jc_err err)
{
    struct call *c = arg;
    call_begin(c);
    c->err = err;
}

static void on_status(void *arg, enum jc_err err, enum jc_key_status status, int64_t ttl_ms)
{
    struct call *c = arg;
    call_begin(c);
    c->err = err;
    c->status = status;
    c->ttl_ms = ttl_ms;
}

static struct jc_store_key skey(const char *cache, const char *key, size_t len)
{
    struct jc_store_key k = {.cache = cache, .key = key, .key_len = len};
    return k;
}

#define KEY(s) skey("c", s, sizeof(s) - 1)

static struct call *lookup_full(struct fx *f, struct jc_store_key k, bool acquire,
                                uint64_t lease_ms, uint64_t waited_token, int64_t slide_ms)
{
    struct jc_store_lookup lk = {
        .acquire = acquire,
        .lease_ms = lease_ms,
        .waited_token = waited_token,
        .slide_ms = slide_ms,
    };
    struct call *c = call_new(f);
    call_wait(c, jc_store_lookup(f->store, &k, &lk, on_lookup, c));
    ck_assert_int_eq(c->err, JC_OK);
    return c;
}

/* Takes the lock if it can, with a lease of two units. */
static struct call *acquire(struct fx *f, struct jc_store_key k)
{
    return lookup_full(f, k, true, unit(f, 2), 0, 0);
}

static struct call *peek(struct fx *f, struct jc_store_key k)
{
    return lookup_full(f, k, false, 0, 0, 0);
}

static enum jc_err commit(struct fx *f, struct jc_store_key k, uint64_t token,
                          const struct jc_entry *e, int64_t ttl_ms)
{
    struct call *c = call_new(f);
    call_wait(c, jc_store_commit(f->store, &k, token, e, ttl_ms, on_done, c));
    return c->err;
}

static enum jc_err fail_fetch(struct fx *f, struct jc_store_key k, uint64_t token,
                              const struct jc_entry *e, uint64_t tombstone_ms)
{
    struct call *c = call_new(f);
    call_wait(c, jc_store_fail(f->store, &k, token, e, tombstone_ms, on_done, c));
    return c->err;
}

static enum jc_err del(struct fx *f, struct jc_store_key k)
{
    struct call *c = call_new(f);
    call_wait(c, jc_store_delete(f->store, &k, on_done, c));
    return c->err;
}

static struct call *status(struct fx *f, struct jc_store_key k)
{
    struct call *c = call_new(f);
    call_wait(c, jc_store_status(f->store, &k, on_status, c));
    ck_assert_int_eq(c->err, JC_OK);
    return c;
}

static enum jc_err touch(struct fx *f, struct jc_store_key k, int64_t ttl_ms)
{
    struct call *c = call_new(f);
    call_wait(c, jc_store_touch(f->store, &k, ttl_ms, on_done, c));
    return c->err;
}

/* Returns new: an entry with a binary body (every byte value, NULs
 * included), some headers and a given status. */
static struct jc_entry *make_entry(int status, const char *tag)
{
    struct jc_entry *e = jc_entry_new();
    e->status = status;
    e->stored_at_ms = 1700000000123ull;
    size_t len = 70000;
    char *body = malloc(len + 1);
    for (size_t i = 0; i < len; i++) {
        body[i] = (char)(i * 7 + (size_t)tag[0]);
    }
    body[0] = '\0';
    body[len] = '\0';
    jc_entry_take_body(e, &body, len);
    jc_entry_set_header(e, JC_HDR_CONTENT_TYPE, "application/octet-stream", 24);
    jc_entry_set_header(e, JC_HDR_ETAG, tag, strlen(tag));
    return e;
}

static void assert_same_entry(const struct jc_entry *got, const struct jc_entry *want)
{
    ck_assert_ptr_nonnull(got);
    ck_assert_int_eq(got->failed, want->failed);
    ck_assert_int_eq(got->err, want->err);
    ck_assert_int_eq(got->status, want->status);
    ck_assert_uint_eq(got->stored_at_ms, want->stored_at_ms);
    for (int i = 0; i < JC_HDR_COUNT; i++) {
        if (want->headers[i] == NULL) {
            ck_assert_ptr_null(got->headers[i]);
        } else {
            ck_assert_str_eq(got->headers[i], want->headers[i]);
        }
    }
    ck_assert_uint_eq(got->body_len, want->body_len);
    ck_assert_int_eq(memcmp(got->body, want->body, want->body_len), 0);
}

/* ---- locks ---- */

START_TEST(lookup_on_empty_acquires_with_nonzero_token)
{
    struct fx f;
    fx_open(&f, _i);
    struct call *c = acquire(&f, KEY("k"));
    ck_assert_int_eq(c->reply.state, JC_STORE_ACQUIRED);
    ck_assert_uint_ne(c->reply.token, 0);
    ck_assert_ptr_null(c->reply.entry);
    fx_close(&f);
}
END_TEST

START_TEST(second_lookup_is_pending_with_the_same_token)
{
    struct fx f;
    fx_open(&f, _i);
    struct call *a = acquire(&f, KEY("k"));
    struct call *b = acquire(&f, KEY("k"));
    ck_assert_int_eq(b->reply.state, JC_STORE_PENDING);
    ck_assert_uint_eq(b->reply.token, a->reply.token);
    struct call *p = peek(&f, KEY("k"));
    ck_assert_int_eq(p->reply.state, JC_STORE_PENDING);
    ck_assert_uint_eq(p->reply.token, a->reply.token);
    fx_close(&f);
}
END_TEST

START_TEST(peek_on_empty_is_empty_and_takes_nothing)
{
    struct fx f;
    fx_open(&f, _i);
    ck_assert_int_eq(peek(&f, KEY("k"))->reply.state, JC_STORE_EMPTY);
    ck_assert_int_eq(status(&f, KEY("k"))->status, JC_KEY_EMPTY);
    ck_assert_int_eq(acquire(&f, KEY("k"))->reply.state, JC_STORE_ACQUIRED);
    fx_close(&f);
}
END_TEST

START_TEST(tokens_strictly_increase_across_keys)
{
    struct fx f;
    fx_open(&f, _i);
    uint64_t t1 = acquire(&f, KEY("a"))->reply.token;
    uint64_t t2 = acquire(&f, KEY("b"))->reply.token;
    ck_assert_uint_gt(t2, t1);
    ck_assert_int_eq(del(&f, KEY("a")), JC_OK);
    ck_assert_uint_gt(acquire(&f, KEY("a"))->reply.token, t2);
    fx_close(&f);
}
END_TEST

START_TEST(lease_end_lets_the_next_lookup_take_over_with_a_larger_token)
{
    struct fx f;
    fx_open(&f, _i);
    uint64_t t1 = acquire(&f, KEY("k"))->reply.token;
    advance(&f, 1);
    ck_assert_int_eq(acquire(&f, KEY("k"))->reply.state, JC_STORE_PENDING);
    advance(&f, 2);
    struct call *c = acquire(&f, KEY("k"));
    ck_assert_int_eq(c->reply.state, JC_STORE_ACQUIRED);
    ck_assert_uint_gt(c->reply.token, t1);
    fx_close(&f);
}
END_TEST

START_TEST(peek_after_lease_end_is_empty)
{
    struct fx f;
    fx_open(&f, _i);
    acquire(&f, KEY("k"));
    advance(&f, 3);
    ck_assert_int_eq(peek(&f, KEY("k"))->reply.state, JC_STORE_EMPTY);
    ck_assert_int_eq(status(&f, KEY("k"))->status, JC_KEY_EMPTY);
    fx_close(&f);
}
END_TEST

/* ---- values ---- */

START_TEST(commit_then_lookup_returns_identical_bytes)
{
    struct fx f;
    fx_open(&f, _i);
    uint64_t t = acquire(&f, KEY("k"))->reply.token;
    struct jc_entry *e = make_entry(203, "v1");
    ck_assert_int_eq(commit(&f, KEY("k"), t, e, (int64_t)unit(&f, 10)), JC_OK);
    struct call *c = acquire(&f, KEY("k"));
    ck_assert_int_eq(c->reply.state, JC_STORE_VALUE);
    assert_same_entry(c->reply.entry, e);
    assert_ttl(&f, c->reply.ttl_ms, 10);
    struct call *p = peek(&f, KEY("k"));
    ck_assert_int_eq(p->reply.state, JC_STORE_VALUE);
    assert_same_entry(p->reply.entry, e);
    jc_entry_unref(e);
    fx_close(&f);
}
END_TEST

START_TEST(commit_copies_the_entry)
{
    struct fx f;
    fx_open(&f, _i);
    uint64_t t = acquire(&f, KEY("k"))->reply.token;
    struct jc_entry *e = make_entry(200, "v1");
    struct jc_entry *want = make_entry(200, "v1");
    ck_assert_int_eq(commit(&f, KEY("k"), t, e, -1), JC_OK);
    /* The caller may change or free its entry once commit returned. */
    e->status = 500;
    e->body[1] = 'x';
    jc_entry_unref(e);
    assert_same_entry(peek(&f, KEY("k"))->reply.entry, want);
    jc_entry_unref(want);
    fx_close(&f);
}
END_TEST

START_TEST(value_without_expiry_reports_ttl_minus_one)
{
    struct fx f;
    fx_open(&f, _i);
    uint64_t t = acquire(&f, KEY("k"))->reply.token;
    struct jc_entry *e = make_entry(200, "v");
    ck_assert_int_eq(commit(&f, KEY("k"), t, e, -1), JC_OK);
    advance(&f, 3);
    struct call *c = peek(&f, KEY("k"));
    ck_assert_int_eq(c->reply.state, JC_STORE_VALUE);
    assert_ttl(&f, c->reply.ttl_ms, -1);
    struct call *s = status(&f, KEY("k"));
    ck_assert_int_eq(s->status, JC_KEY_EXISTS);
    assert_ttl(&f, s->ttl_ms, -1);
    jc_entry_unref(e);
    fx_close(&f);
}
END_TEST

START_TEST(value_expires_after_its_ttl)
{
    struct fx f;
    fx_open(&f, _i);
    uint64_t t = acquire(&f, KEY("k"))->reply.token;
    struct jc_entry *e = make_entry(200, "v");
    ck_assert_int_eq(commit(&f, KEY("k"), t, e, (int64_t)unit(&f, 2)), JC_OK);
    advance(&f, 3);
    ck_assert_int_eq(peek(&f, KEY("k"))->reply.state, JC_STORE_EMPTY);
    ck_assert_int_eq(status(&f, KEY("k"))->status, JC_KEY_EMPTY);
    ck_assert_int_eq(acquire(&f, KEY("k"))->reply.state, JC_STORE_ACQUIRED);
    jc_entry_unref(e);
    fx_close(&f);
}
END_TEST

START_TEST(keys_are_binary_and_scoped_by_cache)
{
    struct fx f;
    fx_open(&f, _i);
    static const char k1[] = "a\0b";
    static const char k2[] = "a\0c";
    uint64_t t = acquire(&f, skey("c", k1, 3))->reply.token;
    ck_assert_int_eq(acquire(&f, skey("c", k2, 3))->reply.state, JC_STORE_ACQUIRED);
    ck_assert_int_eq(acquire(&f, skey("c", "a", 1))->reply.state, JC_STORE_ACQUIRED);
    ck_assert_int_eq(acquire(&f, skey("d", k1, 3))->reply.state, JC_STORE_ACQUIRED);
    struct jc_entry *e = make_entry(200, "bin");
    ck_assert_int_eq(commit(&f, skey("c", k1, 3), t, e, -1), JC_OK);
    assert_same_entry(peek(&f, skey("c", k1, 3))->reply.entry, e);
    ck_assert_int_eq(peek(&f, skey("c", k2, 3))->reply.state, JC_STORE_PENDING);
    ck_assert_int_eq(peek(&f, skey("d", k1, 3))->reply.state, JC_STORE_PENDING);
    ck_assert_int_eq(peek(&f, skey("e", k1, 3))->reply.state, JC_STORE_EMPTY);
    jc_entry_unref(e);
    fx_close(&f);
}
END_TEST

/* ---- fencing ---- */

START_TEST(commit_with_a_stale_token_is_fenced_and_the_successor_value_stays)
{
    struct fx f;
    fx_open(&f, _i);
    uint64_t t1 = acquire(&f, KEY("k"))->reply.token;
    advance(&f, 3);
    uint64_t t2 = acquire(&f, KEY("k"))->reply.token;
    ck_assert_uint_gt(t2, t1);
    struct jc_entry *old = make_entry(200, "old");
    struct jc_entry *next = make_entry(200, "new");
    /* The first fetch comes back while the successor still holds the lock. */
    ck_assert_int_eq(commit(&f, KEY("k"), t1, old, -1), JC_ERR_FENCED);
    struct call *p = peek(&f, KEY("k"));
    ck_assert_int_eq(p->reply.state, JC_STORE_PENDING);
    ck_assert_uint_eq(p->reply.token, t2);
    ck_assert_int_eq(commit(&f, KEY("k"), t2, next, -1), JC_OK);
    /* ... or after the successor stored its value. */
    ck_assert_int_eq(commit(&f, KEY("k"), t1, old, -1), JC_ERR_FENCED);
    ck_assert_int_eq(fail_fetch(&f, KEY("k"), t1, old, unit(&f, 5)), JC_ERR_FENCED);
    assert_same_entry(peek(&f, KEY("k"))->reply.entry, next);
    jc_entry_unref(old);
    jc_entry_unref(next);
    fx_close(&f);
}
END_TEST

START_TEST(commit_after_the_lease_ended_is_fenced)
{
    struct fx f;
    fx_open(&f, _i);
    uint64_t t = acquire(&f, KEY("k"))->reply.token;
    advance(&f, 3);
    struct jc_entry *e = make_entry(200, "late");
    ck_assert_int_eq(commit(&f, KEY("k"), t, e, -1), JC_ERR_FENCED);
    ck_assert_int_eq(peek(&f, KEY("k"))->reply.state, JC_STORE_EMPTY);
    jc_entry_unref(e);
    fx_close(&f);
}
END_TEST

START_TEST(commit_twice_with_the_same_token_is_fenced)
{
    struct fx f;
    fx_open(&f, _i);
    uint64_t t = acquire(&f, KEY("k"))->reply.token;
    struct jc_entry *a = make_entry(200, "a");
    struct jc_entry *b = make_entry(200, "b");
    ck_assert_int_eq(commit(&f, KEY("k"), t, a, -1), JC_OK);
    ck_assert_int_eq(commit(&f, KEY("k"), t, b, -1), JC_ERR_FENCED);
    ck_assert_int_eq(commit(&f, KEY("other"), t, b, -1), JC_ERR_FENCED);
    assert_same_entry(peek(&f, KEY("k"))->reply.entry, a);
    ck_assert_int_eq(peek(&f, KEY("other"))->reply.state, JC_STORE_EMPTY);
    jc_entry_unref(a);
    jc_entry_unref(b);
    fx_close(&f);
}
END_TEST

/* ---- failures ---- */

START_TEST(fail_leaves_a_tombstone_only_its_waiters_see)
{
    struct fx f;
    fx_open(&f, _i);
    uint64_t t = acquire(&f, KEY("k"))->reply.token;
    struct jc_entry *e = make_entry(503, "down");
    e->failed = 1;
    ck_assert_int_eq(fail_fetch(&f, KEY("k"), t, e, unit(&f, 5)), JC_OK);
    /* A waiter of that fetch learns of the failure, even with acquire. */
    struct call *w = lookup_full(&f, KEY("k"), true, unit(&f, 2), t, 0);
    ck_assert_int_eq(w->reply.state, JC_STORE_FAILED);
    ck_assert_uint_eq(w->reply.token, t);
    assert_same_entry(w->reply.entry, e);
    ck_assert_int_eq(lookup_full(&f, KEY("k"), false, 0, t, 0)->reply.state, JC_STORE_FAILED);
    /* Everyone else sees nothing. */
    ck_assert_int_eq(peek(&f, KEY("k"))->reply.state, JC_STORE_EMPTY);
    ck_assert_int_eq(lookup_full(&f, KEY("k"), false, 0, t + 1000, 0)->reply.state, JC_STORE_EMPTY);
    struct call *s = status(&f, KEY("k"));
    ck_assert_int_eq(s->status, JC_KEY_EMPTY);
    assert_ttl(&f, s->ttl_ms, -1);
    /* A fresh request fetches again at once. */
    struct call *n = acquire(&f, KEY("k"));
    ck_assert_int_eq(n->reply.state, JC_STORE_ACQUIRED);
    ck_assert_uint_gt(n->reply.token, t);
    /* The new lock keeps the failure for waiters of t that poll only now
     * (their event was lost); everyone else sees the new fetch pending. */
    struct call *w2 = lookup_full(&f, KEY("k"), true, unit(&f, 2), t, 0);
    ck_assert_int_eq(w2->reply.state, JC_STORE_FAILED);
    ck_assert_uint_eq(w2->reply.token, t);
    assert_same_entry(w2->reply.entry, e);
    struct call *p = lookup_full(&f, KEY("k"), false, 0, 0, 0);
    ck_assert_int_eq(p->reply.state, JC_STORE_PENDING);
    ck_assert_uint_eq(p->reply.token, n->reply.token);
    /* Once the new fetch commits, its value is what everyone reads. */
    struct jc_entry *v = make_entry(200, "fresh");
    ck_assert_int_eq(commit(&f, KEY("k"), n->reply.token, v, -1), JC_OK);
    struct call *w3 = lookup_full(&f, KEY("k"), false, 0, t, 0);
    ck_assert_int_eq(w3->reply.state, JC_STORE_VALUE);
    assert_same_entry(w3->reply.entry, v);
    jc_entry_unref(v);
    jc_entry_unref(e);
    fx_close(&f);
}
END_TEST

START_TEST(fail_with_a_transport_error_travels_intact)
{
    struct fx f;
    fx_open(&f, _i);
    uint64_t t = acquire(&f, KEY("k"))->reply.token;
    struct jc_entry *e = jc_entry_new_error(JC_ERR_UPSTREAM_TIMEOUT);
    ck_assert_int_eq(fail_fetch(&f, KEY("k"), t, e, unit(&f, 5)), JC_OK);
    struct call *w = lookup_full(&f, KEY("k"), false, 0, t, 0);
    ck_assert_int_eq(w->reply.state, JC_STORE_FAILED);
    ck_assert_int_eq(w->reply.entry->failed, 1);
    ck_assert_int_eq(w->reply.entry->err, JC_ERR_UPSTREAM_TIMEOUT);
    ck_assert_uint_eq(w->reply.entry->body_len, 0);
    jc_entry_unref(e);
    fx_close(&f);
}
END_TEST

START_TEST(tombstone_ends_after_its_time)
{
    struct fx f;
    fx_open(&f, _i);
    uint64_t t = acquire(&f, KEY("k"))->reply.token;
    struct jc_entry *e = jc_entry_new_error(JC_ERR_UPSTREAM);
    ck_assert_int_eq(fail_fetch(&f, KEY("k"), t, e, unit(&f, 2)), JC_OK);
    advance(&f, 3);
    ck_assert_int_eq(lookup_full(&f, KEY("k"), false, 0, t, 0)->reply.state, JC_STORE_EMPTY);
    jc_entry_unref(e);
    fx_close(&f);
}
END_TEST

START_TEST(fail_with_a_stale_token_is_fenced)
{
    struct fx f;
    fx_open(&f, _i);
    uint64_t t1 = acquire(&f, KEY("k"))->reply.token;
    advance(&f, 3);
    uint64_t t2 = acquire(&f, KEY("k"))->reply.token;
    struct jc_entry *e = jc_entry_new_error(JC_ERR_UPSTREAM);
    ck_assert_int_eq(fail_fetch(&f, KEY("k"), t1, e, unit(&f, 5)), JC_ERR_FENCED);
    struct call *p = peek(&f, KEY("k"));
    ck_assert_int_eq(p->reply.state, JC_STORE_PENDING);
    ck_assert_uint_eq(p->reply.token, t2);
    ck_assert_int_eq(lookup_full(&f, KEY("k"), false, 0, t1, 0)->reply.state, JC_STORE_PENDING);
    jc_entry_unref(e);
    fx_close(&f);
}
END_TEST

/* ---- delete ---- */

START_TEST(delete_removes_a_value)
{
    struct fx f;
    fx_open(&f, _i);
    uint64_t t = acquire(&f, KEY("k"))->reply.token;
    struct jc_entry *e = make_entry(200, "v");
    ck_assert_int_eq(commit(&f, KEY("k"), t, e, -1), JC_OK);
    ck_assert_int_eq(del(&f, KEY("k")), JC_OK);
    ck_assert_int_eq(status(&f, KEY("k"))->status, JC_KEY_EMPTY);
    ck_assert_int_eq(peek(&f, KEY("k"))->reply.state, JC_STORE_EMPTY);
    jc_entry_unref(e);
    fx_close(&f);
}
END_TEST

START_TEST(delete_removes_a_lock_and_fences_its_holder)
{
    struct fx f;
    fx_open(&f, _i);
    uint64_t t = acquire(&f, KEY("k"))->reply.token;
    ck_assert_int_eq(del(&f, KEY("k")), JC_OK);
    struct call *n = acquire(&f, KEY("k"));
    ck_assert_int_eq(n->reply.state, JC_STORE_ACQUIRED);
    ck_assert_uint_gt(n->reply.token, t);
    struct jc_entry *e = make_entry(200, "v");
    ck_assert_int_eq(commit(&f, KEY("k"), t, e, -1), JC_ERR_FENCED);
    ck_assert_int_eq(del(&f, KEY("k")), JC_OK);
    ck_assert_int_eq(commit(&f, KEY("k"), n->reply.token, e, -1), JC_ERR_FENCED);
    ck_assert_int_eq(peek(&f, KEY("k"))->reply.state, JC_STORE_EMPTY);
    jc_entry_unref(e);
    fx_close(&f);
}
END_TEST

START_TEST(delete_of_nothing_succeeds)
{
    struct fx f;
    fx_open(&f, _i);
    ck_assert_int_eq(del(&f, KEY("never")), JC_OK);
    uint64_t t = acquire(&f, KEY("k"))->reply.token;
    struct jc_entry *e = jc_entry_new_error(JC_ERR_UPSTREAM);
    ck_assert_int_eq(fail_fetch(&f, KEY("k"), t, e, unit(&f, 5)), JC_OK);
    ck_assert_int_eq(del(&f, KEY("k")), JC_OK);
    ck_assert_int_eq(lookup_full(&f, KEY("k"), false, 0, t, 0)->reply.state, JC_STORE_EMPTY);
    jc_entry_unref(e);
    fx_close(&f);
}
END_TEST

/* ---- status ---- */

START_TEST(status_reports_empty_pending_and_exists_with_ttl)
{
    struct fx f;
    fx_open(&f, _i);
    struct call *s = status(&f, KEY("k"));
    ck_assert_int_eq(s->status, JC_KEY_EMPTY);
    assert_ttl(&f, s->ttl_ms, -1);
    uint64_t t = acquire(&f, KEY("k"))->reply.token;
    s = status(&f, KEY("k"));
    ck_assert_int_eq(s->status, JC_KEY_PENDING);
    assert_ttl(&f, s->ttl_ms, -1);
    struct jc_entry *e = make_entry(200, "v");
    ck_assert_int_eq(commit(&f, KEY("k"), t, e, (int64_t)unit(&f, 10)), JC_OK);
    advance(&f, 4);
    s = status(&f, KEY("k"));
    ck_assert_int_eq(s->status, JC_KEY_EXISTS);
    assert_ttl(&f, s->ttl_ms, 6);
    jc_entry_unref(e);
    fx_close(&f);
}
END_TEST

/* ---- expiry ---- */

START_TEST(touch_extends_a_sliding_value)
{
    struct fx f;
    fx_open(&f, _i);
    uint64_t t = acquire(&f, KEY("k"))->reply.token;
    struct jc_entry *e = make_entry(200, "v");
    ck_assert_int_eq(commit(&f, KEY("k"), t, e, (int64_t)unit(&f, 6)), JC_OK);
    advance(&f, 4);
    ck_assert_int_eq(touch(&f, KEY("k"), (int64_t)unit(&f, 6)), JC_OK);
    advance(&f, 4);
    struct call *s = status(&f, KEY("k"));
    ck_assert_int_eq(s->status, JC_KEY_EXISTS);
    assert_ttl(&f, s->ttl_ms, 2);
    ck_assert_int_eq(touch(&f, KEY("k"), -1), JC_OK);
    advance(&f, 8);
    assert_ttl(&f, status(&f, KEY("k"))->ttl_ms, -1);
    jc_entry_unref(e);
    fx_close(&f);
}
END_TEST

START_TEST(touch_without_a_value_is_not_found)
{
    struct fx f;
    fx_open(&f, _i);
    ck_assert_int_eq(touch(&f, KEY("k"), (int64_t)unit(&f, 6)), JC_ERR_NOT_FOUND);
    uint64_t t = acquire(&f, KEY("k"))->reply.token;
    ck_assert_int_eq(touch(&f, KEY("k"), (int64_t)unit(&f, 6)), JC_ERR_NOT_FOUND);
    struct jc_entry *e = jc_entry_new_error(JC_ERR_UPSTREAM);
    ck_assert_int_eq(fail_fetch(&f, KEY("k"), t, e, unit(&f, 5)), JC_OK);
    ck_assert_int_eq(touch(&f, KEY("k"), (int64_t)unit(&f, 6)), JC_ERR_NOT_FOUND);
    /* The touch neither created a value nor changed the tombstone. */
    ck_assert_int_eq(lookup_full(&f, KEY("k"), false, 0, t, 0)->reply.state, JC_STORE_FAILED);
    jc_entry_unref(e);
    fx_close(&f);
}
END_TEST

START_TEST(slide_on_lookup_extends_the_ttl)
{
    struct fx f;
    fx_open(&f, _i);
    uint64_t t = acquire(&f, KEY("k"))->reply.token;
    struct jc_entry *e = make_entry(200, "v");
    int64_t ttl = (int64_t)unit(&f, 6);
    ck_assert_int_eq(commit(&f, KEY("k"), t, e, ttl), JC_OK);
    advance(&f, 4);
    struct call *c = lookup_full(&f, KEY("k"), true, unit(&f, 2), 0, ttl);
    ck_assert_int_eq(c->reply.state, JC_STORE_VALUE);
    assert_ttl(&f, c->reply.ttl_ms, 6);
    advance(&f, 4);
    struct call *p = lookup_full(&f, KEY("k"), false, 0, 0, ttl);
    ck_assert_int_eq(p->reply.state, JC_STORE_VALUE);
    assert_ttl(&f, p->reply.ttl_ms, 6);
    advance(&f, 4);
    ck_assert_int_eq(status(&f, KEY("k"))->status, JC_KEY_EXISTS);
    jc_entry_unref(e);
    fx_close(&f);
}
END_TEST

START_TEST(absolute_ttl_is_not_extended_by_lookups)
{
    struct fx f;
    fx_open(&f, _i);
    uint64_t t = acquire(&f, KEY("k"))->reply.token;
    struct jc_entry *e = make_entry(200, "v");
    ck_assert_int_eq(commit(&f, KEY("k"), t, e, (int64_t)unit(&f, 6)), JC_OK);
    advance(&f, 4);
    struct call *c = acquire(&f, KEY("k"));
    ck_assert_int_eq(c->reply.state, JC_STORE_VALUE);
    assert_ttl(&f, c->reply.ttl_ms, 2);
    assert_ttl(&f, peek(&f, KEY("k"))->reply.ttl_ms, 2);
    advance(&f, 3);
    ck_assert_int_eq(peek(&f, KEY("k"))->reply.state, JC_STORE_EMPTY);
    jc_entry_unref(e);
    fx_close(&f);
}
END_TEST

/* ---- the callback rule ---- */

struct order_rec {
    int seen[8];
    int n;
    bool returned;
};

static void on_order_done(void *arg, enum jc_err err)
{
    (void)err;
    struct order_rec *r = arg;
    ck_assert_msg(r->returned, "callback ran before the ops returned");
    r->seen[r->n++] = 0;
}

static void on_order_lookup(void *arg, enum jc_err err, const struct jc_store_reply *reply)
{
    (void)err;
    (void)reply;
    struct order_rec *r = arg;
    ck_assert_msg(r->returned, "callback ran before the ops returned");
    r->seen[r->n++] = 1;
}

static void on_order_status(void *arg, enum jc_err err, enum jc_key_status st, int64_t ttl)
{
    (void)err;
    (void)st;
    (void)ttl;
    struct order_rec *r = arg;
    ck_assert_msg(r->returned, "callback ran before the ops returned");
    r->seen[r->n++] = 2;
}

START_TEST(callbacks_never_run_before_the_call_returns)
{
    struct fx f;
    fx_open(&f, _i);
    struct order_rec r = {.n = 0};
    struct jc_store_key k = KEY("k");
    struct jc_store_lookup lk = {.acquire = true, .lease_ms = unit(&f, 2)};
    struct jc_entry *e = make_entry(200, "v");
    /* Every kind of op, also those that answer with an error, issued back to
     * back without running the loop in between. */
    ck_assert_int_eq(jc_store_lookup(f.store, &k, &lk, on_order_lookup, &r), JC_OK);
    ck_assert_int_eq(jc_store_commit(f.store, &k, 999999, e, -1, on_order_done, &r), JC_OK);
    ck_assert_int_eq(jc_store_fail(f.store, &k, 999999, e, 10, on_order_done, &r), JC_OK);
    ck_assert_int_eq(jc_store_touch(f.store, &k, 1000, on_order_done, &r), JC_OK);
    ck_assert_int_eq(jc_store_status(f.store, &k, on_order_status, &r), JC_OK);
    ck_assert_int_eq(jc_store_delete(f.store, &k, on_order_done, &r), JC_OK);
    ck_assert_int_eq(r.n, 0);
    r.returned = true;
    uint64_t waited = 0;
    while (r.n < 6 && waited < WAIT_MS) {
        jc_test_loop_for(f.loop, 5);
        waited += 5;
    }
    ck_assert_int_eq(r.n, 6);
    jc_test_loop_for(f.loop, 20);
    ck_assert_int_eq(r.n, 6);
    jc_entry_unref(e);
    fx_close(&f);
}
END_TEST

static Suite *store_contract_suite(void)
{
    Suite *s = suite_create("store_contract");
    struct {
        const char *name;
        const TTest *tests[12];
    } groups[] = {
        {"locks",
         {lookup_on_empty_acquires_with_nonzero_token, second_lookup_is_pending_with_the_same_token,
          peek_on_empty_is_empty_and_takes_nothing, tokens_strictly_increase_across_keys,
          lease_end_lets_the_next_lookup_take_over_with_a_larger_token,
          peek_after_lease_end_is_empty}},
        {"values",
         {commit_then_lookup_returns_identical_bytes, commit_copies_the_entry,
          value_without_expiry_reports_ttl_minus_one, value_expires_after_its_ttl,
          keys_are_binary_and_scoped_by_cache}},
        {"fencing",
         {commit_with_a_stale_token_is_fenced_and_the_successor_value_stays,
          commit_after_the_lease_ended_is_fenced, commit_twice_with_the_same_token_is_fenced}},
        {"failures",
         {fail_leaves_a_tombstone_only_its_waiters_see, fail_with_a_transport_error_travels_intact,
          tombstone_ends_after_its_time, fail_with_a_stale_token_is_fenced}},
        {"delete",
         {delete_removes_a_value, delete_removes_a_lock_and_fences_its_holder,
          delete_of_nothing_succeeds}},
        {"status", {status_reports_empty_pending_and_exists_with_ttl}},
        {"expiry",
         {touch_extends_a_sliding_value, touch_without_a_value_is_not_found,
          slide_on_lookup_extends_the_ttl, absolute_ttl_is_not_extended_by_lookups}},
        {"callbacks", {callbacks_never_run_before_the_call_returns}},
    };
    for (size_t g = 0; g < sizeof(groups) / sizeof(groups[0]); g++) {
        TCase *tc = tcase_create(groups[g].name);
        tcase_set_timeout(tc, 60);
        for (size_t t = 0; t < 12 && groups[g].tests[t] != NULL; t++) {
            tcase_add_loop_test(tc, groups[g].tests[t], 0, N_BACKENDS);
        }
        suite_add_tcase(s, tc);
    }
    return s;
}

JC_TEST_MAIN(store_contract_suite)
