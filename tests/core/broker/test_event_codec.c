/* tests/core/broker/test_event_codec.c: the broker event wire format
 * (core/broker/event_codec.c): round trips with hostile keys, rejection of
 * malformed payloads, and subject tokens that are always valid NATS tokens. */
#include "core/broker/event_codec.h"

#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "core/mem.h"

static struct jc_event *round_trip(const struct jc_event *ev)
{
    struct jc_buf buf;
    jc_buf_init(&buf, 0);
    ck_assert_int_eq(jc_event_codec_encode(ev, &buf), JC_OK);
    struct jc_event *got = NULL;
    ck_assert_int_eq(jc_event_codec_decode(buf.data, buf.len, &got), JC_OK);
    jc_buf_reset(&buf);
    ck_assert_ptr_nonnull(got);
    return got;
}

START_TEST(done_event_round_trips_every_field)
{
    struct jc_event ev = {.kind = JC_EVENT_DONE,
                          .cache = "weather",
                          .key = "london",
                          .key_len = 6,
                          .token = 0x0102030405060708ull,
                          .ok = true,
                          .origin = "replica-1"};
    struct jc_event *got = round_trip(&ev);
    ck_assert_int_eq(got->kind, JC_EVENT_DONE);
    ck_assert_str_eq(got->cache, "weather");
    ck_assert_uint_eq(got->key_len, 6);
    ck_assert_mem_eq(got->key, "london", 6);
    ck_assert_uint_eq(got->token, 0x0102030405060708ull);
    ck_assert(got->ok);
    ck_assert_str_eq(got->origin, "replica-1");
    jc_event_codec_free(got);
}
END_TEST

START_TEST(invalidate_event_round_trips_with_large_token_and_no_ok)
{
    struct jc_event ev = {.kind = JC_EVENT_INVALIDATE,
                          .cache = "c",
                          .key = "k",
                          .key_len = 1,
                          .token = UINT64_MAX,
                          .ok = false,
                          .origin = "o"};
    struct jc_event *got = round_trip(&ev);
    ck_assert_int_eq(got->kind, JC_EVENT_INVALIDATE);
    ck_assert_uint_eq(got->token, UINT64_MAX);
    ck_assert(!got->ok);
    jc_event_codec_free(got);
}
END_TEST

START_TEST(hostile_key_bytes_survive_unchanged)
{
    char key[300];
    for (size_t i = 0; i < sizeof(key); i++) {
        key[i] = (char)(i % 256);
    }
    memcpy(key, "a.b *>\0\r\n", 9);
    struct jc_event ev = {
        .kind = JC_EVENT_DONE, .cache = "c", .key = key, .key_len = sizeof(key), .origin = "o"};
    struct jc_event *got = round_trip(&ev);
    ck_assert_uint_eq(got->key_len, sizeof(key));
    ck_assert_mem_eq(got->key, key, sizeof(key));
    ck_assert_int_eq(got->key[got->key_len], '\0');
    jc_event_codec_free(got);
}
END_TEST

START_TEST(null_and_empty_strings_encode_as_empty)
{
    struct jc_event ev = {.kind = JC_EVENT_DONE, .cache = NULL, .key = NULL, .origin = NULL};
    struct jc_event *got = round_trip(&ev);
    ck_assert_str_eq(got->cache, "");
    ck_assert_uint_eq(got->key_len, 0);
    ck_assert_str_eq(got->origin, "");
    jc_event_codec_free(got);
}
END_TEST

START_TEST(encode_rejects_unknown_kind_and_missing_key)
{
    struct jc_buf buf;
    jc_buf_init(&buf, 0);
    struct jc_event bad_kind = {.kind = (enum jc_event_kind)7, .cache = "c", .origin = "o"};
    ck_assert_int_eq(jc_event_codec_encode(&bad_kind, &buf), JC_ERR_INVALID);
    struct jc_event no_key = {.kind = JC_EVENT_DONE, .cache = "c", .key = NULL, .key_len = 3};
    ck_assert_int_eq(jc_event_codec_encode(&no_key, &buf), JC_ERR_INVALID);
    ck_assert_uint_eq(buf.len, 0);
    jc_buf_reset(&buf);
}
END_TEST

static void encode_sample(struct jc_buf *buf)
{
    struct jc_event ev = {.kind = JC_EVENT_DONE,
                          .cache = "cache",
                          .key = "key",
                          .key_len = 3,
                          .token = 42,
                          .ok = true,
                          .origin = "origin"};
    jc_buf_init(buf, 0);
    ck_assert_int_eq(jc_event_codec_encode(&ev, buf), JC_OK);
}

START_TEST(decode_rejects_every_truncation)
{
    struct jc_buf buf;
    encode_sample(&buf);
    for (size_t n = 0; n < buf.len; n++) {
        struct jc_event *got = NULL;
        ck_assert_int_eq(jc_event_codec_decode(buf.data, n, &got), JC_ERR_INVALID);
        ck_assert_ptr_null(got);
    }
    jc_buf_reset(&buf);
}
END_TEST

START_TEST(decode_rejects_trailing_bytes_bad_version_kind_and_flags)
{
    struct jc_buf buf;
    encode_sample(&buf);
    struct jc_event *got = NULL;
    jc_buf_add(&buf, "x", 1);
    ck_assert_int_eq(jc_event_codec_decode(buf.data, buf.len, &got), JC_ERR_INVALID);
    buf.len--;
    ck_assert_int_eq(jc_event_codec_decode(buf.data, buf.len, &got), JC_OK);
    jc_event_codec_free(got);
    const size_t offsets[] = {0, 1, 1, 2};
    const unsigned char values[] = {2, 0, 3, 2};
    for (size_t i = 0; i < 4; i++) {
        char *copy = jc_xmemdup(buf.data, buf.len);
        copy[offsets[i]] = (char)values[i];
        got = NULL;
        ck_assert_int_eq(jc_event_codec_decode(copy, buf.len, &got), JC_ERR_INVALID);
        free(copy);
    }
    jc_buf_reset(&buf);
}
END_TEST

START_TEST(decode_rejects_nul_in_cache_and_huge_lengths)
{
    struct jc_buf buf;
    encode_sample(&buf);
    char *copy = jc_xmemdup(buf.data, buf.len);
    copy[15] = '\0'; /* first byte of the cache name */
    struct jc_event *got = NULL;
    ck_assert_int_eq(jc_event_codec_decode(copy, buf.len, &got), JC_ERR_INVALID);
    memcpy(copy, buf.data, buf.len);
    copy[11] = (char)0xff; /* cache length 0xff000005 */
    ck_assert_int_eq(jc_event_codec_decode(copy, buf.len, &got), JC_ERR_INVALID);
    free(copy);
    jc_buf_reset(&buf);
}
END_TEST

static char *token_of(const char *bytes, size_t len)
{
    struct jc_buf buf;
    jc_buf_init(&buf, 0);
    jc_event_codec_subject_token(bytes, len, &buf);
    return jc_buf_take(&buf, NULL);
}

START_TEST(plain_names_stay_readable_in_subjects)
{
    char *t = token_of("weather_2-x", 11);
    ck_assert_str_eq(t, "weather_2-x");
    free(t);
}
END_TEST

START_TEST(hostile_bytes_become_one_safe_token)
{
    const char *samples[] = {"a.b", "*", ">", "a b", "", "\0\0", "~", "\xff\xfe\x01"};
    const size_t lens[] = {3, 1, 1, 3, 0, 2, 1, 3};
    for (size_t i = 0; i < sizeof(lens) / sizeof(lens[0]); i++) {
        char *t = token_of(samples[i], lens[i]);
        ck_assert_uint_gt(strlen(t), 0);
        ck_assert_int_eq(t[0], '~');
        ck_assert_ptr_null(strpbrk(t, ".*> \t\r\n"));
        free(t);
    }
    char *t = token_of("a.b", 3);
    ck_assert_str_eq(t, "~YS5i");
    free(t);
    t = token_of("", 0);
    ck_assert_str_eq(t, "~");
    free(t);
}
END_TEST

START_TEST(distinct_keys_get_distinct_tokens)
{
    char *a = token_of("\x00", 1);
    char *b = token_of("\x00\x00", 2);
    char *c = token_of("A", 1);
    ck_assert_str_ne(a, b);
    ck_assert_str_ne(a, c);
    ck_assert_str_eq(a, "~AA");
    ck_assert_str_eq(b, "~AAA");
    free(a);
    free(b);
    free(c);
}
END_TEST

static Suite *event_codec_suite(void)
{
    Suite *s = suite_create("event_codec");
    TCase *tc = tcase_create("round_trip");
    tcase_add_test(tc, done_event_round_trips_every_field);
    tcase_add_test(tc, invalidate_event_round_trips_with_large_token_and_no_ok);
    tcase_add_test(tc, hostile_key_bytes_survive_unchanged);
    tcase_add_test(tc, null_and_empty_strings_encode_as_empty);
    tcase_add_test(tc, encode_rejects_unknown_kind_and_missing_key);
    suite_add_tcase(s, tc);
    tc = tcase_create("malformed");
    tcase_add_test(tc, decode_rejects_every_truncation);
    tcase_add_test(tc, decode_rejects_trailing_bytes_bad_version_kind_and_flags);
    tcase_add_test(tc, decode_rejects_nul_in_cache_and_huge_lengths);
    suite_add_tcase(s, tc);
    tc = tcase_create("subject_token");
    tcase_add_test(tc, plain_names_stay_readable_in_subjects);
    tcase_add_test(tc, hostile_bytes_become_one_safe_token);
    tcase_add_test(tc, distinct_keys_get_distinct_tokens);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(event_codec_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
