/* server/http.c: libmicrohttpd front, routing, and the jc_err -> HTTP table.
 *
 * MHD runs in "external epoll" mode: the loop watches MHD's epoll descriptor
 * and calls MHD_run() when it is readable, and a timer follows
 * MHD_get_timeout().  MHD's own unescaping is replaced by the identity, so
 * server/route.c sees the raw path and decodes each segment itself: "%2F"
 * stays inside a key.
 *
 * Every request owns one struct request, created on MHD's first call and
 * freed in the request-completed callback, which also forgets an engine wait
 * still attached (a client gone while the daemon stops).  A request that
 * must wait is suspended; the engine's callback builds the response, stores
 * it in the request and resumes the connection; MHD then calls the handler
 * again, which queues it.  Value responses hold a reference to their entry
 * until MHD destroys them; those answered at once are shared through a small
 * table of prebuilt responses, swept every second of entries nobody else
 * holds.  Event thread only. */
#include "server/http.h"

#include <arpa/inet.h>
#include <event2/event.h>
#include <microhttpd.h>
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
#include "server/metrics.h"
#include "server/route.h"

#define JC_HTTP_HIT_SLOTS 256

/* A prebuilt value response (see shared_response). */
struct hit_slot {
    struct jc_entry *entry;
    enum jc_source source;
    uint64_t age_s;
    struct MHD_Response *response;
};

struct jc_http {
    struct jc_http_deps deps;
    struct MHD_Daemon *daemon;
    struct event *ev_io;
    struct event *ev_timer;
    char *caches_json;
    size_t caches_json_len;
    size_t in_flight;
    struct request *suspended; /* list of suspended requests */
    int port;
    struct jc_metrics_http counters;
    struct hit_slot hits[JC_HTTP_HIT_SLOTS];
    struct jc_timer *sweep;
};

struct request {
    struct jc_http *http;
    struct MHD_Connection *conn;
    struct jc_engine_wait *wait;   /* the engine call this request waits for */
    struct MHD_Response *response; /* ready to queue after a resume */
    unsigned int status;
    int cache;
    char *key;
    size_t key_len;
    bool routed;
    bool suspended;
    char *if_none_match;
    struct request *prev; /* in http->suspended while suspended */
    struct request *next;
};

/* ---- the one table: jc_err -> HTTP status ---- */

static unsigned int err_status(enum jc_err err)
{
    switch (err) {
    case JC_OK:
        return MHD_HTTP_OK;
    case JC_ERR_INVALID:
        return MHD_HTTP_BAD_REQUEST;
    case JC_ERR_NOT_FOUND:
        return MHD_HTTP_NOT_FOUND;
    case JC_ERR_TOO_LARGE:
    case JC_ERR_UPSTREAM:
        return MHD_HTTP_BAD_GATEWAY;
    case JC_ERR_WAIT_TIMEOUT:
    case JC_ERR_UPSTREAM_TIMEOUT:
    case JC_ERR_NOT_CACHED:
        return MHD_HTTP_GATEWAY_TIMEOUT;
    case JC_ERR_STORE:
    case JC_ERR_BROKER:
    case JC_ERR_FENCED:
    case JC_ERR_SHUTDOWN:
        return MHD_HTTP_SERVICE_UNAVAILABLE;
    }
    return MHD_HTTP_INTERNAL_SERVER_ERROR;
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

static struct MHD_Response *response_from_buf(struct jc_buf *b)
{
    size_t len;
    char *data = jc_buf_take(b, &len);
    return MHD_create_response_from_buffer(len, data, MHD_RESPMEM_MUST_FREE);
}

static struct MHD_Response *json_response(struct jc_buf *b)
{
    struct MHD_Response *resp = response_from_buf(b);
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, "application/json");
    return resp;
}

/* A JSON error {"error": code, "message": text}. */
static struct MHD_Response *error_response(const char *code, const char *message)
{
    struct jc_buf b;
    jc_buf_init(&b, 0);
    jc_buf_add(&b, "{\"error\":", 9);
    json_string(&b, code, strlen(code));
    jc_buf_add(&b, ",\"message\":", 11);
    json_string(&b, message, strlen(message));
    jc_buf_add(&b, "}\n", 2);
    return json_response(&b);
}

static void unlink_suspended(struct request *r)
{
    if (r->prev != NULL) {
        r->prev->next = r->next;
    } else {
        r->http->suspended = r->next;
    }
    if (r->next != NULL) {
        r->next->prev = r->prev;
    }
    r->prev = NULL;
    r->next = NULL;
}

/* Queues resp now, or keeps it for the resume when r is suspended. */
static void request_reply(struct request *r, unsigned int status, struct MHD_Response *resp)
{
    jc_metrics_http_count(&r->http->counters, status);
    if (r->suspended) {
        r->status = status;
        r->response = resp;
        r->suspended = false;
        unlink_suspended(r);
        MHD_resume_connection(r->conn);
        /* MHD notices resumed connections only in MHD_run(): run it soon. */
        event_active(r->http->ev_timer, EV_TIMEOUT, 0);
        return;
    }
    MHD_queue_response(r->conn, status, resp);
    MHD_destroy_response(resp);
}

static void reply_error(struct request *r, unsigned int status, const char *code,
                        const char *message)
{
    struct MHD_Response *resp = error_response(code, message);
    if (status == MHD_HTTP_SERVICE_UNAVAILABLE) {
        MHD_add_response_header(resp, MHD_HTTP_HEADER_RETRY_AFTER, "1");
    }
    request_reply(r, status, resp);
}

static void reply_err(struct request *r, enum jc_err err)
{
    reply_error(r, err_status(err), jc_err_name(err), jc_strerror(err));
}

static void reply_method_not_allowed(struct request *r, const char *allow)
{
    struct MHD_Response *resp =
        error_response("method_not_allowed", "this method is not allowed on this resource");
    MHD_add_response_header(resp, MHD_HTTP_HEADER_ALLOW, allow);
    request_reply(r, MHD_HTTP_METHOD_NOT_ALLOWED, resp);
}

static void add_cache_status(struct MHD_Response *resp, const struct jc_entry *e,
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
    MHD_add_response_header(resp, "Cache-Status", value);
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
 * to e until MHD destroys it, so its body stays valid however long the
 * sending takes. */
static struct MHD_Response *entry_response(const struct jc_http *h, struct jc_entry *e,
                                           enum jc_source source, bool not_modified)
{
    struct MHD_Response *resp;
    if (not_modified) {
        resp = MHD_create_response_from_buffer(0, NULL, MHD_RESPMEM_PERSISTENT);
    } else {
        resp = MHD_create_response_from_buffer_with_free_callback_cls(
            e->body_len, e->body, release_entry, jc_entry_ref(e));
    }
    for (int i = 0; i < JC_HDR_COUNT; i++) {
        if (e->headers[i] != NULL && (!not_modified || i == JC_HDR_ETAG)) {
            MHD_add_response_header(resp, jc_entry_header_name(i), e->headers[i]);
        }
    }
    char age[32];
    snprintf(age, sizeof(age), "%llu", (unsigned long long)entry_age_s(h, e));
    MHD_add_response_header(resp, MHD_HTTP_HEADER_AGE, age);
    add_cache_status(resp, e, source);
    return resp;
}

static void slot_clear(struct hit_slot *slot)
{
    if (slot->response != NULL) {
        MHD_destroy_response(slot->response);
    }
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

/* Returns borrowed (valid until the slot is reused; queueing takes MHD's own
 * reference): the response for e as source, built once per entry, source and
 * second of Age and shared by every connection that answers with it at once
 * (MHD responses are refcounted), so an L1 hit allocates nothing per request.  The slot keeps a
 * reference to its entry, so an entry's address cannot be reused while a slot names it. */
static struct MHD_Response *shared_response(struct jc_http *h, struct jc_entry *e,
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
        request_reply(r, MHD_HTTP_NOT_MODIFIED, entry_response(r->http, e, source, true));
    } else if (r->suspended) {
        /* Queued only after the resume, when a shared slot may have been
         * reused: this request gets a response of its own. */
        request_reply(r, (unsigned int)e->status, entry_response(r->http, e, source, false));
    } else {
        jc_metrics_http_count(&r->http->counters, (unsigned int)e->status);
        MHD_queue_response(r->conn, (unsigned int)e->status, shared_response(r->http, e, source));
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
    request_reply(r, code, json_response(&b));
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
        request_reply(r, MHD_HTTP_NO_CONTENT,
                      MHD_create_response_from_buffer(0, NULL, MHD_RESPMEM_PERSISTENT));
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
        reply_key_status(r, MHD_HTTP_OK, "EXISTS", false, -1);
    } else {
        reply_key_status(r, MHD_HTTP_ACCEPTED, "PENDING", false, -1);
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
    reply_key_status(r, MHD_HTTP_OK, names[status], true, status == JC_KEY_EXISTS ? ttl_ms : -1);
}

/* ---- request parameters ---- */

/* The client's wait in ms: timeout_ms, else Prefer: wait=N, else the cache's
 * default; never above max_wait_timeout_ms.  JC_ERR_INVALID for a bad
 * timeout_ms. */
static enum jc_err request_timeout(struct request *r, const struct jc_cache_config *c,
                                   uint64_t *out)
{
    const char *raw = NULL;
    size_t raw_len = 0;
    uint64_t ms = c->wait_timeout_ms;
    if (MHD_lookup_connection_value_n(r->conn, MHD_GET_ARGUMENT_KIND, "timeout_ms", 10, &raw,
                                      &raw_len) == MHD_YES) {
        if (jc_route_parse_timeout(raw, raw_len, &ms) != JC_OK) {
            return JC_ERR_INVALID;
        }
    } else {
        jc_route_prefer_wait(MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, "Prefer"), &ms);
    }
    *out = ms < c->max_wait_timeout_ms ? ms : c->max_wait_timeout_ms;
    return JC_OK;
}

static bool authorized(struct request *r)
{
    return jc_route_bearer_ok(
        MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, "Authorization"),
        r->http->deps.config->admin_token);
}

static void reply_unauthorized(struct request *r)
{
    struct MHD_Response *resp =
        error_response("unauthorized", "this call needs Authorization: Bearer <admin token>");
    MHD_add_response_header(resp, MHD_HTTP_HEADER_WWW_AUTHENTICATE, "Bearer");
    request_reply(r, MHD_HTTP_UNAUTHORIZED, resp);
}

/* ---- routes ---- */

static void suspend(struct request *r)
{
    r->suspended = true;
    r->next = r->http->suspended;
    if (r->next != NULL) {
        r->next->prev = r;
    }
    r->http->suspended = r;
    MHD_suspend_connection(r->conn);
}

static void route_value(struct request *r, const char *method)
{
    struct jc_engine *engine = r->http->deps.engine;
    const struct jc_cache_config *c = jc_engine_cache(engine, r->cache);
    bool get = strcmp(method, "GET") == 0 || strcmp(method, "HEAD") == 0;
    bool post = strcmp(method, "POST") == 0;
    bool del = strcmp(method, "DELETE") == 0;
    if (!get && !post && !del) {
        reply_method_not_allowed(r, "GET, HEAD, POST, DELETE");
        return;
    }
    if ((post || del) && !authorized(r)) {
        reply_unauthorized(r);
        return;
    }
    uint64_t timeout;
    if (request_timeout(r, c, &timeout) != JC_OK) {
        reply_error(r, MHD_HTTP_BAD_REQUEST, "bad_request",
                    "timeout_ms must be a non-negative integer");
        return;
    }
    const char *inm = MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, "If-None-Match");
    if (inm != NULL) {
        r->if_none_match = jc_xstrdup(inm);
    }
    if (!del) {
        struct jc_entry *hit = jc_engine_l1_lookup(engine, r->cache, r->key, r->key_len);
        if (hit != NULL) {
            if (post) {
                reply_key_status(r, MHD_HTTP_OK, "EXISTS", false, -1);
            } else {
                reply_entry(r, hit, JC_SOURCE_L1);
            }
            jc_entry_unref(hit);
            return;
        }
    }
    enum jc_engine_op op = del    ? JC_OP_DELETE
                           : post ? JC_OP_POST
                           : jc_route_only_if_cached(MHD_lookup_connection_value(
                                 r->conn, MHD_HEADER_KIND, "Cache-Control"))
                               ? JC_OP_GET
                               : JC_OP_BUILD;
    enum jc_err err = jc_engine_start(engine, r->cache, r->key, r->key_len, op, timeout,
                                      post ? on_post_outcome : on_outcome, r, &r->wait);
    if (err != JC_OK) {
        reply_err(r, err);
        return;
    }
    suspend(r);
}

static void route_status(struct request *r, const char *method)
{
    if (strcmp(method, "GET") != 0 && strcmp(method, "HEAD") != 0) {
        reply_method_not_allowed(r, "GET, HEAD");
        return;
    }
    if (!authorized(r)) {
        reply_unauthorized(r);
        return;
    }
    enum jc_err err = jc_engine_status(r->http->deps.engine, r->cache, r->key, r->key_len,
                                       on_key_status, r, &r->wait);
    if (err != JC_OK) {
        reply_err(r, err);
        return;
    }
    suspend(r);
}

/* /caches/<name>/<key>[/status]: the cache must exist, then the key be valid. */
static void route_key(struct request *r, struct jc_route *route, const char *method)
{
    r->cache = jc_engine_find_cache(r->http->deps.engine, route->cache);
    if (r->cache < 0) {
        reply_error(r, MHD_HTTP_NOT_FOUND, "unknown_cache", "no cache of that name");
        return;
    }
    if (route->key == NULL) {
        reply_error(r, MHD_HTTP_BAD_REQUEST, "bad_request", route->why);
        return;
    }
    r->key = route->key;
    r->key_len = route->key_len;
    route->key = NULL;
    if (route->kind == JC_ROUTE_STATUS) {
        route_status(r, method);
    } else {
        route_value(r, method);
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
        request_reply(r, MHD_HTTP_OK, json_response(&b));
        return;
    }
    char msg[128];
    snprintf(msg, sizeof(msg), "store %s (%s), broker %s (%s)", store_up ? "up" : "down",
             jc_store_name(r->http->deps.store), broker_up ? "up" : "down",
             jc_broker_name(r->http->deps.broker));
    reply_error(r, MHD_HTTP_SERVICE_UNAVAILABLE,
                store_up ? "broker_unavailable" : "store_unavailable", msg);
}

static void route_metrics(struct request *r)
{
    struct jc_engine_stats stats;
    jc_engine_stats(r->http->deps.engine, &stats);
    struct jc_buf b;
    jc_buf_init(&b, 0);
    jc_metrics_render(&b, &stats, &r->http->counters, jc_store_is_ready(r->http->deps.store),
                      jc_broker_is_ready(r->http->deps.broker));
    struct MHD_Response *resp = response_from_buf(&b);
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE,
                            "text/plain; version=0.0.4; charset=utf-8");
    request_reply(r, MHD_HTTP_OK, resp);
}

static void route_service(struct request *r, enum jc_route_kind kind)
{
    switch (kind) {
    case JC_ROUTE_HEALTHZ: {
        struct jc_buf b;
        jc_buf_init(&b, 0);
        jc_buf_printf(&b, "{\"status\":\"ok\"}\n");
        request_reply(r, MHD_HTTP_OK, json_response(&b));
        break;
    }
    case JC_ROUTE_READYZ:
        route_readyz(r);
        break;
    case JC_ROUTE_METRICS:
        route_metrics(r);
        break;
    default: {
        struct MHD_Response *resp = MHD_create_response_from_buffer(
            r->http->caches_json_len, r->http->caches_json, MHD_RESPMEM_PERSISTENT);
        MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, "application/json");
        request_reply(r, MHD_HTTP_OK, resp);
        break;
    }
    }
}

static void route(struct request *r, const char *url, const char *method)
{
    struct jc_route route;
    jc_route_parse(url, &route);
    switch (route.kind) {
    case JC_ROUTE_NOT_FOUND:
        reply_error(r, MHD_HTTP_NOT_FOUND, "not_found", "no such route");
        break;
    case JC_ROUTE_BAD:
        reply_error(r, MHD_HTTP_BAD_REQUEST, "bad_request", route.why);
        break;
    case JC_ROUTE_VALUE:
    case JC_ROUTE_STATUS:
        route_key(r, &route, method);
        break;
    case JC_ROUTE_HEALTHZ:
    case JC_ROUTE_READYZ:
    case JC_ROUTE_METRICS:
    case JC_ROUTE_CACHES:
        if (strcmp(method, "GET") != 0 && strcmp(method, "HEAD") != 0) {
            reply_method_not_allowed(r, "GET, HEAD");
        } else {
            route_service(r, route.kind);
        }
        break;
    }
    jc_route_clear(&route);
}

/* ---- MHD plumbing ---- */

static enum MHD_Result on_access(void *cls, struct MHD_Connection *conn, const char *url,
                                 const char *method, const char *version, const char *upload_data,
                                 size_t *upload_data_size, void **req_cls)
{
    (void)version;
    (void)upload_data;
    struct jc_http *h = cls;
    struct request *r = *req_cls;
    if (r == NULL) {
        /* MHD's first call carries only the headers.  Answering now would
         * make MHD close the connection, so routing waits for the next. */
        r = jc_xcalloc(1, sizeof(*r));
        r->http = h;
        r->conn = conn;
        r->cache = -1;
        *req_cls = r;
        h->in_flight++;
        return MHD_YES;
    }
    if (*upload_data_size > 0) {
        /* Request bodies carry nothing jcached needs: discard them. */
        *upload_data_size = 0;
        return MHD_YES;
    }
    if (!r->routed) {
        r->routed = true;
        route(r, url, method);
        return MHD_YES;
    }
    if (r->response != NULL) {
        enum MHD_Result ret = MHD_queue_response(conn, r->status, r->response);
        MHD_destroy_response(r->response);
        r->response = NULL;
        return ret;
    }
    return MHD_YES;
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **req_cls,
                         enum MHD_RequestTerminationCode toe)
{
    (void)conn;
    (void)toe;
    struct jc_http *h = cls;
    struct request *r = *req_cls;
    if (r == NULL) {
        return;
    }
    jc_engine_cancel(r->wait);
    if (r->response != NULL) {
        MHD_destroy_response(r->response);
    }
    free(r->key);
    free(r->if_none_match);
    free(r);
    *req_cls = NULL;
    h->in_flight--;
}

static size_t identity_unescape(void *cls, struct MHD_Connection *conn, char *s)
{
    (void)cls;
    (void)conn;
    return strlen(s);
}

static void schedule(struct jc_http *h)
{
    MHD_UNSIGNED_LONG_LONG to;
    if (MHD_get_timeout(h->daemon, &to) == MHD_YES) {
        struct timeval tv = {(time_t)(to / 1000), (suseconds_t)((to % 1000) * 1000)};
        evtimer_add(h->ev_timer, &tv);
    } else {
        evtimer_del(h->ev_timer);
    }
}

static void on_mhd_ready(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct jc_http *h = arg;
    MHD_run(h->daemon);
    schedule(h);
}

static void log_mhd(void *cls, const char *fmt, va_list ap)
{
    (void)cls;
    char msg[512];
    vsnprintf(msg, sizeof(msg), fmt, ap);
    size_t n = strlen(msg);
    while (n > 0 && msg[n - 1] == '\n') {
        msg[--n] = '\0';
    }
    jc_log_debug("http: %s", msg);
}

static enum jc_err resolve_listen(const struct jc_config *cfg, struct sockaddr_storage *addr)
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
    freeaddrinfo(res);
    return JC_OK;
}

enum jc_err jc_http_open(const struct jc_http_deps *deps, struct jc_http **out)
{
    struct sockaddr_storage addr;
    if (resolve_listen(deps->config, &addr) != JC_OK) {
        return JC_ERR_INVALID;
    }
    struct jc_http *h = jc_xcalloc(1, sizeof(*h));
    h->deps = *deps;
    h->caches_json = jc_config_caches_json(deps->config);
    h->caches_json_len = strlen(h->caches_json);
    /* Each connection's MHD memory pool holds its request head and response
     * headers; MHD touches most of it, so it is what a waiting client costs.
     * 8 KiB (nginx's header buffer size) fits the longest key fully
     * percent-encoded with room for headers, at about 9 KiB per waiter. */
    unsigned int flags = MHD_USE_EPOLL | MHD_ALLOW_SUSPEND_RESUME | MHD_USE_ERROR_LOG;
    if (addr.ss_family == AF_INET6) {
        flags |= MHD_USE_IPv6;
    }
    h->daemon = MHD_start_daemon(
        flags, 0, NULL, NULL, on_access, h, MHD_OPTION_EXTERNAL_LOGGER, log_mhd, NULL,
        MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&addr, MHD_OPTION_NOTIFY_COMPLETED, on_completed,
        h, MHD_OPTION_UNESCAPE_CALLBACK, identity_unescape, NULL, MHD_OPTION_CONNECTION_LIMIT,
        (unsigned int)60000, MHD_OPTION_CONNECTION_TIMEOUT, (unsigned int)75,
        MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)8192, MHD_OPTION_LISTEN_BACKLOG_SIZE,
        (unsigned int)4096, MHD_OPTION_END);
    if (h->daemon == NULL) {
        jc_log_error("cannot listen on %s:%d", deps->config->listen_host,
                     deps->config->listen_port);
        free(h->caches_json);
        free(h);
        return JC_ERR_INVALID;
    }
    const union MHD_DaemonInfo *info = MHD_get_daemon_info(h->daemon, MHD_DAEMON_INFO_EPOLL_FD);
    const union MHD_DaemonInfo *pinfo = MHD_get_daemon_info(h->daemon, MHD_DAEMON_INFO_BIND_PORT);
    h->port = pinfo != NULL ? pinfo->port : deps->config->listen_port;
    struct event_base *base = jc_loop_base(deps->loop);
    h->ev_io = event_new(base, info->epoll_fd, EV_READ | EV_PERSIST, on_mhd_ready, h);
    h->ev_timer = evtimer_new(base, on_mhd_ready, h);
    event_add(h->ev_io, NULL);
    schedule(h);
    h->sweep = jc_timer_new(deps->loop, on_sweep, h);
    jc_timer_start(h->sweep, 1000);
    *out = h;
    return JC_OK;
}

void jc_http_quiesce(struct jc_http *http)
{
    MHD_socket fd = MHD_quiesce_daemon(http->daemon);
    if (fd != MHD_INVALID_SOCKET) {
        close(fd);
    }
}

void jc_http_abort_waits(struct jc_http *http)
{
    while (http->suspended != NULL) {
        struct request *r = http->suspended;
        jc_engine_cancel(r->wait);
        r->wait = NULL;
        reply_err(r, JC_ERR_SHUTDOWN);
    }
    MHD_run(http->daemon);
}

size_t jc_http_requests_in_flight(const struct jc_http *http)
{
    return http->in_flight;
}

int jc_http_port(const struct jc_http *http)
{
    return http->port;
}

void jc_http_close(struct jc_http *http)
{
    if (http == NULL) {
        return;
    }
    event_free(http->ev_io);
    event_free(http->ev_timer);
    MHD_stop_daemon(http->daemon);
    for (size_t i = 0; i < JC_HTTP_HIT_SLOTS; i++) {
        slot_clear(&http->hits[i]);
    }
    jc_timer_free(http->sweep);
    free(http->caches_json);
    free(http);
}
