/* tests/config/test_config.c: config/ (SPEC §4) against its contract.
 *
 * A full configuration round-trips every field into struct jc_config and
 * out through jc_config_caches_json; a minimal one gets the defaults; each
 * kind of mistake is reported with its JSON path; ${VAR} substitution works
 * in every string; and the shipped example files load. */
#include "config/config.h"

#include <check.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define UNSET_VAR "JC_TEST_CONFIG_UNSET"

/* One cache that is valid on its own, for wrapping in a top level. */
#define CACHE_A  "{\"name\":\"a\",\"upstream\":{\"url\":\"http://127.0.0.1:9000/{key}\"}}"
#define CACHES_A "\"caches\":[" CACHE_A "]"

static struct jc_config *parse_ok(const char *json)
{
    struct jc_config *cfg = NULL;
    char err[512];
    enum jc_err rc = jc_config_parse(json, &cfg, err, sizeof(err));
    ck_assert_msg(rc == JC_OK, "parse failed: %s\nconfig: %s", err, json);
    ck_assert_ptr_nonnull(cfg);
    return cfg;
}

/* Asserts that json fails with a message starting with want. */
static void expect_error(const char *json, const char *want)
{
    struct jc_config *cfg = NULL;
    char err[512];
    enum jc_err rc = jc_config_parse(json, &cfg, err, sizeof(err));
    ck_assert_msg(rc == JC_ERR_INVALID, "accepted: %s", json);
    ck_assert_ptr_null(cfg);
    ck_assert_msg(strncmp(err, want, strlen(want)) == 0,
                  "message \"%s\" does not start with \"%s\"", err, want);
}

static char *source_path(const char *rel)
{
    const char *dir = getenv("JC_SOURCE_DIR");
    ck_assert_msg(dir != NULL, "JC_SOURCE_DIR is not set");
    size_t n = strlen(dir) + strlen(rel) + 2;
    char *path = malloc(n);
    snprintf(path, n, "%s/%s", dir, rel);
    return path;
}

static struct jc_config *load_ok(const char *rel)
{
    char *path = source_path(rel);
    struct jc_config *cfg = NULL;
    char err[512];
    enum jc_err rc = jc_config_load(path, &cfg, err, sizeof(err));
    ck_assert_msg(rc == JC_OK, "%s: %s", path, err);
    free(path);
    return cfg;
}

START_TEST(full_config_fills_top_level_and_backends)
{
    struct jc_config *cfg = load_ok("tests/config/fixtures/full.json");
    ck_assert_str_eq(cfg->listen_host, "127.0.0.1");
    ck_assert_int_eq(cfg->listen_port, 9090);
    ck_assert_str_eq(cfg->admin_token, "s3cret-admin");
    ck_assert_int_eq(cfg->log_level, JC_LOG_DEBUG);
    ck_assert_str_eq(cfg->store.type, "redis");
    ck_assert_str_eq(cfg->store.url, "redis://:p%40ss@127.0.0.1:6380/3");
    ck_assert_str_eq(cfg->store.password, "p@ss");
    ck_assert_int_eq(cfg->store.db, 3);
    ck_assert_str_eq(cfg->store.prefix, "jc-test");
    ck_assert(!cfg->store.has_sentinel);
    ck_assert_str_eq(cfg->broker.type, "nats");
    ck_assert_uint_eq(cfg->broker.n_urls, 2);
    ck_assert_str_eq(cfg->broker.urls[0], "nats://127.0.0.1:4222");
    ck_assert_str_eq(cfg->broker.urls[1], "tls://10.0.0.2:4223");
    ck_assert_ptr_null(cfg->broker.token);
    ck_assert_str_eq(cfg->broker.user, "bob");
    ck_assert_str_eq(cfg->broker.password, "hunter2");
    ck_assert_str_eq(cfg->broker.subject_prefix, "jc.test");
    ck_assert_ptr_null(cfg->broker.redis);
    jc_config_free(cfg);
}
END_TEST

START_TEST(full_config_fills_every_cache_option)
{
    struct jc_config *cfg = load_ok("tests/config/fixtures/full.json");
    ck_assert_uint_eq(cfg->n_caches, 2);
    const struct jc_cache_config *c = &cfg->caches[0];
    ck_assert_str_eq(c->name, "weather");
    ck_assert_str_eq(c->upstream_url,
                     "https://user:pw@api.example.com/forecast/{key}?units=metric");
    ck_assert_uint_eq(c->upstream_timeout_ms, 10000);
    ck_assert_uint_eq(c->n_upstream_headers, 2);
    ck_assert_str_eq(c->upstream_headers[0].name, "Authorization");
    ck_assert_str_eq(c->upstream_headers[0].value, "Bearer tok-123");
    ck_assert_str_eq(c->upstream_headers[1].name, "X-Api-Key");
    ck_assert_str_eq(c->upstream_headers[1].value, "k-456");
    ck_assert_uint_eq(c->max_body_bytes, 1048576);
    ck_assert_uint_eq(c->n_cache_statuses, 2);
    ck_assert_int_eq(c->cache_statuses[0], 200);
    ck_assert_int_eq(c->cache_statuses[1], 404);
    ck_assert_int_eq(c->expiry_type, JC_EXPIRY_ABSOLUTE);
    ck_assert_uint_eq(c->expiry_ms, 60000);
    ck_assert(c->l1_enabled);
    ck_assert_uint_eq(c->l1_purge_interval_s, 30);
    ck_assert_uint_eq(c->l1_max_entries, 500);
    ck_assert_uint_eq(c->wait_timeout_ms, 5000);
    ck_assert_uint_eq(c->max_wait_timeout_ms, 60000);
    ck_assert_uint_eq(c->lease_grace_ms, 1500);
    ck_assert_uint_eq(c->poll_interval_ms, 250);
    c = &cfg->caches[1];
    ck_assert_str_eq(c->name, "geo_2");
    ck_assert_int_eq(c->expiry_type, JC_EXPIRY_SLIDING);
    ck_assert_uint_eq(c->expiry_ms, 1000);
    jc_config_free(cfg);
}
END_TEST

START_TEST(minimal_config_gets_the_defaults)
{
    struct jc_config *cfg = parse_ok("{" CACHES_A "}");
    ck_assert_str_eq(cfg->listen_host, "0.0.0.0");
    ck_assert_int_eq(cfg->listen_port, 8080);
    ck_assert_str_eq(cfg->admin_token, "");
    ck_assert_int_eq(cfg->log_level, JC_LOG_INFO);
    ck_assert_str_eq(cfg->store.type, "memory");
    ck_assert_str_eq(cfg->broker.type, "local");
    ck_assert_ptr_null(cfg->broker.redis);
    ck_assert_uint_eq(cfg->n_caches, 1);
    const struct jc_cache_config *c = &cfg->caches[0];
    struct jc_cache_config d;
    jc_cache_config_defaults(&d);
    ck_assert_uint_eq(c->upstream_timeout_ms, 30000);
    ck_assert_uint_eq(c->max_body_bytes, 8u * 1024u * 1024u);
    ck_assert_uint_eq(c->n_upstream_headers, 0);
    ck_assert_uint_eq(c->n_cache_statuses, d.n_cache_statuses);
    ck_assert_ptr_ne(c->cache_statuses, d.cache_statuses);
    for (size_t i = 0; i < d.n_cache_statuses; i++) {
        ck_assert_int_eq(c->cache_statuses[i], d.cache_statuses[i]);
    }
    ck_assert_int_eq(c->expiry_type, JC_EXPIRY_NONE);
    ck_assert_uint_eq(c->expiry_ms, 0);
    ck_assert(!c->l1_enabled);
    ck_assert_uint_eq(c->l1_purge_interval_s, d.l1_purge_interval_s);
    ck_assert_uint_eq(c->l1_max_entries, d.l1_max_entries);
    ck_assert_uint_eq(c->wait_timeout_ms, 30000);
    ck_assert_uint_eq(c->max_wait_timeout_ms, 300000);
    ck_assert_uint_eq(c->lease_grace_ms, 2000);
    ck_assert_uint_eq(c->poll_interval_ms, 500);
    jc_config_free(cfg);
}
END_TEST

START_TEST(listen_accepts_ipv6_and_expiry_null)
{
    struct jc_config *cfg =
        parse_ok("{\"listen\":\"[::1]:8081\",\"caches\":[{\"name\":\"a\",\"upstream\":{\"url\":"
                 "\"http://h/{key}\"},\"expiry\":null,\"cache_statuses\":[]}]}");
    ck_assert_str_eq(cfg->listen_host, "::1");
    ck_assert_int_eq(cfg->listen_port, 8081);
    ck_assert_int_eq(cfg->caches[0].expiry_type, JC_EXPIRY_NONE);
    ck_assert_uint_eq(cfg->caches[0].n_cache_statuses, 0);
    jc_config_free(cfg);
}
END_TEST

START_TEST(unknown_keys_name_their_path)
{
    expect_error("{\"bogus\":1," CACHES_A "}", "bogus: unknown key");
    expect_error("{\"store\":{\"type\":\"memory\",\"url\":\"redis://h:1\"}," CACHES_A "}",
                 "store.url: unknown key for store type \"memory\"");
    expect_error("{\"store\":{\"type\":\"redis\",\"url\":\"redis://h:1\",\"bogus\":1},"
                 "\"broker\":{\"type\":\"redis\"}," CACHES_A "}",
                 "store.bogus: unknown key");
    expect_error("{\"caches\":[" CACHE_A ",{\"name\":\"b\",\"upstream\":{\"url\":"
                 "\"http://h/{key}\",\"bogus\":true}}]}",
                 "caches[1].upstream.bogus: unknown key");
    expect_error("{\"broker\":{\"type\":\"local\",\"urls\":[]}," CACHES_A "}",
                 "broker.urls: unknown key for broker type \"local\"");
    expect_error("{\"caches\":[{\"name\":\"a\",\"upstream\":{\"url\":\"http://h/{key}\"},"
                 "\"l1\":{\"enabled\":true,\"size\":1}}]}",
                 "caches[0].l1.size: unknown key");
}
END_TEST

START_TEST(wrong_types_name_their_path)
{
    expect_error("[]", "top level: must be an object");
    expect_error("{\"listen\":8080," CACHES_A "}", "listen: must be a string");
    expect_error("{\"store\":\"memory\"," CACHES_A "}", "store: must be an object");
    expect_error("{\"caches\":{}}", "caches: must be an array");
    expect_error("{\"caches\":[1]}", "caches[0]: must be an object");
    expect_error("{\"caches\":[{\"name\":\"a\",\"upstream\":{\"url\":\"http://h/{key}\","
                 "\"timeout_ms\":\"5000\"}}]}",
                 "caches[0].upstream.timeout_ms: must be an integer from 1 to");
    expect_error("{\"caches\":[{\"name\":\"a\",\"upstream\":{\"url\":\"http://h/{key}\","
                 "\"timeout_ms\":1.5}}]}",
                 "caches[0].upstream.timeout_ms: must be an integer");
    expect_error("{\"caches\":[{\"name\":\"a\",\"upstream\":{\"url\":\"http://h/{key}\"},"
                 "\"wait_timeout_ms\":-1}]}",
                 "caches[0].wait_timeout_ms: must be an integer from 0 to");
    expect_error("{\"caches\":[{\"name\":\"a\",\"upstream\":{\"url\":\"http://h/{key}\"},"
                 "\"l1\":{\"enabled\":\"yes\"}}]}",
                 "caches[0].l1.enabled: must be true or false");
    expect_error("{\"caches\":[{\"name\":\"a\",\"upstream\":{\"url\":\"http://h/{key}\","
                 "\"headers\":{\"X\":1}}}]}",
                 "caches[0].upstream.headers.X: must be a string");
}
END_TEST

START_TEST(bad_values_name_their_path)
{
    expect_error("{\"caches\":[{\"name\":\"a\",\"upstream\":{\"url\":\"http://h/x\"}}]}",
                 "caches[0].upstream.url: must contain {key}");
    expect_error("{\"caches\":[{\"name\":\"a\",\"upstream\":{\"url\":\"ftp://h/{key}\"}}]}",
                 "caches[0].upstream.url: must start with http:// or https://");
    expect_error("{\"caches\":[{\"name\":\"a\",\"upstream\":{\"url\":\"http://{key}.h/\"}}]}",
                 "caches[0].upstream.url: {key} must be in the path");
    expect_error("{\"caches\":[{\"name\":\"a\",\"upstream\":{\"url\":\"http://h/x#{key}\"}}]}",
                 "caches[0].upstream.url: must not contain a #fragment");
    expect_error("{\"listen\":\"localhost\"," CACHES_A "}", "listen: must be host:port");
    expect_error("{\"listen\":\"127.0.0.1:65536\"," CACHES_A "}", "listen: must be host:port");
    expect_error("{\"listen\":\":8080\"," CACHES_A "}", "listen: must be host:port");
    expect_error("{\"log_level\":\"verbose\"," CACHES_A "}", "log_level: must be one of");
    expect_error("{\"caches\":[]}", "caches: must list at least one cache");
    expect_error("{}", "caches: required");
    expect_error("{\"caches\":[{\"name\":\"a b\",\"upstream\":{\"url\":\"http://h/{key}\"}}]}",
                 "caches[0].name: must be 1 to 64");
    expect_error("{\"caches\":[{\"upstream\":{\"url\":\"http://h/{key}\"}}]}",
                 "caches[0].name: required");
    expect_error("{\"caches\":[{\"name\":\"a\",\"upstream\":{\"url\":\"http://h/{key}\"},"
                 "\"cache_statuses\":[200,600]}]}",
                 "caches[0].cache_statuses[1]: must be an integer from 100 to 599");
    expect_error("{\"caches\":[{\"name\":\"a\",\"upstream\":{\"url\":\"http://h/{key}\"},"
                 "\"expiry\":{\"type\":\"forever\",\"time_ms\":1}}]}",
                 "caches[0].expiry.type: must be \"sliding\" or \"absolute\"");
    expect_error("{\"caches\":[{\"name\":\"a\",\"upstream\":{\"url\":\"http://h/{key}\"},"
                 "\"expiry\":{\"type\":\"sliding\",\"time_ms\":0}}]}",
                 "caches[0].expiry.time_ms: must be an integer from 1 to");
    expect_error("{\"caches\":[{\"name\":\"a\",\"upstream\":{\"url\":\"http://h/{key}\"},"
                 "\"poll_interval_ms\":0}]}",
                 "caches[0].poll_interval_ms: must be an integer from 1 to");
    expect_error("{\"caches\":[{\"name\":\"a\",\"upstream\":{\"url\":\"http://h/{key}\","
                 "\"headers\":{\"Bad Header\":\"v\"}}}]}",
                 "caches[0].upstream.headers.Bad Header: is not a valid HTTP header name");
    expect_error("{\"caches\":[{\"name\":\"a\",\"upstream\":{\"url\":\"http://h/{key}\"},"
                 "\"l1\":{\"max_entries\":5}}]}",
                 "caches[0].l1.enabled: required");
}
END_TEST

START_TEST(cross_field_mistakes_name_their_path)
{
    expect_error("{\"caches\":[" CACHE_A "," CACHE_A "]}",
                 "caches[1].name: duplicate cache name \"a\"");
    expect_error("{\"caches\":[{\"name\":\"a\",\"upstream\":{\"url\":\"http://h/{key}\"},"
                 "\"wait_timeout_ms\":5000,\"max_wait_timeout_ms\":4000}]}",
                 "caches[0].max_wait_timeout_ms: must be at least wait_timeout_ms (5000)");
    expect_error("{\"caches\":[{\"name\":\"a\",\"upstream\":{\"url\":\"http://h/{key}\"},"
                 "\"wait_timeout_ms\":400000}]}",
                 "caches[0].wait_timeout_ms: must be at most max_wait_timeout_ms (300000)");
    expect_error("{\"store\":{\"type\":\"memory\"},\"broker\":{\"type\":\"nats\",\"urls\":"
                 "[\"nats://127.0.0.1:4222\"]}," CACHES_A "}",
                 "broker.type: \"nats\" needs the redis store");
    expect_error("{\"broker\":{\"type\":\"redis\"}," CACHES_A "}",
                 "broker.type: \"redis\" needs the redis store");
    expect_error("{\"store\":{\"type\":\"redis\",\"url\":\"redis://h:1\"}," CACHES_A "}",
                 "broker.type: the redis store needs broker type nats or redis");
    expect_error("{\"store\":{\"type\":\"redis\",\"url\":\"redis://h:1\",\"sentinel\":{\"hosts\":"
                 "[\"h:2\"],\"primary_name\":\"p\"}},\"broker\":{\"type\":\"redis\"}," CACHES_A "}",
                 "store.sentinel: give either store.url or store.sentinel, not both");
    expect_error("{\"store\":{\"type\":\"redis\"},\"broker\":{\"type\":\"redis\"}," CACHES_A "}",
                 "store.url: required (or store.sentinel)");
    expect_error("{\"store\":{\"type\":\"redis\",\"url\":\"redis://:a@h:1\",\"password\":\"b\"},"
                 "\"broker\":{\"type\":\"redis\"}," CACHES_A "}",
                 "store.password: also given in store.url");
    expect_error("{\"store\":{\"type\":\"redis\",\"url\":\"redis://h:1\"},\"broker\":{\"type\":"
                 "\"nats\",\"urls\":[\"nats://h:4222\"],\"token\":\"t\",\"user\":\"u\","
                 "\"password\":\"p\"}," CACHES_A "}",
                 "broker.token: give either a token or user and password");
    expect_error("{\"store\":{\"type\":\"redis\",\"url\":\"redis://h:1\"},\"broker\":{\"type\":"
                 "\"nats\",\"urls\":[\"nats://h:4222\"],\"user\":\"u\"}," CACHES_A "}",
                 "broker.password: required with broker.user");
}
END_TEST

START_TEST(backend_values_name_their_path)
{
    expect_error("{\"store\":{\"type\":\"mongo\"}," CACHES_A "}",
                 "store.type: must be one of memory, redis");
    expect_error("{\"store\":{}," CACHES_A "}", "store.type: required");
    expect_error("{\"store\":{\"type\":\"redis\",\"url\":\"http://h:1\"},\"broker\":{\"type\":"
                 "\"redis\"}," CACHES_A "}",
                 "store.url: must look like redis://");
    expect_error("{\"store\":{\"type\":\"redis\",\"url\":\"redis://h:1/x\"},\"broker\":{\"type\":"
                 "\"redis\"}," CACHES_A "}",
                 "store.url: the database after / must be an integer");
    expect_error("{\"store\":{\"type\":\"redis\",\"url\":\"redis://h:0\"},\"broker\":{\"type\":"
                 "\"redis\"}," CACHES_A "}",
                 "store.url: must name host[:port]");
    expect_error("{\"store\":{\"type\":\"redis\",\"sentinel\":{\"hosts\":[\"h:1\",\"h:x\"],"
                 "\"primary_name\":\"p\"}},\"broker\":{\"type\":\"redis\"}," CACHES_A "}",
                 "store.sentinel.hosts[1]: must be host[:port]");
    expect_error("{\"store\":{\"type\":\"redis\",\"sentinel\":{\"hosts\":[\"h:1\"]}},"
                 "\"broker\":{\"type\":\"redis\"}," CACHES_A "}",
                 "store.sentinel.primary_name: required");
    expect_error("{\"store\":{\"type\":\"redis\",\"url\":\"redis://h:1\"},\"broker\":{\"type\":"
                 "\"nats\",\"urls\":[]}," CACHES_A "}",
                 "broker.urls: must hold at least one entry");
    expect_error("{\"store\":{\"type\":\"redis\",\"url\":\"redis://h:1\"},\"broker\":{\"type\":"
                 "\"nats\",\"urls\":[\"http://h:4222\"]}," CACHES_A "}",
                 "broker.urls[0]: must be one URL nats://");
    expect_error("{\"store\":{\"type\":\"redis\",\"url\":\"redis://h:1\"},\"broker\":{\"type\":"
                 "\"redis\",\"prefix\":\"a b\"}," CACHES_A "}",
                 "broker.prefix: must be 1 to 64");
}
END_TEST

START_TEST(redis_url_and_sentinel_are_parsed)
{
    struct jc_config *cfg =
        parse_ok("{\"store\":{\"type\":\"redis\",\"url\":\"redis://default:pw@redis\"},"
                 "\"broker\":{\"type\":\"redis\"}," CACHES_A "}");
    ck_assert_str_eq(cfg->store.url, "redis://default:pw@redis");
    ck_assert_str_eq(cfg->store.password, "pw");
    ck_assert_int_eq(cfg->store.db, 0);
    ck_assert_str_eq(cfg->store.prefix, "jcached");
    ck_assert_ptr_eq(cfg->broker.redis, &cfg->store);
    ck_assert_str_eq(cfg->broker.subject_prefix, "jcached");
    jc_config_free(cfg);

    cfg = parse_ok("{\"store\":{\"type\":\"redis\",\"sentinel\":{\"hosts\":[\"10.0.0.1:26379\","
                   "\"s2\"],\"primary_name\":\"mymaster\",\"password\":\"sp\"},\"password\":"
                   "\"rp\",\"db\":2},\"broker\":{\"type\":\"nats\",\"urls\":[\"nats://n:4222\"],"
                   "\"token\":\"tk\"}," CACHES_A "}");
    ck_assert(cfg->store.has_sentinel);
    ck_assert_ptr_null(cfg->store.url);
    ck_assert_uint_eq(cfg->store.sentinel.n_hosts, 2);
    ck_assert_str_eq(cfg->store.sentinel.hosts[0], "10.0.0.1:26379");
    ck_assert_str_eq(cfg->store.sentinel.hosts[1], "s2");
    ck_assert_str_eq(cfg->store.sentinel.primary_name, "mymaster");
    ck_assert_str_eq(cfg->store.sentinel.password, "sp");
    ck_assert_str_eq(cfg->store.password, "rp");
    ck_assert_int_eq(cfg->store.db, 2);
    ck_assert_str_eq(cfg->broker.token, "tk");
    ck_assert_ptr_null(cfg->broker.user);
    ck_assert_ptr_null(cfg->broker.redis);
    jc_config_free(cfg);
}
END_TEST

START_TEST(syntax_errors_name_file_line_and_column)
{
    expect_error("{\n  \"listen\": ,\n}", "config text: line 2, column");
    expect_error("{\"caches\":[],\"caches\":[]}", "config text: line 1, column");

    char path[128];
    snprintf(path, sizeof(path), "/tmp/jc_test_config_%ld.json", (long)getpid());
    FILE *f = fopen(path, "w");
    ck_assert_ptr_nonnull(f);
    fputs("{\n\n  \"listen\" \"x\"\n}\n", f);
    fclose(f);
    struct jc_config *cfg = NULL;
    char err[512];
    ck_assert_int_eq(jc_config_load(path, &cfg, err, sizeof(err)), JC_ERR_INVALID);
    unlink(path);
    char want[256];
    snprintf(want, sizeof(want), "%s: line 3, column", path);
    ck_assert_msg(strncmp(err, want, strlen(want)) == 0, "got \"%s\"", err);

    ck_assert_int_eq(jc_config_load("/nonexistent/jc.json", &cfg, err, sizeof(err)),
                     JC_ERR_INVALID);
    ck_assert_msg(strstr(err, "/nonexistent/jc.json: cannot open") == err, "got \"%s\"", err);
}
END_TEST

START_TEST(unset_variable_is_named_with_its_path)
{
    unsetenv(UNSET_VAR);
    expect_error("{\"admin_token\":\"${" UNSET_VAR "}\"," CACHES_A "}",
                 "admin_token: environment variable " UNSET_VAR " is not set");
    expect_error("{\"caches\":[{\"name\":\"a\",\"upstream\":{\"url\":\"http://h/{key}\","
                 "\"headers\":{\"Authorization\":\"Bearer ${" UNSET_VAR "}\"}}}]}",
                 "caches[0].upstream.headers.Authorization: environment variable " UNSET_VAR
                 " is not set");
    expect_error("{\"admin_token\":\"${" UNSET_VAR "\"," CACHES_A "}",
                 "admin_token: bad \"${" UNSET_VAR "\"");
    expect_error("{\"admin_token\":\"${1X}\"," CACHES_A "}", "admin_token: bad \"${\"");
}
END_TEST

START_TEST(variable_defaults_apply_when_unset_or_empty)
{
    unsetenv(UNSET_VAR);
    setenv("JC_TEST_CONFIG_EMPTY", "", 1);
    struct jc_config *cfg = parse_ok(
        "{\"admin_token\":\"${" UNSET_VAR ":-fallback}\",\"log_level\":\"${JC_TEST_CONFIG_EMPTY:-"
        "warn}\",\"store\":{\"type\":\"redis\",\"url\":\"redis://h:1\",\"password\":\"${" UNSET_VAR
        ":-}\"},\"broker\":{\"type\":\"redis\"},\"caches\":[{\"name\":\"a\",\"upstream\":{\"url\":"
        "\"${" UNSET_VAR ":-http://h:1/x/{key}}\"}}]}");
    ck_assert_str_eq(cfg->admin_token, "fallback");
    ck_assert_int_eq(cfg->log_level, JC_LOG_WARN);
    ck_assert_ptr_null(cfg->store.password);
    ck_assert_str_eq(cfg->caches[0].upstream_url, "http://h:1/x/{key}");
    jc_config_free(cfg);
}
END_TEST

START_TEST(variables_substitute_inside_strings)
{
    unsetenv(UNSET_VAR);
    setenv("JC_TEST_CONFIG_TOKEN", "abc", 1);
    setenv("JC_TEST_CONFIG_PORT", "8181", 1);
    struct jc_config *cfg = parse_ok(
        "{\"listen\":\"127.0.0.1:${JC_TEST_CONFIG_PORT}\",\"admin_token\":\"${" UNSET_VAR
        ":-${JC_TEST_CONFIG_TOKEN}}\",\"caches\":[{\"name\":\"a\",\"upstream\":{\"url\":"
        "\"http://h/{key}?p=$HOME&q=${JC_TEST_CONFIG_TOKEN:-z}\",\"headers\":{\"Authorization\":"
        "\"Bearer ${JC_TEST_CONFIG_TOKEN}!\",\"X-Empty\":\"Bearer ${" UNSET_VAR ":-}\"}}}]}");
    ck_assert_int_eq(cfg->listen_port, 8181);
    ck_assert_str_eq(cfg->admin_token, "abc");
    ck_assert_str_eq(cfg->caches[0].upstream_url, "http://h/{key}?p=$HOME&q=abc");
    ck_assert_str_eq(cfg->caches[0].upstream_headers[0].value, "Bearer abc!");
    ck_assert_str_eq(cfg->caches[0].upstream_headers[1].value, "Bearer ");
    jc_config_free(cfg);

    setenv("JC_TEST_CONFIG_PORT", "x", 1);
    expect_error("{\"listen\":\"127.0.0.1:${JC_TEST_CONFIG_PORT}\"," CACHES_A "}",
                 "listen: must be host:port");
}
END_TEST

START_TEST(example_file_loads)
{
    unsetenv("JCACHED_ADMIN_TOKEN");
    struct jc_config *cfg = load_ok("config/jcached.example.json");
    ck_assert_str_eq(cfg->listen_host, "127.0.0.1");
    ck_assert_int_eq(cfg->listen_port, 8080);
    ck_assert_str_eq(cfg->admin_token, "");
    ck_assert_str_eq(cfg->store.type, "memory");
    ck_assert_str_eq(cfg->broker.type, "local");
    ck_assert_uint_eq(cfg->n_caches, 1);
    const struct jc_cache_config *c = &cfg->caches[0];
    ck_assert_str_eq(c->name, "demo");
    ck_assert_str_eq(c->upstream_url, "http://127.0.0.1:9000/slow/{key}?delay_ms=2000");
    ck_assert_int_eq(c->expiry_type, JC_EXPIRY_SLIDING);
    ck_assert_uint_eq(c->expiry_ms, 60000);
    ck_assert(c->l1_enabled);
    jc_config_free(cfg);
}
END_TEST

START_TEST(deployment_examples_load)
{
    setenv("JCACHED_ADMIN_TOKEN", "adm", 1);
    setenv("REDIS_PASSWORD", "rpw", 1);
    setenv("NATS_TOKEN", "ntk", 1);
    setenv("SENTINEL_PASSWORD", "", 1);
    struct jc_config *cfg = load_ok("examples/redis-nats.json");
    ck_assert_str_eq(cfg->store.type, "redis");
    ck_assert_str_eq(cfg->store.password, "rpw");
    ck_assert_str_eq(cfg->broker.type, "nats");
    ck_assert_str_eq(cfg->broker.token, "ntk");
    ck_assert_str_eq(cfg->admin_token, "adm");
    jc_config_free(cfg);

    cfg = load_ok("examples/redis-pubsub.json");
    ck_assert_str_eq(cfg->broker.type, "redis");
    ck_assert_ptr_eq(cfg->broker.redis, &cfg->store);
    jc_config_free(cfg);

    cfg = load_ok("examples/sentinel-nats.json");
    ck_assert(cfg->store.has_sentinel);
    ck_assert_uint_eq(cfg->store.sentinel.n_hosts, 3);
    ck_assert_ptr_null(cfg->store.sentinel.password);
    ck_assert_str_eq(cfg->store.sentinel.primary_name, "primary");
    jc_config_free(cfg);

    unsetenv("NATS_TOKEN");
    char *path = source_path("examples/redis-nats.json");
    char err[512];
    ck_assert_int_eq(jc_config_load(path, &cfg, err, sizeof(err)), JC_ERR_INVALID);
    ck_assert_str_eq(err, "broker.token: environment variable NATS_TOKEN is not set (write "
                          "${NATS_TOKEN:-} to allow that)");
    free(path);
}
END_TEST

START_TEST(caches_json_lists_settings_without_secrets)
{
    struct jc_config *cfg = load_ok("tests/config/fixtures/full.json");
    char *text = jc_config_caches_json(cfg);
    const char *secrets[] = {"tok-123", "k-456",   "s3cret-admin", "p@ss",
                             "p%40ss",  "hunter2", ":pw@",         "bob"};
    for (size_t i = 0; i < sizeof(secrets) / sizeof(secrets[0]); i++) {
        ck_assert_msg(strstr(text, secrets[i]) == NULL, "%s leaks into %s", secrets[i], text);
    }
    json_error_t je;
    json_t *root = json_loads(text, 0, &je);
    ck_assert_ptr_nonnull(root);
    json_t *c0 = json_array_get(json_object_get(root, "caches"), 0);
    json_t *c1 = json_array_get(json_object_get(root, "caches"), 1);
    json_t *up = json_object_get(c0, "upstream");
    ck_assert_str_eq(json_string_value(json_object_get(c0, "name")), "weather");
    ck_assert_str_eq(json_string_value(json_object_get(up, "url")),
                     "https://api.example.com/forecast/{key}?units=metric");
    ck_assert_int_eq(json_integer_value(json_object_get(up, "timeout_ms")), 10000);
    ck_assert_int_eq(json_integer_value(json_object_get(up, "max_body_bytes")), 1048576);
    json_t *headers = json_object_get(up, "headers");
    ck_assert_uint_eq(json_array_size(headers), 2);
    ck_assert_str_eq(json_string_value(json_array_get(headers, 0)), "Authorization");
    ck_assert_str_eq(json_string_value(json_array_get(headers, 1)), "X-Api-Key");
    ck_assert_int_eq(json_integer_value(json_array_get(json_object_get(c0, "cache_statuses"), 1)),
                     404);
    json_t *expiry = json_object_get(c0, "expiry");
    ck_assert_str_eq(json_string_value(json_object_get(expiry, "type")), "absolute");
    ck_assert_int_eq(json_integer_value(json_object_get(expiry, "time_ms")), 60000);
    json_t *l1 = json_object_get(c0, "l1");
    ck_assert(json_is_true(json_object_get(l1, "enabled")));
    ck_assert_int_eq(json_integer_value(json_object_get(l1, "purge_interval_s")), 30);
    ck_assert_int_eq(json_integer_value(json_object_get(l1, "max_entries")), 500);
    ck_assert_int_eq(json_integer_value(json_object_get(c0, "wait_timeout_ms")), 5000);
    ck_assert_int_eq(json_integer_value(json_object_get(c0, "max_wait_timeout_ms")), 60000);
    ck_assert_int_eq(json_integer_value(json_object_get(c0, "lease_grace_ms")), 1500);
    ck_assert_int_eq(json_integer_value(json_object_get(c0, "poll_interval_ms")), 250);
    ck_assert_str_eq(json_string_value(json_object_get(json_object_get(c1, "expiry"), "type")),
                     "sliding");
    json_decref(root);
    free(text);
    jc_config_free(cfg);

    cfg = parse_ok("{" CACHES_A "}");
    text = jc_config_caches_json(cfg);
    root = json_loads(text, 0, &je);
    c0 = json_array_get(json_object_get(root, "caches"), 0);
    ck_assert(json_is_null(json_object_get(c0, "expiry")));
    ck_assert_uint_eq(json_array_size(json_object_get(json_object_get(c0, "upstream"), "headers")),
                      0);
    json_decref(root);
    free(text);
    jc_config_free(cfg);
}
END_TEST

static Suite *config_suite(void)
{
    Suite *s = suite_create("config");
    TCase *tc = tcase_create("valid");
    tcase_add_test(tc, full_config_fills_top_level_and_backends);
    tcase_add_test(tc, full_config_fills_every_cache_option);
    tcase_add_test(tc, minimal_config_gets_the_defaults);
    tcase_add_test(tc, listen_accepts_ipv6_and_expiry_null);
    tcase_add_test(tc, redis_url_and_sentinel_are_parsed);
    suite_add_tcase(s, tc);
    tc = tcase_create("errors");
    tcase_add_test(tc, unknown_keys_name_their_path);
    tcase_add_test(tc, wrong_types_name_their_path);
    tcase_add_test(tc, bad_values_name_their_path);
    tcase_add_test(tc, cross_field_mistakes_name_their_path);
    tcase_add_test(tc, backend_values_name_their_path);
    tcase_add_test(tc, syntax_errors_name_file_line_and_column);
    suite_add_tcase(s, tc);
    tc = tcase_create("env");
    tcase_add_test(tc, unset_variable_is_named_with_its_path);
    tcase_add_test(tc, variable_defaults_apply_when_unset_or_empty);
    tcase_add_test(tc, variables_substitute_inside_strings);
    suite_add_tcase(s, tc);
    tc = tcase_create("files");
    tcase_add_test(tc, example_file_loads);
    tcase_add_test(tc, deployment_examples_load);
    suite_add_tcase(s, tc);
    tc = tcase_create("describe");
    tcase_add_test(tc, caches_json_lists_settings_without_secrets);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(config_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
