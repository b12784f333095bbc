/* tests/core/test_loop.c: core/loop.c: deferred calls, timers, the
 * cross-thread wake-up and the injectable clock. */
#include "core/loop.h"

#include <check.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <time.h>

#include "tests/support/jc_test.h"
#include "tests/support/servers.h"

#define WAIT_MS  5000
/* libevent may read a coarse clock, so a timer can fire a few ms before its
 * delay as measured by CLOCK_MONOTONIC. */
#define SLACK_MS 5

static uint64_t real_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* ---- defer ---- */

struct order {
    struct jc_loop *loop;
    int seen[200];
    int n;
    bool done;
    int want;
};

struct step {
    struct order *o;
    int id;
};

static void on_step(void *arg)
{
    struct step *s = arg;
    s->o->seen[s->o->n++] = s->id;
    s->o->done = s->o->n >= s->o->want;
}

/* loop.h promises each deferred call runs once, later; it does not promise
 * the order of calls deferred together (libevent keeps zero-delay events in
 * a heap, which is not FIFO), so neither does this test. */
START_TEST(deferred_calls_each_run_once_later)
{
    struct jc_loop *loop = jc_loop_new();
    struct order o = {.loop = loop, .want = 100};
    struct step steps[100];
    for (int i = 0; i < 100; i++) {
        steps[i] = (struct step){&o, i};
        jc_loop_defer(loop, on_step, &steps[i]);
    }
    ck_assert_int_eq(o.n, 0);
    ck_assert(jc_test_loop_until(loop, &o.done, WAIT_MS));
    jc_test_loop_for(loop, 10);
    ck_assert_int_eq(o.n, 100);
    int runs[100] = {0};
    for (int i = 0; i < 100; i++) {
        runs[o.seen[i]]++;
    }
    for (int i = 0; i < 100; i++) {
        ck_assert_int_eq(runs[i], 1);
    }
    jc_loop_free(loop);
}
END_TEST

struct nest {
    struct jc_loop *loop;
    int depth;
    int inner_ran_during_outer;
    bool in_outer;
    bool done;
};

static void on_inner(void *arg)
{
    struct nest *n = arg;
    if (n->in_outer) {
        n->inner_ran_during_outer++;
    }
    n->done = true;
}

static void on_outer(void *arg)
{
    struct nest *n = arg;
    n->in_outer = true;
    jc_loop_defer(n->loop, on_inner, n);
    n->in_outer = false;
}

START_TEST(defer_from_a_deferred_call_runs_after_it)
{
    struct jc_loop *loop = jc_loop_new();
    struct nest n = {.loop = loop};
    jc_loop_defer(loop, on_outer, &n);
    ck_assert(jc_test_loop_until(loop, &n.done, WAIT_MS));
    ck_assert_int_eq(n.inner_ran_during_outer, 0);
    jc_loop_free(loop);
}
END_TEST

static void on_count(void *arg)
{
    (*(int *)arg)++;
}

START_TEST(run_returns_when_nothing_is_left)
{
    struct jc_loop *loop = jc_loop_new();
    int count = 0;
    jc_loop_defer(loop, on_count, &count);
    jc_loop_defer(loop, on_count, &count);
    jc_loop_run(loop);
    ck_assert_int_eq(count, 2);
    jc_loop_free(loop);
}
END_TEST

/* ---- timers ---- */

struct fired {
    uint64_t at;
    int count;
    bool done;
    int *order_slot;
    int *order_next;
};

static void on_fired(void *arg)
{
    struct fired *f = arg;
    f->at = real_ms();
    f->count++;
    f->done = true;
    if (f->order_slot != NULL) {
        *f->order_slot = (*f->order_next)++;
    }
}

START_TEST(timers_fire_once_after_their_delay_shortest_first)
{
    struct jc_loop *loop = jc_loop_new();
    int next = 0, slot_long = -1, slot_short = -1;
    struct fired lng = {.order_slot = &slot_long, .order_next = &next};
    struct fired shrt = {.order_slot = &slot_short, .order_next = &next};
    struct jc_timer *tl = jc_timer_new(loop, on_fired, &lng);
    struct jc_timer *ts = jc_timer_new(loop, on_fired, &shrt);
    uint64_t start = real_ms();
    jc_timer_start(tl, 40);
    jc_timer_start(ts, 10);
    ck_assert(jc_timer_is_pending(tl));
    ck_assert(jc_timer_is_pending(ts));
    ck_assert(jc_test_loop_until(loop, &lng.done, WAIT_MS));
    ck_assert_int_eq(slot_short, 0);
    ck_assert_int_eq(slot_long, 1);
    ck_assert_uint_ge(shrt.at - start, 10 - SLACK_MS);
    ck_assert_uint_ge(lng.at - start, 40 - SLACK_MS);
    ck_assert(!jc_timer_is_pending(tl));
    jc_test_loop_for(loop, 20);
    ck_assert_int_eq(lng.count, 1);
    ck_assert_int_eq(shrt.count, 1);
    jc_timer_free(tl);
    jc_timer_free(ts);
    jc_loop_free(loop);
}
END_TEST

START_TEST(stopped_timer_does_not_fire_and_restart_rearms)
{
    struct jc_loop *loop = jc_loop_new();
    struct fired f = {0};
    struct jc_timer *t = jc_timer_new(loop, on_fired, &f);
    jc_timer_start(t, 5);
    jc_timer_stop(t);
    ck_assert(!jc_timer_is_pending(t));
    jc_test_loop_for(loop, 30);
    ck_assert_int_eq(f.count, 0);
    /* Starting a pending timer again moves its deadline. */
    uint64_t start = real_ms();
    jc_timer_start(t, 5);
    jc_timer_start(t, 30);
    ck_assert(jc_test_loop_until(loop, &f.done, WAIT_MS));
    ck_assert_uint_ge(f.at - start, 30 - SLACK_MS);
    ck_assert_int_eq(f.count, 1);
    /* Freeing a pending timer cancels it. */
    jc_timer_start(t, 5);
    jc_timer_free(t);
    jc_test_loop_for(loop, 20);
    ck_assert_int_eq(f.count, 1);
    jc_loop_free(loop);
}
END_TEST

static void on_stop(void *arg)
{
    jc_loop_stop(arg);
}

START_TEST(stop_ends_run_with_timers_still_pending)
{
    struct jc_loop *loop = jc_loop_new();
    struct fired f = {0};
    struct jc_timer *later = jc_timer_new(loop, on_fired, &f);
    jc_timer_start(later, 10000);
    jc_loop_defer(loop, on_stop, loop);
    uint64_t start = real_ms();
    jc_loop_run(loop);
    ck_assert_uint_lt(real_ms() - start, 1000);
    ck_assert_int_eq(f.count, 0);
    jc_timer_free(later);
    jc_loop_free(loop);
}
END_TEST

/* ---- jc_async ---- */

#define SENDS 1000

struct cross {
    struct jc_async *async;
    atomic_int produced;
    int seen; /* the produced count observed by the last wake-up */
    int wakeups;
    bool done;
    pthread_t main_thread;
    bool wrong_thread;
};

static void on_async(void *arg)
{
    struct cross *c = arg;
    if (!pthread_equal(pthread_self(), c->main_thread)) {
        c->wrong_thread = true;
    }
    c->wakeups++;
    c->seen = atomic_load(&c->produced);
    c->done = c->seen == SENDS;
}

static void *producer(void *arg)
{
    struct cross *c = arg;
    for (int i = 0; i < SENDS; i++) {
        atomic_fetch_add(&c->produced, 1);
        jc_async_send(c->async);
    }
    return NULL;
}

START_TEST(async_from_another_thread_wakes_the_loop)
{
    struct jc_loop *loop = jc_loop_new();
    struct cross c = {.main_thread = pthread_self()};
    atomic_init(&c.produced, 0);
    c.async = jc_async_new(loop, on_async, &c);
    ck_assert_ptr_nonnull(c.async);
    pthread_t th;
    ck_assert_int_eq(pthread_create(&th, NULL, producer, &c), 0);
    /* The last send comes after the last increment, so some wake-up
     * eventually sees all of them, however many sends were coalesced. */
    ck_assert(jc_test_loop_until(loop, &c.done, WAIT_MS));
    pthread_join(th, NULL);
    ck_assert(!c.wrong_thread);
    ck_assert_int_ge(c.wakeups, 1);
    ck_assert_int_le(c.wakeups, SENDS);
    /* No send, no wake-up. */
    int before = c.wakeups;
    jc_test_loop_for(loop, 20);
    ck_assert_int_eq(c.wakeups, before);
    jc_async_send(c.async);
    c.done = false;
    c.seen = 0;
    ck_assert(jc_test_loop_until(loop, &c.done, WAIT_MS));
    ck_assert_int_eq(c.wakeups, before + 1);
    jc_async_free(c.async);
    jc_loop_free(loop);
}
END_TEST

/* ---- clocks ---- */

START_TEST(injected_clock_replaces_the_monotonic_one)
{
    struct jc_loop *loop = jc_loop_new();
    uint64_t before = jc_loop_now_ms(loop);
    ck_assert_uint_le(before, real_ms());
    struct jc_test_clock clock = {.now_ms = 42};
    jc_test_clock_install(loop, &clock);
    ck_assert_uint_eq(jc_loop_now_ms(loop), 42);
    jc_test_clock_advance(&clock, 1000);
    ck_assert_uint_eq(jc_loop_now_ms(loop), 1042);
    jc_loop_set_clock(loop, NULL, NULL);
    uint64_t after = jc_loop_now_ms(loop);
    ck_assert_uint_ge(after, before);
    ck_assert_uint_le(after, real_ms());
    jc_loop_free(loop);
}
END_TEST

START_TEST(wall_clock_is_epoch_milliseconds)
{
    struct jc_loop *loop = jc_loop_new();
    struct jc_test_clock clock = {0};
    jc_test_clock_install(loop, &clock);
    uint64_t wall = jc_loop_wall_ms(loop);
    uint64_t now_s = (uint64_t)time(NULL);
    ck_assert_uint_ge(wall / 1000 + 1, now_s);
    ck_assert_uint_le(wall / 1000, now_s + 1);
    jc_loop_free(loop);
}
END_TEST

static Suite *loop_suite(void)
{
    Suite *s = suite_create("loop");
    TCase *tc = tcase_create("defer");
    tcase_add_test(tc, deferred_calls_each_run_once_later);
    tcase_add_test(tc, defer_from_a_deferred_call_runs_after_it);
    tcase_add_test(tc, run_returns_when_nothing_is_left);
    suite_add_tcase(s, tc);
    tc = tcase_create("timers");
    tcase_add_test(tc, timers_fire_once_after_their_delay_shortest_first);
    tcase_add_test(tc, stopped_timer_does_not_fire_and_restart_rearms);
    tcase_add_test(tc, stop_ends_run_with_timers_still_pending);
    suite_add_tcase(s, tc);
    tc = tcase_create("async");
    tcase_add_test(tc, async_from_another_thread_wakes_the_loop);
    suite_add_tcase(s, tc);
    tc = tcase_create("clock");
    tcase_add_test(tc, injected_clock_replaces_the_monotonic_one);
    tcase_add_test(tc, wall_clock_is_epoch_milliseconds);
    suite_add_tcase(s, tc);
    return s;
}

JC_TEST_MAIN(loop_suite)
