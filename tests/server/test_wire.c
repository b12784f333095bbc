/* tests/server/test_wire.c: requests off the wire (server/wire.c) and
 * responses onto it (server/response.c). */
#include "server/wire.h"

#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "server/response.h"
#include "tests/support/jc_test.h"

#define GET_HEALTHZ "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"

/* Feeds s whole; returns the status and how many bytes were taken. */
static enum jc_wire_status feed(struct jc_wire *w, const char *s, size_t *used)
{
    return jc_wire_feed(w, s, strlen(s), used);
}

START_TEST(one_request_in_one_read)
{
    struct jc_wire w;
    jc_wire_init(&w);
    const char *req = "GET /caches/c/k?timeout_ms=5&x=1 HTTP/1.1\r\nHost: x\r\n"
                      "cache-control: only-if-cached\r\nIf-None-Match: \"e\"\r\n"
                      "Prefer: wait=3\r\nAuthorization: Bearer t\r\n"
                      "Authorization: Bearer second\r\n\r\n";
    size_t used;
    ck_assert_int_eq(feed(&w, req, &used), JC_WIRE_REQUEST);
    ck_assert_uint_eq(used, strlen(req));
    ck_assert_str_eq(w.request.method, "GET");
    ck_assert(!w.request.head);
    ck_assert(w.request.keep_alive);
    ck_assert(!w.request.http10);
    ck_assert_str_eq(w.request.path, "/caches/c/k");
    ck_assert_str_eq(w.request.query, "timeout_ms=5&x=1");
    ck_assert_str_eq(w.request.headers[JC_WIRE_CACHE_CONTROL], "only-if-cached");
    ck_assert_str_eq(w.request.headers[JC_WIRE_IF_NONE_MATCH], "\"e\"");
    ck_assert_str_eq(w.request.headers[JC_WIRE_PREFER], "wait=3");
    ck_assert_str_eq(w.request.headers[JC_WIRE_AUTHORIZATION], "Bearer t");
    jc_wire_clear(&w);
}
END_TEST

START_TEST(absolute_form_targets_are_read_as_their_path)
{
    static const char *const cases[][3] = {
        {"GET http://h:8080/caches/c/k?timeout_ms=1 HTTP/1.1\r\nHost: h\r\n\r\n", "/caches/c/k",
         "timeout_ms=1"},
        {"GET HTTPS://h/healthz HTTP/1.1\r\nHost: h\r\n\r\n", "/healthz", NULL},
        {"GET http://h HTTP/1.1\r\nHost: h\r\n\r\n", "/", NULL},
        {"GET http://h?a=b HTTP/1.1\r\nHost: h\r\n\r\n", "/", "a=b"},
        {"GET /?x HTTP/1.1\r\nHost: h\r\n\r\n", "/", "x"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct jc_wire w;
        jc_wire_init(&w);
        size_t used;
        ck_assert_int_eq(feed(&w, cases[i][0], &used), JC_WIRE_REQUEST);
        ck_assert_str_eq(w.request.path, cases[i][1]);
        if (cases[i][2] == NULL) {
            ck_assert_ptr_null(w.request.query);
        } else {
            ck_assert_str_eq(w.request.query, cases[i][2]);
        }
        jc_wire_clear(&w);
    }
}
END_TEST

START_TEST(header_values_lose_surrounding_whitespace)
{
    struct jc_wire w;
    jc_wire_init(&w);
    size_t used;
    ck_assert_int_eq(feed(&w,
                          "GET / HTTP/1.1\r\nHost: x\r\nAuthorization:  Bearer t \t\r\n"
                          "Prefer:wait=2\r\n\r\n",
                          &used),
                     JC_WIRE_REQUEST);
    ck_assert_str_eq(w.request.headers[JC_WIRE_AUTHORIZATION], "Bearer t");
    ck_assert_str_eq(w.request.headers[JC_WIRE_PREFER], "wait=2");
    jc_wire_clear(&w);
}
END_TEST

START_TEST(an_upgrade_request_ends_with_its_body)
{
    struct jc_wire w;
    jc_wire_init(&w);
    size_t used;
    ck_assert_int_eq(feed(&w,
                          "POST /x HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\n"
                          "Upgrade: other\r\nContent-Length: 10\r\n\r\nabc",
                          &used),
                     JC_WIRE_MORE);
    ck_assert_int_eq(feed(&w, "defghij", &used), JC_WIRE_REQUEST);
    ck_assert_uint_eq(used, 7);
    ck_assert(!w.request.keep_alive);
    jc_wire_clear(&w);
}
END_TEST

START_TEST(pipelined_requests_come_one_at_a_time)
{
    struct jc_wire w;
    jc_wire_init(&w);
    const char *first = "HEAD /a HTTP/1.1\r\nHost: x\r\n\r\n";
    const char *two = "HEAD /a HTTP/1.1\r\nHost: x\r\n\r\nGET /b HTTP/1.1\r\nHost: x\r\n\r\n";
    size_t used;
    ck_assert_int_eq(feed(&w, two, &used), JC_WIRE_REQUEST);
    ck_assert_str_eq(w.request.path, "/a");
    ck_assert(w.request.head);
    ck_assert_uint_eq(used, strlen(first));
    jc_wire_next(&w);
    ck_assert(!jc_wire_started(&w));
    ck_assert_int_eq(feed(&w, two + used, &used), JC_WIRE_REQUEST);
    ck_assert_str_eq(w.request.path, "/b");
    ck_assert_ptr_null(w.request.query);
    ck_assert_ptr_null(w.request.headers[JC_WIRE_PREFER]);
    jc_wire_clear(&w);
}
END_TEST

START_TEST(a_head_split_anywhere_is_held_until_whole)
{
    const char *req = "GET /caches/c/some-key HTTP/1.1\r\nHost: x\r\nPrefer: wait=1\r\n\r\n";
    size_t len = strlen(req);
    for (size_t cut = 1; cut < len; cut++) {
        struct jc_wire w;
        jc_wire_init(&w);
        size_t used;
        ck_assert_int_eq(jc_wire_feed(&w, req, cut, &used), JC_WIRE_MORE);
        ck_assert_uint_eq(used, cut);
        ck_assert(jc_wire_started(&w));
        ck_assert_int_eq(jc_wire_feed(&w, req + cut, len - cut, &used), JC_WIRE_REQUEST);
        ck_assert_uint_eq(used, len - cut);
        ck_assert_str_eq(w.request.path, "/caches/c/some-key");
        ck_assert_str_eq(w.request.headers[JC_WIRE_PREFER], "wait=1");
        jc_wire_clear(&w);
    }
}
END_TEST

START_TEST(bodies_are_read_and_dropped)
{
    struct jc_wire w;
    jc_wire_init(&w);
    const char *post = "POST /caches/c/k HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\n0123";
    size_t used;
    ck_assert_int_eq(feed(&w, post, &used), JC_WIRE_MORE);
    ck_assert_uint_eq(used, strlen(post));
    ck_assert_str_eq(w.request.method, "POST");
    const char *rest = "456789" GET_HEALTHZ;
    ck_assert_int_eq(feed(&w, rest, &used), JC_WIRE_REQUEST);
    ck_assert_uint_eq(used, 6);
    jc_wire_next(&w);
    const char *chunked = "POST /x HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
                          "3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n" GET_HEALTHZ;
    ck_assert_int_eq(feed(&w, chunked, &used), JC_WIRE_REQUEST);
    ck_assert_uint_eq(used, strlen(chunked) - strlen(GET_HEALTHZ));
    jc_wire_clear(&w);
}
END_TEST

START_TEST(expect_continue_only_with_a_body)
{
    struct jc_wire w;
    jc_wire_init(&w);
    size_t used;
    ck_assert_int_eq(feed(&w,
                          "POST /x HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\n"
                          "Content-Length: 3\r\n\r\n",
                          &used),
                     JC_WIRE_MORE);
    ck_assert(w.send_continue);
    ck_assert_int_eq(feed(&w, "abc", &used), JC_WIRE_REQUEST);
    jc_wire_next(&w);
    ck_assert_int_eq(feed(&w, "GET /x HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\n\r\n", &used),
                     JC_WIRE_REQUEST);
    ck_assert(!w.send_continue);
    jc_wire_clear(&w);
}
END_TEST

START_TEST(keep_alive_follows_version_and_connection)
{
    static const struct {
        const char *req;
        bool keep_alive;
        bool http10;
    } cases[] = {
        {"GET / HTTP/1.1\r\nHost: x\r\n\r\n", true, false},
        {"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", false, false},
        {"GET / HTTP/1.0\r\n\r\n", false, true},
        {"GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n", true, true},
        {"GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: upgrade\r\n\r\n", false,
         false},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct jc_wire w;
        jc_wire_init(&w);
        size_t used;
        ck_assert_int_eq(feed(&w, cases[i].req, &used), JC_WIRE_REQUEST);
        ck_assert_msg(w.request.keep_alive == cases[i].keep_alive, "case %zu", i);
        ck_assert(w.request.http10 == cases[i].http10);
        jc_wire_clear(&w);
    }
}
END_TEST

START_TEST(malformed_heads_are_refused)
{
    static const char *const bad[] = {
        "GARBAGE\r\n\r\n",
        "GET / HTTP/1.1\r\nHost: x\r\nNo colon here\r\n\r\n",
        "GET / HTTP/9.Z\r\n\r\n",
        "GET / HTTP/1.1\r\nHost : x\r\n\r\n",
        "GET / HTTP/2.0\r\nHost: x\r\n\r\n",
        "GET / HTTP/1.1\r\n\r\n", /* 1.1 without Host */
        "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n",
        /* framing a proxy in front might read otherwise (RFC 9112 5.1, 5.2) */
        "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding : chunked\r\n\r\n",
        "GET / HTTP/1.1\r\nHost: x\r\nBad Name: y\r\n\r\n",
        "GET / HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer\r\n tok\r\n\r\n",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        struct jc_wire w;
        jc_wire_init(&w);
        size_t used;
        ck_assert_msg(feed(&w, bad[i], &used) == JC_WIRE_BAD, "case %zu", i);
        ck_assert_ptr_nonnull(w.error);
        jc_wire_clear(&w);
    }
}
END_TEST

/* A head of n bytes: a request line of line_len bytes, then headers. */
static char *big_head(size_t line_len, size_t n)
{
    char *s = malloc(n + 1);
    memset(s, 'a', n);
    memcpy(s, "GET /", 5);
    memcpy(s + line_len - 11, " HTTP/1.1\r\n", 11);
    memcpy(s + line_len, "Host: x\r\nX: ", 12);
    memcpy(s + n - 4, "\r\n\r\n", 4);
    s[n] = '\0';
    return s;
}

START_TEST(heads_past_the_limit_are_too_large)
{
    size_t used;
    struct jc_wire w;
    char *line = big_head(JC_WIRE_MAX_HEAD + 100, JC_WIRE_MAX_HEAD + 200);
    jc_wire_init(&w);
    ck_assert_int_eq(feed(&w, line, &used), JC_WIRE_URI_TOO_LONG);
    jc_wire_clear(&w);
    char *headers = big_head(100, JC_WIRE_MAX_HEAD + 200);
    jc_wire_init(&w);
    ck_assert_int_eq(feed(&w, headers, &used), JC_WIRE_HEAD_TOO_LARGE);
    jc_wire_clear(&w);
    /* Trickled in: held up to the limit, then refused. */
    jc_wire_init(&w);
    enum jc_wire_status st = JC_WIRE_MORE;
    for (size_t at = 0; st == JC_WIRE_MORE && at < strlen(headers); at += 1000) {
        size_t n = strlen(headers) - at < 1000 ? strlen(headers) - at : 1000;
        st = jc_wire_feed(&w, headers + at, n, &used);
    }
    ck_assert_int_eq(st, JC_WIRE_HEAD_TOO_LARGE);
    jc_wire_clear(&w);
    char *fits = big_head(6000, JC_WIRE_MAX_HEAD - 100);
    jc_wire_init(&w);
    ck_assert_int_eq(feed(&w, fits, &used), JC_WIRE_REQUEST);
    jc_wire_clear(&w);
    free(line);
    free(headers);
    free(fits);
}
END_TEST

START_TEST(responses_carry_their_length_unless_bodyless)
{
    struct jc_response *r = jc_response_new(200);
    jc_response_add_header(r, "Content-Type", "text/plain");
    struct jc_buf b;
    jc_buf_init(&b, 0);
    jc_buf_add(&b, "hello", 5);
    jc_response_take_body(r, &b);
    size_t len;
    const char *head = jc_response_head(r, &len);
    ck_assert_str_eq(head, "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 5\r\n");
    ck_assert_uint_eq(len, strlen(head));
    ck_assert(memcmp(jc_response_body(r, &len), "hello", 5) == 0);
    ck_assert_uint_eq(len, 5);
    jc_response_unref(r);
    static const unsigned int bodyless[] = {204, 304};
    for (size_t i = 0; i < 2; i++) {
        r = jc_response_new(bodyless[i]);
        head = jc_response_head(r, &len);
        ck_assert_ptr_null(strstr(head, "Content-Length"));
        ck_assert_ptr_null(jc_response_body(r, &len));
        jc_response_unref(r);
    }
    r = jc_response_new(299);
    ck_assert_str_eq(jc_response_head(r, &len), "HTTP/1.1 299 Unknown\r\nContent-Length: 0\r\n");
    jc_response_unref(r);
}
END_TEST

static int released;

static void count_release(void *arg)
{
    (void)arg;
    released++;
}

START_TEST(a_borrowed_body_is_released_with_the_last_reference)
{
    static const char body[] = "xyz";
    struct jc_response *r = jc_response_new(200);
    jc_response_borrow_body(r, body, 3, count_release, NULL);
    jc_response_ref(r);
    jc_response_unref(r);
    ck_assert_int_eq(released, 0);
    jc_response_unref(r);
    ck_assert_int_eq(released, 1);
}
END_TEST

static Suite *wire_suite(void)
{
    Suite *s = suite_create("wire");
    TCase *req = tcase_create("requests");
    tcase_add_test(req, one_request_in_one_read);
    tcase_add_test(req, absolute_form_targets_are_read_as_their_path);
    tcase_add_test(req, header_values_lose_surrounding_whitespace);
    tcase_add_test(req, an_upgrade_request_ends_with_its_body);
    tcase_add_test(req, pipelined_requests_come_one_at_a_time);
    tcase_add_test(req, a_head_split_anywhere_is_held_until_whole);
    tcase_add_test(req, bodies_are_read_and_dropped);
    tcase_add_test(req, expect_continue_only_with_a_body);
    tcase_add_test(req, keep_alive_follows_version_and_connection);
    tcase_add_test(req, malformed_heads_are_refused);
    tcase_add_test(req, heads_past_the_limit_are_too_large);
    suite_add_tcase(s, req);
    TCase *resp = tcase_create("responses");
    tcase_add_test(resp, responses_carry_their_length_unless_bodyless);
    tcase_add_test(resp, a_borrowed_body_is_released_with_the_last_reference);
    suite_add_tcase(s, resp);
    return s;
}

JC_TEST_MAIN(wire_suite)
