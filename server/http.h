/* server/http.h: the HTTP front of jcached.
 *
 * Routes every request of SPEC §2 to the engine, the store and the metrics.
 * Connections (server/conn.h) live on the process's one event loop: a
 * request that must wait (for the store or for another request's fetch)
 * holds no thread and only a few hundred bytes until the engine answers.
 * Event thread only. */
#ifndef JC_SERVER_HTTP_H
#define JC_SERVER_HTTP_H

#include <stddef.h>

#include "core/err.h"

struct jc_loop;
struct jc_engine;
struct jc_store;
struct jc_broker;
struct jc_config;
struct jc_http;

/* What the HTTP front serves; all borrowed and outliving it. */
struct jc_http_deps {
    struct jc_loop *loop;
    struct jc_engine *engine;
    struct jc_store *store;
    struct jc_broker *broker;
    const struct jc_config *config;
};

/* Listens on config->listen_host:listen_port.  On JC_OK *out is new (close
 * with jc_http_close).  JC_ERR_INVALID when the address cannot be bound
 * (the reason is logged).  Borrows deps. */
enum jc_err jc_http_open(const struct jc_http_deps *deps, struct jc_http **out) JC_MUST_CHECK;

/* Stops accepting new connections; requests already received go on. */
void jc_http_quiesce(struct jc_http *http);

/* Answers every request still waiting with 503 shutting_down (their engine
 * waits are cancelled). */
void jc_http_abort_waits(struct jc_http *http);

/* Returns the number of requests whose answer is not sent yet. */
size_t jc_http_requests_in_flight(const struct jc_http *http);

/* Returns the port listened on. */
int jc_http_port(const struct jc_http *http);

void jc_http_close(struct jc_http *http);

#endif
