/* server/http.c: routing, answers, and the jc_err -> HTTP table.
 *
 * server/conn.c reads the requests; this file decides what each one gets.
 * The path stays raw (percent-encoded): server/route.c decodes each segment
 * itself, so "%2F" stays inside a key.
 *
 * Every request being answered owns one struct request, created when its
 * connection hands it over and freed when it is answered (or when its
 * client goes away: its engine wait is then cancelled).  A request that
 * must wait is kept in a list, so that a shutdown can answer all of them.
 * Value responses hold a reference to their entry until they are freed; they
 * are shared through a small table of prebuilt responses (one per entry,
 * source and second of Age), swept every second of entries nobody else
 * holds, so a hit, or a thousand waiters woken at once, allocate nothing
 * per request.  Event thread only. */
#include "server/http.h"

#include <errno.h>
#include <netdb.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config/config.h"
#include "core/broker/broker.h"
#include "core/engine.h"
#include "core/entry.h"
#include "core/log.h"
#include "core/loop.h"
#include "core/mem.h"
#include "core/store/store.h"
#include "server/conn.h"
#include "server/metrics.h"
#include "server/response.h"
#include "server/route.h"

#define JC_HTTP_HIT_SLOTS 256

/* A prebuilt value response (see shared_response). */
struct hit_slot {
    struct jc_entry *entry;
    enum jc_source source;
    uint64_t age_s;
    struct jc_response *response;
};

struct jc_http {
    struct jc_http_deps deps;
    struct jc_conns *conns;
    char *caches_json;
    size_t caches_json_len;
    struct request *waiting; /* requests waiting for the engine */
    int port;
    struct jc_metrics_http counters;
    struct hit_slot hits[JC_HTTP_HIT_SLOTS];
    struct jc_timer *sweep;
};

struct request {
    struct jc_http *http;
    struct jc_conn *conn;
    struct jc_engine_wait *wait; /* the engine call this request waits for */
    int cache;
    char *key;
    size_t key_len;
    bool waiting;
    char *if_none_match;
    struct request *prev; /* in http->waiting while waiting */
    struct request *next;
};

/* ---- the one table: jc_err -> HTTP status ---- */

static unsigned int err_status(enum jc_err err)
{
    switch (err) {
    case JC_OK:
        return 200;
    case JC_ERR_INVALID:
        return 400;
    case JC_ERR_NOT_FOUND:
        return 404;
    case JC_ERR_TOO_LARGE:
    case JC_ERR_UPSTREAM:
        return 502;
    case JC_ERR_WAIT_TIMEOUT:
    case JC_ERR_UPSTREAM_TIMEOUT:
    case JC_ERR_NOT_CACHED:
        return 504;
    case JC_ERR_STORE:
    case JC_ERR_BROKER:
    case JC_ERR_FENCED:
    case JC_ERR_SHUTDOWN:
        return 503;
    }
    return 500;
}

/* ---- JSON output ---- */

/* Returns the length of the valid UTF-8 sequence at p (at most left bytes),
 * or 0 when the bytes there are not one. */
static size_t utf8_sequence(const unsigned char *p, size_t left)
{
    size_t n = p[0] >= 0xf0 && p[0] <= 0xf4 ? 4 : p[0] >= 0xe0 ? 3 : p[0] >= 0xc2 ? 2 : 0;
    if (n == 0 || n > left || p[0] > 0xf4) {
        return 0;
    }
    for (size_t i = 1; i < n; i++) {
        if ((p[i] & 0xc0) != 0x80) {
            return 0;
        }
    }
    unsigned int cp = n == 2   ? (p[0] & 0x1fu) << 6 | (p[1] & 0x3fu)
                      : n == 3 ? (p[0] & 0x0fu) << 12 | (p[1] & 0x3fu) << 6 | (p[2] & 0x3fu)
                               : (p[0] & 0x07u) << 18 | (p[1] & 0x3fu) << 12 | (p[2] & 0x3fu) << 6 |
                                     (p[3] & 0x3fu);
    bool overlong = (n == 3 && cp < 0x800) || (n == 4 && cp < 0x10000);
    bool bad = overlong || (cp >= 0xd800 && cp <= 0xdfff) || cp > 0x10ffff;
    return bad ? 0 : n;
}

/* Appends s[0..len) as a JSON string.  Keys are bytes, not text: a byte that
 * is not part of valid UTF-8 is written as the code point of the same value
 * (\u00XX), so the output is always valid JSON. */
static void json_string(struct jc_buf *b, const char *s, size_t len)
{
    static const char hex[] = "0123456789abcdef";
    const unsigned char *p = (const unsigned char *)s;
    jc_buf_add(b, "\"", 1);
    for (size_t i = 0; i < len; i++) {
        unsigned char c = p[i];
        if (c == '"' || c == '\\') {
            char esc[2] = {'\\', (char)c};
            jc_buf_add(b, esc, 2);
        } else if (c < 0x20 || c == 0x7f) {
            char esc[6] = {'\\', 'u', '0', '0', hex[c >> 4], hex[c & 15]};
            jc_buf_add(b, esc, 6);
        } else if (c < 0x80) {
            jc_buf_add(b, &s[i], 1);
        } else {
            size_t n = utf8_sequence(p + i, len - i);
            if (n == 0) {
                char esc[6] = {'\\', 'u', '0', '0', hex[c >> 4], hex[c & 15]};
                jc_buf_add(b, esc, 6);
            } else {
                jc_buf_add(b, &s[i], n);
                i += n - 1;
            }
        }
    }
    jc_buf_add(b, "\"", 1);
}

/* ---- responses ---- */

static struct jc_response *response_from_buf(unsigned int status, struct jc_buf *b)
{
    struct jc_response *resp = jc_response_new(status);
    jc_response_take_body(resp, b);
    return resp;
}

static struct jc_response *json_response(unsigned int status, struct jc_buf *b)
{
    struct jc_response *resp = response_from_buf(status, b);
    jc_response_add_header(resp, "Content-Type", "application/json");
    return resp;
}

/* A JSON error {"error": code, "message": text}. */
static struct jc_response *error_response(unsigned int status, const char *code,
                                          const char *message)
{
    struct jc_buf b;
    jc_buf_init(&b, 0);
    jc_buf_add(&b, "{\"error\":", 9);
    json_string(&b, code, strlen(code));
    jc_buf_add(&b, ",\"message\":", 11);
    json_string(&b, message, strlen(message));
    jc_buf_add(&b, "}\n", 2);
    return json_response(status, &b);
}

static void unlink_waiting(struct request *r)
{
    if (r->prev != NULL) {
        r->prev->next = r->next;
    } else {
        r->http->waiting = r->next;
    }
    if (r->next != NULL) {
        r->next->prev = r->prev;
    }
    r->prev = NULL;
    r->next = NULL;
}

static void request_free(struct request *r)
{
    if (r->waiting) {
        unlink_waiting(r);
    }
    free(r->key);
    free(r->if_none_match);
    free(r);
}

/* Sends resp (taken) as r's answer; r is freed. */
static void request_reply(struct request *r, struct jc_response *resp)
{
    jc_metrics_http_count(&r->http->counters, jc_response_status(resp));
    struct jc_conn *conn = r->conn;
    request_free(r);
    jc_conn_reply(conn, resp);
    jc_response_unref(resp);
}

static void reply_error(struct request *r, unsigned int status, const char *code,
                        const char *message)
{
    struct jc_response *resp = error_response(status, code, message);
    if (status == 503) {
        jc_response_add_header(resp, "Retry-After", "1");
    }
    request_reply(r, resp);
}

static void reply_err(struct request *r, enum jc_err err)
{
    reply_error(r, err_status(err), jc_err_name(err), jc_strerror(err));
}

static void reply_method_not_allowed(struct request *r, const char *allow)
{
    struct jc_response *resp =
        error_response(405, "method_not_allowed", "this method is not allowed on this resource");
    jc_response_add_header(resp, "Allow", allow);
    request_reply(r, resp);
}

static void add_cache_status(struct jc_response *resp, const struct jc_entry *e,
                             enum jc_source source)
{
    char value[128];
    if (e->failed) {
        snprintf(value, sizeof(value), "jcached; fwd=uri-miss; fwd-status=%d; detail=not-stored",
                 e->status);
    } else if (source == JC_SOURCE_L1) {
        snprintf(value, sizeof(value), "jcached; hit; detail=l1");
    } else if (source == JC_SOURCE_STORE) {
        snprintf(value, sizeof(value), "jcached; hit");
    } else {
        snprintf(value, sizeof(value), "jcached; fwd=uri-miss; fwd-status=%d; %s", e->status,
                 source == JC_SOURCE_FETCHED ? "stored" : "collapsed");
    }
    jc_response_add_header(resp, "Cache-Status", value);
}

static void release_entry(void *cls)
{
    jc_entry_unref(cls);
}

static uint64_t entry_age_s(const struct jc_http *h, const struct jc_entry *e)
{
    uint64_t now = jc_loop_wall_ms(h->deps.loop);
    return now > e->stored_at_ms ? (now - e->stored_at_ms) / 1000 : 0;
}

/* Returns new: the response for value e.  The response holds a reference
 * to e until it is freed, so its body stays valid however long the
 * sending takes. */
static struct jc_response *entry_response(const struct jc_http *h, struct jc_entry *e,
                                          enum jc_source source, bool not_modified)
{
    struct jc_response *resp = jc_response_new(not_modified ? 304 : (unsigned int)e->status);
    if (!not_modified) {
        jc_response_borrow_body(resp, e->body, e->body_len, release_entry, jc_entry_ref(e));
    }
    for (int i = 0; i < JC_HDR_COUNT; i++) {
        if (e->headers[i] != NULL && (!not_modified || i == JC_HDR_ETAG)) {
            jc_response_add_header(resp, jc_entry_header_name(i), e->headers[i]);
        }
    }
    char age[32];
    snprintf(age, sizeof(age), "%llu", (unsigned long long)entry_age_s(h, e));
    jc_response_add_header(resp, "Age", age);
    add_cache_status(resp, e, source);
    return resp;
}

static void slot_clear(struct hit_slot *slot)
{
    jc_response_unref(slot->response);
    jc_entry_unref(slot->entry);
    memset(slot, 0, sizeof(*slot));
}

/* Frees the slots whose entry only the slot and its own response still
 * hold (deleted, expired or evicted from L1), so a large body does not stay
 * in memory for as long as no other entry lands in its slot. */
static void on_sweep(void *arg)
{
    struct jc_http *h = arg;
    for (size_t i = 0; i < JC_HTTP_HIT_SLOTS; i++) {
        if (h->hits[i].entry != NULL && h->hits[i].entry->refs <= 2) {
            slot_clear(&h->hits[i]);
        }
    }
    jc_timer_start(h->sweep, 1000);
}

/* Returns borrowed (valid until the slot is reused; a connection that must
 * keep it takes its own reference): the response for e as source, built once
 * per entry, source and second of Age and shared by every request answered
 * with it, so an L1 hit allocates nothing per request.  The slot keeps a
 * reference to its entry, so an entry's address cannot be reused while a
 * slot names it. */
static struct jc_response *shared_response(struct jc_http *h, struct jc_entry *e,
                                           enum jc_source source)
{
    size_t i = ((uintptr_t)e / sizeof(void *) + (size_t)source) % JC_HTTP_HIT_SLOTS;
    struct hit_slot *slot = &h->hits[i];
    uint64_t age = entry_age_s(h, e);
    if (slot->entry != e || slot->source != source || slot->age_s != age) {
        slot_clear(slot);
        slot->entry = jc_entry_ref(e);
        slot->source = source;
        slot->age_s = age;
        slot->response = entry_response(h, e, source, false);
    }
    return slot->response;
}

/* Answers with a value (or a not-stored upstream answer) held in e. */
static void reply_entry(struct request *r, struct jc_entry *e, enum jc_source source)
{
    if (e->failed && e->err != JC_OK) {
        reply_err(r, e->err);
        return;
    }
    bool not_modified = !e->failed && r->if_none_match != NULL && e->headers[JC_HDR_ETAG] != NULL &&
                        e->status >= 200 && e->status < 300 &&
                        jc_route_etag_matches(r->if_none_match, e->headers[JC_HDR_ETAG]);
    if (not_modified) {
        request_reply(r, entry_response(r->http, e, source, true));
    } else {
        request_reply(r, jc_response_ref(shared_response(r->http, e, source)));
    }
}

/* {"cache":…,"key":…,"status":…} plus "ttl_ms" when with_ttl (null when ttl_ms < 0). */
static void reply_key_status(struct request *r, unsigned int code, const char *status,
                             bool with_ttl, int64_t ttl_ms)
{
    const struct jc_cache_config *c = jc_engine_cache(r->http->deps.engine, r->cache);
    struct jc_buf b;
    jc_buf_init(&b, 0);
    jc_buf_add(&b, "{\"cache\":", 9);
    json_string(&b, c->name, strlen(c->name));
    jc_buf_add(&b, ",\"key\":", 7);
    json_string(&b, r->key, r->key_len);
    jc_buf_printf(&b, ",\"status\":\"%s\"", status);
    if (with_ttl && ttl_ms >= 0) {
        jc_buf_printf(&b, ",\"ttl_ms\":%lld", (long long)ttl_ms);
    } else if (with_ttl) {
        jc_buf_add(&b, ",\"ttl_ms\":null", 14);
    }
    jc_buf_add(&b, "}\n", 2);
    request_reply(r, json_response(code, &b));
}

/* ---- engine callbacks ---- */

static void on_outcome(void *arg, const struct jc_outcome *o)
{
    struct request *r = arg;
    r->wait = NULL;
    if (o->err != JC_OK) {
        reply_err(r, o->err);
    } else if (o->entry != NULL) {
        reply_entry(r, o->entry, o->source);
    } else {
        request_reply(r, jc_response_new(204));
    }
}

static void on_post_outcome(void *arg, const struct jc_outcome *o)
{
    struct request *r = arg;
    r->wait = NULL;
    if (o->err != JC_OK) {
        reply_err(r, o->err);
        return;
    }
    if (o->status == JC_KEY_EXISTS) {
        reply_key_status(r, 200, "EXISTS", false, -1);
    } else {
        reply_key_status(r, 202, "PENDING", false, -1);
    }
}

static void on_key_status(void *arg, enum jc_err err, enum jc_key_status status, int64_t ttl_ms)
{
    struct request *r = arg;
    r->wait = NULL;
    if (err != JC_OK) {
        reply_err(r, err);
        return;
    }
    static const char *const names[] = {"EMPTY", "PENDING", "EXISTS"};
    reply_key_status(r, 200, names[status], true, status == JC_KEY_EXISTS ? ttl_ms : -1);
}

/* ---- request parameters ---- */

/* The client's wait in ms: timeout_ms, else Prefer: wait=N, else the cache's
 * default; never above max_wait_timeout_ms.  JC_ERR_INVALID for a bad
 * timeout_ms. */
static enum jc_err request_timeout(const struct jc_wire_request *req,
                                   const struct jc_cache_config *c, uint64_t *out)
{
    const char *raw = NULL;
    size_t raw_len = 0;
    uint64_t ms = c->wait_timeout_ms;
    if (jc_route_query_param(req->query, "timeout_ms", &raw, &raw_len)) {
        if (jc_route_parse_timeout(raw, raw_len, &ms) != JC_OK) {
            return JC_ERR_INVALID;
        }
    } else {
        jc_route_prefer_wait(req->headers[JC_WIRE_PREFER], &ms);
    }
    *out = ms < c->max_wait_timeout_ms ? ms : c->max_wait_timeout_ms;
    return JC_OK;
}

static bool authorized(const struct request *r, const struct jc_wire_request *req)
{
    return jc_route_bearer_ok(req->headers[JC_WIRE_AUTHORIZATION],
                              r->http->deps.config->admin_token);
}

static void reply_unauthorized(struct request *r)
{
    struct jc_response *resp =
        error_response(401, "unauthorized", "this call needs Authorization: Bearer <admin token>");
    jc_response_add_header(resp, "WWW-Authenticate", "Bearer");
    request_reply(r, resp);
}

/* ---- routes ---- */

/* r waits for the engine; its client may leave meanwhile (on_gone). */
static void request_wait(struct request *r)
{
    r->waiting = true;
    r->next = r->http->waiting;
    if (r->next != NULL) {
        r->next->prev = r;
    }
    r->http->waiting = r;
    jc_conn_attach(r->conn, r);
}

static bool method_is(const struct jc_wire_request *req, const char *name)
{
    return strcmp(req->method, name) == 0;
}

static bool method_reads(const struct jc_wire_request *req)
{
    return method_is(req, "GET") || method_is(req, "HEAD");
}

static void route_value(struct request *r, const struct jc_wire_request *req)
{
    struct jc_engine *engine = r->http->deps.engine;
    const struct jc_cache_config *c = jc_engine_cache(engine, r->cache);
    bool get = method_reads(req);
    bool post = method_is(req, "POST");
    bool del = method_is(req, "DELETE");
    if (!get && !post && !del) {
        reply_method_not_allowed(r, "GET, HEAD, POST, DELETE");
        return;
    }
    if ((post || del) && !authorized(r, req)) {
        reply_unauthorized(r);
        return;
    }
    uint64_t timeout;
    if (request_timeout(req, c, &timeout) != JC_OK) {
        reply_error(r, 400, "bad_request", "timeout_ms must be a non-negative integer");
        return;
    }
    const char *inm = req->headers[JC_WIRE_IF_NONE_MATCH];
    if (inm != NULL) {
        r->if_none_match = jc_xstrdup(inm);
    }
    if (!del) {
        struct jc_entry *hit = jc_engine_l1_lookup(engine, r->cache, r->key, r->key_len);
        if (hit != NULL) {
            if (post) {
                reply_key_status(r, 200, "EXISTS", false, -1);
            } else {
                reply_entry(r, hit, JC_SOURCE_L1);
            }
            jc_entry_unref(hit);
            return;
        }
    }
    enum jc_engine_op op = del    ? JC_OP_DELETE
                           : post ? JC_OP_POST
                           : jc_route_only_if_cached(req->headers[JC_WIRE_CACHE_CONTROL])
                               ? JC_OP_GET
                               : JC_OP_BUILD;
    enum jc_err err = jc_engine_start(engine, r->cache, r->key, r->key_len, op, timeout,
                                      post ? on_post_outcome : on_outcome, r, &r->wait);
    if (err != JC_OK) {
        reply_err(r, err);
        return;
    }
    request_wait(r);
}

static void route_status(struct request *r, const struct jc_wire_request *req)
{
    if (!method_reads(req)) {
        reply_method_not_allowed(r, "GET, HEAD");
        return;
    }
    if (!authorized(r, req)) {
        reply_unauthorized(r);
        return;
    }
    enum jc_err err = jc_engine_status(r->http->deps.engine, r->cache, r->key, r->key_len,
                                       on_key_status, r, &r->wait);
    if (err != JC_OK) {
        reply_err(r, err);
        return;
    }
    request_wait(r);
}

/* /caches/<name>/<key>[/status]: the cache must exist, then the key be valid. */
static void route_key(struct request *r, struct jc_route *route, const struct jc_wire_request *req)
{
    r->cache = jc_engine_find_cache(r->http->deps.engine, route->cache);
    if (r->cache < 0) {
        reply_error(r, 404, "unknown_cache", "no cache of that name");
        return;
    }
    if (route->key == NULL) {
        reply_error(r, 400, "bad_request", route->why);
        return;
    }
    r->key = route->key;
    r->key_len = route->key_len;
    route->key = NULL;
    if (route->kind == JC_ROUTE_STATUS) {
        route_status(r, req);
    } else {
        route_value(r, req);
    }
}

static void route_readyz(struct request *r)
{
    bool store_up = jc_store_is_ready(r->http->deps.store);
    bool broker_up = jc_broker_is_ready(r->http->deps.broker);
    if (store_up && broker_up) {
        struct jc_buf b;
        jc_buf_init(&b, 0);
        jc_buf_printf(&b, "{\"status\":\"ready\",\"store\":\"up\",\"broker\":\"up\"}\n");
        request_reply(r, json_response(200, &b));
        return;
    }
    char msg[128];
    snprintf(msg, sizeof(msg), "store %s (%s), broker %s (%s)", store_up ? "up" : "down",
             jc_store_name(r->http->deps.store), broker_up ? "up" : "down",
             jc_broker_name(r->http->deps.broker));
    reply_error(r, 503, store_up ? "broker_unavailable" : "store_unavailable", msg);
}

static void route_metrics(struct request *r)
{
    struct jc_engine_stats stats;
    jc_engine_stats(r->http->deps.engine, &stats);
    struct jc_buf b;
    jc_buf_init(&b, 0);
    jc_metrics_render(&b, &stats, &r->http->counters, jc_store_is_ready(r->http->deps.store),
                      jc_broker_is_ready(r->http->deps.broker));
    struct jc_response *resp = response_from_buf(200, &b);
    jc_response_add_header(resp, "Content-Type", "text/plain; version=0.0.4; charset=utf-8");
    request_reply(r, resp);
}

static void route_service(struct request *r, enum jc_route_kind kind)
{
    switch (kind) {
    case JC_ROUTE_HEALTHZ: {
        struct jc_buf b;
        jc_buf_init(&b, 0);
        jc_buf_printf(&b, "{\"status\":\"ok\"}\n");
        request_reply(r, json_response(200, &b));
        break;
    }
    case JC_ROUTE_READYZ:
        route_readyz(r);
        break;
    case JC_ROUTE_METRICS:
        route_metrics(r);
        break;
    default: {
        struct jc_response *resp = jc_response_new(200);
        jc_response_borrow_body(resp, r->http->caches_json, r->http->caches_json_len, NULL, NULL);
        jc_response_add_header(resp, "Content-Type", "application/json");
        request_reply(r, resp);
        break;
    }
    }
}

static void route(struct request *r, const struct jc_wire_request *req)
{
    struct jc_route route;
    jc_route_parse(req->path, &route);
    switch (route.kind) {
    case JC_ROUTE_NOT_FOUND:
        reply_error(r, 404, "not_found", "no such route");
        break;
    case JC_ROUTE_BAD:
        reply_error(r, 400, "bad_request", route.why);
        break;
    case JC_ROUTE_VALUE:
    case JC_ROUTE_STATUS:
        route_key(r, &route, req);
        break;
    case JC_ROUTE_HEALTHZ:
    case JC_ROUTE_READYZ:
    case JC_ROUTE_METRICS:
    case JC_ROUTE_CACHES:
        if (!method_reads(req)) {
            reply_method_not_allowed(r, "GET, HEAD");
        } else {
            route_service(r, route.kind);
        }
        break;
    }
    jc_route_clear(&route);
}

/* ---- what server/conn.c hands over ---- */

static void on_request(void *arg, struct jc_conn *conn, const struct jc_wire_request *req)
{
    struct request *r = jc_xcalloc(1, sizeof(*r));
    r->http = arg;
    r->conn = conn;
    r->cache = -1;
    route(r, req);
}

static void on_reject(void *arg, struct jc_conn *conn, unsigned int status, const char *code,
                      const char *message)
{
    struct jc_http *h = arg;
    struct jc_response *resp = error_response(status, code, message);
    jc_metrics_http_count(&h->counters, status);
    jc_conn_reply(conn, resp);
    jc_response_unref(resp);
}

/* The client left: its wait ends here, the engine's work goes on (a fetch
 * others wait for is never cancelled). */
static void on_gone(void *arg, void *request)
{
    (void)arg;
    struct request *r = request;
    jc_engine_cancel(r->wait);
    request_free(r);
}

static enum jc_err resolve_listen(const struct jc_config *cfg, struct sockaddr_storage *addr,
                                  socklen_t *addr_len)
{
    struct addrinfo hints = {0};
    struct addrinfo *res = NULL;
    char port[16];
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
    snprintf(port, sizeof(port), "%d", cfg->listen_port);
    if (getaddrinfo(cfg->listen_host, port, &hints, &res) != 0 || res == NULL) {
        jc_log_error("cannot resolve listen address %s", cfg->listen_host);
        return JC_ERR_INVALID;
    }
    memcpy(addr, res->ai_addr, res->ai_addrlen);
    *addr_len = res->ai_addrlen;
    freeaddrinfo(res);
    return JC_OK;
}

enum jc_err jc_http_open(const struct jc_http_deps *deps, struct jc_http **out)
{
    struct sockaddr_storage addr;
    socklen_t addr_len;
    if (resolve_listen(deps->config, &addr, &addr_len) != JC_OK) {
        return JC_ERR_INVALID;
    }
    struct jc_http *h = jc_xcalloc(1, sizeof(*h));
    h->deps = *deps;
    struct jc_conns_handler handler = {
        .request = on_request, .reject = on_reject, .gone = on_gone, .arg = h};
    if (jc_conns_open(deps->loop, (struct sockaddr *)&addr, addr_len, &handler, &h->conns) !=
        JC_OK) {
        jc_log_error("cannot listen on %s:%d: %s", deps->config->listen_host,
                     deps->config->listen_port, strerror(errno));
        free(h);
        return JC_ERR_INVALID;
    }
    h->caches_json = jc_config_caches_json(deps->config);
    h->caches_json_len = strlen(h->caches_json);
    h->sweep = jc_timer_new(deps->loop, on_sweep, h);
    jc_timer_start(h->sweep, 1000);
    *out = h;
    return JC_OK;
}

void jc_http_quiesce(struct jc_http *http)
{
    jc_conns_quiesce(http->conns);
}

void jc_http_abort_waits(struct jc_http *http)
{
    while (http->waiting != NULL) {
        struct request *r = http->waiting;
        jc_engine_cancel(r->wait);
        r->wait = NULL;
        reply_err(r, JC_ERR_SHUTDOWN);
    }
}

size_t jc_http_requests_in_flight(const struct jc_http *http)
{
    return jc_conns_in_flight(http->conns);
}

int jc_http_port(const struct jc_http *http)
{
    return jc_conns_port(http->conns);
}

void jc_http_close(struct jc_http *http)
{
    if (http == NULL) {
        return;
    }
    jc_conns_close(http->conns);
    for (size_t i = 0; i < JC_HTTP_HIT_SLOTS; i++) {
        slot_clear(&http->hits[i]);
    }
    jc_timer_free(http->sweep);
    free(http->caches_json);
    free(http);
}
