/* tests/core/store/test_store_redis.c: what only the Redis store has to
 * prove, against a real redis-server on loopback (tests/support): the key
 * layout (hash tag, binary keys), fencing between two stores sharing one
 * Redis as two replicas would, strictly increasing tokens, values written by
 * something else, leases on Redis's clock, and a Redis that is down.  The
 * behaviour every backend shares is in test_store_contract.c. */
#include "core/store/store.h"

#include <check.h>
#include <hiredis/hiredis.h>
#include <stdio.h>
#include <string.h>

#include "core/entry.h"
#include "core/loop.h"
#include "tests/support/jc_test.h"
#include "tests/support/servers.h"

static char s_redis[] = "redis";
static char s_prefix[] = "pfx";

struct fixture {
    struct jc_test_server srv;
    char url[128];
    struct jc_store_config cfg;
    struct jc_loop *loop;
    struct jc_store *a;
    struct jc_store *b;
    redisContext *direct;
};

struct res {
    bool done;
    bool in_call;
    bool early;
    enum jc_err err;
    struct jc_store_reply reply;
    enum jc_key_status status;
    int64_t ttl_ms;
};

static struct fixture fx;

static void open_store(struct jc_store **out)
{
    ck_assert_int_eq(jc_store_open(fx.loop, &fx.cfg, out), JC_OK);
    for (int i = 0; i < 300 && !jc_store_is_ready(*out); i++) {
        jc_test_loop_for(fx.loop, 10);
    }
    ck_assert(jc_store_is_ready(*out));
}

static void setup(void)
{
    memset(&fx, 0, sizeof(fx));
    ck_assert_int_eq(jc_test_redis_start(&fx.srv, NULL), 0);
    jc_test_redis_url(&fx.srv, fx.url, sizeof(fx.url));
    fx.cfg.type = s_redis;
    fx.cfg.url = fx.url;
    fx.cfg.prefix = s_prefix;
    fx.loop = jc_loop_new();
    open_store(&fx.a);
    open_store(&fx.b);
    struct timeval tv = {2, 0};
    fx.direct = redisConnectWithTimeout("127.0.0.1", fx.srv.port, tv);
    ck_assert(fx.direct != NULL && fx.direct->err == 0);
}

static void teardown(void)
{
    redisFree(fx.direct);
    jc_store_close(fx.a);
    jc_store_close(fx.b);
    jc_loop_free(fx.loop);
    jc_test_server_stop(&fx.srv);
}

static void on_lookup(void *arg, enum jc_err err, const struct jc_store_reply *reply)
{
    struct res *r = arg;
    ck_assert(!r->done);
    r->early = r->in_call;
    r->done = true;
    r->err = err;
    if (err == JC_OK) {
        r->reply = *reply;
        if (reply->entry != NULL) {
            r->reply.entry = jc_entry_ref(reply->entry);
        }
    }
}

static void on_done(void *arg, enum jc_err err)
{
    struct res *r = arg;
    ck_assert(!r->done);
    r->early = r->in_call;
    r->done = true;
    r->err = err;
}

static void on_status(void *arg, enum jc_err err, enum jc_key_status status, int64_t ttl_ms)
{
    struct res *r = arg;
    ck_assert(!r->done);
    r->early = r->in_call;
    r->done = true;
    r->err = err;
    r->status = status;
    r->ttl_ms = ttl_ms;
}

static void finish(struct res *r)
{
    r->in_call = false;
    ck_assert(jc_test_loop_until(fx.loop, &r->done, 3000));
    ck_assert(!r->early);
}

static struct res lookup(struct jc_store *s, const struct jc_store_key *k, bool acquire,
                         uint64_t lease_ms, uint64_t waited, int64_t slide_ms)
{
    struct jc_store_lookup lk = {acquire, lease_ms, waited, slide_ms};
    struct res r = {.in_call = true};
    ck_assert_int_eq(jc_store_lookup(s, k, &lk, on_lookup, &r), JC_OK);
    finish(&r);
    return r;
}

static struct res acquire(struct jc_store *s, const struct jc_store_key *k)
{
    return lookup(s, k, true, 10000, 0, 0);
}

static enum jc_err do_commit(struct jc_store *s, const struct jc_store_key *k, uint64_t token,
                             const struct jc_entry *e, int64_t ttl_ms)
{
    struct res r = {.in_call = true};
    ck_assert_int_eq(jc_store_commit(s, k, token, e, ttl_ms, on_done, &r), JC_OK);
    finish(&r);
    return r.err;
}

static enum jc_err do_fail(struct jc_store *s, const struct jc_store_key *k, uint64_t token,
                           const struct jc_entry *e, uint64_t tombstone_ms)
{
    struct res r = {.in_call = true};
    ck_assert_int_eq(jc_store_fail(s, k, token, e, tombstone_ms, on_done, &r), JC_OK);
    finish(&r);
    return r.err;
}

static enum jc_err do_del(struct jc_store *s, const struct jc_store_key *k)
{
    struct res r = {.in_call = true};
    ck_assert_int_eq(jc_store_delete(s, k, on_done, &r), JC_OK);
    finish(&r);
    return r.err;
}

static enum jc_err do_touch(struct jc_store *s, const struct jc_store_key *k, int64_t ttl_ms)
{
    struct res r = {.in_call = true};
    ck_assert_int_eq(jc_store_touch(s, k, ttl_ms, on_done, &r), JC_OK);
    finish(&r);
    return r.err;
}

static struct res do_status(struct jc_store *s, const struct jc_store_key *k)
{
    struct res r = {.in_call = true};
    ck_assert_int_eq(jc_store_status(s, k, on_status, &r), JC_OK);
    finish(&r);
    return r;
}

static struct jc_entry *make_entry(const char *body)
{
    struct jc_entry *e = jc_entry_new();
    e->status = 200;
    e->stored_at_ms = 1700000000000u;
    jc_entry_set_header(e, JC_HDR_CONTENT_TYPE, "text/plain", 10);
    jc_entry_set_body(e, body, strlen(body));
    return e;
}

static void release(struct res *r)
{
    if (r->reply.entry != NULL) {
        jc_entry_unref(r->reply.entry);
        r->reply.entry = NULL;
    }
}

static redisReply *cmd(const char *fmt, const char *a, size_t alen)
{
    redisReply *r = redisCommand(fx.direct, fmt, a, alen);
    ck_assert_ptr_nonnull(r);
    return r;
}

START_TEST(key_layout_uses_the_hash_tag_and_is_binary_safe)
{
    const char raw[] = "a\0b/c d";
    struct jc_store_key k = {"weather", raw, sizeof(raw) - 1};
    struct jc_store_key shorter = {"weather", "a", 1};
    struct res r = acquire(fx.a, &k);
    ck_assert_int_eq(r.reply.state, JC_STORE_ACQUIRED);

    const char name[] = "pfx:{weather}:k:a\0b/c d";
    redisReply *rep = cmd("HGET %b s", name, sizeof(name) - 1);
    ck_assert_int_eq(rep->type, REDIS_REPLY_STRING);
    ck_assert_str_eq(rep->str, "p");
    freeReplyObject(rep);
    rep = cmd("GET %b", "pfx:{weather}:fence", strlen("pfx:{weather}:fence"));
    ck_assert_int_eq(rep->type, REDIS_REPLY_STRING);
    /* A token is the fence counter's new value, salted in its low 16 bits. */
    ck_assert_uint_eq(strtoull(rep->str, NULL, 10), r.reply.token >> 16);
    freeReplyObject(rep);

    /* The bytes after the NUL are part of the key: "a" is another key. */
    struct res other = lookup(fx.a, &shorter, false, 0, 0, 0);
    ck_assert_int_eq(other.reply.state, JC_STORE_EMPTY);
    struct jc_entry *e = make_entry("binary key body");
    ck_assert_int_eq(do_commit(fx.a, &k, r.reply.token, e, -1), JC_OK);
    jc_entry_unref(e);
    struct res v = lookup(fx.b, &k, false, 0, 0, 0);
    ck_assert_int_eq(v.reply.state, JC_STORE_VALUE);
    ck_assert_str_eq(v.reply.entry->body, "binary key body");
    ck_assert_str_eq(v.reply.entry->headers[JC_HDR_CONTENT_TYPE], "text/plain");
    ck_assert_int_eq(v.reply.ttl_ms, -1);
    release(&v);
    ck_assert_int_eq(lookup(fx.a, &shorter, false, 0, 0, 0).reply.state, JC_STORE_EMPTY);
}
END_TEST

START_TEST(a_lost_lease_fences_the_first_store_out)
{
    struct jc_store_key k = {"c", "key", 3};
    struct res first = lookup(fx.a, &k, true, 150, 0, 0);
    ck_assert_int_eq(first.reply.state, JC_STORE_ACQUIRED);
    struct res pending = acquire(fx.b, &k);
    ck_assert_int_eq(pending.reply.state, JC_STORE_PENDING);
    ck_assert_uint_eq(pending.reply.token, first.reply.token);

    jc_test_loop_for(fx.loop, 250); /* the lease ends on Redis's clock */
    struct res second = acquire(fx.b, &k);
    ck_assert_int_eq(second.reply.state, JC_STORE_ACQUIRED);
    ck_assert_uint_gt(second.reply.token, first.reply.token);

    struct jc_entry *stale = make_entry("stale");
    struct jc_entry *fresh = make_entry("fresh");
    ck_assert_int_eq(do_commit(fx.a, &k, first.reply.token, stale, -1), JC_ERR_FENCED);
    ck_assert_int_eq(do_fail(fx.a, &k, first.reply.token, stale, 1000), JC_ERR_FENCED);
    ck_assert_int_eq(do_commit(fx.b, &k, second.reply.token, fresh, 60000), JC_OK);
    ck_assert_int_eq(do_commit(fx.a, &k, first.reply.token, stale, -1), JC_ERR_FENCED);
    ck_assert_int_eq(do_commit(fx.b, &k, second.reply.token, stale, -1), JC_ERR_FENCED);

    struct res v = lookup(fx.a, &k, true, 1000, 0, 0);
    ck_assert_int_eq(v.reply.state, JC_STORE_VALUE);
    ck_assert_str_eq(v.reply.entry->body, "fresh");
    ck_assert_int_gt(v.reply.ttl_ms, 59000);
    ck_assert_int_le(v.reply.ttl_ms, 60000);
    release(&v);
    jc_entry_unref(stale);
    jc_entry_unref(fresh);
}
END_TEST

/* A failover that loses the lock and the fence counter's last increment
 * (Redis replicates asynchronously): the next holder draws the same counter
 * value, yet its token differs (salt), so the lost holder stays fenced. */
START_TEST(a_counter_lost_in_a_failover_does_not_repeat_a_token)
{
    struct jc_store_key k = {"c", "key", 3};
    struct res first = acquire(fx.a, &k);
    ck_assert_int_eq(first.reply.state, JC_STORE_ACQUIRED);
    /* What the new primary would hold: no lock, the counter one step back. */
    const char key[] = "pfx:{c}:k:key";
    freeReplyObject(cmd("DEL %b", key, sizeof(key) - 1));
    freeReplyObject(cmd("DECR %b", "pfx:{c}:fence", strlen("pfx:{c}:fence")));
    struct res second = acquire(fx.b, &k);
    ck_assert_int_eq(second.reply.state, JC_STORE_ACQUIRED);
    ck_assert_uint_eq(second.reply.token >> 16, first.reply.token >> 16);
    ck_assert_uint_ne(second.reply.token, first.reply.token);
    struct jc_entry *stale = make_entry("stale");
    ck_assert_int_eq(do_commit(fx.a, &k, first.reply.token, stale, -1), JC_ERR_FENCED);
    jc_entry_unref(stale);
}
END_TEST

START_TEST(tokens_strictly_increase_across_stores_and_keys)
{
    uint64_t last = 0;
    for (int i = 0; i < 20; i++) {
        char key[16];
        snprintf(key, sizeof(key), "k%d", i % 3);
        struct jc_store_key k = {"tok", key, strlen(key)};
        struct res r = acquire(i % 2 ? fx.a : fx.b, &k);
        ck_assert_int_eq(r.reply.state, JC_STORE_ACQUIRED);
        ck_assert_uint_gt(r.reply.token, last);
        last = r.reply.token;
        ck_assert_int_eq(do_del(i % 2 ? fx.b : fx.a, &k), JC_OK);
    }
}
END_TEST

START_TEST(a_value_that_does_not_parse_is_empty)
{
    struct jc_store_key k = {"c", "foreign", 7};
    const char name[] = "pfx:{c}:k:foreign";
    freeReplyObject(cmd("HSET %b s v t 7 v garbage", name, sizeof(name) - 1));
    ck_assert_int_eq(lookup(fx.a, &k, false, 0, 0, 0).reply.state, JC_STORE_EMPTY);
    struct res r = acquire(fx.a, &k);
    ck_assert_int_eq(r.reply.state, JC_STORE_ACQUIRED);
    ck_assert_int_eq(do_status(fx.a, &k).status, JC_KEY_PENDING);
    struct jc_entry *e = make_entry("ours");
    ck_assert_int_eq(do_commit(fx.a, &k, r.reply.token, e, -1), JC_OK);
    struct res v = lookup(fx.b, &k, false, 0, 0, 0);
    ck_assert_int_eq(v.reply.state, JC_STORE_VALUE);
    ck_assert_str_eq(v.reply.entry->body, "ours");
    release(&v);

    /* A key of another type altogether. */
    freeReplyObject(cmd("SET %b plain-string", name, sizeof(name) - 1));
    ck_assert_int_eq(do_status(fx.a, &k).status, JC_KEY_EMPTY);
    ck_assert_int_eq(do_touch(fx.a, &k, 1000), JC_ERR_NOT_FOUND);
    ck_assert_int_eq(do_commit(fx.a, &k, r.reply.token, e, -1), JC_ERR_FENCED);
    ck_assert_int_eq(lookup(fx.a, &k, false, 0, 0, 0).reply.state, JC_STORE_EMPTY);
    ck_assert_int_eq(acquire(fx.b, &k).reply.state, JC_STORE_ACQUIRED);
    jc_entry_unref(e);
}
END_TEST

START_TEST(tombstones_ttls_and_touch_follow_redis)
{
    struct jc_store_key k = {"c", "t", 1};
    struct res r = acquire(fx.a, &k);
    struct jc_entry *err_entry = jc_entry_new_error(JC_ERR_UPSTREAM);
    ck_assert_int_eq(do_fail(fx.a, &k, r.reply.token, err_entry, 5000), JC_OK);
    struct res f = lookup(fx.b, &k, true, 1000, r.reply.token, 0);
    ck_assert_int_eq(f.reply.state, JC_STORE_FAILED);
    ck_assert_uint_eq(f.reply.token, r.reply.token);
    ck_assert_int_eq(f.reply.entry->err, JC_ERR_UPSTREAM);
    ck_assert_int_eq(f.reply.entry->failed, 1);
    release(&f);
    ck_assert_int_eq(do_status(fx.b, &k).status, JC_KEY_EMPTY);
    ck_assert_int_eq(lookup(fx.b, &k, false, 0, 0, 0).reply.state, JC_STORE_EMPTY);
    struct res again = acquire(fx.b, &k); /* the tombstone is not ours: lock */
    ck_assert_int_eq(again.reply.state, JC_STORE_ACQUIRED);
    jc_entry_unref(err_entry);

    struct jc_entry *e = make_entry("v");
    ck_assert_int_eq(do_commit(fx.b, &k, again.reply.token, e, 3000), JC_OK);
    jc_entry_unref(e);
    struct res st = do_status(fx.a, &k);
    ck_assert_int_eq(st.status, JC_KEY_EXISTS);
    ck_assert(st.ttl_ms > 2000 && st.ttl_ms <= 3000);
    struct res slid = lookup(fx.a, &k, false, 0, 0, 50000);
    ck_assert(slid.reply.ttl_ms > 49000 && slid.reply.ttl_ms <= 50000);
    release(&slid);
    ck_assert_int_eq(do_touch(fx.a, &k, -1), JC_OK);
    ck_assert_int_eq(do_status(fx.a, &k).ttl_ms, -1);
    ck_assert_int_eq(do_touch(fx.a, &k, 100), JC_OK);
    jc_test_loop_for(fx.loop, 200);
    ck_assert_int_eq(do_status(fx.a, &k).status, JC_KEY_EMPTY);
    ck_assert_int_eq(do_touch(fx.a, &k, 100), JC_ERR_NOT_FOUND);
    ck_assert_int_eq(do_del(fx.a, &k), JC_OK);
}
END_TEST

START_TEST(a_redis_that_is_down_answers_store_errors)
{
    jc_test_server_kill(&fx.srv);
    for (int i = 0; i < 100 && jc_store_is_ready(fx.a); i++) {
        jc_test_loop_for(fx.loop, 10);
    }
    ck_assert(!jc_store_is_ready(fx.a));
    struct jc_store_key k = {"c", "down", 4};
    struct jc_store_lookup lk = {true, 1000, 0, 0};
    struct res r = {.in_call = true};
    ck_assert_int_eq(jc_store_lookup(fx.a, &k, &lk, on_lookup, &r), JC_OK);
    finish(&r);
    ck_assert_int_eq(r.err, JC_ERR_STORE);
    ck_assert_int_eq(do_del(fx.a, &k), JC_ERR_STORE);
    ck_assert_int_eq(do_status(fx.a, &k).err, JC_ERR_STORE);

    ck_assert_int_eq(jc_test_server_restart(&fx.srv), 0);
    for (int i = 0; i < 300 && !jc_store_is_ready(fx.a); i++) {
        jc_test_loop_for(fx.loop, 10);
    }
    ck_assert(jc_store_is_ready(fx.a));
    ck_assert_int_eq(acquire(fx.a, &k).reply.state, JC_STORE_ACQUIRED);
}
END_TEST

static Suite *store_redis_suite(void)
{
    Suite *s = suite_create("store_redis");
    TCase *tc = tcase_create("layout");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 20);
    tcase_add_test(tc, key_layout_uses_the_hash_tag_and_is_binary_safe);
    tcase_add_test(tc, a_value_that_does_not_parse_is_empty);
    suite_add_tcase(s, tc);
    tc = tcase_create("fencing");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 20);
    tcase_add_test(tc, a_lost_lease_fences_the_first_store_out);
    tcase_add_test(tc, tokens_strictly_increase_across_stores_and_keys);
    tcase_add_test(tc, a_counter_lost_in_a_failover_does_not_repeat_a_token);
    suite_add_tcase(s, tc);
    tc = tcase_create("expiry");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 20);
    tcase_add_test(tc, tombstones_ttls_and_touch_follow_redis);
    suite_add_tcase(s, tc);
    tc = tcase_create("down");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 20);
    tcase_add_test(tc, a_redis_that_is_down_answers_store_errors);
    suite_add_tcase(s, tc);
    return s;
}

JC_TEST_MAIN(store_redis_suite)
