/* core/key.c: key decoding, validation and encoding.  See key.h. */
#include "core/key.h"

#include <stdlib.h>
#include <string.h>

#include "core/mem.h"

static int hex_value(char c)
{
    if (c >= '0' && c <= '9') {
        return c - '0';
    }
    if (c >= 'a' && c <= 'f') {
        return c - 'a' + 10;
    }
    if (c >= 'A' && c <= 'F') {
        return c - 'A' + 10;
    }
    return -1;
}

enum jc_err jc_key_decode(const char *in, size_t in_len, char **out, size_t *out_len)
{
    char *buf = jc_xmalloc(in_len + 1);
    size_t n = 0;
    for (size_t i = 0; i < in_len; i++) {
        if (in[i] != '%') {
            buf[n++] = in[i];
            continue;
        }
        if (in_len - i < 3) {
            free(buf);
            return JC_ERR_INVALID;
        }
        int hi = hex_value(in[i + 1]);
        int lo = hex_value(in[i + 2]);
        if (hi < 0 || lo < 0) {
            free(buf);
            return JC_ERR_INVALID;
        }
        buf[n++] = (char)(hi << 4 | lo);
        i += 2;
    }
    buf[n] = '\0';
    *out = buf;
    *out_len = n;
    return JC_OK;
}

enum jc_err jc_key_validate(const char *key, size_t len, const char **why)
{
    if (len == 0) {
        *why = "the key is empty";
        return JC_ERR_INVALID;
    }
    if (len > JC_KEY_MAX) {
        *why = "the key is longer than 1024 bytes";
        return JC_ERR_INVALID;
    }
    if ((len == 1 && key[0] == '.') || (len == 2 && key[0] == '.' && key[1] == '.')) {
        *why = "the key may not be '.' or '..'";
        return JC_ERR_INVALID;
    }
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)key[i];
        if (c < 0x20 || c == 0x7f) {
            *why = "the key contains a control byte";
            return JC_ERR_INVALID;
        }
    }
    return JC_OK;
}

static int is_unreserved(unsigned char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
           c == '.' || c == '_' || c == '~';
}

char *jc_key_encode(const char *key, size_t len)
{
    static const char hex[] = "0123456789ABCDEF";
    char *out = jc_xmalloc(len * 3 + 1);
    size_t n = 0;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)key[i];
        if (is_unreserved(c)) {
            out[n++] = (char)c;
        } else {
            out[n++] = '%';
            out[n++] = hex[c >> 4];
            out[n++] = hex[c & 15];
        }
    }
    out[n] = '\0';
    return out;
}

char *jc_key_upstream_url(const char *url_template, const char *key, size_t len)
{
    char *enc = jc_key_encode(key, len);
    struct jc_buf b;
    jc_buf_init(&b, 0);
    const char *p = url_template;
    const char *hit;
    while ((hit = strstr(p, "{key}")) != NULL) {
        jc_buf_add(&b, p, (size_t)(hit - p));
        jc_buf_add(&b, enc, strlen(enc));
        p = hit + 5;
    }
    jc_buf_add(&b, p, strlen(p));
    free(enc);
    return jc_buf_take(&b, NULL);
}
