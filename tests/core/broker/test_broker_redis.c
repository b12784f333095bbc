/* tests/core/broker/test_broker_redis.c: the Redis pub/sub broker
 * (core/broker/redis.c) against a real redis-server: password, hostile keys
 * and cache names, malformed traffic and prefixes.  What every broker must
 * do (losing and regaining its server included) is in
 * test_broker_contract.c; this file holds what only Redis pub/sub has. */
#include "core/broker/broker.h"

#include <check.h>
#include <hiredis/hiredis.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/loop.h"
#include "core/mem.h"
#include "core/store/store.h"
#include "tests/support/seen_events.h"
#include "tests/support/servers.h"

#define PASSWORD "s3cret-pass"

/* A server, a loop and broker and store configs whose strings the fixture
 * owns (the config structs have plain char pointers). */
struct fixture {
    struct jc_test_server server;
    struct jc_loop *loop;
    char url[128];
    char type[8];
    char prefix[32];
    char password[32];
    struct jc_store_config store;
    struct jc_broker_config cfg;
};

static void fixture_init(struct fixture *f, const char *password)
{
    memset(f, 0, sizeof(*f));
    ck_assert_int_eq(jc_test_redis_start(&f->server, password), 0);
    f->loop = jc_loop_new();
    jc_test_redis_url(&f->server, f->url, sizeof(f->url));
    snprintf(f->type, sizeof(f->type), "redis");
    f->store.type = f->type;
    f->store.url = f->url;
    f->cfg.type = f->type;
    f->cfg.redis = &f->store;
}

static void fixture_done(struct fixture *f)
{
    jc_loop_free(f->loop);
    jc_test_server_stop(&f->server);
}

/* Runs the loop until the broker's readiness equals want (or timeout_ms). */
static bool wait_ready(struct jc_loop *loop, struct jc_broker *b, bool want, int timeout_ms)
{
    for (int waited = 0; waited < timeout_ms; waited += 20) {
        if (jc_broker_is_ready(b) == want) {
            return true;
        }
        jc_test_loop_for(loop, 20);
    }
    return jc_broker_is_ready(b) == want;
}

/* Opens a broker and waits until it is connected and subscribed. */
static struct jc_broker *open_broker(struct fixture *f, struct seen *s)
{
    struct jc_broker *b = NULL;
    ck_assert_int_eq(jc_broker_open(f->loop, &f->cfg, jc_test_seen_record, s, &b), JC_OK);
    ck_assert_ptr_nonnull(b);
    ck_assert(wait_ready(f->loop, b, true, 3000));
    return b;
}

static struct jc_event done_event(const char *key, size_t key_len, uint64_t token,
                                  const char *origin)
{
    struct jc_event ev = {.kind = JC_EVENT_DONE,
                          .cache = "weather",
                          .key = key,
                          .key_len = key_len,
                          .token = token,
                          .ok = true,
                          .origin = origin};
    return ev;
}

START_TEST(opens_ready_with_the_right_password)
{
    struct fixture f;
    struct seen s = {0};
    fixture_init(&f, PASSWORD);
    /* In the url (as jc_test_redis_url writes it)... */
    struct jc_broker *b = open_broker(&f, &s);
    ck_assert_str_eq(jc_broker_name(b), "redis");
    jc_broker_close(b);
    /* ...or as the store's password setting. */
    snprintf(f.url, sizeof(f.url), "redis://127.0.0.1:%d", f.server.port);
    snprintf(f.password, sizeof(f.password), "%s", PASSWORD);
    f.store.password = f.password;
    b = open_broker(&f, &s);
    jc_broker_close(b);
    fixture_done(&f);
}
END_TEST

START_TEST(wrong_password_opens_but_is_never_ready)
{
    struct fixture f;
    struct seen s = {0};
    fixture_init(&f, PASSWORD);
    snprintf(f.url, sizeof(f.url), "redis://:wrong@127.0.0.1:%d", f.server.port);
    struct jc_broker *b = NULL;
    ck_assert_int_eq(jc_broker_open(f.loop, &f.cfg, jc_test_seen_record, &s, &b), JC_OK);
    jc_test_loop_for(f.loop, 500);
    ck_assert(!jc_broker_is_ready(b));
    struct jc_event ev = done_event("k", 1, 1, "a");
    ck_assert_int_eq(jc_broker_publish(b, &ev), JC_ERR_BROKER);
    jc_broker_close(b);
    fixture_done(&f);
}
END_TEST

START_TEST(missing_store_settings_are_invalid)
{
    struct fixture f;
    struct seen s = {0};
    fixture_init(&f, NULL);
    f.cfg.redis = NULL;
    struct jc_broker *b = NULL;
    ck_assert_int_eq(jc_broker_open(f.loop, &f.cfg, jc_test_seen_record, &s, &b), JC_ERR_INVALID);
    fixture_done(&f);
}
END_TEST

START_TEST(hostile_keys_and_cache_names_arrive_byte_for_byte)
{
    char long_key[1024];
    for (size_t i = 0; i < sizeof(long_key); i++) {
        long_key[i] = (char)(i * 7 + 3);
    }
    const char *keys[] = {"a:b:c", "*", "?[x]", "a b\tc", "x\0y", "\xff\xfe", "\\", long_key, ""};
    const size_t lens[] = {5, 1, 4, 5, 3, 2, 1, sizeof(long_key), 0};
    const size_t n = sizeof(lens) / sizeof(lens[0]);
    struct fixture f;
    struct seen sa = {0}, sb = {0};
    fixture_init(&f, NULL);
    struct jc_broker *a = open_broker(&f, &sa);
    struct jc_broker *b = open_broker(&f, &sb);
    for (size_t i = 0; i < n; i++) {
        struct jc_event ev = done_event(keys[i], lens[i], i + 1, "a");
        ev.cache = i % 2 == 0 ? "weather" : "odd:cache *name?";
        ck_assert_int_eq(jc_broker_publish(a, &ev), JC_OK);
    }
    jc_test_seen_expect(&sa, n);
    jc_test_seen_expect(&sb, n);
    ck_assert(jc_test_loop_until(f.loop, &sa.done, 3000));
    ck_assert(jc_test_loop_until(f.loop, &sb.done, 3000));
    for (size_t i = 0; i < n; i++) {
        /* One publisher on one connection: Redis keeps the order. */
        ck_assert_uint_eq(sb.ev[i].token, i + 1);
        ck_assert_uint_eq(sb.ev[i].key_len, lens[i]);
        ck_assert_mem_eq(sb.ev[i].key, keys[i], lens[i]);
        ck_assert_str_eq(sb.ev[i].cache, i % 2 == 0 ? "weather" : "odd:cache *name?");
    }
    jc_broker_close(a);
    jc_broker_close(b);
    fixture_done(&f);
}
END_TEST

/* Runs one command with a plain hiredis connection, as a foreign client would. */
static void redis_raw(struct fixture *f, const char *channel, const char *data, size_t len)
{
    redisContext *c = redisConnect("127.0.0.1", f->server.port);
    ck_assert(c != NULL && c->err == 0);
    redisReply *r = redisCommand(c, "PUBLISH %s %b", channel, data, len);
    ck_assert_ptr_nonnull(r);
    freeReplyObject(r);
    redisFree(c);
}

START_TEST(malformed_messages_are_dropped_and_later_events_still_arrive)
{
    struct fixture f;
    struct seen s = {0};
    fixture_init(&f, NULL);
    struct jc_broker *b = open_broker(&f, &s);
    redis_raw(&f, "jcached:ev:weather", "garbage", 7);
    redis_raw(&f, "jcached:ev:weather", "", 0);
    struct jc_event ev = done_event("london", 6, 5, "a");
    ck_assert_int_eq(jc_broker_publish(b, &ev), JC_OK);
    jc_test_seen_expect(&s, 1);
    ck_assert(jc_test_loop_until(f.loop, &s.done, 3000));
    jc_test_loop_for(f.loop, 100);
    ck_assert_uint_eq(s.count, 1);
    ck_assert_uint_eq(s.ev[0].token, 5);
    jc_broker_close(b);
    fixture_done(&f);
}
END_TEST

START_TEST(prefix_separates_deployments_even_with_glob_characters)
{
    struct fixture f;
    struct seen s_star = {0}, s_plain = {0};
    fixture_init(&f, NULL);
    snprintf(f.prefix, sizeof(f.prefix), "j*");
    f.cfg.subject_prefix = f.prefix;
    struct jc_broker *star = open_broker(&f, &s_star);
    snprintf(f.prefix, sizeof(f.prefix), "jcached");
    struct jc_broker *plain = open_broker(&f, &s_plain);
    /* "j*" must not match "jcached:ev:..." as a pattern would. */
    struct jc_event ev = done_event("k", 1, 9, "x");
    ck_assert_int_eq(jc_broker_publish(plain, &ev), JC_OK);
    jc_test_seen_expect(&s_plain, 1);
    ck_assert(jc_test_loop_until(f.loop, &s_plain.done, 3000));
    ev.token = 10;
    ck_assert_int_eq(jc_broker_publish(star, &ev), JC_OK);
    jc_test_seen_expect(&s_star, 1);
    ck_assert(jc_test_loop_until(f.loop, &s_star.done, 3000));
    jc_test_loop_for(f.loop, 100);
    ck_assert_uint_eq(s_plain.count, 1);
    ck_assert_uint_eq(s_star.count, 1);
    ck_assert_uint_eq(s_star.ev[0].token, 10);
    jc_broker_close(star);
    jc_broker_close(plain);
    fixture_done(&f);
}
END_TEST

START_TEST(close_with_undelivered_events_is_clean)
{
    struct fixture f;
    struct seen s = {0};
    fixture_init(&f, NULL);
    struct jc_broker *b = open_broker(&f, &s);
    struct jc_event ev = done_event("k", 1, 4, "a");
    for (int i = 0; i < 20; i++) {
        ck_assert_int_eq(jc_broker_publish(b, &ev), JC_OK);
    }
    jc_broker_close(b);
    jc_test_loop_for(f.loop, 50);
    ck_assert_uint_eq(s.count, 0);
    fixture_done(&f);
}
END_TEST

static Suite *broker_redis_suite(void)
{
    Suite *s = suite_create("broker_redis");
    TCase *tc = tcase_create("auth");
    tcase_add_test(tc, opens_ready_with_the_right_password);
    tcase_add_test(tc, wrong_password_opens_but_is_never_ready);
    tcase_add_test(tc, missing_store_settings_are_invalid);
    suite_add_tcase(s, tc);
    tc = tcase_create("delivery");
    tcase_add_test(tc, hostile_keys_and_cache_names_arrive_byte_for_byte);
    tcase_add_test(tc, malformed_messages_are_dropped_and_later_events_still_arrive);
    tcase_add_test(tc, prefix_separates_deployments_even_with_glob_characters);
    tcase_add_test(tc, close_with_undelivered_events_is_clean);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(broker_redis_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
