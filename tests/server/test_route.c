/* tests/server/test_route.c: request paths and header values (server/route.c). */
#include "server/route.h"

#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "tests/support/jc_test.h"

static struct jc_route parse(const char *path)
{
    struct jc_route r;
    jc_route_parse(path, &r);
    return r;
}

START_TEST(service_routes_are_exact)
{
    ck_assert_int_eq(parse("/healthz").kind, JC_ROUTE_HEALTHZ);
    ck_assert_int_eq(parse("/readyz").kind, JC_ROUTE_READYZ);
    ck_assert_int_eq(parse("/metrics").kind, JC_ROUTE_METRICS);
    ck_assert_int_eq(parse("/caches").kind, JC_ROUTE_CACHES);
    ck_assert_int_eq(parse("/healthz/").kind, JC_ROUTE_NOT_FOUND);
    ck_assert_int_eq(parse("/").kind, JC_ROUTE_NOT_FOUND);
    ck_assert_int_eq(parse("/cachesx").kind, JC_ROUTE_NOT_FOUND);
    ck_assert_int_eq(parse("/caches/weather").kind, JC_ROUTE_NOT_FOUND);
}
END_TEST

START_TEST(value_route_decodes_name_and_key)
{
    struct jc_route r = parse("/caches/weather/london");
    ck_assert_int_eq(r.kind, JC_ROUTE_VALUE);
    ck_assert_str_eq(r.cache, "weather");
    ck_assert_uint_eq(r.key_len, 6);
    ck_assert_mem_eq(r.key, "london", 6);
    ck_assert_ptr_null(r.why);
    jc_route_clear(&r);
}
END_TEST

START_TEST(encoded_slash_stays_inside_the_key)
{
    struct jc_route r = parse("/caches/c/a%2Fb");
    ck_assert_int_eq(r.kind, JC_ROUTE_VALUE);
    ck_assert_uint_eq(r.key_len, 3);
    ck_assert_mem_eq(r.key, "a/b", 3);
    jc_route_clear(&r);
    r = parse("/caches/c/a%2Fb/status");
    ck_assert_int_eq(r.kind, JC_ROUTE_STATUS);
    ck_assert_mem_eq(r.key, "a/b", 3);
    jc_route_clear(&r);
}
END_TEST

START_TEST(more_segments_are_a_bad_path)
{
    struct jc_route r = parse("/caches/c/a/b");
    ck_assert_int_eq(r.kind, JC_ROUTE_BAD);
    ck_assert_ptr_nonnull(r.why);
    jc_route_clear(&r);
    r = parse("/caches/c/a/status/x");
    ck_assert_int_eq(r.kind, JC_ROUTE_BAD);
    jc_route_clear(&r);
}
END_TEST

START_TEST(bad_keys_keep_the_cache_for_the_unknown_cache_check)
{
    const char *bad[] = {"/caches/c/",    "/caches/c/%00", "/caches/c/.",    "/caches/c/%2E%2E",
                         "/caches/c/%zz", "/caches/c/%4",  "/caches/c/a%0Ab"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        struct jc_route r = parse(bad[i]);
        ck_assert_msg(r.kind == JC_ROUTE_VALUE, "%s", bad[i]);
        ck_assert_str_eq(r.cache, "c");
        ck_assert_msg(r.key == NULL && r.why != NULL, "%s should be a bad key", bad[i]);
        jc_route_clear(&r);
    }
}
END_TEST

START_TEST(key_length_limits)
{
    char path[2048] = "/caches/c/";
    memset(path + 10, 'k', 1024);
    struct jc_route r = parse(path);
    ck_assert_ptr_nonnull(r.key);
    ck_assert_uint_eq(r.key_len, 1024);
    jc_route_clear(&r);
    path[10 + 1024] = 'k';
    r = parse(path);
    ck_assert_ptr_null(r.key);
    jc_route_clear(&r);
}
END_TEST

START_TEST(cache_name_is_decoded_and_nul_free)
{
    struct jc_route r = parse("/caches/we%61ther/k");
    ck_assert_str_eq(r.cache, "weather");
    jc_route_clear(&r);
    r = parse("/caches/a%00b/k");
    ck_assert_int_eq(r.kind, JC_ROUTE_BAD);
    ck_assert_ptr_null(r.cache);
    jc_route_clear(&r);
}
END_TEST

START_TEST(timeout_ms_is_a_non_negative_integer)
{
    uint64_t ms = 7;
    ck_assert_int_eq(jc_route_parse_timeout("0", 1, &ms), JC_OK);
    ck_assert_uint_eq(ms, 0);
    ck_assert_int_eq(jc_route_parse_timeout("1500", 4, &ms), JC_OK);
    ck_assert_uint_eq(ms, 1500);
    ck_assert_int_eq(jc_route_parse_timeout("%31%30", 6, &ms), JC_OK);
    ck_assert_uint_eq(ms, 10);
    const char *bad[] = {"", "-1", "1.5", "abc", "+3", " 3", "%zz"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        ms = 7;
        ck_assert_int_eq(jc_route_parse_timeout(bad[i], strlen(bad[i]), &ms), JC_ERR_INVALID);
        ck_assert_uint_eq(ms, 7);
    }
    ck_assert_int_eq(jc_route_parse_timeout(NULL, 0, &ms), JC_ERR_INVALID);
}
END_TEST

START_TEST(huge_timeout_saturates)
{
    const char *huge = "99999999999999999999999999999";
    uint64_t ms = 0;
    ck_assert_int_eq(jc_route_parse_timeout(huge, strlen(huge), &ms), JC_OK);
    ck_assert_uint_ge(ms, UINT64_MAX / 20);
}
END_TEST

START_TEST(prefer_wait_is_in_seconds)
{
    uint64_t ms = 5;
    ck_assert(jc_route_prefer_wait("wait=3", &ms));
    ck_assert_uint_eq(ms, 3000);
    ck_assert(jc_route_prefer_wait("respond-async, wait=10", &ms));
    ck_assert_uint_eq(ms, 10000);
    ck_assert(jc_route_prefer_wait("handling=lenient; wait=0", &ms));
    ck_assert_uint_eq(ms, 0);
    ms = 5;
    ck_assert(!jc_route_prefer_wait(NULL, &ms));
    ck_assert(!jc_route_prefer_wait("nowait=3", &ms));
    ck_assert(!jc_route_prefer_wait("wait=x", &ms));
    ck_assert_uint_eq(ms, 5);
}
END_TEST

START_TEST(only_if_cached_is_a_directive_not_a_substring)
{
    ck_assert(jc_route_only_if_cached("only-if-cached"));
    ck_assert(jc_route_only_if_cached("max-age=0, ONLY-IF-CACHED"));
    ck_assert(jc_route_only_if_cached("no-store,only-if-cached ,x"));
    ck_assert(!jc_route_only_if_cached(NULL));
    ck_assert(!jc_route_only_if_cached("no-cache"));
    ck_assert(!jc_route_only_if_cached("x-only-if-cached"));
    ck_assert(!jc_route_only_if_cached("only-if-cached-not"));
}
END_TEST

START_TEST(if_none_match_uses_weak_comparison_and_lists)
{
    ck_assert(jc_route_etag_matches("\"a\"", "\"a\""));
    ck_assert(jc_route_etag_matches("W/\"a\"", "\"a\""));
    ck_assert(jc_route_etag_matches("\"a\"", "W/\"a\""));
    ck_assert(jc_route_etag_matches("\"x\", \"a\"", "\"a\""));
    ck_assert(jc_route_etag_matches("*", "\"a\""));
    ck_assert(!jc_route_etag_matches("\"b\"", "\"a\""));
    ck_assert(!jc_route_etag_matches("\"ab\"", "\"a\""));
    ck_assert(!jc_route_etag_matches("", "\"a\""));
}
END_TEST

START_TEST(bearer_token_must_match_exactly)
{
    ck_assert(jc_route_bearer_ok(NULL, ""));
    ck_assert(jc_route_bearer_ok("anything", NULL));
    ck_assert(jc_route_bearer_ok("Bearer s3cret", "s3cret"));
    ck_assert(jc_route_bearer_ok("bearer s3cret", "s3cret"));
    ck_assert(!jc_route_bearer_ok(NULL, "s3cret"));
    ck_assert(!jc_route_bearer_ok("Bearer s3cre", "s3cret"));
    ck_assert(!jc_route_bearer_ok("Bearer s3cretX", "s3cret"));
    ck_assert(!jc_route_bearer_ok("Basic s3cret", "s3cret"));
    ck_assert(!jc_route_bearer_ok("Bearer ", "s3cret"));
}
END_TEST

START_TEST(query_param_finds_the_first_exact_name)
{
    const char *v;
    size_t n;
    ck_assert(jc_route_query_param("timeout_ms=50", "timeout_ms", &v, &n));
    ck_assert_uint_eq(n, 2);
    ck_assert(memcmp(v, "50", 2) == 0);
    ck_assert(jc_route_query_param("x=1&timeout_ms=7&timeout_ms=9", "timeout_ms", &v, &n));
    ck_assert_uint_eq(n, 1);
    ck_assert(v[0] == '7');
    ck_assert(jc_route_query_param("a&timeout_ms", "timeout_ms", &v, &n));
    ck_assert_ptr_null(v);
    ck_assert_uint_eq(n, 0);
    ck_assert(jc_route_query_param("timeout_ms=", "timeout_ms", &v, &n));
    ck_assert_uint_eq(n, 0);
    ck_assert(!jc_route_query_param("xtimeout_ms=1&timeout_msx=2", "timeout_ms", &v, &n));
    ck_assert(!jc_route_query_param("", "timeout_ms", &v, &n));
    ck_assert(!jc_route_query_param(NULL, "timeout_ms", &v, &n));
}
END_TEST

static Suite *route_suite(void)
{
    Suite *s = suite_create("route");
    TCase *paths = tcase_create("paths");
    tcase_add_test(paths, service_routes_are_exact);
    tcase_add_test(paths, value_route_decodes_name_and_key);
    tcase_add_test(paths, encoded_slash_stays_inside_the_key);
    tcase_add_test(paths, more_segments_are_a_bad_path);
    tcase_add_test(paths, bad_keys_keep_the_cache_for_the_unknown_cache_check);
    tcase_add_test(paths, key_length_limits);
    tcase_add_test(paths, cache_name_is_decoded_and_nul_free);
    suite_add_tcase(s, paths);
    TCase *params = tcase_create("parameters");
    tcase_add_test(params, timeout_ms_is_a_non_negative_integer);
    tcase_add_test(params, huge_timeout_saturates);
    tcase_add_test(params, prefer_wait_is_in_seconds);
    tcase_add_test(params, only_if_cached_is_a_directive_not_a_substring);
    tcase_add_test(params, if_none_match_uses_weak_comparison_and_lists);
    tcase_add_test(params, bearer_token_must_match_exactly);
    tcase_add_test(params, query_param_finds_the_first_exact_name);
    suite_add_tcase(s, params);
    return s;
}

JC_TEST_MAIN(route_suite)
