/* core/broker/event_codec.c: encoding and decoding of broker event payloads.
 *
 * The format (see event_codec.h) is fixed-width integers in network byte
 * order and length-prefixed byte strings, so that keys with any byte,
 * including NUL, travel unchanged and a truncated or foreign message is
 * recognised and dropped instead of being half-read.  A decoded event lives
 * in one allocation (the struct followed by its strings) so that the NATS
 * backend can hand it across threads and free it with one call. */
#include "core/broker/event_codec.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/mem.h"

#define HEADER_LEN 11 /* version, kind, flags, token */

static void put_u32(struct jc_buf *out, uint32_t v)
{
    unsigned char b[4] = {(unsigned char)(v >> 24), (unsigned char)(v >> 16),
                          (unsigned char)(v >> 8), (unsigned char)v};
    jc_buf_add(out, b, sizeof(b));
}

static uint32_t get_u32(const unsigned char *p)
{
    return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) | p[3];
}

static bool is_valid_text(const char *s, size_t len)
{
    return len <= JC_EVENT_CODEC_FIELD_MAX && (len == 0 || memchr(s, '\0', len) == NULL);
}

enum jc_err jc_event_codec_encode(const struct jc_event *ev, struct jc_buf *out)
{
    const char *cache = ev->cache != NULL ? ev->cache : "";
    const char *origin = ev->origin != NULL ? ev->origin : "";
    size_t cache_len = strlen(cache);
    size_t origin_len = strlen(origin);

    if (ev->kind != JC_EVENT_DONE && ev->kind != JC_EVENT_INVALIDATE) {
        return JC_ERR_INVALID;
    }
    if (!is_valid_text(cache, cache_len) || !is_valid_text(origin, origin_len) ||
        ev->key_len > JC_EVENT_CODEC_FIELD_MAX || (ev->key == NULL && ev->key_len > 0)) {
        return JC_ERR_INVALID;
    }
    unsigned char head[HEADER_LEN];
    head[0] = JC_EVENT_CODEC_VERSION;
    head[1] = (unsigned char)ev->kind;
    head[2] = ev->ok ? 1 : 0;
    for (int i = 0; i < 8; i++) {
        head[3 + i] = (unsigned char)(ev->token >> (56 - 8 * i));
    }
    jc_buf_add(out, head, sizeof(head));
    put_u32(out, (uint32_t)cache_len);
    jc_buf_add(out, cache, cache_len);
    put_u32(out, (uint32_t)ev->key_len);
    if (ev->key_len > 0) {
        jc_buf_add(out, ev->key, ev->key_len);
    }
    put_u32(out, (uint32_t)origin_len);
    jc_buf_add(out, origin, origin_len);
    return JC_OK;
}

/* One length-prefixed field of a payload being decoded. */
struct field {
    const unsigned char *bytes;
    size_t len;
};

/* Reads the field at *pos, advancing it.  Returns false when it does not fit. */
static bool read_field(const unsigned char *p, size_t len, size_t *pos, struct field *f)
{
    if (len - *pos < 4) {
        return false;
    }
    uint32_t n = get_u32(p + *pos);
    *pos += 4;
    if (n > JC_EVENT_CODEC_FIELD_MAX || len - *pos < n) {
        return false;
    }
    f->bytes = p + *pos;
    f->len = n;
    *pos += n;
    return true;
}

/* Copies f into dst as a NUL-terminated string; returns the byte after it. */
static char *copy_field(char *dst, const struct field *f)
{
    if (f->len > 0) {
        memcpy(dst, f->bytes, f->len);
    }
    dst[f->len] = '\0';
    return dst + f->len + 1;
}

enum jc_err jc_event_codec_decode(const void *data, size_t len, struct jc_event **out)
{
    const unsigned char *p = data;
    struct field cache, key, origin;
    size_t pos = HEADER_LEN;

    if (len < HEADER_LEN || p[0] != JC_EVENT_CODEC_VERSION) {
        return JC_ERR_INVALID;
    }
    if ((p[1] != JC_EVENT_DONE && p[1] != JC_EVENT_INVALIDATE) || (p[2] & ~1u) != 0) {
        return JC_ERR_INVALID;
    }
    if (!read_field(p, len, &pos, &cache) || !read_field(p, len, &pos, &key) ||
        !read_field(p, len, &pos, &origin) || pos != len) {
        return JC_ERR_INVALID;
    }
    if (!is_valid_text((const char *)cache.bytes, cache.len) ||
        !is_valid_text((const char *)origin.bytes, origin.len)) {
        return JC_ERR_INVALID;
    }
    struct jc_event *ev = jc_xmalloc(sizeof(*ev) + cache.len + 1 + key.len + 1 + origin.len + 1);
    char *strings = (char *)(ev + 1);
    ev->kind = (enum jc_event_kind)p[1];
    ev->ok = (p[2] & 1u) != 0;
    ev->token = 0;
    for (int i = 0; i < 8; i++) {
        ev->token = (ev->token << 8) | p[3 + i];
    }
    ev->cache = strings;
    strings = copy_field(strings, &cache);
    ev->key = strings;
    ev->key_len = key.len;
    strings = copy_field(strings, &key);
    ev->origin = strings;
    copy_field(strings, &origin);
    *out = ev;
    return JC_OK;
}

void jc_event_codec_free(struct jc_event *ev)
{
    free(ev);
}

static bool is_plain_token(const char *bytes, size_t len)
{
    if (len == 0 || len > 64) {
        return false;
    }
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)bytes[i];
        bool ok = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
                  c == '_' || c == '-';
        if (!ok) {
            return false;
        }
    }
    return true;
}

void jc_event_codec_subject_token(const char *bytes, size_t len, struct jc_buf *out)
{
    static const char alphabet[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    const unsigned char *p = (const unsigned char *)bytes;

    if (is_plain_token(bytes, len)) {
        jc_buf_add(out, bytes, len);
        return;
    }
    jc_buf_add(out, "~", 1);
    for (size_t i = 0; i < len; i += 3) {
        size_t n = len - i < 3 ? len - i : 3;
        uint32_t v = (uint32_t)p[i] << 16;
        if (n > 1) {
            v |= (uint32_t)p[i + 1] << 8;
        }
        if (n > 2) {
            v |= p[i + 2];
        }
        char quad[4];
        for (size_t j = 0; j < 4; j++) {
            quad[j] = alphabet[(v >> (18 - 6 * j)) & 0x3f];
        }
        jc_buf_add(out, quad, n + 1);
    }
}
