/* tests/core/test_l1.c: core/l1.c, the bounded, expiring in-process cache.
 *
 * These tests drive jc_l1 directly with explicit times: lookups, replacing,
 * LRU eviction at max_entries, deadlines (an item is gone at its deadline,
 * not after), purging, sliding and removal, binary keys, and the references
 * the L1 holds on its entries.  How the engine fills and invalidates the L1
 * (store reads, INVALIDATE events, DELETE, expiry) is tested through the
 * engine in test_engine.c. */
#include "core/l1.h"

#include <check.h>
#include <stdio.h>
#include <string.h>

#include "core/entry.h"
#include "tests/support/jc_test.h"

#define T0 1000000u

static struct jc_entry *entry_with(const char *body)
{
    struct jc_entry *e = jc_entry_new();
    e->status = 200;
    jc_entry_set_body(e, body, strlen(body));
    return e;
}

static void put(struct jc_l1 *l1, const char *key, const char *body, uint64_t deadline_ms)
{
    struct jc_entry *e = entry_with(body);
    jc_l1_put(l1, key, strlen(key), e, deadline_ms, T0);
    jc_entry_unref(e);
}

/* Returns whether key is live at now; checks its body when it is. */
static bool has(struct jc_l1 *l1, const char *key, const char *body, uint64_t now)
{
    struct jc_entry *e = NULL;
    uint64_t touched = 0;
    if (!jc_l1_get(l1, key, strlen(key), now, &e, &touched)) {
        ck_assert_ptr_null(e);
        return false;
    }
    ck_assert_ptr_nonnull(e);
    if (body != NULL) {
        ck_assert_str_eq(e->body, body);
    }
    return true;
}

START_TEST(get_on_an_empty_l1_misses)
{
    struct jc_l1 *l1 = jc_l1_new(10);
    ck_assert(!has(l1, "k", NULL, T0));
    ck_assert_uint_eq(jc_l1_count(l1), 0);
    jc_l1_free(l1);
}
END_TEST

START_TEST(put_then_get_returns_the_entry_and_its_touch_time)
{
    struct jc_l1 *l1 = jc_l1_new(10);
    struct jc_entry *e = entry_with("v");
    jc_l1_put(l1, "k", 1, e, 0, T0 + 5);
    struct jc_entry *got = NULL;
    uint64_t touched = 0;
    ck_assert(jc_l1_get(l1, "k", 1, T0 + 100, &got, &touched));
    ck_assert_ptr_eq(got, e);
    ck_assert_uint_eq(touched, T0 + 5);
    ck_assert_uint_eq(jc_l1_count(l1), 1);
    jc_entry_unref(e);
    jc_l1_free(l1);
}
END_TEST

START_TEST(the_l1_holds_its_own_reference)
{
    struct jc_l1 *l1 = jc_l1_new(10);
    struct jc_entry *e = entry_with("v");
    jc_l1_put(l1, "k", 1, e, 0, T0);
    ck_assert_int_eq(e->refs, 2);
    jc_entry_unref(e);
    /* Our reference is gone; the L1's keeps the entry alive. */
    ck_assert(has(l1, "k", "v", T0));
    struct jc_entry *got = NULL;
    uint64_t touched;
    ck_assert(jc_l1_get(l1, "k", 1, T0, &got, &touched));
    ck_assert_int_eq(got->refs, 1);
    jc_entry_ref(got);
    jc_l1_remove(l1, "k", 1);
    ck_assert_int_eq(got->refs, 1);
    jc_entry_unref(got);
    jc_l1_free(l1);
}
END_TEST

START_TEST(put_replaces_the_item_of_the_same_key)
{
    struct jc_l1 *l1 = jc_l1_new(10);
    struct jc_entry *old = entry_with("old");
    jc_l1_put(l1, "k", 1, old, 0, T0);
    put(l1, "k", "new", 0);
    ck_assert_uint_eq(jc_l1_count(l1), 1);
    ck_assert(has(l1, "k", "new", T0));
    ck_assert_int_eq(old->refs, 1);
    jc_entry_unref(old);
    jc_l1_free(l1);
}
END_TEST

START_TEST(full_l1_evicts_the_least_recently_used)
{
    struct jc_l1 *l1 = jc_l1_new(3);
    put(l1, "a", "a", 0);
    put(l1, "b", "b", 0);
    put(l1, "c", "c", 0);
    ck_assert(has(l1, "a", "a", T0)); /* "b" is now the least recently used */
    put(l1, "d", "d", 0);
    ck_assert_uint_eq(jc_l1_count(l1), 3);
    ck_assert(!has(l1, "b", NULL, T0));
    ck_assert(has(l1, "c", "c", T0));
    ck_assert(has(l1, "a", "a", T0));
    ck_assert(has(l1, "d", "d", T0));
    /* Now "c" is the oldest use. */
    put(l1, "e", "e", 0);
    ck_assert(!has(l1, "c", NULL, T0));
    ck_assert_uint_eq(jc_l1_count(l1), 3);
    jc_l1_free(l1);
}
END_TEST

START_TEST(replacing_in_a_full_l1_evicts_nothing_else)
{
    struct jc_l1 *l1 = jc_l1_new(2);
    put(l1, "a", "a", 0);
    put(l1, "b", "b", 0);
    put(l1, "a", "a2", 0);
    ck_assert_uint_eq(jc_l1_count(l1), 2);
    ck_assert(has(l1, "a", "a2", T0));
    ck_assert(has(l1, "b", "b", T0));
    jc_l1_free(l1);
}
END_TEST

START_TEST(zero_max_entries_means_no_limit)
{
    struct jc_l1 *l1 = jc_l1_new(0);
    char key[16];
    for (int i = 0; i < 1000; i++) {
        snprintf(key, sizeof(key), "k%d", i);
        put(l1, key, key, 0);
    }
    ck_assert_uint_eq(jc_l1_count(l1), 1000);
    ck_assert(has(l1, "k0", "k0", T0));
    ck_assert(has(l1, "k999", "k999", T0));
    jc_l1_free(l1);
}
END_TEST

START_TEST(item_is_gone_at_its_deadline)
{
    struct jc_l1 *l1 = jc_l1_new(10);
    put(l1, "k", "v", T0 + 100);
    ck_assert(has(l1, "k", "v", T0 + 99));
    ck_assert(!has(l1, "k", NULL, T0 + 100));
    ck_assert_uint_eq(jc_l1_count(l1), 0); /* removed on that lookup */
    ck_assert(!has(l1, "k", NULL, T0));
    jc_l1_free(l1);
}
END_TEST

START_TEST(zero_deadline_never_expires)
{
    struct jc_l1 *l1 = jc_l1_new(10);
    put(l1, "k", "v", 0);
    ck_assert(has(l1, "k", "v", UINT64_MAX - 1));
    ck_assert_uint_eq(jc_l1_purge(l1, UINT64_MAX - 1), 0);
    jc_l1_free(l1);
}
END_TEST

START_TEST(purge_removes_exactly_the_expired_items)
{
    struct jc_l1 *l1 = jc_l1_new(10);
    put(l1, "early", "1", T0 + 10);
    put(l1, "now", "2", T0 + 50);
    put(l1, "late", "3", T0 + 51);
    put(l1, "never", "4", 0);
    ck_assert_uint_eq(jc_l1_purge(l1, T0 + 9), 0);
    ck_assert_uint_eq(jc_l1_purge(l1, T0 + 50), 2);
    ck_assert_uint_eq(jc_l1_count(l1), 2);
    ck_assert(has(l1, "late", "3", T0 + 50));
    ck_assert(has(l1, "never", "4", T0 + 50));
    ck_assert_uint_eq(jc_l1_purge(l1, T0 + 50), 0);
    ck_assert_uint_eq(jc_l1_purge(l1, T0 + 51), 1);
    ck_assert_uint_eq(jc_l1_count(l1), 1);
    jc_l1_free(l1);
}
END_TEST

START_TEST(slide_moves_the_deadline_and_touch_time)
{
    struct jc_l1 *l1 = jc_l1_new(10);
    put(l1, "k", "v", T0 + 100);
    jc_l1_slide(l1, "k", 1, T0 + 300, T0 + 200);
    ck_assert(has(l1, "k", "v", T0 + 299));
    struct jc_entry *e;
    uint64_t touched = 0;
    ck_assert(jc_l1_get(l1, "k", 1, T0 + 299, &e, &touched));
    ck_assert_uint_eq(touched, T0 + 200);
    ck_assert(!has(l1, "k", NULL, T0 + 300));
    jc_l1_slide(l1, "missing", 7, T0 + 400, T0 + 300);
    ck_assert_uint_eq(jc_l1_count(l1), 0);
    jc_l1_free(l1);
}
END_TEST

START_TEST(remove_drops_one_key)
{
    struct jc_l1 *l1 = jc_l1_new(10);
    put(l1, "a", "a", 0);
    put(l1, "b", "b", 0);
    jc_l1_remove(l1, "a", 1);
    jc_l1_remove(l1, "missing", 7);
    ck_assert_uint_eq(jc_l1_count(l1), 1);
    ck_assert(!has(l1, "a", NULL, T0));
    ck_assert(has(l1, "b", "b", T0));
    jc_l1_free(l1);
}
END_TEST

START_TEST(keys_are_binary_bytes)
{
    struct jc_l1 *l1 = jc_l1_new(10);
    struct jc_entry *x = entry_with("x");
    struct jc_entry *y = entry_with("y");
    jc_l1_put(l1, "a\0b", 3, x, 0, T0);
    jc_l1_put(l1, "a\0c", 3, y, 0, T0);
    jc_entry_unref(x);
    jc_entry_unref(y);
    struct jc_entry *e;
    uint64_t touched;
    ck_assert(jc_l1_get(l1, "a\0b", 3, T0, &e, &touched));
    ck_assert_str_eq(e->body, "x");
    ck_assert(jc_l1_get(l1, "a\0c", 3, T0, &e, &touched));
    ck_assert_str_eq(e->body, "y");
    ck_assert(!jc_l1_get(l1, "a", 1, T0, &e, &touched));
    ck_assert(!jc_l1_get(l1, "a\0", 2, T0, &e, &touched));
    jc_l1_free(l1);
}
END_TEST

START_TEST(free_releases_every_item)
{
    struct jc_l1 *l1 = jc_l1_new(10);
    struct jc_entry *e = entry_with("v");
    jc_l1_put(l1, "a", 1, e, 0, T0);
    jc_l1_put(l1, "b", 1, e, T0 + 5, T0);
    ck_assert_int_eq(e->refs, 3);
    jc_l1_free(l1);
    ck_assert_int_eq(e->refs, 1);
    jc_entry_unref(e);
    jc_l1_free(NULL);
}
END_TEST

static Suite *l1_suite(void)
{
    Suite *s = suite_create("l1");
    TCase *tc = tcase_create("items");
    tcase_add_test(tc, get_on_an_empty_l1_misses);
    tcase_add_test(tc, put_then_get_returns_the_entry_and_its_touch_time);
    tcase_add_test(tc, the_l1_holds_its_own_reference);
    tcase_add_test(tc, put_replaces_the_item_of_the_same_key);
    tcase_add_test(tc, remove_drops_one_key);
    tcase_add_test(tc, keys_are_binary_bytes);
    tcase_add_test(tc, free_releases_every_item);
    suite_add_tcase(s, tc);

    tc = tcase_create("bounds");
    tcase_add_test(tc, full_l1_evicts_the_least_recently_used);
    tcase_add_test(tc, replacing_in_a_full_l1_evicts_nothing_else);
    tcase_add_test(tc, zero_max_entries_means_no_limit);
    suite_add_tcase(s, tc);

    tc = tcase_create("deadlines");
    tcase_add_test(tc, item_is_gone_at_its_deadline);
    tcase_add_test(tc, zero_deadline_never_expires);
    tcase_add_test(tc, purge_removes_exactly_the_expired_items);
    tcase_add_test(tc, slide_moves_the_deadline_and_touch_time);
    suite_add_tcase(s, tc);
    return s;
}

JC_TEST_MAIN(l1_suite)
