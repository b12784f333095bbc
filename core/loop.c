/* core/loop.c: libevent-backed event loop, timers and cross-thread wake-ups.
 *
 * jc_loop_defer() appends to a FIFO queue drained by one manually activated
 * event, so deferred calls run in the order they were made.  jc_async uses an eventfd-like pipe
 * so that it needs no libevent threading support: other threads only write a
 * byte to the pipe.  Event thread only, except jc_async_send(). */
#include "core/loop.h"

#include <errno.h>
#include <event2/event.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#include "core/mem.h"

struct deferred {
    struct deferred *next;
    jc_loop_cb_fn *fn;
    void *arg;
};

struct jc_loop {
    struct event_base *base;
    jc_loop_clock_fn *clock_fn;
    void *clock_arg;
    struct event *defer_ev; /* activated while the deferred queue is not empty */
    struct deferred *defer_head;
    struct deferred *defer_tail;
};

struct jc_timer {
    struct event *ev;
    jc_loop_cb_fn *fn;
    void *arg;
};

struct jc_async {
    struct event *ev;
    int fds[2];
    atomic_int pending;
    jc_loop_cb_fn *fn;
    void *arg;
};

static void on_deferred(evutil_socket_t fd, short what, void *arg);

struct jc_loop *jc_loop_new(void)
{
    struct jc_loop *loop = jc_xcalloc(1, sizeof(*loop));
    loop->base = event_base_new();
    if (loop->base == NULL) {
        free(loop);
        return NULL;
    }
    loop->defer_ev = event_new(loop->base, -1, 0, on_deferred, loop);
    return loop;
}

void jc_loop_free(struct jc_loop *loop)
{
    if (loop == NULL) {
        return;
    }
    while (loop->defer_head != NULL) {
        struct deferred *d = loop->defer_head;
        loop->defer_head = d->next;
        free(d);
    }
    event_free(loop->defer_ev);
    event_base_free(loop->base);
    free(loop);
}

struct event_base *jc_loop_base(struct jc_loop *loop)
{
    return loop->base;
}

void jc_loop_run(struct jc_loop *loop)
{
    event_base_dispatch(loop->base);
}

void jc_loop_run_once(struct jc_loop *loop)
{
    event_base_loop(loop->base, EVLOOP_NONBLOCK);
}

void jc_loop_stop(struct jc_loop *loop)
{
    event_base_loopbreak(loop->base);
}

static uint64_t monotonic_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

uint64_t jc_loop_now_ms(struct jc_loop *loop)
{
    if (loop->clock_fn != NULL) {
        return loop->clock_fn(loop->clock_arg);
    }
    return monotonic_ms();
}

uint64_t jc_loop_wall_ms(struct jc_loop *loop)
{
    (void)loop;
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

void jc_loop_set_clock(struct jc_loop *loop, jc_loop_clock_fn *fn, void *arg)
{
    loop->clock_fn = fn;
    loop->clock_arg = arg;
}

/* Runs the calls deferred before this one started, in order; calls deferred
 * meanwhile wait for the next round, so a callback that defers itself
 * cannot starve the loop. */
static void on_deferred(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct jc_loop *loop = arg;
    struct deferred *d = loop->defer_head;
    struct deferred *last = loop->defer_tail;
    loop->defer_head = NULL;
    loop->defer_tail = NULL;
    while (d != NULL) {
        struct deferred *next = d == last ? NULL : d->next;
        jc_loop_cb_fn *fn = d->fn;
        void *fn_arg = d->arg;
        free(d);
        fn(fn_arg);
        d = next;
    }
}

void jc_loop_defer(struct jc_loop *loop, jc_loop_cb_fn *fn, void *arg)
{
    struct deferred *d = jc_xcalloc(1, sizeof(*d));
    d->fn = fn;
    d->arg = arg;
    if (loop->defer_tail != NULL) {
        loop->defer_tail->next = d;
    } else {
        loop->defer_head = d;
        event_active(loop->defer_ev, EV_TIMEOUT, 0);
    }
    loop->defer_tail = d;
}

static void on_timer(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct jc_timer *t = arg;
    t->fn(t->arg);
}

struct jc_timer *jc_timer_new(struct jc_loop *loop, jc_loop_cb_fn *fn, void *arg)
{
    struct jc_timer *t = jc_xcalloc(1, sizeof(*t));
    t->fn = fn;
    t->arg = arg;
    t->ev = evtimer_new(loop->base, on_timer, t);
    return t;
}

void jc_timer_start(struct jc_timer *timer, uint64_t ms)
{
    struct timeval tv = {(time_t)(ms / 1000), (suseconds_t)((ms % 1000) * 1000)};
    evtimer_add(timer->ev, &tv);
}

void jc_timer_stop(struct jc_timer *timer)
{
    evtimer_del(timer->ev);
}

int jc_timer_is_pending(const struct jc_timer *timer)
{
    return evtimer_pending(timer->ev, NULL) != 0;
}

void jc_timer_free(struct jc_timer *timer)
{
    if (timer == NULL) {
        return;
    }
    event_free(timer->ev);
    free(timer);
}

static void on_async(evutil_socket_t fd, short what, void *arg)
{
    (void)what;
    struct jc_async *a = arg;
    char drain[64];
    while (read(fd, drain, sizeof(drain)) > 0) {
    }
    atomic_store(&a->pending, 0);
    a->fn(a->arg);
}

struct jc_async *jc_async_new(struct jc_loop *loop, jc_loop_cb_fn *fn, void *arg)
{
    struct jc_async *a = jc_xcalloc(1, sizeof(*a));
    if (pipe(a->fds) != 0) {
        free(a);
        return NULL;
    }
    for (int i = 0; i < 2; i++) {
        fcntl(a->fds[i], F_SETFL, fcntl(a->fds[i], F_GETFL) | O_NONBLOCK);
        fcntl(a->fds[i], F_SETFD, FD_CLOEXEC);
    }
    a->fn = fn;
    a->arg = arg;
    a->ev = event_new(loop->base, a->fds[0], EV_READ | EV_PERSIST, on_async, a);
    event_add(a->ev, NULL);
    return a;
}

void jc_async_send(struct jc_async *async)
{
    if (atomic_exchange(&async->pending, 1) == 0) {
        ssize_t n;
        do {
            n = write(async->fds[1], "x", 1);
        } while (n < 0 && errno == EINTR);
    }
}

void jc_async_free(struct jc_async *async)
{
    if (async == NULL) {
        return;
    }
    event_free(async->ev);
    close(async->fds[0]);
    close(async->fds[1]);
    free(async);
}
