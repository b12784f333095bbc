/* tests/core/test_redis_client.c: the shared Redis connection against real
 * redis-server and redis-sentinel processes on loopback (tests/support).
 *
 * Each test starts its own servers.  The checks go around the client, with
 * a plain blocking hiredis connection, to see where the client's writes
 * really landed (which db, which server after a failover). */
#include "core/redis_client.h"

#include <check.h>
#include <hiredis/hiredis.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "core/loop.h"
#include "core/store/store.h"
#include "tests/support/jc_test.h"
#include "tests/support/servers.h"

struct state_log {
    bool up;
    int ups;
    int downs;
};

struct result {
    bool done;
    bool in_call; /* set while the call that takes the callback runs */
    bool early;   /* the callback ran before the call returned */
    enum jc_err err;
    int type;
    long long integer;
    char str[256];
    size_t elements;
    char el0[64];
};

static void on_state(void *arg, bool connected)
{
    struct state_log *s = arg;
    s->up = connected;
    if (connected) {
        s->ups++;
    } else {
        s->downs++;
    }
}

static void on_reply(void *arg, enum jc_err err, struct redisReply *r)
{
    struct result *res = arg;
    ck_assert(!res->done);
    res->early = res->in_call;
    res->done = true;
    res->err = err;
    if (r == NULL) {
        return;
    }
    res->type = r->type;
    res->integer = r->integer;
    if (r->str != NULL) {
        snprintf(res->str, sizeof(res->str), "%.*s", (int)r->len, r->str);
    }
    res->elements = r->elements;
    if (r->type == REDIS_REPLY_ARRAY && r->elements > 0 && r->element[0]->str != NULL) {
        snprintf(res->el0, sizeof(res->el0), "%s", r->element[0]->str);
    }
}

/* Sends argv (NUL-terminated strings) and runs the loop until the reply. */
static struct result run_cmd(struct jc_loop *loop, struct jc_redis_client *c, int argc,
                             const char **argv)
{
    struct result res = {0};
    res.in_call = true;
    ck_assert_int_eq(jc_redis_client_command(c, on_reply, &res, argc, argv, NULL), JC_OK);
    res.in_call = false;
    ck_assert(jc_test_loop_until(loop, &res.done, 5000));
    ck_assert(!res.early);
    return res;
}

static struct result run_eval(struct jc_loop *loop, struct jc_redis_client *c, const char *script,
                              int nkeys, int argc, const char **argv)
{
    struct result res = {0};
    res.in_call = true;
    ck_assert_int_eq(jc_redis_client_eval(c, script, on_reply, &res, nkeys, argc, argv, NULL),
                     JC_OK);
    res.in_call = false;
    ck_assert(jc_test_loop_until(loop, &res.done, 5000));
    ck_assert(!res.early);
    return res;
}

/* A blocking connection to 127.0.0.1:port for checks from outside. */
static redisContext *direct(int port, const char *password)
{
    struct timeval tv = {2, 0};
    redisContext *ctx = redisConnectWithTimeout("127.0.0.1", port, tv);
    ck_assert(ctx != NULL && ctx->err == 0);
    if (password != NULL) {
        redisReply *r = redisCommand(ctx, "AUTH %s", password);
        ck_assert(r != NULL && r->type == REDIS_REPLY_STATUS);
        freeReplyObject(r);
    }
    return ctx;
}

/* Mutable strings for the config structs (their fields are char *). */
static char s_redis[] = "redis";
static char s_right[] = "right";
static char s_pw[] = "pw";
static char s_spw[] = "spw";
static char s_prim[] = "prim";

static struct jc_store_config url_config(char *url)
{
    struct jc_store_config cfg = {0};
    cfg.type = s_redis;
    cfg.url = url;
    return cfg;
}

static void wait_up(struct jc_loop *loop, struct state_log *st, int ms)
{
    ck_assert(jc_test_loop_until(loop, &st->up, ms));
}

/* One client on a fresh redis-server (no password), connected. */
struct client_fx {
    struct jc_test_server srv;
    char url[256];
    struct jc_store_config cfg;
    struct jc_loop *loop;
    struct state_log st;
    struct jc_redis_client *c;
};

static void client_fx_open(struct client_fx *f)
{
    memset(f, 0, sizeof(*f));
    ck_assert_int_eq(jc_test_redis_start(&f->srv, NULL), 0);
    jc_test_redis_url(&f->srv, f->url, sizeof(f->url));
    f->cfg = url_config(f->url);
    f->loop = jc_loop_new();
    ck_assert_int_eq(jc_redis_client_open(f->loop, &f->cfg, on_state, &f->st, &f->c), JC_OK);
    wait_up(f->loop, &f->st, 3000);
}

static void client_fx_close(struct client_fx *f)
{
    jc_redis_client_close(f->c);
    jc_loop_free(f->loop);
    jc_test_server_stop(&f->srv);
}

START_TEST(url_with_password_and_db_connects_and_selects)
{
    struct jc_test_server srv = {0};
    ck_assert_int_eq(jc_test_redis_start(&srv, "s3cr%t"), 0);
    char url[256];
    snprintf(url, sizeof(url), "redis://:s3cr%%25t@127.0.0.1:%d/3", srv.port);
    struct jc_store_config cfg = url_config(url);
    struct jc_loop *loop = jc_loop_new();
    struct state_log st = {0};
    struct jc_redis_client *c = NULL;
    ck_assert_int_eq(jc_redis_client_open(loop, &cfg, on_state, &st, &c), JC_OK);
    ck_assert(!jc_redis_client_is_connected(c));
    wait_up(loop, &st, 3000);
    ck_assert(jc_redis_client_is_connected(c));

    const char key[] = "bin\0key";
    const char *argv[] = {"SET", key, "v"};
    size_t argvlen[] = {3, sizeof(key) - 1, 1};
    struct result res = {0};
    ck_assert_int_eq(jc_redis_client_command(c, on_reply, &res, 3, argv, argvlen), JC_OK);
    ck_assert(jc_test_loop_until(loop, &res.done, 3000));
    ck_assert_int_eq(res.err, JC_OK);
    ck_assert_str_eq(res.str, "OK");

    redisContext *ctx = direct(srv.port, "s3cr%t");
    redisReply *r = redisCommand(ctx, "SELECT 3");
    freeReplyObject(r);
    r = redisCommand(ctx, "GET %b", key, sizeof(key) - 1);
    ck_assert(r != NULL && r->type == REDIS_REPLY_STRING);
    ck_assert_str_eq(r->str, "v");
    freeReplyObject(r);
    redisFree(ctx);

    jc_redis_client_close(c);
    jc_loop_free(loop);
    jc_test_server_stop(&srv);
}
END_TEST

START_TEST(config_password_and_db_win_over_the_url)
{
    struct jc_test_server srv = {0};
    ck_assert_int_eq(jc_test_redis_start(&srv, "right"), 0);
    char url[256];
    snprintf(url, sizeof(url), "redis://127.0.0.1:%d", srv.port);
    struct jc_store_config cfg = url_config(url);
    cfg.password = s_right;
    cfg.db = 2;
    struct jc_loop *loop = jc_loop_new();
    struct state_log st = {0};
    struct jc_redis_client *c = NULL;
    ck_assert_int_eq(jc_redis_client_open(loop, &cfg, on_state, &st, &c), JC_OK);
    wait_up(loop, &st, 3000);
    const char *argv[] = {"CLIENT", "INFO"};
    struct result res = run_cmd(loop, c, 2, argv);
    ck_assert_int_eq(res.err, JC_OK);
    ck_assert_ptr_nonnull(strstr(res.str, " db=2 "));
    jc_redis_client_close(c);
    jc_loop_free(loop);
    jc_test_server_stop(&srv);
}
END_TEST

START_TEST(bad_settings_are_invalid)
{
    struct jc_loop *loop = jc_loop_new();
    struct jc_redis_client *c = NULL;
    char bad[][32] = {"http://127.0.0.1:1", "redis://",      "redis://h:0",
                      "redis://h:99999",    "redis://h:1/x", "redis://:%zz@h:1"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        struct jc_store_config cfg = url_config(bad[i]);
        ck_assert_int_eq(jc_redis_client_open(loop, &cfg, NULL, NULL, &c), JC_ERR_INVALID);
    }
    struct jc_store_config cfg = {.type = s_redis, .has_sentinel = true};
    ck_assert_int_eq(jc_redis_client_open(loop, &cfg, NULL, NULL, &c), JC_ERR_INVALID);
    jc_loop_free(loop);
}
END_TEST

START_TEST(wrong_password_is_never_ready_and_commands_fail_fast)
{
    struct jc_test_server srv = {0};
    ck_assert_int_eq(jc_test_redis_start(&srv, "right"), 0);
    char url[256];
    snprintf(url, sizeof(url), "redis://:wrong@127.0.0.1:%d", srv.port);
    struct jc_store_config cfg = url_config(url);
    struct jc_loop *loop = jc_loop_new();
    struct state_log st = {0};
    struct jc_redis_client *c = NULL;
    ck_assert_int_eq(jc_redis_client_open(loop, &cfg, on_state, &st, &c), JC_OK);
    jc_test_loop_for(loop, 400);
    ck_assert(!jc_redis_client_is_connected(c));
    ck_assert_int_eq(st.ups, 0);
    const char *argv[] = {"PING"};
    struct result res = run_cmd(loop, c, 1, argv);
    ck_assert_int_eq(res.err, JC_ERR_STORE);
    jc_redis_client_close(c);
    jc_loop_free(loop);
    jc_test_server_stop(&srv);
}
END_TEST

START_TEST(server_down_fails_fast_then_reconnects_by_itself)
{
    struct client_fx f;
    client_fx_open(&f);
    struct jc_loop *loop = f.loop;
    struct jc_redis_client *c = f.c;

    /* A command in flight when the server dies gets JC_ERR_STORE. */
    const char *blpop[] = {"BLPOP", "nothing", "10"};
    struct result pending = {0};
    ck_assert_int_eq(jc_redis_client_command(c, on_reply, &pending, 3, blpop, NULL), JC_OK);
    jc_test_loop_for(loop, 50);
    jc_test_server_kill(&f.srv);
    ck_assert(jc_test_loop_until(loop, &pending.done, 2000));
    ck_assert_int_eq(pending.err, JC_ERR_STORE);
    ck_assert(!f.st.up);
    ck_assert_int_eq(f.st.downs, 1);

    /* While down, commands fail at once (well under a second). */
    uint64_t t0 = jc_loop_now_ms(loop);
    const char *ping[] = {"PING"};
    struct result res = run_cmd(loop, c, 1, ping);
    ck_assert_int_eq(res.err, JC_ERR_STORE);
    ck_assert_uint_lt(jc_loop_now_ms(loop) - t0, 200);
    jc_test_loop_for(loop, 300); /* a few failed reconnect attempts */

    ck_assert_int_eq(jc_test_server_restart(&f.srv), 0);
    wait_up(loop, &f.st, 4000);
    res = run_cmd(loop, c, 1, ping);
    ck_assert_int_eq(res.err, JC_OK);
    ck_assert_str_eq(res.str, "PONG");
    ck_assert_int_eq(f.st.ups, 2);

    client_fx_close(&f);
}
END_TEST

START_TEST(a_hung_server_fails_commands_instead_of_hanging)
{
    struct client_fx f;
    client_fx_open(&f);
    struct jc_loop *loop = f.loop;
    struct jc_redis_client *c = f.c;

    /* The connection stays open but nothing answers: the watchdog gives up. */
    jc_test_server_pause(&f.srv);
    const char *ping[] = {"PING"};
    struct result res = {0};
    ck_assert_int_eq(jc_redis_client_command(c, on_reply, &res, 1, ping, NULL), JC_OK);
    ck_assert(jc_test_loop_until(loop, &res.done, 8000));
    ck_assert_int_eq(res.err, JC_ERR_STORE);
    ck_assert(!f.st.up);

    jc_test_server_resume(&f.srv);
    wait_up(loop, &f.st, 5000);
    res = run_cmd(loop, c, 1, ping);
    ck_assert_int_eq(res.err, JC_OK);

    client_fx_close(&f);
}
END_TEST

static const char incr_script[] = "return redis.call('INCRBY', KEYS[1], ARGV[1])";

START_TEST(eval_survives_script_flush)
{
    struct client_fx f;
    client_fx_open(&f);
    struct jc_loop *loop = f.loop;
    struct jc_redis_client *c = f.c;

    const char *args[] = {"counter", "5"};
    struct result res = run_eval(loop, c, incr_script, 1, 2, args);
    ck_assert_int_eq(res.err, JC_OK);
    ck_assert_int_eq(res.type, REDIS_REPLY_INTEGER);
    ck_assert_int_eq(res.integer, 5);

    const char *flush[] = {"SCRIPT", "FLUSH"};
    ck_assert_int_eq(run_cmd(loop, c, 2, flush).err, JC_OK);
    res = run_eval(loop, c, incr_script, 1, 2, args);
    ck_assert_int_eq(res.err, JC_OK);
    ck_assert_int_eq(res.integer, 10);

    /* The locally computed SHA-1 is the one Redis uses. */
    redisContext *ctx = direct(f.srv.port, NULL);
    redisReply *r = redisCommand(ctx, "SCRIPT LOAD %s", incr_script);
    ck_assert(r != NULL && r->type == REDIS_REPLY_STRING);
    char sha[41];
    snprintf(sha, sizeof(sha), "%s", r->str);
    freeReplyObject(r);
    r = redisCommand(ctx, "EVALSHA %s 1 counter 1", sha);
    ck_assert(r != NULL && r->type == REDIS_REPLY_INTEGER && r->integer == 11);
    freeReplyObject(r);
    redisFree(ctx);

    /* A script error comes back as an error reply, not a transport error. */
    static const char bad_script[] = "return redis.call('NOSUCHCOMMAND')";
    res = run_eval(loop, c, bad_script, 0, 0, NULL);
    ck_assert_int_eq(res.err, JC_OK);
    ck_assert_int_eq(res.type, REDIS_REPLY_ERROR);

    client_fx_close(&f);
}
END_TEST

START_TEST(readonly_reply_drops_the_connection)
{
    struct jc_test_server a = {0}, b = {0};
    ck_assert_int_eq(jc_test_redis_start(&a, NULL), 0);
    ck_assert_int_eq(jc_test_redis_start(&b, NULL), 0);
    char url[256];
    jc_test_redis_url(&a, url, sizeof(url));
    struct jc_store_config cfg = url_config(url);
    struct jc_loop *loop = jc_loop_new();
    struct state_log st = {0};
    struct jc_redis_client *c = NULL;
    ck_assert_int_eq(jc_redis_client_open(loop, &cfg, on_state, &st, &c), JC_OK);
    wait_up(loop, &st, 3000);

    /* Demote a without killing its clients, as a partial failover would. */
    redisContext *ctx = direct(a.port, NULL);
    redisReply *r = redisCommand(ctx, "REPLICAOF 127.0.0.1 %d", b.port);
    freeReplyObject(r);
    redisFree(ctx);

    const char *args[] = {"counter", "1"};
    struct result res = run_eval(loop, c, incr_script, 1, 2, args);
    ck_assert_int_eq(res.err, JC_ERR_STORE);
    ck_assert_int_eq(st.downs, 1);
    wait_up(loop, &st, 3000); /* url mode: back to the same address */

    jc_redis_client_close(c);
    jc_loop_free(loop);
    jc_test_server_stop(&a);
    jc_test_server_stop(&b);
}
END_TEST

struct messages {
    int n;
    char channel[64];
    char payload[64];
    size_t payload_len;
};

static void on_message(void *arg, const char *channel, const char *payload, size_t len)
{
    struct messages *m = arg;
    m->n++;
    snprintf(m->channel, sizeof(m->channel), "%s", channel);
    memcpy(m->payload, payload, len < sizeof(m->payload) ? len : sizeof(m->payload));
    m->payload_len = len;
}

static void publish_until(struct jc_loop *loop, struct jc_redis_client *pub, struct messages *m,
                          int want)
{
    const char payload[] = "p\0q";
    const char *argv[] = {"PUBLISH", "ev:one", payload};
    size_t argvlen[] = {7, 6, sizeof(payload) - 1};
    struct result res = {0};
    ck_assert_int_eq(jc_redis_client_command(pub, on_reply, &res, 3, argv, argvlen), JC_OK);
    ck_assert(jc_test_loop_until(loop, &res.done, 2000));
    ck_assert_int_eq(res.err, JC_OK);
    ck_assert_int_eq(res.integer, 1); /* one subscriber got it */
    for (int i = 0; i < 100 && m->n < want; i++) {
        jc_test_loop_for(loop, 10);
    }
    ck_assert_int_eq(m->n, want);
    ck_assert_str_eq(m->channel, "ev:one");
    ck_assert_uint_eq(m->payload_len, 3);
    ck_assert_mem_eq(m->payload, payload, 3);
}

START_TEST(subscription_delivers_and_comes_back_after_restart)
{
    struct jc_test_server srv = {0};
    ck_assert_int_eq(jc_test_redis_start(&srv, NULL), 0);
    char url[256];
    jc_test_redis_url(&srv, url, sizeof(url));
    struct jc_store_config cfg = url_config(url);
    struct jc_loop *loop = jc_loop_new();
    struct state_log sub_st = {0}, pub_st = {0};
    struct messages m = {0};
    struct jc_redis_client *sub = NULL, *pub = NULL;
    ck_assert_int_eq(jc_redis_client_open(loop, &cfg, on_state, &sub_st, &sub), JC_OK);
    ck_assert_int_eq(jc_redis_client_subscribe(sub, "ev:*", on_message, &m), JC_OK);
    ck_assert_int_eq(jc_redis_client_subscribe(sub, "x:*", on_message, &m), JC_ERR_INVALID);
    const char *ping[] = {"PING"};
    ck_assert_int_eq(jc_redis_client_command(sub, on_reply, NULL, 1, ping, NULL), JC_ERR_INVALID);
    ck_assert_int_eq(jc_redis_client_open(loop, &cfg, on_state, &pub_st, &pub), JC_OK);
    wait_up(loop, &sub_st, 3000);
    wait_up(loop, &pub_st, 3000);
    publish_until(loop, pub, &m, 1);

    ck_assert_int_eq(jc_test_server_restart(&srv), 0);
    jc_test_loop_for(loop, 100);
    wait_up(loop, &sub_st, 4000);
    wait_up(loop, &pub_st, 4000);
    ck_assert_int_eq(sub_st.ups, 2);
    publish_until(loop, pub, &m, 2);

    jc_redis_client_close(sub);
    jc_redis_client_close(pub);
    jc_loop_free(loop);
    jc_test_server_stop(&srv);
}
END_TEST

struct port_result {
    bool done;
    long port;
};

static void on_port_reply(void *arg, enum jc_err err, struct redisReply *r)
{
    struct port_result *p = arg;
    p->done = true;
    p->port = -1;
    if (err == JC_OK && r->type == REDIS_REPLY_ARRAY && r->elements == 2) {
        p->port = strtol(r->element[1]->str, NULL, 10);
    }
}

static long ask_port(struct jc_loop *loop, struct jc_redis_client *c)
{
    const char *argv[] = {"CONFIG", "GET", "port"};
    struct port_result p = {0};
    ck_assert_int_eq(jc_redis_client_command(c, on_port_reply, &p, 3, argv, NULL), JC_OK);
    ck_assert(jc_test_loop_until(loop, &p.done, 2000));
    return p.port;
}

/* SENTINEL FAILOVER, retried while the sentinel has not yet heard from the
 * replica it knows about (NOGOODSLAVE), for at most a few seconds. */
static void force_failover(int sentinel_port)
{
    redisContext *ctx = direct(sentinel_port, "spw");
    for (int i = 0;; i++) {
        redisReply *r = redisCommand(ctx, "SENTINEL FAILOVER prim");
        ck_assert(r != NULL);
        bool ok = r->type == REDIS_REPLY_STATUS;
        bool again = r->type == REDIS_REPLY_ERROR && strncmp(r->str, "NOGOODSLAVE", 11) == 0;
        ck_assert_msg(ok || (again && i < 50), "SENTINEL FAILOVER: %s", r->str);
        freeReplyObject(r);
        if (ok) {
            break;
        }
        struct timespec ts = {0, 100 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
    redisFree(ctx);
}

START_TEST(sentinel_finds_the_primary_and_follows_a_failover)
{
    struct jc_test_server primary = {0}, replica = {0}, sent[3] = {{0}};
    ck_assert_int_eq(jc_test_redis_start(&primary, "pw"), 0);
    ck_assert_int_eq(jc_test_redis_start_replica(&replica, "pw", primary.port), 0);
    char hosts_buf[4][32];
    char *hosts[4];
    /* The first configured sentinel is down: the client moves on. */
    snprintf(hosts_buf[0], sizeof(hosts_buf[0]), "127.0.0.1:%d", jc_test_free_port());
    hosts[0] = hosts_buf[0];
    for (int i = 0; i < 3; i++) {
        struct jc_test_sentinel_opts o = {.primary_name = "prim",
                                          .primary_port = primary.port,
                                          .primary_password = "pw",
                                          .sentinel_password = "spw"};
        ck_assert_int_eq(jc_test_sentinel_start_opts(&sent[i], &o), 0);
        snprintf(hosts_buf[i + 1], sizeof(hosts_buf[i + 1]), "127.0.0.1:%d", sent[i].port);
        hosts[i + 1] = hosts_buf[i + 1];
    }
    struct jc_store_config cfg = {.type = s_redis, .password = s_pw, .has_sentinel = true};
    cfg.sentinel = (struct jc_store_sentinel_config){hosts, 4, s_prim, s_spw};
    struct jc_loop *loop = jc_loop_new();
    struct state_log st = {0};
    struct jc_redis_client *c = NULL;
    ck_assert_int_eq(jc_redis_client_open(loop, &cfg, on_state, &st, &c), JC_OK);
    wait_up(loop, &st, 4000);
    ck_assert_int_eq(ask_port(loop, c), primary.port);

    ck_assert_int_eq(jc_test_sentinel_wait_replicas(&sent[0], 1), 0);
    force_failover(sent[0].port);

    /* Bounded wait: the client ends up on the promoted replica. */
    long port = -1;
    for (int i = 0; i < 150 && port != replica.port; i++) {
        jc_test_loop_for(loop, 100);
        port = st.up ? ask_port(loop, c) : -1;
    }
    ck_assert_int_eq(port, replica.port);
    ck_assert_int_ge(st.downs, 1);

    jc_redis_client_close(c);
    jc_loop_free(loop);
    for (int i = 0; i < 3; i++) {
        jc_test_server_stop(&sent[i]);
    }
    jc_test_server_stop(&replica);
    jc_test_server_stop(&primary);
}
END_TEST

static Suite *redis_client_suite(void)
{
    Suite *s = suite_create("redis_client");
    TCase *tc = tcase_create("url");
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, url_with_password_and_db_connects_and_selects);
    tcase_add_test(tc, config_password_and_db_win_over_the_url);
    tcase_add_test(tc, bad_settings_are_invalid);
    tcase_add_test(tc, wrong_password_is_never_ready_and_commands_fail_fast);
    suite_add_tcase(s, tc);
    tc = tcase_create("reconnect");
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, server_down_fails_fast_then_reconnects_by_itself);
    tcase_add_test(tc, readonly_reply_drops_the_connection);
    tcase_add_test(tc, a_hung_server_fails_commands_instead_of_hanging);
    suite_add_tcase(s, tc);
    tc = tcase_create("scripts");
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, eval_survives_script_flush);
    suite_add_tcase(s, tc);
    tc = tcase_create("pubsub");
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, subscription_delivers_and_comes_back_after_restart);
    suite_add_tcase(s, tc);
    tc = tcase_create("sentinel");
    tcase_set_timeout(tc, 40);
    tcase_add_test(tc, sentinel_finds_the_primary_and_follows_a_failover);
    suite_add_tcase(s, tc);
    return s;
}

JC_TEST_MAIN(redis_client_suite)
