/* server/metrics.h: the /metrics page in Prometheus text format.
 *
 * The engine keeps its own counters (struct jc_engine_stats); the HTTP front
 * counts responses by status code here.  Rendering is a pure function of
 * those numbers.  Event thread only. */
#ifndef JC_SERVER_METRICS_H
#define JC_SERVER_METRICS_H

#include <stdbool.h>
#include <stdint.h>

struct jc_buf;
struct jc_engine_stats;

struct jc_metrics_http {
    uint64_t responses[600]; /* by status code, 100..599 */
};

void jc_metrics_http_count(struct jc_metrics_http *m, unsigned int status);

/* Appends the whole page to out. */
void jc_metrics_render(struct jc_buf *out, const struct jc_engine_stats *engine,
                       const struct jc_metrics_http *http, bool store_up, bool broker_up);

#endif
