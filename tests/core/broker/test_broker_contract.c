/* tests/core/broker/test_broker_contract.c: the contract of broker.h, run
 * against every broker backend.
 *
 * One body of tests, run once per entry of broker_backends[] below (check's
 * loop index is the backend).  Adding a backend is one entry: its name,
 * whether two instances on one server are two replicas that see each
 * other's events (not so for "local": it is one process), and a setup and
 * teardown that start its servers (tests/support/servers.h) and fill in its
 * config.
 *
 * What every backend must do: carry DONE and INVALIDATE events with every
 * field intact, whatever bytes the key holds (dots, spaces, '*', '>', NUL,
 * 1024 bytes); deliver them to the publisher itself too, from the loop,
 * never inside jc_broker_publish(); and, where there can be several
 * instances, deliver each event to every one of them exactly once.  Where
 * there is a server (all but "local"), losing it makes the broker not ready
 * and publishing fail, and the broker comes back by itself (authenticating
 * again) when the server does, also when it was opened while it was down. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/broker/broker.h"
#include "core/loop.h"
#include "core/mem.h"
#include "core/store/store.h"
#include "tests/support/jc_test.h"
#include "tests/support/servers.h"

#define MAX_SERVERS 2
#define WAIT_MS     5000
#define BURST       500

struct broker_env {
    struct jc_broker_config cfg; /* the setup points its strings at the buffers below */
    char type[16];
    char url[256];
    char *urls[1];
    char token[64];
    char prefix[64];
    /* For brokers that share the store's connection (cfg.redis). */
    struct jc_store_config store_cfg;
    char store_type[16];
    char store_url[256];
    struct jc_test_server servers[MAX_SERVERS];
};

struct broker_backend {
    const char *name;
    bool multi_instance; /* two brokers on one server are two replicas */
    int (*setup)(struct broker_env *env);
    void (*teardown)(struct broker_env *env);
};

/* ---- the backends ---- */

static int local_setup(struct broker_env *env)
{
    snprintf(env->type, sizeof(env->type), "local");
    return 0;
}

static int nats_setup(struct broker_env *env)
{
    if (jc_test_nats_start(&env->servers[0], "contract-token") != 0) {
        return -1;
    }
    snprintf(env->type, sizeof(env->type), "nats");
    jc_test_nats_url(&env->servers[0], env->url, sizeof(env->url));
    env->urls[0] = env->url;
    env->cfg.urls = env->urls;
    env->cfg.n_urls = 1;
    snprintf(env->token, sizeof(env->token), "contract-token");
    env->cfg.token = env->token;
    return 0;
}

static int redis_setup(struct broker_env *env)
{
    if (jc_test_redis_start(&env->servers[0], "contract-pass") != 0) {
        return -1;
    }
    snprintf(env->type, sizeof(env->type), "redis");
    snprintf(env->store_type, sizeof(env->store_type), "redis");
    jc_test_redis_url(&env->servers[0], env->store_url, sizeof(env->store_url));
    env->store_cfg.type = env->store_type;
    env->store_cfg.url = env->store_url;
    env->cfg.redis = &env->store_cfg;
    return 0;
}

static const struct broker_backend broker_backends[] = {
    {.name = "local", .multi_instance = false, .setup = local_setup},
    {.name = "nats", .multi_instance = true, .setup = nats_setup},
    {.name = "redis", .multi_instance = true, .setup = redis_setup},
};

#define N_BACKENDS ((int)(sizeof(broker_backends) / sizeof(broker_backends[0])))

/* ---- the fixture ---- */

/* One received event, deep copied. */
struct got {
    enum jc_event_kind kind;
    char *cache;
    char *key;
    size_t key_len;
    uint64_t token;
    bool ok;
    char *origin; /* NULL when the event had none */
};

struct inbox {
    struct fx *f;
    struct jc_broker *broker;
    struct got *ev;
    size_t n;
    size_t alloc;
    size_t want;
    bool done; /* n >= want */
    bool closed;
};

struct fx {
    const struct broker_backend *backend;
    struct broker_env env;
    struct jc_loop *loop;
    struct inbox in[2];
    bool publishing;
};

static void on_event(void *arg, const struct jc_event *ev)
{
    struct inbox *in = arg;
    ck_assert_msg(!in->f->publishing, "%s: event delivered inside jc_broker_publish",
                  in->f->backend->name);
    ck_assert_msg(!in->closed, "%s: event delivered after close", in->f->backend->name);
    if (in->n == in->alloc) {
        in->alloc = in->alloc ? in->alloc * 2 : 16;
        in->ev = jc_xrealloc(in->ev, in->alloc * sizeof(*in->ev));
    }
    struct got *g = &in->ev[in->n++];
    g->kind = ev->kind;
    g->cache = jc_xstrdup(ev->cache);
    g->key = jc_xmemdup(ev->key, ev->key_len);
    g->key_len = ev->key_len;
    g->token = ev->token;
    g->ok = ev->ok;
    g->origin = ev->origin != NULL ? jc_xstrdup(ev->origin) : NULL;
    in->done = in->n >= in->want;
}

/* Opens in's broker without waiting for it to connect. */
static void inbox_start(struct fx *f, struct inbox *in)
{
    in->f = f;
    ck_assert_int_eq(jc_broker_open(f->loop, &f->env.cfg, on_event, in, &in->broker), JC_OK);
    ck_assert_str_eq(jc_broker_name(in->broker), f->backend->name);
}

/* Runs the loop until in's broker is (or is not) ready; returns whether it got so. */
static bool wait_ready(struct fx *f, struct inbox *in, bool want, int timeout_ms)
{
    for (int waited = 0; waited < timeout_ms && jc_broker_is_ready(in->broker) != want;
         waited += 10) {
        jc_test_loop_for(f->loop, 10);
    }
    return jc_broker_is_ready(in->broker) == want;
}

static void inbox_open(struct fx *f, struct inbox *in)
{
    inbox_start(f, in);
    ck_assert_msg(wait_ready(f, in, true, WAIT_MS), "%s: broker not ready", f->backend->name);
}

static void inbox_close(struct inbox *in)
{
    if (in->broker != NULL) {
        jc_broker_close(in->broker);
        in->broker = NULL;
        in->closed = true;
    }
    for (size_t i = 0; i < in->n; i++) {
        free(in->ev[i].cache);
        free(in->ev[i].key);
        free(in->ev[i].origin);
    }
    free(in->ev);
    in->ev = NULL;
    in->n = in->alloc = 0;
}

/* Opens n_instances brokers on the backend's server(s). */
static void fx_open(struct fx *f, int backend, int n_instances)
{
    memset(f, 0, sizeof(*f));
    f->backend = &broker_backends[backend];
    f->env.cfg.type = f->env.type;
    f->loop = jc_loop_new();
    ck_assert_ptr_nonnull(f->loop);
    ck_assert_msg(f->backend->setup(&f->env) == 0, "%s: setup failed", f->backend->name);
    for (int i = 0; i < n_instances; i++) {
        inbox_open(f, &f->in[i]);
    }
}

static void fx_close(struct fx *f)
{
    for (int i = 0; i < 2; i++) {
        inbox_close(&f->in[i]);
    }
    if (f->backend->teardown != NULL) {
        f->backend->teardown(&f->env);
    }
    for (int i = 0; i < MAX_SERVERS; i++) {
        jc_test_server_stop(&f->env.servers[i]);
    }
    jc_loop_free(f->loop);
}

static void publish(struct fx *f, struct inbox *from, const struct jc_event *ev)
{
    f->publishing = true;
    enum jc_err err = jc_broker_publish(from->broker, ev);
    f->publishing = false;
    ck_assert_int_eq(err, JC_OK);
}

/* Waits until every open inbox holds at least n events. */
static void wait_for(struct fx *f, size_t n)
{
    for (int i = 0; i < 2; i++) {
        struct inbox *in = &f->in[i];
        if (in->broker == NULL) {
            continue;
        }
        in->want = n;
        in->done = in->n >= n;
        jc_test_loop_until(f->loop, &in->done, WAIT_MS);
        ck_assert_msg(in->n >= n, "%s: instance %d got %zu events of %zu", f->backend->name, i,
                      in->n, n);
    }
}

static const struct got *find_token(const struct inbox *in, uint64_t token)
{
    const struct got *hit = NULL;
    for (size_t i = 0; i < in->n; i++) {
        if (in->ev[i].token == token) {
            ck_assert_msg(hit == NULL, "token %llu delivered twice", (unsigned long long)token);
            hit = &in->ev[i];
        }
    }
    ck_assert_msg(hit != NULL, "token %llu not delivered", (unsigned long long)token);
    return hit;
}

static void assert_same_event(const struct got *g, const struct jc_event *ev)
{
    ck_assert_int_eq(g->kind, ev->kind);
    ck_assert_str_eq(g->cache, ev->cache);
    ck_assert_uint_eq(g->key_len, ev->key_len);
    ck_assert_int_eq(memcmp(g->key, ev->key, ev->key_len), 0);
    ck_assert_uint_eq(g->token, ev->token);
    ck_assert_int_eq(g->ok, ev->ok);
    ck_assert_str_eq(g->origin, ev->origin);
}

/* ---- the keys ---- */

struct test_key {
    const char *bytes;
    size_t len;
};

#define TK(s)                                                                                      \
    {                                                                                              \
        s, sizeof(s) - 1                                                                           \
    }

static const struct test_key hostile_keys[] = {
    TK("plain"),
    TK("dots.in.the.key"),
    TK("with space"),
    TK("star*"),
    TK("*"),
    TK(">"),
    TK("a.>"),
    TK("a.*.b"),
    TK("."),
    TK(".."),
    TK("nul\0inside"),
    TK("\0"),
    TK("ends.with.dot."),
    TK("%2F/slash\\back"),
    TK("\xd0\xba\xd0\xbb\xd1\x8e\xd1\x87"),
    TK("\x01\x7f\xff\r\n"),
    TK("jcached.weather.x"),
};

#define N_HOSTILE (sizeof(hostile_keys) / sizeof(hostile_keys[0]))

/* Returns new: 1024 bytes with every byte value, NULs and dots included. */
static char *make_long_key(void)
{
    char *k = jc_xmalloc(1024);
    for (size_t i = 0; i < 1024; i++) {
        k[i] = (char)(i * 31 + 7);
    }
    return k;
}

/* Publishes one event of kind per hostile key plus a 1024-byte key from
 * instance 0 and checks that every open instance got each one intact. */
static void check_kind(struct fx *f, enum jc_event_kind kind)
{
    char *long_key = make_long_key();
    struct jc_event evs[N_HOSTILE + 1];
    for (size_t i = 0; i <= N_HOSTILE; i++) {
        evs[i] = (struct jc_event){
            .kind = kind,
            .cache = "weather-1_x",
            .key = i < N_HOSTILE ? hostile_keys[i].bytes : long_key,
            .key_len = i < N_HOSTILE ? hostile_keys[i].len : 1024,
            .token = kind == JC_EVENT_DONE ? 1000 + i : 0,
            .ok = kind == JC_EVENT_DONE && i % 2 == 0,
            .origin = "replica-a.1",
        };
        publish(f, &f->in[0], &evs[i]);
    }
    ck_assert_uint_eq(f->in[0].n, 0);
    wait_for(f, N_HOSTILE + 1);
    for (int j = 0; j < 2; j++) {
        struct inbox *in = &f->in[j];
        if (in->broker == NULL) {
            continue;
        }
        ck_assert_uint_eq(in->n, N_HOSTILE + 1);
        for (size_t i = 0; i <= N_HOSTILE; i++) {
            const struct got *g = NULL;
            if (kind == JC_EVENT_DONE) {
                g = find_token(in, evs[i].token);
            } else {
                /* INVALIDATE has no token: match by key. */
                for (size_t k = 0; k < in->n && g == NULL; k++) {
                    if (in->ev[k].key_len == evs[i].key_len &&
                        memcmp(in->ev[k].key, evs[i].key, evs[i].key_len) == 0) {
                        g = &in->ev[k];
                    }
                }
                ck_assert_msg(g != NULL, "event %zu not delivered", i);
            }
            assert_same_event(g, &evs[i]);
        }
    }
    free(long_key);
}

/* ---- the tests ---- */

START_TEST(done_events_arrive_intact_at_the_publisher)
{
    struct fx f;
    fx_open(&f, _i, 1);
    check_kind(&f, JC_EVENT_DONE);
    fx_close(&f);
}
END_TEST

START_TEST(invalidate_events_arrive_intact_at_the_publisher)
{
    struct fx f;
    fx_open(&f, _i, 1);
    check_kind(&f, JC_EVENT_INVALIDATE);
    fx_close(&f);
}
END_TEST

START_TEST(events_are_never_delivered_inside_publish)
{
    struct fx f;
    fx_open(&f, _i, 1);
    struct jc_event ev = {.kind = JC_EVENT_DONE,
                          .cache = "c",
                          .key = "k",
                          .key_len = 1,
                          .token = 7,
                          .ok = true,
                          .origin = "me"};
    /* on_event fails the test if it runs while f.publishing is set. */
    publish(&f, &f.in[0], &ev);
    ck_assert_uint_eq(f.in[0].n, 0);
    wait_for(&f, 1);
    ck_assert_uint_eq(f.in[0].n, 1);
    fx_close(&f);
}
END_TEST

START_TEST(a_burst_of_events_all_arrive_once)
{
    struct fx f;
    fx_open(&f, _i, broker_backends[_i].multi_instance ? 2 : 1);
    char key[32];
    for (uint64_t t = 1; t <= BURST; t++) {
        int n = snprintf(key, sizeof(key), "key.%llu", (unsigned long long)t);
        struct jc_event ev = {.kind = t % 3 == 0 ? JC_EVENT_INVALIDATE : JC_EVENT_DONE,
                              .cache = "burst",
                              .key = key,
                              .key_len = (size_t)n,
                              .token = t,
                              .ok = t % 2 == 0,
                              .origin = "o"};
        publish(&f, &f.in[t % 2 == 0 && f.in[1].broker != NULL ? 1 : 0], &ev);
    }
    wait_for(&f, BURST);
    jc_test_loop_for(f.loop, 20);
    for (int j = 0; j < 2; j++) {
        if (f.in[j].broker == NULL) {
            continue;
        }
        ck_assert_uint_eq(f.in[j].n, BURST);
        for (uint64_t t = 1; t <= BURST; t++) {
            const struct got *g = find_token(&f.in[j], t);
            ck_assert_int_eq(g->kind, t % 3 == 0 ? JC_EVENT_INVALIDATE : JC_EVENT_DONE);
            ck_assert_int_eq(g->ok, t % 2 == 0);
        }
    }
    fx_close(&f);
}
END_TEST

START_TEST(two_instances_both_get_each_event)
{
    if (!broker_backends[_i].multi_instance) {
        return; /* one process is one replica: nothing to check */
    }
    struct fx f;
    fx_open(&f, _i, 2);
    check_kind(&f, JC_EVENT_DONE);
    struct jc_event ev = {.kind = JC_EVENT_INVALIDATE,
                          .cache = "c",
                          .key = "from.b",
                          .key_len = 6,
                          .origin = "replica-b"};
    publish(&f, &f.in[1], &ev);
    wait_for(&f, N_HOSTILE + 2);
    for (int j = 0; j < 2; j++) {
        assert_same_event(&f.in[j].ev[f.in[j].n - 1], &ev);
    }
    fx_close(&f);
}
END_TEST

START_TEST(closing_with_events_in_flight_delivers_nothing_after)
{
    struct fx f;
    fx_open(&f, _i, 1);
    for (uint64_t t = 1; t <= 10; t++) {
        struct jc_event ev = {.kind = JC_EVENT_DONE,
                              .cache = "c",
                              .key = "k",
                              .key_len = 1,
                              .token = t,
                              .origin = "me"};
        publish(&f, &f.in[0], &ev);
    }
    /* on_event fails the test if it runs once the inbox is closed. */
    jc_broker_close(f.in[0].broker);
    f.in[0].broker = NULL;
    f.in[0].closed = true;
    jc_test_loop_for(f.loop, 50);
    fx_close(&f);
}
END_TEST

static void close_from_handler(void *arg, const struct jc_event *ev)
{
    (void)ev;
    struct inbox *in = arg;
    in->n++;
    jc_broker_close(in->broker);
    in->broker = NULL;
    in->closed = true;
    in->done = true;
}

START_TEST(closing_from_inside_the_handler_is_safe)
{
    struct fx f;
    fx_open(&f, _i, 0);
    struct inbox *in = &f.in[0];
    in->f = &f;
    ck_assert_int_eq(jc_broker_open(f.loop, &f.env.cfg, close_from_handler, in, &in->broker),
                     JC_OK);
    uint64_t waited = 0;
    while (!jc_broker_is_ready(in->broker) && waited < WAIT_MS) {
        jc_test_loop_for(f.loop, 10);
        waited += 10;
    }
    struct jc_event ev = {
        .kind = JC_EVENT_DONE, .cache = "c", .key = "k", .key_len = 1, .token = 1, .origin = "o"};
    publish(&f, in, &ev);
    ev.token = 2;
    publish(&f, in, &ev);
    ck_assert(jc_test_loop_until(f.loop, &in->done, WAIT_MS));
    jc_test_loop_for(f.loop, 50);
    ck_assert_uint_eq(in->n, 1);
    in->n = 0;
    fx_close(&f);
}
END_TEST

/* ---- outages (backends with a server) ---- */

/* Publishes ev from "from" every 100 ms until "to" has one more event (a
 * subscription may come back a little after the broker says it is ready). */
static bool publish_until_seen(struct fx *f, struct inbox *from, struct inbox *to,
                               const struct jc_event *ev)
{
    to->want = to->n + 1;
    to->done = false;
    for (int waited = 0; waited < WAIT_MS; waited += 100) {
        if (jc_broker_publish(from->broker, ev) == JC_OK &&
            jc_test_loop_until(f->loop, &to->done, 100)) {
            return true;
        }
    }
    return to->done;
}

static const struct jc_event outage_event = {.kind = JC_EVENT_DONE,
                                             .cache = "c",
                                             .key = "k",
                                             .key_len = 1,
                                             .token = 3,
                                             .ok = true,
                                             .origin = "replica-a"};

START_TEST(server_loss_is_not_ready_and_publish_fails_then_recovers)
{
    struct fx f;
    fx_open(&f, _i, 2);
    ck_assert_int_gt(f.env.servers[0].port, 0);
    jc_test_server_kill(&f.env.servers[0]);
    ck_assert(wait_ready(&f, &f.in[0], false, WAIT_MS));
    ck_assert(wait_ready(&f, &f.in[1], false, WAIT_MS));
    ck_assert_int_eq(jc_broker_publish(f.in[0].broker, &outage_event), JC_ERR_BROKER);
    ck_assert_int_eq(jc_test_server_restart(&f.env.servers[0]), 0);
    ck_assert(wait_ready(&f, &f.in[0], true, 8000));
    ck_assert(wait_ready(&f, &f.in[1], true, 8000));
    ck_assert(publish_until_seen(&f, &f.in[0], &f.in[1], &outage_event));
    assert_same_event(&f.in[1].ev[f.in[1].n - 1], &outage_event);
    fx_close(&f);
}
END_TEST

START_TEST(opens_while_server_is_down_and_connects_when_it_starts)
{
    struct fx f;
    fx_open(&f, _i, 0);
    ck_assert_int_gt(f.env.servers[0].port, 0);
    jc_test_server_kill(&f.env.servers[0]);
    inbox_start(&f, &f.in[0]);
    jc_test_loop_for(f.loop, 100);
    ck_assert(!jc_broker_is_ready(f.in[0].broker));
    ck_assert_int_eq(jc_test_server_restart(&f.env.servers[0]), 0);
    ck_assert(wait_ready(&f, &f.in[0], true, 8000));
    ck_assert(publish_until_seen(&f, &f.in[0], &f.in[0], &outage_event));
    fx_close(&f);
}
END_TEST

static Suite *broker_contract_suite(void)
{
    Suite *s = suite_create("broker_contract");
    TCase *tc = tcase_create("events");
    tcase_set_timeout(tc, 60);
    tcase_add_loop_test(tc, done_events_arrive_intact_at_the_publisher, 0, N_BACKENDS);
    tcase_add_loop_test(tc, invalidate_events_arrive_intact_at_the_publisher, 0, N_BACKENDS);
    tcase_add_loop_test(tc, events_are_never_delivered_inside_publish, 0, N_BACKENDS);
    tcase_add_loop_test(tc, a_burst_of_events_all_arrive_once, 0, N_BACKENDS);
    suite_add_tcase(s, tc);
    tc = tcase_create("replicas");
    tcase_set_timeout(tc, 60);
    tcase_add_loop_test(tc, two_instances_both_get_each_event, 0, N_BACKENDS);
    suite_add_tcase(s, tc);
    tc = tcase_create("close");
    tcase_set_timeout(tc, 60);
    tcase_add_loop_test(tc, closing_with_events_in_flight_delivers_nothing_after, 0, N_BACKENDS);
    tcase_add_loop_test(tc, closing_from_inside_the_handler_is_safe, 0, N_BACKENDS);
    suite_add_tcase(s, tc);
    /* From 1: every backend but "local" (index 0), which has no server. */
    tc = tcase_create("outage");
    tcase_set_timeout(tc, 60);
    tcase_add_loop_test(tc, server_loss_is_not_ready_and_publish_fails_then_recovers, 1,
                        N_BACKENDS);
    tcase_add_loop_test(tc, opens_while_server_is_down_and_connects_when_it_starts, 1, N_BACKENDS);
    suite_add_tcase(s, tc);
    return s;
}

JC_TEST_MAIN(broker_contract_suite)
