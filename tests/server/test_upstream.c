/* tests/server/test_upstream.c: the libcurl fetcher against real servers.
 *
 * Most cases talk to build/jc-origin (started once per TCase, in the runner
 * process, on a free loopback port, stopped by PID).  Cases that need exact
 * bytes on the wire (interim responses, a body that never ends, connection
 * reuse, redirects) use a scripted raw server on a thread of the test.  Every
 * fetch also checks the callback rule: the callback never runs before fetch()
 * has returned, and runs exactly once. */
#include "server/upstream.h"

#include <arpa/inet.h>
#include <check.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "core/cache.h"
#include "core/entry.h"
#include "core/key.h"
#include "core/loop.h"
#include "tests/support/jc_test.h"
#include "tests/support/servers.h"

/* ---- jc-origin, shared by the cases of a TCase ---- */

static pid_t origin_pid;
static int origin_port;

static int read_origin_port(int fd)
{
    char line[128];
    size_t len = 0;
    struct pollfd p = {.fd = fd, .events = POLLIN};
    while (len < sizeof(line) - 1 && poll(&p, 1, 5000) == 1) {
        ssize_t n = read(fd, line + len, 1);
        if (n <= 0 || line[len] == '\n') {
            break;
        }
        len++;
    }
    line[len] = '\0';
    const char *colon = strrchr(line, ':');
    if (strncmp(line, "listening on 127.0.0.1:", 23) != 0 || colon == NULL) {
        return -1;
    }
    return (int)strtol(colon + 1, NULL, 10);
}

static void origin_start(void)
{
    const char *dir = getenv("JC_BUILD_DIR");
    char path[1024];
    int fds[2];
    snprintf(path, sizeof(path), "%s/jc-origin", dir != NULL ? dir : ".");
    ck_assert_int_eq(pipe(fds), 0);
    origin_pid = fork();
    ck_assert_int_ge(origin_pid, 0);
    if (origin_pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        dup2(fds[1], STDOUT_FILENO);
        close(fds[0]);
        close(fds[1]);
        execl(path, "jc-origin", "--listen", "127.0.0.1:0", (char *)NULL);
        _exit(127);
    }
    close(fds[1]);
    origin_port = read_origin_port(fds[0]);
    close(fds[0]);
    if (origin_port <= 0) {
        fprintf(stderr, "test_upstream: %s did not start\n", path);
        abort();
    }
}

static void origin_stop(void)
{
    if (origin_pid > 0) {
        kill(origin_pid, SIGTERM);
        waitpid(origin_pid, NULL, 0);
        origin_pid = 0;
    }
}

/* Returns static: the origin URL for path_and_query. */
static const char *origin_url(const char *path_and_query)
{
    static char url[1024];
    snprintf(url, sizeof(url), "http://127.0.0.1:%d%s", origin_port, path_and_query);
    return url;
}

/* ---- the fetcher under test, one per case ---- */

static struct jc_loop *loop;
static struct jc_upstream *up;

static void setup(void)
{
    loop = jc_loop_new();
    ck_assert_ptr_nonnull(loop);
    ck_assert_int_eq(jc_upstream_open(loop, &up), JC_OK);
}

static void teardown(void)
{
    jc_upstream_close(up);
    up = NULL;
    jc_loop_free(loop);
    loop = NULL;
}

static uint64_t real_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

struct result {
    bool returned; /* fetch() has returned */
    bool done;
    int calls;
    bool early; /* the callback ran before fetch() returned */
    enum jc_err err;
    struct jc_entry *entry;
    uint64_t done_ms;
};

static void on_done(void *arg, enum jc_err err, struct jc_entry *entry)
{
    struct result *r = arg;
    r->calls++;
    r->early = r->early || !r->returned;
    r->done = true;
    r->err = err;
    r->entry = entry;
    r->done_ms = real_ms();
}

static void result_clear(struct result *r)
{
    if (r->entry != NULL) {
        jc_entry_unref(r->entry);
    }
    memset(r, 0, sizeof(*r));
}

static struct jc_fetch_request make_req(const char *url, uint64_t timeout_ms, size_t cap)
{
    struct jc_fetch_request req = {.url = url,
                                   .headers = NULL,
                                   .n_headers = 0,
                                   .timeout_ms = timeout_ms,
                                   .max_body_bytes = cap};
    return req;
}

static void start_req(const struct jc_fetch_request *req, struct result *r)
{
    struct jc_fetcher f = jc_upstream_fetcher(up);
    memset(r, 0, sizeof(*r));
    ck_assert_int_eq(f.fetch(f.ctx, req, on_done, r), JC_OK);
    r->returned = true;
}

/* Fetches url and waits for the outcome (at most 5 s). */
static void fetch_wait(const char *url, uint64_t timeout_ms, size_t cap, struct result *r)
{
    struct jc_fetch_request req = make_req(url, timeout_ms, cap);
    start_req(&req, r);
    ck_assert(jc_test_loop_until(loop, &r->done, 5000));
    ck_assert_int_eq(r->calls, 1);
    ck_assert(!r->early);
}

static void assert_header(const struct jc_entry *e, enum jc_entry_header h, const char *want)
{
    if (want == NULL) {
        ck_assert_ptr_null(e->headers[h]);
    } else {
        ck_assert_ptr_nonnull(e->headers[h]);
        ck_assert_str_eq(e->headers[h], want);
    }
}

/* ---- a scripted raw HTTP server on a thread ---- */

struct raw_reply {
    const char *data;
    int close_after; /* 1: close the connection after writing */
};

struct raw_server {
    int fd;
    int port;
    int stop_pipe[2];
    pthread_t thread;
    const struct raw_reply *replies;
    size_t n_replies;
    int accepts;      /* read after raw_stop */
    int requests;     /* read after raw_stop */
    char seen[16384]; /* every request received, concatenated */
    size_t seen_len;
};

/* Reads one request head into the transcript.  Returns 0, or -1 on EOF. */
static int raw_read_request(struct raw_server *s, int conn)
{
    char buf[4096];
    size_t len = 0;
    while (len < sizeof(buf) - 1) {
        struct pollfd p[2] = {{.fd = conn, .events = POLLIN},
                              {.fd = s->stop_pipe[0], .events = POLLIN}};
        if (poll(p, 2, -1) < 0 || p[1].revents != 0) {
            return -1;
        }
        ssize_t n = read(conn, buf + len, 1);
        if (n <= 0) {
            return -1;
        }
        len++;
        buf[len] = '\0';
        if (len >= 4 && strcmp(buf + len - 4, "\r\n\r\n") == 0) {
            break;
        }
    }
    if (s->seen_len + len < sizeof(s->seen)) {
        memcpy(s->seen + s->seen_len, buf, len + 1);
        s->seen_len += len;
    }
    return 0;
}

/* Serves requests on conn in order until EOF, a closing reply or stop. */
static void raw_serve_conn(struct raw_server *s, int conn)
{
    while (raw_read_request(s, conn) == 0) {
        size_t i = (size_t)s->requests++;
        if (i >= s->n_replies) {
            break;
        }
        const char *d = s->replies[i].data;
        if (send(conn, d, strlen(d), MSG_NOSIGNAL) < 0 || s->replies[i].close_after) {
            break;
        }
    }
    close(conn);
}

static void *raw_main(void *arg)
{
    struct raw_server *s = arg;
    for (;;) {
        struct pollfd p[2] = {{.fd = s->fd, .events = POLLIN},
                              {.fd = s->stop_pipe[0], .events = POLLIN}};
        if (poll(p, 2, -1) < 0 || p[1].revents != 0) {
            break;
        }
        int conn = accept(s->fd, NULL, NULL);
        if (conn < 0) {
            continue;
        }
        s->accepts++;
        raw_serve_conn(s, conn);
    }
    return NULL;
}

static void raw_start(struct raw_server *s, const struct raw_reply *replies, size_t n)
{
    memset(s, 0, sizeof(*s));
    s->replies = replies;
    s->n_replies = n;
    s->fd = socket(AF_INET, SOCK_STREAM, 0);
    ck_assert_int_ge(s->fd, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = 0};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ck_assert_int_eq(bind(s->fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    ck_assert_int_eq(listen(s->fd, 16), 0);
    socklen_t sl = sizeof(sa);
    ck_assert_int_eq(getsockname(s->fd, (struct sockaddr *)&sa, &sl), 0);
    s->port = ntohs(sa.sin_port);
    ck_assert_int_eq(pipe(s->stop_pipe), 0);
    ck_assert_int_eq(pthread_create(&s->thread, NULL, raw_main, s), 0);
}

static void raw_stop(struct raw_server *s)
{
    ck_assert_int_eq(write(s->stop_pipe[1], "x", 1), 1);
    pthread_join(s->thread, NULL);
    close(s->fd);
    close(s->stop_pipe[0]);
    close(s->stop_pipe[1]);
}

static const char *raw_url(const struct raw_server *s, const char *path)
{
    static char url[256];
    snprintf(url, sizeof(url), "http://127.0.0.1:%d%s", s->port, path);
    return url;
}

/* ---- values ---- */

START_TEST(ok_response_keeps_body_and_five_headers)
{
    struct result r;
    fetch_wait(origin_url("/v/ok?ctype=text/plain&gzip=1&lang=de&etag=1"), 5000, 1 << 20, &r);
    ck_assert_int_eq(r.err, JC_OK);
    ck_assert_ptr_nonnull(r.entry);
    ck_assert_int_eq(r.entry->status, 200);
    ck_assert_int_eq(r.entry->failed, 0);
    ck_assert_ptr_nonnull(strstr(r.entry->body, "\"path\":\"/v/ok\""));
    ck_assert_uint_eq(r.entry->body_len, strlen(r.entry->body));
    assert_header(r.entry, JC_HDR_CONTENT_TYPE, "text/plain");
    assert_header(r.entry, JC_HDR_CONTENT_ENCODING, "gzip");
    assert_header(r.entry, JC_HDR_CONTENT_LANGUAGE, "de");
    assert_header(r.entry, JC_HDR_ETAG, "\"1\"");
    assert_header(r.entry, JC_HDR_LAST_MODIFIED, "Wed, 21 Oct 2015 07:28:00 GMT");
    result_clear(&r);
}
END_TEST

START_TEST(error_statuses_are_values_not_errors)
{
    static const int statuses[] = {404, 503, 500, 301};
    for (size_t i = 0; i < sizeof(statuses) / sizeof(statuses[0]); i++) {
        char path[64];
        snprintf(path, sizeof(path), "/v/status?status=%d", statuses[i]);
        struct result r;
        fetch_wait(origin_url(path), 5000, 1 << 20, &r);
        ck_assert_int_eq(r.err, JC_OK);
        ck_assert_int_eq(r.entry->status, statuses[i]);
        ck_assert_ptr_nonnull(strstr(r.entry->body, "\"path\":\"/v/status\""));
        result_clear(&r);
    }
}
END_TEST

START_TEST(configured_header_reaches_origin)
{
    static char k1[] = "X-Api-Key", v1[] = "s3cret value", k2[] = "X-Empty", v2[] = "";
    struct jc_header_kv h[2] = {{k1, v1}, {k2, v2}};
    struct jc_fetch_request req = make_req(origin_url("/v/echo?echo_header=x-api-key"), 5000, 4096);
    req.headers = h;
    req.n_headers = 2;
    struct result r;
    start_req(&req, &r);
    ck_assert(jc_test_loop_until(loop, &r.done, 5000));
    ck_assert_int_eq(r.err, JC_OK);
    ck_assert_ptr_nonnull(strstr(r.entry->body, "\"echo\":\"s3cret value\""));
    result_clear(&r);
}
END_TEST

START_TEST(encoded_slash_reaches_origin_encoded)
{
    char *tmpl = jc_key_upstream_url(origin_url("/k/{key}"), "a/b", 3);
    struct result r;
    fetch_wait(tmpl, 5000, 4096, &r);
    free(tmpl);
    ck_assert_int_eq(r.err, JC_OK);
    ck_assert_ptr_nonnull(strstr(r.entry->body, "\"path\":\"/k/a%2Fb\""));
    result_clear(&r);
    fetch_wait(origin_url("/_stats?path=/k/a%252Fb"), 5000, 4096, &r);
    ck_assert_str_eq(r.entry->body, "{\"count\":1}");
    result_clear(&r);
    fetch_wait(origin_url("/_stats?path=/k/a/b"), 5000, 4096, &r);
    ck_assert_str_eq(r.entry->body, "{\"count\":0}");
    result_clear(&r);
}
END_TEST

START_TEST(redirect_is_a_value_and_not_followed)
{
    static const struct raw_reply replies[] = {
        {"HTTP/1.1 301 Moved Permanently\r\nLocation: /elsewhere\r\nContent-Length: 5\r\n\r\nmoved",
         0},
        {"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nwrong", 1},
    };
    struct raw_server s;
    raw_start(&s, replies, 2);
    struct result r;
    fetch_wait(raw_url(&s, "/r"), 5000, 4096, &r);
    raw_stop(&s);
    ck_assert_int_eq(r.err, JC_OK);
    ck_assert_int_eq(r.entry->status, 301);
    ck_assert_str_eq(r.entry->body, "moved");
    ck_assert_int_eq(s.requests, 1);
    result_clear(&r);
}
END_TEST

START_TEST(headers_come_from_final_response_trimmed_and_caseless)
{
    static const struct raw_reply replies[] = {
        {"HTTP/1.1 103 Early Hints\r\nContent-Type: text/early\r\nETag: \"early\"\r\n\r\n"
         "HTTP/1.1 200 OK\r\ncontent-TYPE:   text/x; charset=utf-8 \t\r\n"
         "CONTENT-language: en\r\nContent-Language: fr\r\nX-Other: 1\r\n"
         "Content-Length: 2\r\n\r\nok",
         1},
    };
    struct raw_server s;
    raw_start(&s, replies, 1);
    struct result r;
    fetch_wait(raw_url(&s, "/h"), 5000, 4096, &r);
    raw_stop(&s);
    ck_assert_int_eq(r.err, JC_OK);
    ck_assert_int_eq(r.entry->status, 200);
    ck_assert_str_eq(r.entry->body, "ok");
    assert_header(r.entry, JC_HDR_CONTENT_TYPE, "text/x; charset=utf-8");
    assert_header(r.entry, JC_HDR_CONTENT_LANGUAGE, "en, fr");
    assert_header(r.entry, JC_HDR_ETAG, NULL);
    assert_header(r.entry, JC_HDR_CONTENT_ENCODING, NULL);
    assert_header(r.entry, JC_HDR_LAST_MODIFIED, NULL);
    result_clear(&r);
}
END_TEST

START_TEST(connection_is_reused_and_no_accept_encoding_is_sent)
{
    static const struct raw_reply replies[] = {
        {"HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\none", 0},
        {"HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\ntwo", 0},
    };
    struct raw_server s;
    raw_start(&s, replies, 2);
    struct result r1, r2;
    fetch_wait(raw_url(&s, "/one"), 5000, 4096, &r1);
    fetch_wait(raw_url(&s, "/two"), 5000, 4096, &r2);
    raw_stop(&s);
    ck_assert_int_eq(r1.err, JC_OK);
    ck_assert_int_eq(r2.err, JC_OK);
    ck_assert_str_eq(r1.entry->body, "one");
    ck_assert_str_eq(r2.entry->body, "two");
    ck_assert_int_eq(s.requests, 2);
    ck_assert_int_eq(s.accepts, 1);
    ck_assert_ptr_nonnull(strstr(s.seen, "GET /one HTTP/1.1\r\n"));
    ck_assert_ptr_null(strstr(s.seen, "Accept-Encoding"));
    ck_assert_ptr_null(strstr(s.seen, "accept-encoding"));
    result_clear(&r1);
    result_clear(&r2);
}
END_TEST

/* ---- errors ---- */

START_TEST(delay_past_timeout_is_upstream_timeout)
{
    struct result r;
    uint64_t t0 = real_ms();
    fetch_wait(origin_url("/e/slow?delay_ms=3000"), 300, 4096, &r);
    uint64_t took = r.done_ms - t0;
    ck_assert_int_eq(r.err, JC_ERR_UPSTREAM_TIMEOUT);
    ck_assert_ptr_null(r.entry);
    ck_assert_uint_ge(took, 250);
    ck_assert_uint_lt(took, 1500);
}
END_TEST

START_TEST(connection_refused_is_upstream_error)
{
    int port = jc_test_free_port();
    ck_assert_int_gt(port, 0);
    char url[128];
    snprintf(url, sizeof(url), "http://127.0.0.1:%d/x", port);
    struct result r;
    fetch_wait(url, 5000, 4096, &r);
    ck_assert_int_eq(r.err, JC_ERR_UPSTREAM);
    ck_assert_ptr_null(r.entry);
}
END_TEST

START_TEST(dropped_connection_is_upstream_error)
{
    struct result r;
    fetch_wait(origin_url("/e/drop?drop=1"), 5000, 4096, &r);
    ck_assert_int_eq(r.err, JC_ERR_UPSTREAM);
    ck_assert_ptr_null(r.entry);
}
END_TEST

START_TEST(body_over_cap_is_too_large)
{
    struct result r;
    fetch_wait(origin_url("/e/big?size=100000"), 5000, 1000, &r);
    ck_assert_int_eq(r.err, JC_ERR_TOO_LARGE);
    ck_assert_ptr_null(r.entry);
    /* A body of exactly the cap is fine. */
    fetch_wait(origin_url("/e/big?size=1000"), 5000, 1000, &r);
    ck_assert_int_eq(r.err, JC_OK);
    ck_assert_uint_eq(r.entry->body_len, 1000);
    result_clear(&r);
}
END_TEST

START_TEST(content_length_over_cap_fails_before_the_body)
{
    /* The body never comes: only the early Content-Length check can answer
     * before the timeout. */
    static const struct raw_reply replies[] = {
        {"HTTP/1.1 200 OK\r\nContent-Length: 100000\r\n\r\n", 0},
    };
    struct raw_server s;
    raw_start(&s, replies, 1);
    struct result r;
    uint64_t t0 = real_ms();
    fetch_wait(raw_url(&s, "/cl"), 3000, 1000, &r);
    raw_stop(&s);
    ck_assert_int_eq(r.err, JC_ERR_TOO_LARGE);
    ck_assert_uint_lt(r.done_ms - t0, 1000);
}
END_TEST

START_TEST(streamed_body_over_cap_aborts_at_once)
{
    /* A close-delimited body that passes the cap and then stalls: only an
     * abort from the write callback answers before the timeout. */
    static const char head[] = "HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n";
    static char reply[4096];
    memset(reply, 0, sizeof(reply));
    memcpy(reply, head, sizeof(head) - 1);
    memset(reply + sizeof(head) - 1, 'x', 2000);
    const struct raw_reply replies[] = {{reply, 0}};
    struct raw_server s;
    raw_start(&s, replies, 1);
    struct result r;
    uint64_t t0 = real_ms();
    fetch_wait(raw_url(&s, "/stream"), 3000, 1000, &r);
    raw_stop(&s);
    ck_assert_int_eq(r.err, JC_ERR_TOO_LARGE);
    ck_assert_uint_lt(r.done_ms - t0, 1000);
}
END_TEST

START_TEST(only_http_and_https_are_fetched)
{
    struct result r;
    fetch_wait("file:///etc/hostname", 2000, 4096, &r);
    ck_assert_int_eq(r.err, JC_ERR_UPSTREAM);
    ck_assert_ptr_null(r.entry);
    fetch_wait("dict://127.0.0.1:1/x", 2000, 4096, &r);
    ck_assert_int_eq(r.err, JC_ERR_UPSTREAM);
}
END_TEST

START_TEST(bad_request_is_refused_without_callback)
{
    struct jc_fetcher f = jc_upstream_fetcher(up);
    struct result r = {0};
    static char name[] = "X-Split", value[] = "a\r\nHost: evil";
    struct jc_header_kv bad[1] = {{name, value}};
    struct jc_fetch_request req = make_req(origin_url("/e/bad"), 1000, 4096);
    req.headers = bad;
    req.n_headers = 1;
    ck_assert_int_eq(f.fetch(f.ctx, &req, on_done, &r), JC_ERR_INVALID);
    req = make_req(NULL, 1000, 4096);
    ck_assert_int_eq(f.fetch(f.ctx, &req, on_done, &r), JC_ERR_INVALID);
    ck_assert_uint_eq(jc_upstream_active(up), 0);
    jc_test_loop_for(loop, 50);
    ck_assert_int_eq(r.calls, 0);
}
END_TEST

/* ---- the loop ---- */

START_TEST(fifty_fetches_run_concurrently_on_one_thread)
{
    enum { N = 50 };
    static struct result rs[N];
    static char urls[N][1024];
    uint64_t t0 = real_ms();
    for (int i = 0; i < N; i++) {
        char path[64];
        snprintf(path, sizeof(path), "/c/%d?delay_ms=300", i);
        snprintf(urls[i], sizeof(urls[i]), "%s", origin_url(path));
        struct jc_fetch_request req = make_req(urls[i], 10000, 4096);
        start_req(&req, &rs[i]);
    }
    ck_assert_uint_eq(jc_upstream_active(up), N);
    for (int i = 0; i < N; i++) {
        ck_assert(jc_test_loop_until(loop, &rs[i].done, 10000));
    }
    uint64_t took = real_ms() - t0;
    ck_assert_uint_eq(jc_upstream_active(up), 0);
    for (int i = 0; i < N; i++) {
        ck_assert_int_eq(rs[i].err, JC_OK);
        ck_assert_int_eq(rs[i].calls, 1);
        ck_assert(!rs[i].early);
        result_clear(&rs[i]);
    }
    ck_assert_uint_ge(took, 290);
    ck_assert_uint_lt(took, 3000); /* serial would be 15 s */
}
END_TEST

START_TEST(callback_runs_after_fetch_returns_even_on_fast_failure)
{
    /* A closed port fails within microseconds: the callback must still wait
     * for fetch() to return and then come from the loop. */
    char url[128];
    snprintf(url, sizeof(url), "http://127.0.0.1:%d/x", jc_test_free_port());
    struct jc_fetch_request req = make_req(url, 1000, 4096);
    struct result r;
    start_req(&req, &r);
    ck_assert_int_eq(r.calls, 0);
    ck_assert(jc_test_loop_until(loop, &r.done, 5000));
    ck_assert(!r.early);
    ck_assert_int_eq(r.calls, 1);
    jc_test_loop_for(loop, 50);
    ck_assert_int_eq(r.calls, 1);
}
END_TEST

static enum jc_err refetch_rc;

static void on_done_refetch(void *arg, enum jc_err err, struct jc_entry *entry)
{
    on_done(arg, err, entry);
    struct jc_fetcher f = jc_upstream_fetcher(up);
    struct jc_fetch_request req = make_req(origin_url("/l/again"), 1000, 4096);
    refetch_rc = f.fetch(f.ctx, &req, on_done, arg);
}

START_TEST(close_aborts_running_fetches_with_shutdown)
{
    struct jc_fetcher f = jc_upstream_fetcher(up);
    struct jc_fetch_request req = make_req(origin_url("/l/long?delay_ms=3000"), 5000, 4096);
    struct result r = {0};
    ck_assert_int_eq(f.fetch(f.ctx, &req, on_done_refetch, &r), JC_OK);
    r.returned = true;
    jc_test_loop_for(loop, 100);
    ck_assert_uint_eq(jc_upstream_active(up), 1);
    ck_assert_int_eq(r.calls, 0);
    uint64_t t0 = real_ms();
    jc_upstream_close(up);
    up = NULL;
    ck_assert_uint_lt(real_ms() - t0, 1000);
    ck_assert_int_eq(r.calls, 1);
    ck_assert_int_eq(r.err, JC_ERR_SHUTDOWN);
    ck_assert_ptr_null(r.entry);
    ck_assert_int_eq(refetch_rc, JC_ERR_SHUTDOWN);
}
END_TEST

START_TEST(version_names_libcurl)
{
    ck_assert_ptr_nonnull(strstr(jc_upstream_version(), "libcurl/"));
}
END_TEST

static TCase *origin_tcase(const char *name)
{
    TCase *tc = tcase_create(name);
    tcase_add_unchecked_fixture(tc, origin_start, origin_stop);
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 30);
    return tc;
}

static Suite *upstream_suite(void)
{
    Suite *s = suite_create("upstream");
    TCase *tc = origin_tcase("values");
    tcase_add_test(tc, ok_response_keeps_body_and_five_headers);
    tcase_add_test(tc, error_statuses_are_values_not_errors);
    tcase_add_test(tc, configured_header_reaches_origin);
    tcase_add_test(tc, encoded_slash_reaches_origin_encoded);
    tcase_add_test(tc, redirect_is_a_value_and_not_followed);
    tcase_add_test(tc, headers_come_from_final_response_trimmed_and_caseless);
    tcase_add_test(tc, connection_is_reused_and_no_accept_encoding_is_sent);
    suite_add_tcase(s, tc);

    tc = origin_tcase("errors");
    tcase_add_test(tc, delay_past_timeout_is_upstream_timeout);
    tcase_add_test(tc, connection_refused_is_upstream_error);
    tcase_add_test(tc, dropped_connection_is_upstream_error);
    tcase_add_test(tc, body_over_cap_is_too_large);
    tcase_add_test(tc, content_length_over_cap_fails_before_the_body);
    tcase_add_test(tc, streamed_body_over_cap_aborts_at_once);
    tcase_add_test(tc, only_http_and_https_are_fetched);
    tcase_add_test(tc, bad_request_is_refused_without_callback);
    suite_add_tcase(s, tc);

    tc = origin_tcase("loop");
    tcase_add_test(tc, fifty_fetches_run_concurrently_on_one_thread);
    tcase_add_test(tc, callback_runs_after_fetch_returns_even_on_fast_failure);
    tcase_add_test(tc, close_aborts_running_fetches_with_shutdown);
    tcase_add_test(tc, version_names_libcurl);
    suite_add_tcase(s, tc);
    return s;
}

JC_TEST_MAIN(upstream_suite)
