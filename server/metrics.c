/* server/metrics.c: Prometheus text exposition of jcached's counters.  See
 * metrics.h.  Metric names start with jcached_; counters end in _total. */
#include "server/metrics.h"

#include "core/engine.h"
#include "core/mem.h"

void jc_metrics_http_count(struct jc_metrics_http *m, unsigned int status)
{
    if (status < 600) {
        m->responses[status]++;
    }
}

static void header(struct jc_buf *out, const char *name, const char *type, const char *help)
{
    jc_buf_printf(out, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

static void sample(struct jc_buf *out, const char *name, const char *label, const char *value,
                   uint64_t n)
{
    jc_buf_printf(out, "%s{%s=\"%s\"} %llu\n", name, label, value, (unsigned long long)n);
}

static void render_requests(struct jc_buf *out, const struct jc_engine_stats *s)
{
    header(out, "jcached_requests_total", "counter",
           "Cache requests by result (l1_hit, hit, miss, collapsed, error).");
    sample(out, "jcached_requests_total", "result", "l1_hit", s->requests_l1_hit);
    sample(out, "jcached_requests_total", "result", "hit", s->requests_hit);
    sample(out, "jcached_requests_total", "result", "miss", s->requests_miss);
    sample(out, "jcached_requests_total", "result", "collapsed", s->requests_collapsed);
    sample(out, "jcached_requests_total", "result", "error", s->requests_error);
}

static void render_fetches(struct jc_buf *out, const struct jc_engine_stats *s)
{
    header(out, "jcached_upstream_fetches_total", "counter",
           "Upstream fetches by outcome (stored, not_stored, failed, fenced).");
    sample(out, "jcached_upstream_fetches_total", "outcome", "stored", s->fetches_stored);
    sample(out, "jcached_upstream_fetches_total", "outcome", "not_stored", s->fetches_not_stored);
    sample(out, "jcached_upstream_fetches_total", "outcome", "failed", s->fetches_failed);
    sample(out, "jcached_upstream_fetches_total", "outcome", "fenced", s->fetches_fenced);
    header(out, "jcached_upstream_fetch_duration_seconds", "histogram",
           "Duration of upstream fetches.");
    for (int i = 0; i < 12; i++) {
        uint64_t le = jc_engine_fetch_buckets_ms[i];
        if (le == UINT64_MAX) {
            jc_buf_printf(out, "jcached_upstream_fetch_duration_seconds_bucket{le=\"+Inf\"} %llu\n",
                          (unsigned long long)s->fetch_duration_buckets[i]);
        } else {
            jc_buf_printf(
                out, "jcached_upstream_fetch_duration_seconds_bucket{le=\"%llu.%03llu\"} %llu\n",
                (unsigned long long)(le / 1000), (unsigned long long)(le % 1000),
                (unsigned long long)s->fetch_duration_buckets[i]);
        }
    }
    jc_buf_printf(out, "jcached_upstream_fetch_duration_seconds_sum %llu.%03llu\n",
                  (unsigned long long)(s->fetch_duration_sum_ms / 1000),
                  (unsigned long long)(s->fetch_duration_sum_ms % 1000));
    jc_buf_printf(out, "jcached_upstream_fetch_duration_seconds_count %llu\n",
                  (unsigned long long)s->fetch_duration_count);
    header(out, "jcached_upstream_fetches_active", "gauge", "Upstream fetches in flight.");
    jc_buf_printf(out, "jcached_upstream_fetches_active %llu\n",
                  (unsigned long long)s->fetches_active);
}

void jc_metrics_render(struct jc_buf *out, const struct jc_engine_stats *engine,
                       const struct jc_metrics_http *http, bool store_up, bool broker_up)
{
    render_requests(out, engine);
    render_fetches(out, engine);
    header(out, "jcached_waiters", "gauge", "Requests waiting for a value now.");
    jc_buf_printf(out, "jcached_waiters %llu\n", (unsigned long long)engine->waiters);
    header(out, "jcached_l1_entries", "gauge", "Entries in the in-process L1 caches.");
    jc_buf_printf(out, "jcached_l1_entries %llu\n", (unsigned long long)engine->l1_entries);
    header(out, "jcached_http_responses_total", "counter", "HTTP responses by status code.");
    for (unsigned int code = 100; code < 600; code++) {
        if (http->responses[code] > 0) {
            jc_buf_printf(out, "jcached_http_responses_total{code=\"%u\"} %llu\n", code,
                          (unsigned long long)http->responses[code]);
        }
    }
    header(out, "jcached_store_up", "gauge", "1 when the store is connected.");
    jc_buf_printf(out, "jcached_store_up %d\n", store_up ? 1 : 0);
    header(out, "jcached_broker_up", "gauge", "1 when the broker is connected.");
    jc_buf_printf(out, "jcached_broker_up %d\n", broker_up ? 1 : 0);
}
