/* server/upstream.c: the libcurl fetcher, driven by the one event loop.
 *
 * One CURLM handle per jc_upstream, made at its first fetch.  libcurl tells us which sockets to
 * watch (CURLMOPT_SOCKETFUNCTION) and when to wake it (CURLMOPT_TIMERFUNCTION); we keep one
 * libevent event per socket (struct sock_watch, registered with curl_multi_assign) and one
 * jc_timer, and hand every readiness or timeout back to curl_multi_socket_action(), after which
 * curl_multi_info_read() reports finished transfers.  This is the pattern of curl's
 * docs/examples/hiperfifo.c.  Connections live in the multi handle's cache and
 * are reused across fetches.
 *
 * A fetch is a struct transfer: the easy handle, its header list, the capped
 * body buffer and the entry whose headers the header callback fills.  fetch()
 * only adds the easy handle, which arms the timer; it never drives the
 * transfer itself, so a callback can only run from a loop event, after fetch()
 * has returned.  Transfers in flight are on a list so that
 * jc_upstream_close() can abort them.
 *
 * Invariant: a transfer is on up->transfers exactly while its easy handle is
 * added to up->multi; finish_transfer() unlinks it before calling its
 * callback.  Event thread only. */
#include "server/upstream.h"

#include <curl/curl.h>
#include <event2/event.h>
#include <limits.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/cache.h"
#include "core/entry.h"
#include "core/log.h"
#include "core/loop.h"
#include "core/mem.h"

/* Idle connections kept for reuse, across all upstream hosts. */
#define IDLE_CONNECTIONS 128

struct sock_watch {
    struct event *ev;
    struct sock_watch *prev, *next;
};

struct transfer {
    struct jc_upstream *up;
    CURL *easy;
    struct curl_slist *req_headers;
    struct jc_buf body;
    struct jc_entry *entry; /* headers of the latest response, status and body at the end */
    int too_large;          /* the write callback stopped at the body cap */
    int in_body;            /* body bytes seen: later header lines are trailers */
    jc_fetch_done_fn *cb;
    void *arg;
    char errbuf[CURL_ERROR_SIZE];
    struct transfer *prev, *next;
};

struct jc_upstream {
    struct jc_loop *loop;
    CURLM *multi;
    struct jc_timer *timer;
    struct transfer *transfers;
    struct sock_watch *watches;
    size_t active;
    int closing;
};

static pthread_once_t global_once = PTHREAD_ONCE_INIT;
static CURLcode global_rc = CURLE_FAILED_INIT;

static void global_init(void)
{
    global_rc = curl_global_init(CURL_GLOBAL_DEFAULT);
}

const char *jc_upstream_version(void)
{
    /* Not curl_version(): listing its OpenLDAP version starts libldap,
     * which loads the SASL plugins and Berkeley DB (0.8 MB of pages). */
    static char version[64];
    snprintf(version, sizeof(version), "libcurl/%s", curl_version_info(CURLVERSION_NOW)->version);
    return version;
}

size_t jc_upstream_active(const struct jc_upstream *up)
{
    return up->active;
}

/* ---- transfers ---- */

static void link_transfer(struct jc_upstream *up, struct transfer *t)
{
    t->prev = NULL;
    t->next = up->transfers;
    if (up->transfers != NULL) {
        up->transfers->prev = t;
    }
    up->transfers = t;
    up->active++;
}

static void unlink_transfer(struct jc_upstream *up, struct transfer *t)
{
    if (t->prev != NULL) {
        t->prev->next = t->next;
    } else {
        up->transfers = t->next;
    }
    if (t->next != NULL) {
        t->next->prev = t->prev;
    }
    up->active--;
}

static void free_transfer(struct transfer *t)
{
    if (t->easy != NULL) {
        curl_easy_cleanup(t->easy);
    }
    curl_slist_free_all(t->req_headers);
    jc_buf_reset(&t->body);
    if (t->entry != NULL) {
        jc_entry_unref(t->entry);
    }
    free(t);
}

/* Maps a finished transfer's result to a jc_err. */
static enum jc_err result_err(const struct transfer *t, CURLcode rc)
{
    switch (rc) {
    case CURLE_OK:
        return JC_OK;
    case CURLE_OPERATION_TIMEDOUT:
        return JC_ERR_UPSTREAM_TIMEOUT;
    case CURLE_FILESIZE_EXCEEDED:
        return JC_ERR_TOO_LARGE;
    case CURLE_WRITE_ERROR:
        return t->too_large ? JC_ERR_TOO_LARGE : JC_ERR_UPSTREAM;
    default:
        return JC_ERR_UPSTREAM;
    }
}

/* Completes t: removes it from the multi handle, calls its callback once and
 * frees it. */
static void finish_transfer(struct transfer *t, CURLcode rc)
{
    struct jc_upstream *up = t->up;
    enum jc_err err = result_err(t, rc);
    struct jc_entry *entry = NULL;
    curl_multi_remove_handle(up->multi, t->easy);
    unlink_transfer(up, t);
    if (err == JC_OK) {
        long status = 0;
        size_t len = 0;
        curl_easy_getinfo(t->easy, CURLINFO_RESPONSE_CODE, &status);
        char *body = jc_buf_take(&t->body, &len);
        entry = t->entry;
        t->entry = NULL;
        entry->status = (int)status;
        jc_entry_take_body(entry, &body, len);
    } else {
        const char *url = NULL;
        curl_easy_getinfo(t->easy, CURLINFO_EFFECTIVE_URL, &url);
        jc_log_warn("upstream: GET %s: %s (%s)", url != NULL ? url : "?", jc_err_name(err),
                    t->errbuf[0] != '\0' ? t->errbuf : curl_easy_strerror(rc));
    }
    t->cb(t->arg, err, entry);
    free_transfer(t);
}

/* Completes every transfer libcurl reports as done. */
static void check_multi_info(struct jc_upstream *up)
{
    CURLMsg *msg;
    int left;
    while ((msg = curl_multi_info_read(up->multi, &left)) != NULL) {
        if (msg->msg != CURLMSG_DONE) {
            continue;
        }
        char *priv = NULL;
        CURLcode rc = msg->data.result;
        curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, &priv);
        finish_transfer((struct transfer *)(void *)priv, rc);
    }
}

/* ---- the loop glue ---- */

static void on_socket_event(evutil_socket_t fd, short what, void *arg)
{
    struct jc_upstream *up = arg;
    int action = 0;
    int running = 0;
    if (what & EV_READ) {
        action |= CURL_CSELECT_IN;
    }
    if (what & EV_WRITE) {
        action |= CURL_CSELECT_OUT;
    }
    curl_multi_socket_action(up->multi, fd, action, &running);
    check_multi_info(up);
}

static void on_timer(void *arg)
{
    struct jc_upstream *up = arg;
    int running = 0;
    curl_multi_socket_action(up->multi, CURL_SOCKET_TIMEOUT, 0, &running);
    check_multi_info(up);
}

static void drop_watch(struct jc_upstream *up, struct sock_watch *w)
{
    if (w->prev != NULL) {
        w->prev->next = w->next;
    } else {
        up->watches = w->next;
    }
    if (w->next != NULL) {
        w->next->prev = w->prev;
    }
    if (w->ev != NULL) {
        event_free(w->ev);
    }
    free(w);
}

/* CURLMOPT_SOCKETFUNCTION: watch s for what libcurl wants, or stop. */
static int on_curl_socket(CURL *easy, curl_socket_t s, int what, void *userp, void *socketp)
{
    struct jc_upstream *up = userp;
    struct sock_watch *w = socketp;
    (void)easy;
    if (what == CURL_POLL_REMOVE) {
        if (w != NULL) {
            drop_watch(up, w);
        }
        return 0;
    }
    if (w == NULL) {
        w = jc_xcalloc(1, sizeof(*w));
        w->next = up->watches;
        if (up->watches != NULL) {
            up->watches->prev = w;
        }
        up->watches = w;
        curl_multi_assign(up->multi, s, w);
    } else if (w->ev != NULL) {
        event_free(w->ev);
    }
    short kind = EV_PERSIST;
    kind |= (what & CURL_POLL_IN) ? EV_READ : 0;
    kind |= (what & CURL_POLL_OUT) ? EV_WRITE : 0;
    w->ev = event_new(jc_loop_base(up->loop), s, kind, on_socket_event, up);
    if (w->ev == NULL || event_add(w->ev, NULL) != 0) {
        return -1;
    }
    return 0;
}

/* CURLMOPT_TIMERFUNCTION: (re)arm or stop the one timer.  Never drives
 * libcurl from here: a zero timeout fires from the loop. */
static int on_curl_timer(CURLM *multi, long timeout_ms, void *userp)
{
    struct jc_upstream *up = userp;
    (void)multi;
    if (timeout_ms < 0) {
        jc_timer_stop(up->timer);
    } else {
        jc_timer_start(up->timer, (uint64_t)timeout_ms);
    }
    return 0;
}

/* ---- per-transfer callbacks ---- */

static size_t on_body(char *data, size_t size, size_t nmemb, void *userp)
{
    struct transfer *t = userp;
    size_t n = size * nmemb;
    t->in_body = 1;
    if (jc_buf_append(&t->body, data, n) != JC_OK) {
        t->too_large = 1;
        return 0;
    }
    return n;
}

static int is_space(char c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

/* Keeps value for header h: list headers repeated in one response are joined
 * with ", " (RFC 9110 5.3); for the others the last one wins. */
static void keep_header(struct jc_entry *e, enum jc_entry_header h, const char *v, size_t len)
{
    int is_list = h == JC_HDR_CONTENT_ENCODING || h == JC_HDR_CONTENT_LANGUAGE;
    if (!is_list || e->headers[h] == NULL) {
        jc_entry_set_header(e, h, v, len);
        return;
    }
    struct jc_buf joined;
    jc_buf_init(&joined, 0);
    jc_buf_printf(&joined, "%s, ", e->headers[h]);
    jc_buf_add(&joined, v, len);
    jc_entry_set_header(e, h, joined.data, joined.len);
    jc_buf_reset(&joined);
}

/* Forgets the headers of an earlier response (a 1xx before the final one). */
static void reset_headers(struct jc_entry *e)
{
    for (int h = 0; h < JC_HDR_COUNT; h++) {
        free(e->headers[h]);
        e->headers[h] = NULL;
    }
}

/* CURLOPT_HEADERFUNCTION: one header line at a time, status lines included. */
static size_t on_header(char *line, size_t size, size_t nmemb, void *userp)
{
    struct transfer *t = userp;
    size_t len = size * nmemb;
    if (t->in_body) {
        return len;
    }
    if (len >= 5 && memcmp(line, "HTTP/", 5) == 0) {
        reset_headers(t->entry);
        return len;
    }
    const char *colon = memchr(line, ':', len);
    if (colon == NULL) {
        return len;
    }
    size_t name_len = (size_t)(colon - line);
    const char *v = colon + 1;
    const char *end = line + len;
    while (v < end && is_space(*v)) {
        v++;
    }
    while (end > v && is_space(end[-1])) {
        end--;
    }
    for (int h = 0; h < JC_HDR_COUNT; h++) {
        const char *name = jc_entry_header_name((enum jc_entry_header)h);
        if (strlen(name) == name_len && strncasecmp(name, line, name_len) == 0) {
            keep_header(t->entry, (enum jc_entry_header)h, v, (size_t)(end - v));
            break;
        }
    }
    return len;
}

/* ---- starting a fetch ---- */

static int has_crlf(const char *s)
{
    return s != NULL && strpbrk(s, "\r\n") != NULL;
}

/* Builds the request header list.  Returns JC_ERR_INVALID on a name or value
 * that would split the request. */
static enum jc_err build_headers(const struct jc_fetch_request *req, struct curl_slist **out)
{
    struct curl_slist *list = NULL;
    struct jc_buf line;
    jc_buf_init(&line, 0);
    for (size_t i = 0; i < req->n_headers; i++) {
        const char *name = req->headers[i].name;
        const char *value = req->headers[i].value != NULL ? req->headers[i].value : "";
        if (name == NULL || name[0] == '\0' || strchr(name, ':') != NULL || has_crlf(name) ||
            has_crlf(value)) {
            goto fail;
        }
        jc_buf_reset(&line);
        /* "Name;" is how libcurl sends a header with an empty value. */
        jc_buf_printf(&line, value[0] != '\0' ? "%s: %s" : "%s;", name, value);
        struct curl_slist *next = curl_slist_append(list, line.data);
        if (next == NULL) {
            jc_log_error("upstream: out of memory");
            abort();
        }
        list = next;
    }
    jc_buf_reset(&line);
    *out = list;
    return JC_OK;
fail:
    jc_buf_reset(&line);
    curl_slist_free_all(list);
    return JC_ERR_INVALID;
}

static CURLcode set_options(struct transfer *t, const struct jc_fetch_request *req)
{
    CURL *e = t->easy;
    long timeout = req->timeout_ms > (uint64_t)LONG_MAX ? LONG_MAX : (long)req->timeout_ms;
    CURLcode rc = curl_easy_setopt(e, CURLOPT_URL, req->url);
    if (rc == CURLE_OK) {
        rc = curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
    }
    if (rc == CURLE_OK && req->max_body_bytes > 0) {
        curl_off_t cap = (curl_off_t)req->max_body_bytes;
        rc = curl_easy_setopt(e, CURLOPT_MAXFILESIZE_LARGE, cap);
    }
    if (rc != CURLE_OK) {
        return rc;
    }
    curl_easy_setopt(e, CURLOPT_HTTPGET, 1L);
    curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, 0L);
    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, timeout);
    curl_easy_setopt(e, CURLOPT_TCP_KEEPALIVE, 1L);
    curl_easy_setopt(e, CURLOPT_USERAGENT, "jcached/" JC_VERSION);
    curl_easy_setopt(e, CURLOPT_HTTPHEADER, t->req_headers);
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(e, CURLOPT_WRITEDATA, t);
    curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(e, CURLOPT_HEADERDATA, t);
    curl_easy_setopt(e, CURLOPT_ERRORBUFFER, t->errbuf);
    curl_easy_setopt(e, CURLOPT_PRIVATE, (void *)t);
    return CURLE_OK;
}

/* libcurl, and the TLS library under it, start at the first fetch: setting
 * up OpenSSL touches 2 MB of its pages, which a replica that only serves
 * hits, or has not fetched yet, never needs. */
static enum jc_err upstream_start(struct jc_upstream *up)
{
    static bool logged; /* one line, not one per cache miss */
    if (up->multi != NULL) {
        return JC_OK;
    }
    pthread_once(&global_once, global_init);
    CURLM *multi = global_rc == CURLE_OK ? curl_multi_init() : NULL;
    if (multi == NULL) {
        if (!logged) {
            jc_log_error("upstream: cannot start libcurl (%s): every fetch fails",
                         global_rc != CURLE_OK ? curl_easy_strerror(global_rc)
                                               : "curl_multi_init failed");
            logged = true;
        }
        return JC_ERR_UPSTREAM;
    }
    up->multi = multi;
    curl_multi_setopt(multi, CURLMOPT_SOCKETFUNCTION, on_curl_socket);
    curl_multi_setopt(multi, CURLMOPT_SOCKETDATA, up);
    curl_multi_setopt(multi, CURLMOPT_TIMERFUNCTION, on_curl_timer);
    curl_multi_setopt(multi, CURLMOPT_TIMERDATA, up);
    curl_multi_setopt(multi, CURLMOPT_MAXCONNECTS, (long)IDLE_CONNECTIONS);
    return JC_OK;
}

static enum jc_err upstream_fetch(void *ctx, const struct jc_fetch_request *req,
                                  jc_fetch_done_fn *cb, void *arg)
{
    struct jc_upstream *up = ctx;
    if (up->closing) {
        return JC_ERR_SHUTDOWN;
    }
    if (req == NULL || req->url == NULL || req->url[0] == '\0' || cb == NULL ||
        (req->n_headers > 0 && req->headers == NULL)) {
        return JC_ERR_INVALID;
    }
    if (upstream_start(up) != JC_OK) {
        return JC_ERR_UPSTREAM;
    }
    struct transfer *t = jc_xcalloc(1, sizeof(*t));
    t->up = up;
    t->cb = cb;
    t->arg = arg;
    t->entry = jc_entry_new();
    jc_buf_init(&t->body, req->max_body_bytes);
    enum jc_err err = build_headers(req, &t->req_headers);
    if (err != JC_OK) {
        goto fail;
    }
    err = JC_ERR_INVALID;
    t->easy = curl_easy_init();
    if (t->easy == NULL || set_options(t, req) != CURLE_OK) {
        goto fail;
    }
    if (curl_multi_add_handle(up->multi, t->easy) != CURLM_OK) {
        err = JC_ERR_UPSTREAM;
        goto fail;
    }
    link_transfer(up, t);
    return JC_OK;
fail:
    free_transfer(t);
    return err;
}

struct jc_fetcher jc_upstream_fetcher(struct jc_upstream *up)
{
    struct jc_fetcher f = {.fetch = upstream_fetch, .ctx = up};
    return f;
}

/* ---- open and close ---- */

enum jc_err jc_upstream_open(struct jc_loop *loop, struct jc_upstream **out)
{
    struct jc_upstream *up = jc_xcalloc(1, sizeof(*up));
    up->loop = loop;
    up->timer = jc_timer_new(loop, on_timer, up);
    *out = up;
    return JC_OK;
}

void jc_upstream_close(struct jc_upstream *up)
{
    if (up == NULL) {
        return;
    }
    up->closing = 1;
    while (up->transfers != NULL) {
        struct transfer *t = up->transfers;
        curl_multi_remove_handle(up->multi, t->easy);
        unlink_transfer(up, t);
        t->cb(t->arg, JC_ERR_SHUTDOWN, NULL);
        free_transfer(t);
    }
    /* The cleanup closes cached connections and may report their sockets
     * through on_curl_socket; whatever it does not report is freed after. */
    if (up->multi != NULL) {
        curl_multi_cleanup(up->multi);
    }
    while (up->watches != NULL) {
        drop_watch(up, up->watches);
    }
    jc_timer_free(up->timer);
    free(up);
}
