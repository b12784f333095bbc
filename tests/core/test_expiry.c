/* tests/core/test_expiry.c: core/expiry.c, sliding and absolute expiry as
 * pure functions of a cache's options and the time.
 *
 * The first cases check each function on its own.  The last ones check the
 * promise the functions make together with the store: a value written with
 * jc_expiry_write_ttl() and read back with jc_expiry_read_slide() (here from
 * the real memory store, on the test clock) gets an L1 deadline from
 * jc_expiry_l1_deadline() that is exactly the moment the store drops it, so
 * an L1 copy never outlives the store's.  The same behaviour through the
 * engine (hits extending a sliding TTL, the L1 touch once per tenth) is
 * tested in test_engine.c. */
#include "core/expiry.h"

#include <check.h>
#include <string.h>

#include "core/cache.h"
#include "core/entry.h"
#include "core/loop.h"
#include "core/store/store.h"
#include "tests/support/jc_test.h"
#include "tests/support/servers.h"

static struct jc_cache_config cache_with(enum jc_expiry_type type, uint64_t time_ms)
{
    struct jc_cache_config c;
    jc_cache_config_defaults(&c);
    c.expiry_type = type;
    c.expiry_ms = type == JC_EXPIRY_NONE ? 0 : time_ms;
    return c;
}

START_TEST(write_ttl_is_time_ms_or_none)
{
    struct jc_cache_config none = cache_with(JC_EXPIRY_NONE, 0);
    struct jc_cache_config sliding = cache_with(JC_EXPIRY_SLIDING, 60000);
    struct jc_cache_config absolute = cache_with(JC_EXPIRY_ABSOLUTE, 1500);
    ck_assert_int_eq(jc_expiry_write_ttl(&none), -1);
    ck_assert_int_eq(jc_expiry_write_ttl(&sliding), 60000);
    ck_assert_int_eq(jc_expiry_write_ttl(&absolute), 1500);
}
END_TEST

START_TEST(only_sliding_reads_reset_the_ttl)
{
    struct jc_cache_config none = cache_with(JC_EXPIRY_NONE, 0);
    struct jc_cache_config sliding = cache_with(JC_EXPIRY_SLIDING, 60000);
    struct jc_cache_config absolute = cache_with(JC_EXPIRY_ABSOLUTE, 1500);
    ck_assert_int_eq(jc_expiry_read_slide(&none), 0);
    ck_assert_int_eq(jc_expiry_read_slide(&sliding), 60000);
    ck_assert_int_eq(jc_expiry_read_slide(&absolute), 0);
}
END_TEST

START_TEST(l1_deadline_is_now_plus_the_remaining_ttl)
{
    ck_assert_uint_eq(jc_expiry_l1_deadline(-1, 5000), 0);
    ck_assert_uint_eq(jc_expiry_l1_deadline(250, 5000), 5250);
    ck_assert_uint_eq(jc_expiry_l1_deadline(1, 5000), 5001);
}
END_TEST

START_TEST(sliding_l1_hit_touches_once_per_tenth_of_time_ms)
{
    struct jc_cache_config c = cache_with(JC_EXPIRY_SLIDING, 1000);
    ck_assert(!jc_expiry_l1_needs_touch(&c, 5000, 5000));
    ck_assert(!jc_expiry_l1_needs_touch(&c, 5000, 5099));
    ck_assert(jc_expiry_l1_needs_touch(&c, 5000, 5100));
    ck_assert(jc_expiry_l1_needs_touch(&c, 5000, 9000));
    struct jc_cache_config minute = cache_with(JC_EXPIRY_SLIDING, 60000);
    ck_assert(!jc_expiry_l1_needs_touch(&minute, 5000, 10999));
    ck_assert(jc_expiry_l1_needs_touch(&minute, 5000, 11000));
}
END_TEST

START_TEST(absolute_and_no_expiry_never_touch)
{
    struct jc_cache_config none = cache_with(JC_EXPIRY_NONE, 0);
    struct jc_cache_config absolute = cache_with(JC_EXPIRY_ABSOLUTE, 1000);
    ck_assert(!jc_expiry_l1_needs_touch(&none, 5000, 1000000));
    ck_assert(!jc_expiry_l1_needs_touch(&absolute, 5000, 1000000));
}
END_TEST

/* ---- together with the store ---- */

struct store_fx {
    struct jc_test_clock clock;
    struct jc_loop *loop;
    struct jc_store *store;
    struct jc_store_config cfg;
    int calls;
    enum jc_err err;
    struct jc_store_reply reply;
};

static char memory_type[] = "memory";

static void store_fx_open(struct store_fx *f)
{
    memset(f, 0, sizeof(*f));
    f->loop = jc_loop_new();
    jc_test_clock_install(f->loop, &f->clock);
    f->cfg.type = memory_type;
    ck_assert_int_eq(jc_store_open(f->loop, &f->cfg, &f->store), JC_OK);
}

static void store_fx_close(struct store_fx *f)
{
    jc_store_close(f->store);
    jc_loop_free(f->loop);
}

static void on_lookup(void *arg, enum jc_err err, const struct jc_store_reply *reply)
{
    struct store_fx *f = arg;
    f->calls++;
    f->err = err;
    if (err == JC_OK) {
        f->reply = *reply;
        f->reply.entry = NULL; /* borrowed for the callback only */
    }
}

static void on_done(void *arg, enum jc_err err)
{
    struct store_fx *f = arg;
    f->calls++;
    f->err = err;
}

static void store_wait(struct store_fx *f, int want)
{
    for (int i = 0; i < 500 && f->calls < want; i++) {
        jc_test_loop_for(f->loop, 2);
    }
    ck_assert_int_eq(f->calls, want);
}

static const struct jc_store_key KEY = {"c", "k", 1};

/* Reads the key as the engine does; returns its state. */
static enum jc_store_state read_key(struct store_fx *f, const struct jc_cache_config *c,
                                    bool acquire)
{
    struct jc_store_lookup lookup = {
        .acquire = acquire, .lease_ms = jc_cache_lease_ms(c), .slide_ms = jc_expiry_read_slide(c)};
    int before = f->calls;
    ck_assert_int_eq(jc_store_lookup(f->store, &KEY, &lookup, on_lookup, f), JC_OK);
    store_wait(f, before + 1);
    ck_assert_int_eq(f->err, JC_OK);
    return f->reply.state;
}

/* Writes a value as the engine does, at the current test time. */
static void write_key(struct store_fx *f, const struct jc_cache_config *c)
{
    ck_assert_int_eq(read_key(f, c, true), JC_STORE_ACQUIRED);
    struct jc_entry *e = jc_entry_new();
    e->status = 200;
    jc_entry_set_body(e, "v", 1);
    int before = f->calls;
    ck_assert_int_eq(
        jc_store_commit(f->store, &KEY, f->reply.token, e, jc_expiry_write_ttl(c), on_done, f),
        JC_OK);
    jc_entry_unref(e);
    store_wait(f, before + 1);
    ck_assert_int_eq(f->err, JC_OK);
}

/* Reads the value at now and returns the L1 deadline its copy would get. */
static uint64_t l1_deadline_after_read(struct store_fx *f, const struct jc_cache_config *c)
{
    ck_assert_int_eq(read_key(f, c, false), JC_STORE_VALUE);
    return jc_expiry_l1_deadline(f->reply.ttl_ms, f->clock.now_ms);
}

/* The value is in the store at deadline - 1 and gone at deadline. */
static void assert_store_ends_at(struct store_fx *f, const struct jc_cache_config *c,
                                 uint64_t deadline)
{
    ck_assert_uint_gt(deadline, f->clock.now_ms);
    f->clock.now_ms = deadline - 1;
    struct jc_cache_config plain = *c;
    plain.expiry_type = JC_EXPIRY_ABSOLUTE; /* look without sliding it */
    ck_assert_int_eq(read_key(f, &plain, false), JC_STORE_VALUE);
    f->clock.now_ms = deadline;
    ck_assert_int_eq(read_key(f, &plain, false), JC_STORE_EMPTY);
}

START_TEST(absolute_l1_deadline_is_the_store_expiry_whenever_read)
{
    struct jc_cache_config c = cache_with(JC_EXPIRY_ABSOLUTE, 1000);
    const uint64_t reads[] = {0, 1, 400, 999};
    for (size_t i = 0; i < sizeof(reads) / sizeof(reads[0]); i++) {
        struct store_fx f;
        store_fx_open(&f);
        uint64_t t0 = f.clock.now_ms;
        write_key(&f, &c);
        f.clock.now_ms = t0 + reads[i];
        uint64_t deadline = l1_deadline_after_read(&f, &c);
        ck_assert_uint_eq(deadline, t0 + 1000);
        assert_store_ends_at(&f, &c, deadline);
        store_fx_close(&f);
    }
}
END_TEST

START_TEST(sliding_l1_deadline_is_the_store_expiry_after_each_read)
{
    struct jc_cache_config c = cache_with(JC_EXPIRY_SLIDING, 1000);
    struct store_fx f;
    store_fx_open(&f);
    write_key(&f, &c);
    uint64_t deadline = 0;
    for (int i = 0; i < 5; i++) {
        f.clock.now_ms += 700;
        deadline = l1_deadline_after_read(&f, &c);
        ck_assert_uint_eq(deadline, f.clock.now_ms + 1000);
    }
    assert_store_ends_at(&f, &c, deadline);
    store_fx_close(&f);
}
END_TEST

START_TEST(no_expiry_means_no_l1_deadline)
{
    struct jc_cache_config c = cache_with(JC_EXPIRY_NONE, 0);
    struct store_fx f;
    store_fx_open(&f);
    write_key(&f, &c);
    f.clock.now_ms += 1000000;
    ck_assert_uint_eq(l1_deadline_after_read(&f, &c), 0);
    store_fx_close(&f);
}
END_TEST

static Suite *expiry_suite(void)
{
    Suite *s = suite_create("expiry");
    TCase *tc = tcase_create("functions");
    tcase_add_test(tc, write_ttl_is_time_ms_or_none);
    tcase_add_test(tc, only_sliding_reads_reset_the_ttl);
    tcase_add_test(tc, l1_deadline_is_now_plus_the_remaining_ttl);
    tcase_add_test(tc, sliding_l1_hit_touches_once_per_tenth_of_time_ms);
    tcase_add_test(tc, absolute_and_no_expiry_never_touch);
    suite_add_tcase(s, tc);

    tc = tcase_create("with_store");
    tcase_add_test(tc, absolute_l1_deadline_is_the_store_expiry_whenever_read);
    tcase_add_test(tc, sliding_l1_deadline_is_the_store_expiry_after_each_read);
    tcase_add_test(tc, no_expiry_means_no_l1_deadline);
    suite_add_tcase(s, tc);
    return s;
}

JC_TEST_MAIN(expiry_suite)
