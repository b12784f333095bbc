/* server/app.c: start-up, the run, and the graceful stop.
 *
 * Start order: loop, store, upstream, engine, broker (its events go to the
 * engine), HTTP.  Stop (SIGTERM/SIGINT): stop accepting connections, end the
 * waits that depend on other replicas, let this replica's own fetches finish
 * (each within its upstream.timeout_ms) and store or release their locks,
 * let the last responses go out, then close everything in reverse order.  A
 * second signal stops at once.  Main thread only. */
#include "server/app.h"

#include <event2/event.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "config/config.h"
#include "core/broker/broker.h"
#include "core/engine.h"
#include "core/log.h"
#include "core/loop.h"
#include "core/store/store.h"
#include "server/http.h"
#include "server/upstream.h"
#include "server/version.h"

#define DRAIN_CHECK_MS 20

struct jc_app {
    const struct jc_config *cfg;
    struct jc_loop *loop;
    struct jc_store *store;
    struct jc_broker *broker;
    struct jc_upstream *upstream;
    struct jc_fetcher fetcher;
    struct jc_engine *engine;
    struct jc_http *http;
    struct event *sigterm;
    struct event *sigint;
    struct jc_timer *drain;
    uint64_t drain_deadline_ms;
    int signals;
    char replica_id[96];
};

static void make_replica_id(struct jc_app *app)
{
    char host[64] = "jcached";
    gethostname(host, sizeof(host) - 1);
    host[sizeof(host) - 1] = '\0';
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    snprintf(app->replica_id, sizeof(app->replica_id), "%s-%ld-%lx", host, (long)getpid(),
             (unsigned long)(ts.tv_nsec ^ (ts.tv_sec << 20)));
}

static void on_broker_event(void *arg, const struct jc_event *ev)
{
    struct jc_app *app = arg;
    jc_engine_on_event(app->engine, ev);
}

static uint64_t longest_fetch_ms(const struct jc_config *cfg)
{
    uint64_t longest = 0;
    for (size_t i = 0; i < cfg->n_caches; i++) {
        if (cfg->caches[i].upstream_timeout_ms > longest) {
            longest = cfg->caches[i].upstream_timeout_ms;
        }
    }
    return longest;
}

static void on_drain_check(void *arg)
{
    struct jc_app *app = arg;
    bool idle =
        jc_engine_active_fetches(app->engine) == 0 && jc_http_requests_in_flight(app->http) == 0;
    if (idle || jc_loop_now_ms(app->loop) >= app->drain_deadline_ms) {
        if (!idle) {
            jc_log_warn("stopping with %zu fetches still running",
                        jc_engine_active_fetches(app->engine));
        }
        jc_loop_stop(app->loop);
        return;
    }
    jc_timer_start(app->drain, DRAIN_CHECK_MS);
}

static void on_signal(evutil_socket_t sig, short what, void *arg)
{
    (void)what;
    struct jc_app *app = arg;
    if (++app->signals > 1) {
        jc_log_warn("second signal: stopping now");
        jc_loop_stop(app->loop);
        return;
    }
    jc_log_info("signal %d: draining (%zu fetches running)", (int)sig,
                jc_engine_active_fetches(app->engine));
    jc_http_quiesce(app->http);
    jc_engine_shutdown(app->engine);
    app->drain_deadline_ms = jc_loop_now_ms(app->loop) + longest_fetch_ms(app->cfg) + 5000;
    jc_timer_start(app->drain, 0);
}

/* Each waiting client holds a connection: allow as many descriptors as the
 * hard limit permits. */
static void raise_fd_limit(void)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        if (setrlimit(RLIMIT_NOFILE, &rl) != 0) {
            jc_log_warn("cannot raise the open-file limit");
        }
    }
}

static int app_open(struct jc_app *app)
{
    const struct jc_config *cfg = app->cfg;
    app->loop = jc_loop_new();
    if (app->loop == NULL) {
        jc_log_error("cannot create the event loop");
        return -1;
    }
    if (jc_store_open(app->loop, &cfg->store, &app->store) != JC_OK) {
        jc_log_error("cannot open the %s store", cfg->store.type);
        return -1;
    }
    if (jc_upstream_open(app->loop, &app->upstream) != JC_OK) {
        jc_log_error("cannot initialise libcurl");
        return -1;
    }
    app->fetcher = jc_upstream_fetcher(app->upstream);
    make_replica_id(app);
    app->engine = jc_engine_new(app->loop, app->store, &app->fetcher, cfg->caches, cfg->n_caches,
                                app->replica_id);
    if (jc_broker_open(app->loop, &cfg->broker, on_broker_event, app, &app->broker) != JC_OK) {
        jc_log_error("cannot open the %s broker", cfg->broker.type);
        return -1;
    }
    jc_engine_set_broker(app->engine, app->broker);
    struct jc_http_deps deps = {app->loop, app->engine, app->store, app->broker, cfg};
    if (jc_http_open(&deps, &app->http) != JC_OK) {
        return -1;
    }
    struct event_base *base = jc_loop_base(app->loop);
    app->sigterm = evsignal_new(base, SIGTERM, on_signal, app);
    app->sigint = evsignal_new(base, SIGINT, on_signal, app);
    event_add(app->sigterm, NULL);
    event_add(app->sigint, NULL);
    app->drain = jc_timer_new(app->loop, on_drain_check, app);
    return 0;
}

static void app_close(struct jc_app *app)
{
    if (app->sigterm != NULL) {
        event_free(app->sigterm);
    }
    if (app->sigint != NULL) {
        event_free(app->sigint);
    }
    jc_timer_free(app->drain);
    /* Callbacks still pending in the upstream and the store run inside their
     * close calls, into the engine: close them before freeing it. */
    if (app->http != NULL) {
        jc_http_abort_waits(app->http);
    }
    jc_http_close(app->http);
    if (app->engine != NULL) {
        jc_engine_set_broker(app->engine, NULL);
    }
    jc_broker_close(app->broker);
    jc_upstream_close(app->upstream);
    jc_store_close(app->store);
    jc_engine_free(app->engine);
    jc_loop_free(app->loop);
}

int jc_app_run(const struct jc_config *cfg)
{
    struct jc_app app;
    memset(&app, 0, sizeof(app));
    app.cfg = cfg;
    signal(SIGPIPE, SIG_IGN);
    raise_fd_limit();
    if (app_open(&app) != 0) {
        app_close(&app);
        return 1;
    }
    jc_log_info("%s listening on %s:%d (store %s, broker %s, %zu caches, %s)", jc_version_string(),
                cfg->listen_host, jc_http_port(app.http), cfg->store.type, cfg->broker.type,
                cfg->n_caches, jc_upstream_version());
    jc_loop_run(app.loop);
    jc_log_info("stopped");
    app_close(&app);
    return 0;
}
