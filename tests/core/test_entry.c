/* tests/core/test_entry.c: core/entry.c: building entries, the refcount, and
 * the binary form (round trips, and every corrupt input rejected). */
#include "core/entry.h"

#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "core/mem.h"
#include "tests/support/jc_test.h"

/* Returns new: an entry using every field, with a binary body. */
static struct jc_entry *full_entry(void)
{
    struct jc_entry *e = jc_entry_new();
    e->status = 404;
    e->stored_at_ms = 0x0123456789abcdefull;
    static const char *const values[JC_HDR_COUNT] = {"text/plain; charset=utf-8", "gzip", "de-CH",
                                                     "\"abc\\\"def\"",
                                                     "Wed, 21 Oct 2015 07:28:00 GMT"};
    for (int i = 0; i < JC_HDR_COUNT; i++) {
        jc_entry_set_header(e, (enum jc_entry_header)i, values[i], strlen(values[i]));
    }
    char body[300];
    for (size_t i = 0; i < sizeof(body); i++) {
        body[i] = (char)i;
    }
    jc_entry_set_body(e, body, sizeof(body));
    return e;
}

static void assert_same(const struct jc_entry *a, const struct jc_entry *b)
{
    ck_assert_int_eq(a->failed, b->failed);
    ck_assert_int_eq(a->err, b->err);
    ck_assert_int_eq(a->status, b->status);
    ck_assert_uint_eq(a->stored_at_ms, b->stored_at_ms);
    for (int i = 0; i < JC_HDR_COUNT; i++) {
        if (a->headers[i] == NULL) {
            ck_assert_ptr_null(b->headers[i]);
        } else {
            ck_assert_ptr_nonnull(b->headers[i]);
            ck_assert_str_eq(a->headers[i], b->headers[i]);
        }
    }
    ck_assert_uint_eq(a->body_len, b->body_len);
    ck_assert_int_eq(memcmp(a->body, b->body, a->body_len), 0);
    ck_assert_int_eq(b->body[b->body_len], '\0');
}

static struct jc_entry *round_trip(const struct jc_entry *e)
{
    size_t len = 0;
    char *data = jc_entry_serialize(e, &len);
    ck_assert_uint_gt(len, 0);
    struct jc_entry *back = NULL;
    ck_assert_int_eq(jc_entry_parse(data, len, &back), JC_OK);
    ck_assert_ptr_nonnull(back);
    ck_assert_int_eq(back->refs, 1);
    free(data);
    return back;
}

START_TEST(full_entry_round_trips)
{
    struct jc_entry *e = full_entry();
    struct jc_entry *back = round_trip(e);
    assert_same(e, back);
    jc_entry_unref(back);
    jc_entry_unref(e);
}
END_TEST

START_TEST(empty_entry_round_trips)
{
    struct jc_entry *e = jc_entry_new();
    e->status = 204;
    struct jc_entry *back = round_trip(e);
    assert_same(e, back);
    ck_assert_uint_eq(back->body_len, 0);
    jc_entry_unref(back);
    jc_entry_unref(e);
}
END_TEST

START_TEST(failed_entries_round_trip)
{
    struct jc_entry *e = jc_entry_new_error(JC_ERR_UPSTREAM_TIMEOUT);
    ck_assert_int_eq(e->failed, 1);
    struct jc_entry *back = round_trip(e);
    assert_same(e, back);
    jc_entry_unref(back);
    jc_entry_unref(e);

    e = full_entry();
    e->failed = 1;
    e->status = 503;
    back = round_trip(e);
    assert_same(e, back);
    ck_assert_int_eq(back->err, JC_OK);
    jc_entry_unref(back);
    jc_entry_unref(e);
}
END_TEST

START_TEST(large_binary_body_round_trips)
{
    struct jc_entry *e = jc_entry_new();
    size_t len = 1 << 20;
    char *body = jc_xmalloc(len + 1);
    for (size_t i = 0; i < len; i++) {
        body[i] = (char)(i * 131 + 17);
    }
    body[len] = '\0';
    jc_entry_take_body(e, &body, len);
    ck_assert_ptr_null(body);
    struct jc_entry *back = round_trip(e);
    assert_same(e, back);
    jc_entry_unref(back);
    jc_entry_unref(e);
}
END_TEST

START_TEST(every_truncation_is_rejected)
{
    struct jc_entry *e = full_entry();
    size_t len = 0;
    char *data = jc_entry_serialize(e, &len);
    for (size_t n = 0; n < len; n++) {
        struct jc_entry *out = NULL;
        /* A copy of exactly n bytes, so reading past it is caught by ASan. */
        char *part = jc_xmalloc(n);
        memcpy(part, data, n);
        ck_assert_msg(jc_entry_parse(part, n, &out) == JC_ERR_INVALID, "prefix of %zu accepted", n);
        ck_assert_ptr_null(out);
        free(part);
    }
    free(data);
    jc_entry_unref(e);
}
END_TEST

START_TEST(trailing_bytes_are_rejected)
{
    struct jc_entry *e = full_entry();
    size_t len = 0;
    char *data = jc_entry_serialize(e, &len);
    char *longer = jc_xmalloc(len + 1);
    memcpy(longer, data, len);
    longer[len] = 'x';
    struct jc_entry *out = NULL;
    ck_assert_int_eq(jc_entry_parse(longer, len + 1, &out), JC_ERR_INVALID);
    ck_assert_ptr_null(out);
    free(longer);
    free(data);
    jc_entry_unref(e);
}
END_TEST

START_TEST(corrupt_fields_are_rejected)
{
    struct jc_entry *e = full_entry();
    size_t len = 0;
    char *data = jc_entry_serialize(e, &len);
    struct jc_entry *out = NULL;
    /* Each case flips one thing in a copy of a valid encoding. */
    struct {
        size_t offset;
        unsigned char value;
    } cases[] = {
        {0, 'X'},                 /* magic */
        {3, '2'},                 /* magic version */
        {5, JC_ERR_SHUTDOWN + 1}, /* err out of range */
        {5, 0xff},
        {18, 0x01}, /* first header length far past the end */
        {19, 0x7f},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char *bad = jc_xmemdup(data, len);
        bad[cases[i].offset] = (char)cases[i].value;
        ck_assert_msg(jc_entry_parse(bad, len, &out) == JC_ERR_INVALID, "case %zu accepted", i);
        ck_assert_ptr_null(out);
        free(bad);
    }
    /* The body length field (the 4 bytes before the body) made larger. */
    char *bad = jc_xmemdup(data, len);
    bad[len - e->body_len - 4] = (char)0xff;
    ck_assert_int_eq(jc_entry_parse(bad, len, &out), JC_ERR_INVALID);
    free(bad);
    ck_assert_int_eq(jc_entry_parse("", 0, &out), JC_ERR_INVALID);
    ck_assert_int_eq(jc_entry_parse("JCE1", 4, &out), JC_ERR_INVALID);
    ck_assert_ptr_null(out);
    free(data);
    jc_entry_unref(e);
}
END_TEST

START_TEST(refcount_keeps_the_entry_until_the_last_unref)
{
    struct jc_entry *e = jc_entry_new();
    ck_assert_int_eq(e->refs, 1);
    ck_assert_ptr_eq(jc_entry_ref(e), e);
    ck_assert_ptr_eq(jc_entry_ref(e), e);
    ck_assert_int_eq(e->refs, 3);
    jc_entry_unref(e);
    jc_entry_unref(e);
    ck_assert_int_eq(e->refs, 1);
    ck_assert_uint_eq(e->body_len, 0);
    /* The last unref frees it (ASan reports a leak or a double free). */
    jc_entry_unref(e);
    jc_entry_unref(NULL);
}
END_TEST

START_TEST(setters_copy_and_replace)
{
    struct jc_entry *e = jc_entry_new();
    char value[] = "text/html";
    jc_entry_set_header(e, JC_HDR_CONTENT_TYPE, value, 4);
    value[0] = 'X';
    ck_assert_str_eq(e->headers[JC_HDR_CONTENT_TYPE], "text");
    jc_entry_set_header(e, JC_HDR_CONTENT_TYPE, "a/b", 3);
    ck_assert_str_eq(e->headers[JC_HDR_CONTENT_TYPE], "a/b");
    ck_assert_ptr_null(e->headers[JC_HDR_ETAG]);
    char body[] = "x\0y";
    jc_entry_set_body(e, body, 3);
    body[0] = 'z';
    ck_assert_uint_eq(e->body_len, 3);
    ck_assert_int_eq(memcmp(e->body, "x\0y", 3), 0);
    ck_assert_int_eq(e->body[3], '\0');
    jc_entry_unref(e);
}
END_TEST

START_TEST(header_names_are_the_http_names)
{
    ck_assert_str_eq(jc_entry_header_name(JC_HDR_CONTENT_TYPE), "Content-Type");
    ck_assert_str_eq(jc_entry_header_name(JC_HDR_CONTENT_ENCODING), "Content-Encoding");
    ck_assert_str_eq(jc_entry_header_name(JC_HDR_CONTENT_LANGUAGE), "Content-Language");
    ck_assert_str_eq(jc_entry_header_name(JC_HDR_ETAG), "ETag");
    ck_assert_str_eq(jc_entry_header_name(JC_HDR_LAST_MODIFIED), "Last-Modified");
}
END_TEST

static Suite *entry_suite(void)
{
    Suite *s = suite_create("entry");
    TCase *tc = tcase_create("serialize");
    tcase_add_test(tc, full_entry_round_trips);
    tcase_add_test(tc, empty_entry_round_trips);
    tcase_add_test(tc, failed_entries_round_trip);
    tcase_add_test(tc, large_binary_body_round_trips);
    suite_add_tcase(s, tc);
    tc = tcase_create("corrupt");
    tcase_add_test(tc, every_truncation_is_rejected);
    tcase_add_test(tc, trailing_bytes_are_rejected);
    tcase_add_test(tc, corrupt_fields_are_rejected);
    suite_add_tcase(s, tc);
    tc = tcase_create("object");
    tcase_add_test(tc, refcount_keeps_the_entry_until_the_last_unref);
    tcase_add_test(tc, setters_copy_and_replace);
    tcase_add_test(tc, header_names_are_the_http_names);
    suite_add_tcase(s, tc);
    return s;
}

JC_TEST_MAIN(entry_suite)
