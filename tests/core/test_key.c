/* tests/core/test_key.c: core/key.c: decoding a key from the request path,
 * validating it, and putting it into the upstream URL so that no key can
 * reach another path or host. */
#include "core/key.h"

#include <check.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "core/mem.h"
#include "tests/support/jc_test.h"

static void assert_decodes(const char *in, const char *want, size_t want_len)
{
    char *out = NULL;
    size_t len = 0;
    ck_assert_msg(jc_key_decode(in, strlen(in), &out, &len) == JC_OK, "\"%s\" rejected", in);
    ck_assert_uint_eq(len, want_len);
    ck_assert_int_eq(memcmp(out, want, want_len), 0);
    ck_assert_int_eq(out[len], '\0');
    free(out);
}

static void assert_decode_fails(const char *in)
{
    char *out = NULL;
    size_t len = 12345;
    ck_assert_msg(jc_key_decode(in, strlen(in), &out, &len) == JC_ERR_INVALID, "\"%s\" accepted",
                  in);
    ck_assert_ptr_null(out);
    ck_assert_uint_eq(len, 12345);
}

START_TEST(decode_plain_and_escaped_bytes)
{
    assert_decodes("london", "london", 6);
    assert_decodes("a%2Fb", "a/b", 3);
    assert_decodes("a%2fb", "a/b", 3);
    assert_decodes("%41%62%63", "Abc", 3);
    assert_decodes("a+b", "a+b", 3);
    assert_decodes("%25", "%", 1);
    assert_decodes("%2525", "%25", 3);
    assert_decodes("x%00y", "x\0y", 3);
    assert_decodes("%C3%A9", "\xc3\xa9", 2);
    assert_decodes("", "", 0);
}
END_TEST

START_TEST(decode_rejects_bad_escapes)
{
    assert_decode_fails("%");
    assert_decode_fails("%4");
    assert_decode_fails("a%2");
    assert_decode_fails("%zz");
    assert_decode_fails("%g0");
    assert_decode_fails("%0g");
    assert_decode_fails("ok%%41");
    assert_decode_fails("%-1");
    assert_decode_fails("% 1");
}
END_TEST

START_TEST(decode_reads_only_the_given_length)
{
    char *out = NULL;
    size_t len = 0;
    /* "%4" followed by bytes outside the given length is still truncated. */
    ck_assert_int_eq(jc_key_decode("ab%41", 4, &out, &len), JC_ERR_INVALID);
    ck_assert_int_eq(jc_key_decode("ab%41zz", 5, &out, &len), JC_OK);
    ck_assert_uint_eq(len, 3);
    ck_assert_str_eq(out, "abA");
    free(out);
}
END_TEST

static enum jc_err validate(const char *key, size_t len)
{
    const char *why = NULL;
    enum jc_err err = jc_key_validate(key, len, &why);
    if (err != JC_OK) {
        ck_assert_ptr_nonnull(why);
        ck_assert_uint_gt(strlen(why), 0);
    }
    return err;
}

START_TEST(validate_lengths)
{
    char *k = jc_xmalloc(JC_KEY_MAX + 2);
    memset(k, 'k', JC_KEY_MAX + 1);
    ck_assert_int_eq(validate(k, 0), JC_ERR_INVALID);
    ck_assert_int_eq(validate(k, 1), JC_OK);
    ck_assert_int_eq(validate(k, 1024), JC_OK);
    ck_assert_int_eq(validate(k, 1025), JC_ERR_INVALID);
    free(k);
}
END_TEST

START_TEST(validate_rejects_control_bytes)
{
    static const char bad[] = {0x00, 0x01, 0x09, 0x0a, 0x0d, 0x1f, 0x7f};
    for (size_t i = 0; i < sizeof(bad); i++) {
        char k[3] = {'a', bad[i], 'b'};
        ck_assert_msg(validate(k, 3) == JC_ERR_INVALID, "byte 0x%02x accepted", bad[i]);
        ck_assert_int_eq(validate(k + 1, 1), JC_ERR_INVALID);
    }
    ck_assert_int_eq(validate(" ", 1), JC_OK);
    ck_assert_int_eq(validate("~", 1), JC_OK);
    ck_assert_int_eq(validate("\x80\xff", 2), JC_OK);
    ck_assert_int_eq(validate("\xc3\xa9t\xc3\xa9", 5), JC_OK);
}
END_TEST

START_TEST(validate_rejects_dot_and_dot_dot_only)
{
    ck_assert_int_eq(validate(".", 1), JC_ERR_INVALID);
    ck_assert_int_eq(validate("..", 2), JC_ERR_INVALID);
    ck_assert_int_eq(validate("...", 3), JC_OK);
    ck_assert_int_eq(validate(".a", 2), JC_OK);
    ck_assert_int_eq(validate("../x", 4), JC_OK);
    ck_assert_int_eq(validate("a/b", 3), JC_OK);
}
END_TEST

static void assert_encodes(const char *key, size_t len, const char *want)
{
    char *out = jc_key_encode(key, len);
    ck_assert_str_eq(out, want);
    free(out);
}

START_TEST(encode_escapes_everything_but_unreserved)
{
    assert_encodes("a/b", 3, "a%2Fb");
    assert_encodes("../x", 4, "..%2Fx");
    assert_encodes("AZaz09-._~", 10, "AZaz09-._~");
    assert_encodes("a b", 3, "a%20b");
    assert_encodes("?#&=%+@:", 8, "%3F%23%26%3D%25%2B%40%3A");
    assert_encodes("\xc3\xa9", 2, "%C3%A9");
    assert_encodes("x\0y", 3, "x%00y");
    assert_encodes("\\", 1, "%5C");
    assert_encodes("", 0, "");
}
END_TEST

START_TEST(encode_then_decode_gives_every_byte_back)
{
    char key[256];
    for (int i = 0; i < 256; i++) {
        key[i] = (char)i;
    }
    char *enc = jc_key_encode(key, sizeof(key));
    char *dec = NULL;
    size_t len = 0;
    ck_assert_int_eq(jc_key_decode(enc, strlen(enc), &dec, &len), JC_OK);
    ck_assert_uint_eq(len, sizeof(key));
    ck_assert_int_eq(memcmp(dec, key, len), 0);
    free(dec);
    free(enc);
}
END_TEST

START_TEST(upstream_url_replaces_every_placeholder)
{
    char *url = jc_key_upstream_url("http://h:1/a/{key}/b?k={key}&x=1", "a/b", 3);
    ck_assert_str_eq(url, "http://h:1/a/a%2Fb/b?k=a%2Fb&x=1");
    free(url);
    url = jc_key_upstream_url("http://h/{key}{key}", "x", 1);
    ck_assert_str_eq(url, "http://h/xx");
    free(url);
    url = jc_key_upstream_url("http://h/fixed", "x", 1);
    ck_assert_str_eq(url, "http://h/fixed");
    free(url);
    url = jc_key_upstream_url("http://h/{key", "x", 1);
    ck_assert_str_eq(url, "http://h/{key");
    free(url);
}
END_TEST

static bool is_unreserved(char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
           c == '.' || c == '_' || c == '~';
}

static bool is_hex(char c)
{
    return (c >= '0' && c <= '9') || (c >= 'A' && c <= 'F');
}

START_TEST(no_key_changes_the_upstream_host_or_path)
{
    static const char prefix[] = "http://127.0.0.1:9000/forecast/";
    static const char *const keys[] = {
        "../admin", "..",     "/etc/passwd",   "a/../../b",    "%2e%2e%2f",
        "x?y=1",    "x#frag", "@evil.example", "user:pw@evil", "//evil.example/x",
        "\\\\evil", "a b\tc", "{key}",
    };
    for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
        char *url =
            jc_key_upstream_url("http://127.0.0.1:9000/forecast/{key}", keys[i], strlen(keys[i]));
        ck_assert_int_eq(strncmp(url, prefix, sizeof(prefix) - 1), 0);
        /* What follows the fixed prefix is one path segment: only unreserved
         * bytes and %XX escapes, and it decodes back to the key. */
        const char *seg = url + sizeof(prefix) - 1;
        for (const char *p = seg; *p != '\0'; p++) {
            if (*p == '%') {
                ck_assert(is_hex(p[1]) && is_hex(p[2]));
                p += 2;
            } else {
                ck_assert_msg(is_unreserved(*p), "key %zu: '%c' left in %s", i, *p, url);
            }
        }
        char *dec = NULL;
        size_t len = 0;
        ck_assert_int_eq(jc_key_decode(seg, strlen(seg), &dec, &len), JC_OK);
        ck_assert_uint_eq(len, strlen(keys[i]));
        ck_assert_int_eq(memcmp(dec, keys[i], len), 0);
        free(dec);
        free(url);
    }
}
END_TEST

static Suite *key_suite(void)
{
    Suite *s = suite_create("key");
    TCase *tc = tcase_create("decode");
    tcase_add_test(tc, decode_plain_and_escaped_bytes);
    tcase_add_test(tc, decode_rejects_bad_escapes);
    tcase_add_test(tc, decode_reads_only_the_given_length);
    suite_add_tcase(s, tc);
    tc = tcase_create("validate");
    tcase_add_test(tc, validate_lengths);
    tcase_add_test(tc, validate_rejects_control_bytes);
    tcase_add_test(tc, validate_rejects_dot_and_dot_dot_only);
    suite_add_tcase(s, tc);
    tc = tcase_create("encode");
    tcase_add_test(tc, encode_escapes_everything_but_unreserved);
    tcase_add_test(tc, encode_then_decode_gives_every_byte_back);
    tcase_add_test(tc, upstream_url_replaces_every_placeholder);
    tcase_add_test(tc, no_key_changes_the_upstream_host_or_path);
    suite_add_tcase(s, tc);
    return s;
}

JC_TEST_MAIN(key_suite)
