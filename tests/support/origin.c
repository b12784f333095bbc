/* tests/support/origin.c: jc-origin, the test and demo upstream.
 *
 * A small HTTP server on libmicrohttpd, one thread per connection, so that a
 * slow answer to one request delays nothing else.  Every GET or HEAD whose
 * path does not start with "/_" is a fetch: it is counted under its raw,
 * still percent-encoded path (the unescape callback is the identity, so tests
 * see exactly what the client sent, e.g. "/slow/a%2Fb") and answered after
 * delay_ms with the scripted status, headers and a JSON body.
 *
 * Query parameters of a fetch (all optional): delay_ms, status, size (pad the
 * body with spaces to at least this many bytes), ctype (Content-Type), etag=1
 * (ETag: "<n>"), drop=1 (close the connection without an answer, after the
 * delay), gzip=1 (Content-Encoding: gzip, body unchanged), lang
 * (Content-Language), echo_header=<name> (put that request header's value in
 * the body as "echo").  Per-prefix overrides set with /_set win over them.
 *
 * Control paths: /_set?prefix=P&<parameters> (no parameter: clear P),
 * /_stats, /_stats?path=P, /_reset.  Query values are percent-decoded; for
 * /_stats?path=P the raw value is tried too when the decoded one is unknown,
 * so both "path=/a%2Fb" and "path=/a%252Fb" find the fetched path "/a%2Fb".
 *
 * Shared state (counts, overrides, the stopping flag) sits behind one mutex.
 * Delays wait on a condition variable so that SIGTERM/SIGINT cut them short:
 * the main thread waits for the signal, wakes every delayed request (they
 * close their connection), stops the daemon and exits 0. */
#include <arpa/inet.h>
#include <errno.h>
#include <limits.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <uthash.h>

#define MAX_SIZE    (1L << 30)
#define MAX_DELAY   (3600L * 1000L)
#define LAST_MODIFY "Wed, 21 Oct 2015 07:28:00 GMT"

/* Which fields of a behaviour were given. */
enum {
    SET_STATUS = 1 << 0,
    SET_DELAY = 1 << 1,
    SET_SIZE = 1 << 2,
    SET_CTYPE = 1 << 3,
    SET_ETAG = 1 << 4,
    SET_DROP = 1 << 5,
    SET_GZIP = 1 << 6,
    SET_LANG = 1 << 7,
};

struct behaviour {
    unsigned set;
    long status;
    long delay_ms;
    long size;
    long etag;
    long drop;
    long gzip;
    char ctype[256];
    char lang[64];
};

struct path_count {
    char *path;
    unsigned long n;
    UT_hash_handle hh;
};

struct override {
    char *prefix;
    struct behaviour b;
    struct override *next;
};

struct origin {
    pthread_mutex_t mu;
    pthread_cond_t cond;
    int stopping;
    unsigned long total;
    struct path_count *counts;
    struct override *overrides;
};

/* A growable string; aborts on exhaustion (a test tool). */
struct sbuf {
    char *data;
    size_t len;
    size_t alloc;
};

static void *xrealloc_or_die(void *p, size_t n)
{
    void *q = realloc(p, n);
    if (q == NULL) {
        fputs("jc-origin: out of memory\n", stderr);
        abort();
    }
    return q;
}

static void sbuf_add(struct sbuf *sb, const char *p, size_t n)
{
    if (sb->len + n + 1 > sb->alloc) {
        size_t alloc = sb->alloc ? sb->alloc : 256;
        while (alloc < sb->len + n + 1) {
            alloc *= 2;
        }
        sb->data = xrealloc_or_die(sb->data, alloc);
        sb->alloc = alloc;
    }
    memcpy(sb->data + sb->len, p, n);
    sb->len += n;
    sb->data[sb->len] = '\0';
}

static void sbuf_printf(struct sbuf *sb, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void sbuf_printf(struct sbuf *sb, const char *fmt, ...)
{
    char small[256];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(small, sizeof(small), fmt, ap);
    va_end(ap);
    if (n < 0) {
        return;
    }
    if ((size_t)n < sizeof(small)) {
        sbuf_add(sb, small, (size_t)n);
        return;
    }
    char *big = xrealloc_or_die(NULL, (size_t)n + 1);
    va_start(ap, fmt);
    vsnprintf(big, (size_t)n + 1, fmt, ap);
    va_end(ap);
    sbuf_add(sb, big, (size_t)n);
    free(big);
}

/* Appends s as a JSON string literal, quotes included. */
static void sbuf_json_string(struct sbuf *sb, const char *s)
{
    sbuf_add(sb, "\"", 1);
    for (; *s != '\0'; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\') {
            char esc[2] = {'\\', (char)c};
            sbuf_add(sb, esc, 2);
        } else if (c < 0x20) {
            sbuf_printf(sb, "\\u%04x", c);
        } else {
            sbuf_add(sb, s, 1);
        }
    }
    sbuf_add(sb, "\"", 1);
}

static char *xstrdup_or_die(const char *s)
{
    size_t n = strlen(s) + 1;
    char *p = xrealloc_or_die(NULL, n);
    memcpy(p, s, n);
    return p;
}

/* The identity: MHD hands paths and query strings over undecoded. */
static size_t unescape_identity(void *cls, struct MHD_Connection *c, char *s)
{
    (void)cls;
    (void)c;
    return strlen(s);
}

/* Returns new: the decoded query argument name, or NULL when absent. */
static char *query_arg(struct MHD_Connection *conn, const char *name)
{
    const char *raw = MHD_lookup_connection_value(conn, MHD_GET_ARGUMENT_KIND, name);
    if (raw == NULL) {
        return NULL;
    }
    char *v = xstrdup_or_die(raw);
    MHD_http_unescape(v);
    return v;
}

static int parse_long(const char *s, long lo, long hi, long *out)
{
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno != 0 || end == s || *end != '\0' || v < lo || v > hi) {
        return -1;
    }
    *out = v;
    return 0;
}

static int parse_text(const char *s, char *dst, size_t dst_size)
{
    size_t n = strlen(s);
    if (n >= dst_size || strpbrk(s, "\r\n") != NULL) {
        return -1;
    }
    memcpy(dst, s, n + 1);
    return 0;
}

/* Parses one parameter into b.  Returns 0, or -1 on a bad value. */
static int parse_param(struct behaviour *b, unsigned bit, const char *v)
{
    switch (bit) {
    case SET_STATUS:
        return parse_long(v, 100, 999, &b->status);
    case SET_DELAY:
        return parse_long(v, 0, MAX_DELAY, &b->delay_ms);
    case SET_SIZE:
        return parse_long(v, 0, MAX_SIZE, &b->size);
    case SET_ETAG:
        return parse_long(v, 0, 1, &b->etag);
    case SET_DROP:
        return parse_long(v, 0, 1, &b->drop);
    case SET_GZIP:
        return parse_long(v, 0, 1, &b->gzip);
    case SET_CTYPE:
        return parse_text(v, b->ctype, sizeof(b->ctype));
    case SET_LANG:
        return parse_text(v, b->lang, sizeof(b->lang));
    default:
        return -1;
    }
}

static const struct {
    const char *name;
    unsigned bit;
} param_names[] = {
    {"status", SET_STATUS}, {"delay_ms", SET_DELAY}, {"size", SET_SIZE}, {"ctype", SET_CTYPE},
    {"etag", SET_ETAG},     {"drop", SET_DROP},      {"gzip", SET_GZIP}, {"lang", SET_LANG},
};

/* Fills b from the query.  Returns 0, or -1 naming the bad parameter. */
static int parse_behaviour(struct MHD_Connection *conn, struct behaviour *b, const char **bad)
{
    memset(b, 0, sizeof(*b));
    for (size_t i = 0; i < sizeof(param_names) / sizeof(param_names[0]); i++) {
        char *v = query_arg(conn, param_names[i].name);
        if (v == NULL) {
            continue;
        }
        int rc = parse_param(b, param_names[i].bit, v);
        free(v);
        if (rc != 0) {
            *bad = param_names[i].name;
            return -1;
        }
        b->set |= param_names[i].bit;
    }
    return 0;
}

/* Copies the fields that src sets over dst. */
static void merge_behaviour(struct behaviour *dst, const struct behaviour *src)
{
    if (src->set & SET_STATUS) {
        dst->status = src->status;
    }
    if (src->set & SET_DELAY) {
        dst->delay_ms = src->delay_ms;
    }
    if (src->set & SET_SIZE) {
        dst->size = src->size;
    }
    if (src->set & SET_ETAG) {
        dst->etag = src->etag;
    }
    if (src->set & SET_DROP) {
        dst->drop = src->drop;
    }
    if (src->set & SET_GZIP) {
        dst->gzip = src->gzip;
    }
    if (src->set & SET_CTYPE) {
        memcpy(dst->ctype, src->ctype, sizeof(dst->ctype));
    }
    if (src->set & SET_LANG) {
        memcpy(dst->lang, src->lang, sizeof(dst->lang));
    }
    dst->set |= src->set;
}

/* Returns borrowed: the longest override whose prefix starts path, or NULL.
 * Called with the mutex held. */
static const struct override *find_override(const struct origin *o, const char *path)
{
    const struct override *best = NULL;
    for (const struct override *ov = o->overrides; ov != NULL; ov = ov->next) {
        size_t n = strlen(ov->prefix);
        if (strncmp(path, ov->prefix, n) == 0 && (best == NULL || n > strlen(best->prefix))) {
            best = ov;
        }
    }
    return best;
}

/* Counts a fetch of path; returns its count.  Called with the mutex held. */
static unsigned long count_fetch(struct origin *o, const char *path)
{
    struct path_count *pc;
    HASH_FIND_STR(o->counts, path, pc);
    if (pc == NULL) {
        pc = xrealloc_or_die(NULL, sizeof(*pc));
        memset(pc, 0, sizeof(*pc));
        pc->path = xstrdup_or_die(path);
        HASH_ADD_KEYPTR(hh, o->counts, pc->path, strlen(pc->path), pc);
    }
    o->total++;
    return ++pc->n;
}

static void clear_counts(struct origin *o)
{
    struct path_count *pc, *tmp;
    HASH_ITER(hh, o->counts, pc, tmp)
    {
        HASH_DEL(o->counts, pc);
        free(pc->path);
        free(pc);
    }
    o->total = 0;
}

static void remove_override(struct origin *o, const char *prefix)
{
    for (struct override **p = &o->overrides; *p != NULL; p = &(*p)->next) {
        if (strcmp((*p)->prefix, prefix) == 0) {
            struct override *dead = *p;
            *p = dead->next;
            free(dead->prefix);
            free(dead);
            return;
        }
    }
}

static void clear_overrides(struct origin *o)
{
    while (o->overrides != NULL) {
        remove_override(o, o->overrides->prefix);
    }
}

/* Waits ms milliseconds, or less when the origin stops.  Returns 1 when
 * stopping. */
static int wait_delay(struct origin *o, long ms)
{
    struct timespec deadline;
    clock_gettime(CLOCK_MONOTONIC, &deadline);
    deadline.tv_sec += ms / 1000;
    deadline.tv_nsec += (ms % 1000) * 1000000L;
    if (deadline.tv_nsec >= 1000000000L) {
        deadline.tv_sec++;
        deadline.tv_nsec -= 1000000000L;
    }
    pthread_mutex_lock(&o->mu);
    while (!o->stopping) {
        if (pthread_cond_timedwait(&o->cond, &o->mu, &deadline) == ETIMEDOUT) {
            break;
        }
    }
    int stopping = o->stopping;
    pthread_mutex_unlock(&o->mu);
    return stopping;
}

/* Queues body (taken, malloc'd) with status and a JSON content type. */
static enum MHD_Result send_owned(struct MHD_Connection *conn, unsigned status, char *body,
                                  size_t len, const char *ctype)
{
    struct MHD_Response *resp = MHD_create_response_from_buffer(len, body, MHD_RESPMEM_MUST_FREE);
    if (resp == NULL) {
        free(body);
        return MHD_NO;
    }
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, ctype);
    enum MHD_Result rc = MHD_queue_response(conn, status, resp);
    MHD_destroy_response(resp);
    return rc;
}

static enum MHD_Result send_json(struct MHD_Connection *conn, unsigned status, struct sbuf *sb)
{
    if (sb->data == NULL) {
        sbuf_add(sb, "", 0);
    }
    return send_owned(conn, status, sb->data, sb->len, "application/json");
}

static enum MHD_Result send_error(struct MHD_Connection *conn, unsigned status, const char *msg)
{
    struct sbuf sb = {0};
    sbuf_add(&sb, "{\"error\":", 9);
    sbuf_json_string(&sb, msg);
    sbuf_add(&sb, "}", 1);
    return send_json(conn, status, &sb);
}

static enum MHD_Result send_ok(struct MHD_Connection *conn)
{
    struct sbuf sb = {0};
    sbuf_add(&sb, "{\"ok\":true}", 11);
    return send_json(conn, MHD_HTTP_OK, &sb);
}

/* What one fetch reports in its body. */
struct fetch_info {
    const char *path;
    unsigned long n;
    unsigned long total;
    int echo_asked;
    const char *echo; /* the echoed request header, or NULL when absent */
};

/* The body of a fetch: the JSON document, then spaces up to b->size. */
static void build_fetch_body(struct sbuf *sb, const struct fetch_info *fi,
                             const struct behaviour *b)
{
    sbuf_add(sb, "{\"path\":", 8);
    sbuf_json_string(sb, fi->path);
    sbuf_printf(sb, ",\"n\":%lu,\"total\":%lu,\"status\":%ld", fi->n, fi->total, b->status);
    if (fi->echo_asked) {
        sbuf_add(sb, ",\"echo\":", 8);
        if (fi->echo != NULL) {
            sbuf_json_string(sb, fi->echo);
        } else {
            sbuf_add(sb, "null", 4);
        }
    }
    sbuf_add(sb, "}", 1);
    while (sb->len < (size_t)b->size) {
        char pad[4096];
        size_t k = (size_t)b->size - sb->len;
        k = k < sizeof(pad) ? k : sizeof(pad);
        memset(pad, ' ', k);
        sbuf_add(sb, pad, k);
    }
}

static enum MHD_Result send_fetch(struct MHD_Connection *conn, struct fetch_info *fi,
                                  const struct behaviour *b)
{
    char *echo_name = query_arg(conn, "echo_header");
    if (echo_name != NULL) {
        fi->echo_asked = 1;
        fi->echo = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, echo_name);
    }
    struct sbuf sb = {0};
    build_fetch_body(&sb, fi, b);
    free(echo_name);
    unsigned long n = fi->n;
    struct MHD_Response *resp =
        MHD_create_response_from_buffer(sb.len, sb.data, MHD_RESPMEM_MUST_FREE);
    if (resp == NULL) {
        free(sb.data);
        return MHD_NO;
    }
    char num[32];
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, b->ctype);
    MHD_add_response_header(resp, MHD_HTTP_HEADER_LAST_MODIFIED, LAST_MODIFY);
    snprintf(num, sizeof(num), "%lu", n);
    MHD_add_response_header(resp, "X-Origin-Fetch", num);
    if (b->etag) {
        snprintf(num, sizeof(num), "\"%lu\"", n);
        MHD_add_response_header(resp, MHD_HTTP_HEADER_ETAG, num);
    }
    if (b->gzip) {
        MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_ENCODING, "gzip");
    }
    if (b->lang[0] != '\0') {
        MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_LANGUAGE, b->lang);
    }
    enum MHD_Result rc = MHD_queue_response(conn, (unsigned)b->status, resp);
    MHD_destroy_response(resp);
    return rc;
}

static enum MHD_Result handle_fetch(struct origin *o, struct MHD_Connection *conn, const char *path)
{
    struct behaviour b, query;
    const char *bad = NULL;
    if (parse_behaviour(conn, &query, &bad) != 0) {
        return send_error(conn, MHD_HTTP_BAD_REQUEST, bad);
    }
    memset(&b, 0, sizeof(b));
    b.status = 200;
    snprintf(b.ctype, sizeof(b.ctype), "%s", "application/json");
    merge_behaviour(&b, &query);

    pthread_mutex_lock(&o->mu);
    const struct override *ov = find_override(o, path);
    if (ov != NULL) {
        merge_behaviour(&b, &ov->b);
    }
    struct fetch_info fi = {.path = path};
    fi.n = count_fetch(o, path);
    fi.total = o->total;
    pthread_mutex_unlock(&o->mu);

    if (b.delay_ms > 0 && wait_delay(o, b.delay_ms)) {
        return MHD_NO;
    }
    if (b.drop) {
        return MHD_NO;
    }
    return send_fetch(conn, &fi, &b);
}

static enum MHD_Result handle_set(struct origin *o, struct MHD_Connection *conn)
{
    struct behaviour b;
    const char *bad = NULL;
    char *prefix = query_arg(conn, "prefix");
    if (prefix == NULL || prefix[0] == '\0') {
        free(prefix);
        return send_error(conn, MHD_HTTP_BAD_REQUEST, "prefix");
    }
    if (parse_behaviour(conn, &b, &bad) != 0) {
        free(prefix);
        return send_error(conn, MHD_HTTP_BAD_REQUEST, bad);
    }
    pthread_mutex_lock(&o->mu);
    remove_override(o, prefix);
    if (b.set != 0) {
        struct override *ov = xrealloc_or_die(NULL, sizeof(*ov));
        ov->prefix = prefix;
        ov->b = b;
        ov->next = o->overrides;
        o->overrides = ov;
        prefix = NULL;
    }
    pthread_mutex_unlock(&o->mu);
    free(prefix);
    return send_ok(conn);
}

/* Returns path's count; tries the raw query value when the decoded one is unknown. */
static unsigned long lookup_count(struct origin *o, struct MHD_Connection *conn, const char *path)
{
    struct path_count *pc;
    HASH_FIND_STR(o->counts, path, pc);
    if (pc == NULL) {
        const char *raw = MHD_lookup_connection_value(conn, MHD_GET_ARGUMENT_KIND, "path");
        HASH_FIND_STR(o->counts, raw, pc);
    }
    return pc != NULL ? pc->n : 0;
}

static enum MHD_Result handle_stats(struct origin *o, struct MHD_Connection *conn)
{
    struct sbuf sb = {0};
    char *path = query_arg(conn, "path");
    pthread_mutex_lock(&o->mu);
    if (path != NULL) {
        sbuf_printf(&sb, "{\"count\":%lu}", lookup_count(o, conn, path));
    } else {
        sbuf_printf(&sb, "{\"total\":%lu,\"paths\":{", o->total);
        struct path_count *pc, *tmp;
        int first = 1;
        HASH_ITER(hh, o->counts, pc, tmp)
        {
            if (!first) {
                sbuf_add(&sb, ",", 1);
            }
            first = 0;
            sbuf_json_string(&sb, pc->path);
            sbuf_printf(&sb, ":%lu", pc->n);
        }
        sbuf_add(&sb, "}}", 2);
    }
    pthread_mutex_unlock(&o->mu);
    free(path);
    return send_json(conn, MHD_HTTP_OK, &sb);
}

static enum MHD_Result handle_request(void *cls, struct MHD_Connection *conn, const char *url,
                                      const char *method, const char *version,
                                      const char *upload_data, size_t *upload_data_size,
                                      void **con_cls)
{
    struct origin *o = cls;
    (void)version;
    (void)upload_data;
    static int seen;
    /* Answer on the second call, once MHD has the whole request: a response
     * queued on the first call makes MHD close the connection afterwards. */
    if (*con_cls == NULL) {
        *con_cls = &seen;
        return MHD_YES;
    }
    if (*upload_data_size != 0) {
        *upload_data_size = 0;
        return MHD_YES;
    }
    if (strcmp(method, "GET") != 0 && strcmp(method, "HEAD") != 0) {
        return send_error(conn, MHD_HTTP_METHOD_NOT_ALLOWED, "method not allowed");
    }
    if (strncmp(url, "/_", 2) != 0) {
        return handle_fetch(o, conn, url);
    }
    if (strcmp(url, "/_set") == 0) {
        return handle_set(o, conn);
    }
    if (strcmp(url, "/_stats") == 0) {
        return handle_stats(o, conn);
    }
    if (strcmp(url, "/_reset") == 0) {
        pthread_mutex_lock(&o->mu);
        clear_counts(o);
        clear_overrides(o);
        pthread_mutex_unlock(&o->mu);
        return send_ok(conn);
    }
    return send_error(conn, MHD_HTTP_NOT_FOUND, "no such control path");
}

/* Parses "HOST:PORT" (IPv4) into sa.  Returns 0, or -1. */
static int parse_listen(const char *arg, struct sockaddr_in *sa)
{
    const char *colon = strrchr(arg, ':');
    char host[64];
    long port;
    if (colon == NULL || (size_t)(colon - arg) >= sizeof(host) ||
        parse_long(colon + 1, 0, 65535, &port) != 0) {
        return -1;
    }
    memcpy(host, arg, (size_t)(colon - arg));
    host[colon - arg] = '\0';
    memset(sa, 0, sizeof(*sa));
    sa->sin_family = AF_INET;
    sa->sin_port = htons((unsigned short)port);
    return inet_pton(AF_INET, host, &sa->sin_addr) == 1 ? 0 : -1;
}

/* MHD's error log, minus the line every drop=1 request causes on purpose. */
static void log_mhd(void *cls, const char *fmt, va_list ap)
{
    char msg[512];
    (void)cls;
    vsnprintf(msg, sizeof(msg), fmt, ap);
    if (strstr(msg, "Application reported internal error") != NULL) {
        return;
    }
    fprintf(stderr, "jc-origin: %s", msg);
}

static struct MHD_Daemon *start_daemon(struct origin *o, struct sockaddr_in *sa)
{
    unsigned flags = MHD_USE_THREAD_PER_CONNECTION | MHD_USE_INTERNAL_POLLING_THREAD |
                     MHD_USE_POLL | MHD_USE_ERROR_LOG;
    /* The logger goes first so that MHD routes every message through it. */
    return MHD_start_daemon(flags, 0, NULL, NULL, handle_request, o, MHD_OPTION_EXTERNAL_LOGGER,
                            log_mhd, NULL, MHD_OPTION_SOCK_ADDR, (struct sockaddr *)sa,
                            MHD_OPTION_UNESCAPE_CALLBACK, unescape_identity, NULL,
                            MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)120,
                            MHD_OPTION_CONNECTION_LIMIT, (unsigned)10000,
                            MHD_OPTION_LISTEN_BACKLOG_SIZE, (unsigned)1024, MHD_OPTION_END);
}

static void init_origin(struct origin *o)
{
    pthread_condattr_t attr;
    memset(o, 0, sizeof(*o));
    pthread_mutex_init(&o->mu, NULL);
    pthread_condattr_init(&attr);
    pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    pthread_cond_init(&o->cond, &attr);
    pthread_condattr_destroy(&attr);
}

static void usage(void)
{
    fputs("usage: jc-origin --listen HOST:PORT   (PORT 0 picks a free port)\n", stderr);
}

int main(int argc, char **argv)
{
    struct sockaddr_in sa;
    if (argc != 3 || strcmp(argv[1], "--listen") != 0 || parse_listen(argv[2], &sa) != 0) {
        usage();
        return 2;
    }
    /* Block the stop signals before MHD starts its threads, so that they all
     * inherit the mask and only sigwait() below sees the signals. */
    sigset_t stop;
    sigemptyset(&stop);
    sigaddset(&stop, SIGTERM);
    sigaddset(&stop, SIGINT);
    pthread_sigmask(SIG_BLOCK, &stop, NULL);
    signal(SIGPIPE, SIG_IGN);

    static struct origin o;
    init_origin(&o);
    struct MHD_Daemon *d = start_daemon(&o, &sa);
    if (d == NULL) {
        fprintf(stderr, "jc-origin: cannot listen on %s\n", argv[2]);
        return 1;
    }
    const union MHD_DaemonInfo *info = MHD_get_daemon_info(d, MHD_DAEMON_INFO_BIND_PORT);
    char host[64];
    inet_ntop(AF_INET, &sa.sin_addr, host, sizeof(host));
    printf("listening on %s:%u\n", host, info != NULL ? (unsigned)info->port : 0u);
    fflush(stdout);

    int sig = 0;
    sigwait(&stop, &sig);
    pthread_mutex_lock(&o.mu);
    o.stopping = 1;
    pthread_cond_broadcast(&o.cond);
    pthread_mutex_unlock(&o.mu);
    MHD_stop_daemon(d);
    clear_counts(&o);
    clear_overrides(&o);
    return 0;
}
