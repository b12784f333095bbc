/* tests/core/broker/test_broker_nats.c: the NATS broker (core/broker/nats.c)
 * against a real nats-server: authentication, hostile keys on subjects,
 * malformed traffic and subject prefixes.  What every broker must do
 * (losing and regaining its server included) is in test_broker_contract.c;
 * this file holds what only NATS has (tokens, users, subjects). */
#include "core/broker/broker.h"

#include <check.h>
#include <nats/nats.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/loop.h"
#include "core/mem.h"
#include "tests/support/seen_events.h"
#include "tests/support/servers.h"

#define TOKEN "s3cret-token"

/* A server, a loop and a broker config whose strings the fixture owns (the
 * config struct has plain char pointers). */
struct fixture {
    struct jc_test_server server;
    struct jc_loop *loop;
    char url[64];
    char *urls[1];
    char type[8];
    char token[64];
    char user[32];
    char password[32];
    char prefix[32];
    struct jc_broker_config cfg;
};

static void fixture_config(struct fixture *f)
{
    f->loop = jc_loop_new();
    jc_test_nats_url(&f->server, f->url, sizeof(f->url));
    f->urls[0] = f->url;
    snprintf(f->type, sizeof(f->type), "nats");
    f->cfg.type = f->type;
    f->cfg.urls = f->urls;
    f->cfg.n_urls = 1;
}

static void fixture_init(struct fixture *f, const char *token)
{
    memset(f, 0, sizeof(*f));
    ck_assert_int_eq(jc_test_nats_start(&f->server, token), 0);
    fixture_config(f);
    snprintf(f->token, sizeof(f->token), "%s", token);
    f->cfg.token = f->token;
}

static void fixture_done(struct fixture *f)
{
    jc_loop_free(f->loop);
    jc_test_server_stop(&f->server);
}

static struct jc_broker *open_broker(struct fixture *f, struct seen *s)
{
    struct jc_broker *b = NULL;
    ck_assert_int_eq(jc_broker_open(f->loop, &f->cfg, jc_test_seen_record, s, &b), JC_OK);
    ck_assert_ptr_nonnull(b);
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

START_TEST(opens_ready_with_the_right_token)
{
    struct fixture f;
    struct seen s = {0};
    fixture_init(&f, TOKEN);
    struct jc_broker *b = open_broker(&f, &s);
    ck_assert_str_eq(jc_broker_name(b), "nats");
    ck_assert(jc_broker_is_ready(b));
    jc_broker_close(b);
    fixture_done(&f);
}
END_TEST

START_TEST(wrong_token_opens_but_is_never_ready)
{
    struct fixture f;
    struct seen s = {0};
    fixture_init(&f, TOKEN);
    snprintf(f.token, sizeof(f.token), "wrong");
    struct jc_broker *b = open_broker(&f, &s);
    jc_test_loop_for(f.loop, 600);
    ck_assert(!jc_broker_is_ready(b));
    struct jc_event ev = done_event("k", 1, 1, "a");
    ck_assert_int_eq(jc_broker_publish(b, &ev), JC_ERR_BROKER);
    jc_broker_close(b);
    fixture_done(&f);
}
END_TEST

START_TEST(user_and_password_authenticate)
{
    struct fixture f;
    struct seen s = {0};
    memset(&f, 0, sizeof(f));
    ck_assert_int_eq(jc_test_nats_start_userpass(&f.server, "jc", "pw"), 0);
    fixture_config(&f);
    snprintf(f.user, sizeof(f.user), "jc");
    snprintf(f.password, sizeof(f.password), "pw");
    f.cfg.user = f.user;
    f.cfg.password = f.password;
    struct jc_broker *b = open_broker(&f, &s);
    ck_assert(jc_broker_is_ready(b));
    jc_broker_close(b);
    snprintf(f.password, sizeof(f.password), "nope");
    b = open_broker(&f, &s);
    jc_test_loop_for(f.loop, 300);
    ck_assert(!jc_broker_is_ready(b));
    jc_broker_close(b);
    fixture_done(&f);
}
END_TEST

START_TEST(hostile_keys_arrive_byte_for_byte)
{
    static const char long_key_fill = '.';
    char long_key[1024];
    memset(long_key, long_key_fill, sizeof(long_key));
    const char *keys[] = {"a.b.c", "*", ">", "a b\tc", "x\0y", "\xff\xfe", "~", long_key, ""};
    const size_t lens[] = {5, 1, 1, 5, 3, 2, 1, sizeof(long_key), 0};
    const size_t n = sizeof(lens) / sizeof(lens[0]);
    struct fixture f;
    struct seen sa = {0}, sb = {0};
    fixture_init(&f, TOKEN);
    struct jc_broker *a = open_broker(&f, &sa);
    struct jc_broker *b = open_broker(&f, &sb);
    for (size_t i = 0; i < n; i++) {
        struct jc_event ev = done_event(keys[i], lens[i], i + 1, "a");
        ev.cache = i % 2 == 0 ? "weather" : "odd.cache *name>";
        ck_assert_int_eq(jc_broker_publish(a, &ev), JC_OK);
    }
    jc_test_seen_expect(&sa, n);
    jc_test_seen_expect(&sb, n);
    ck_assert(jc_test_loop_until(f.loop, &sa.done, 3000));
    ck_assert(jc_test_loop_until(f.loop, &sb.done, 3000));
    for (size_t i = 0; i < n; i++) {
        /* One publisher on one connection: NATS keeps the order. */
        ck_assert_uint_eq(sb.ev[i].token, i + 1);
        ck_assert_uint_eq(sb.ev[i].key_len, lens[i]);
        ck_assert_mem_eq(sb.ev[i].key, keys[i], lens[i]);
        ck_assert_str_eq(sb.ev[i].cache, i % 2 == 0 ? "weather" : "odd.cache *name>");
    }
    jc_broker_close(a);
    jc_broker_close(b);
    fixture_done(&f);
}
END_TEST

/* Publishes raw bytes with a plain nats.c connection, as a foreign client would. */
static void publish_raw(struct fixture *f, const char *subject, const void *data, int len)
{
    natsOptions *opts = NULL;
    natsConnection *nc = NULL;
    ck_assert_int_eq(natsOptions_Create(&opts), NATS_OK);
    ck_assert_int_eq(natsOptions_SetURL(opts, f->url), NATS_OK);
    ck_assert_int_eq(natsOptions_SetToken(opts, TOKEN), NATS_OK);
    ck_assert_int_eq(natsConnection_Connect(&nc, opts), NATS_OK);
    ck_assert_int_eq(natsConnection_Publish(nc, subject, data, len), NATS_OK);
    ck_assert_int_eq(natsConnection_Flush(nc), NATS_OK);
    natsConnection_Destroy(nc);
    natsOptions_Destroy(opts);
}

START_TEST(malformed_messages_are_dropped_and_later_events_still_arrive)
{
    struct fixture f;
    struct seen s = {0};
    fixture_init(&f, TOKEN);
    struct jc_broker *b = open_broker(&f, &s);
    publish_raw(&f, "jcached.ev.weather.london", "garbage", 7);
    publish_raw(&f, "jcached.ev.weather.london", "", 0);
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

START_TEST(subject_prefix_separates_deployments_and_bad_settings_fail)
{
    struct fixture f;
    struct seen s_default = {0}, s_other = {0};
    fixture_init(&f, TOKEN);
    struct jc_broker *a = open_broker(&f, &s_default);
    snprintf(f.prefix, sizeof(f.prefix), "staging.jc");
    f.cfg.subject_prefix = f.prefix;
    struct jc_broker *b = open_broker(&f, &s_other);
    struct jc_event ev = done_event("k", 1, 9, "x");
    ck_assert_int_eq(jc_broker_publish(b, &ev), JC_OK);
    jc_test_seen_expect(&s_other, 1);
    ck_assert(jc_test_loop_until(f.loop, &s_other.done, 3000));
    jc_test_loop_for(f.loop, 100);
    ck_assert_uint_eq(s_default.count, 0);
    snprintf(f.prefix, sizeof(f.prefix), "bad*prefix");
    struct jc_broker *c = NULL;
    ck_assert_int_eq(jc_broker_open(f.loop, &f.cfg, jc_test_seen_record, &s_other, &c),
                     JC_ERR_INVALID);
    snprintf(f.prefix, sizeof(f.prefix), "jcached");
    snprintf(f.url, sizeof(f.url), "nats://127.0.0.1:notaport");
    ck_assert_int_eq(jc_broker_open(f.loop, &f.cfg, jc_test_seen_record, &s_other, &c),
                     JC_ERR_INVALID);
    jc_broker_close(a);
    jc_broker_close(b);
    fixture_done(&f);
}
END_TEST

START_TEST(close_with_undelivered_events_frees_them)
{
    struct fixture f;
    struct seen s = {0};
    fixture_init(&f, TOKEN);
    struct jc_broker *b = open_broker(&f, &s);
    struct jc_event ev = done_event("k", 1, 4, "a");
    for (int i = 0; i < 20; i++) {
        ck_assert_int_eq(jc_broker_publish(b, &ev), JC_OK);
    }
    jc_broker_close(b);
    ck_assert_uint_eq(s.count, 0);
    fixture_done(&f);
}
END_TEST

static Suite *broker_nats_suite(void)
{
    Suite *s = suite_create("broker_nats");
    TCase *tc = tcase_create("auth");
    tcase_add_test(tc, opens_ready_with_the_right_token);
    tcase_add_test(tc, wrong_token_opens_but_is_never_ready);
    tcase_add_test(tc, user_and_password_authenticate);
    suite_add_tcase(s, tc);
    tc = tcase_create("delivery");
    tcase_add_test(tc, hostile_keys_arrive_byte_for_byte);
    tcase_add_test(tc, malformed_messages_are_dropped_and_later_events_still_arrive);
    tcase_add_test(tc, subject_prefix_separates_deployments_and_bad_settings_fail);
    tcase_add_test(tc, close_with_undelivered_events_frees_them);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(broker_nats_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
