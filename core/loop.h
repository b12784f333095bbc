/* core/loop.h: the one event loop of a jcached process.
 *
 * A thin layer over libevent: timers, "run this soon" callbacks, a thread-safe
 * wake-up for work arriving from other threads (nats.c delivers messages on
 * its own threads), and the clock.  Backends that have a libevent adapter
 * (hiredis, nats.c, libcurl's multi-socket API, the HTTP connections) get
 * the event_base with jc_loop_base().
 *
 * The clock is injectable so that tests can move time without sleeping:
 * jc_loop_now_ms() returns the monotonic time in ms (or the test clock), and
 * jc_loop_wall_ms() the wall clock in ms since the epoch.
 *
 * Event thread only, except jc_async_send(), which is thread-safe. */
#ifndef JC_CORE_LOOP_H
#define JC_CORE_LOOP_H

#include <stdint.h>

#include "core/err.h"

struct event_base;
struct jc_loop;
struct jc_timer;
struct jc_async;

typedef void jc_loop_cb_fn(void *arg);
typedef uint64_t jc_loop_clock_fn(void *arg);

/* Returns new: a loop (free with jc_loop_free). */
struct jc_loop *jc_loop_new(void);
void jc_loop_free(struct jc_loop *loop);
/* Returns borrowed, valid until jc_loop_free: the libevent base. */
struct event_base *jc_loop_base(struct jc_loop *loop);
/* Runs until jc_loop_stop() or until nothing is left to wait for. */
void jc_loop_run(struct jc_loop *loop);
/* Runs the callbacks that are ready now, without blocking (for tests). */
void jc_loop_run_once(struct jc_loop *loop);
void jc_loop_stop(struct jc_loop *loop);

uint64_t jc_loop_now_ms(struct jc_loop *loop);
uint64_t jc_loop_wall_ms(struct jc_loop *loop);
/* Replaces the monotonic clock (tests).  fn == NULL restores the real one. */
void jc_loop_set_clock(struct jc_loop *loop, jc_loop_clock_fn *fn, void *arg);

/* Calls fn(arg) once, soon, from the loop (never before this returns);
 * deferred calls run in the order they were deferred. */
void jc_loop_defer(struct jc_loop *loop, jc_loop_cb_fn *fn, void *arg);

/* Returns new: a one-shot timer calling fn(arg); free with jc_timer_free. */
struct jc_timer *jc_timer_new(struct jc_loop *loop, jc_loop_cb_fn *fn, void *arg);
/* (Re)arms the timer to fire after ms milliseconds of real time. */
void jc_timer_start(struct jc_timer *timer, uint64_t ms);
void jc_timer_stop(struct jc_timer *timer);
int jc_timer_is_pending(const struct jc_timer *timer);
void jc_timer_free(struct jc_timer *timer);

/* Returns new: a wake-up that calls fn(arg) on the loop after any number of
 * jc_async_send() calls from any thread (calls may be coalesced). */
struct jc_async *jc_async_new(struct jc_loop *loop, jc_loop_cb_fn *fn, void *arg);
/* Thread-safe. */
void jc_async_send(struct jc_async *async);
void jc_async_free(struct jc_async *async);

#endif
