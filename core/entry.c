/* core/entry.c: refcounted fetch outcomes and their binary form.
 *
 * Serialized layout (all integers little-endian):
 *   "JCE1" | u8 failed | u8 err | u16 status | u64 stored_at_ms |
 *   JC_HDR_COUNT x (u32 len | bytes), len 0xffffffff = absent |
 *   u32 body_len | body
 * The magic makes a value written by another program fail to parse instead
 * of being served. */
#include "core/entry.h"

#include <stdlib.h>
#include <string.h>

#include "core/mem.h"

#define ENTRY_MAGIC "JCE1"
#define ABSENT_LEN  0xffffffffu

static const char *const header_names[JC_HDR_COUNT] = {
    "Content-Type", "Content-Encoding", "Content-Language", "ETag", "Last-Modified",
};

const char *jc_entry_header_name(enum jc_entry_header h)
{
    return header_names[h];
}

struct jc_entry *jc_entry_new(void)
{
    struct jc_entry *e = jc_xcalloc(1, sizeof(*e));
    e->refs = 1;
    e->body = jc_xcalloc(1, 1);
    return e;
}

struct jc_entry *jc_entry_new_error(enum jc_err err)
{
    struct jc_entry *e = jc_entry_new();
    e->failed = 1;
    e->err = err;
    return e;
}

void jc_entry_set_header(struct jc_entry *entry, enum jc_entry_header h, const char *value,
                         size_t len)
{
    free(entry->headers[h]);
    entry->headers[h] = jc_xstrndup(value, len);
}

void jc_entry_take_body(struct jc_entry *entry, char **body, size_t len)
{
    free(entry->body);
    entry->body = *body;
    entry->body_len = len;
    *body = NULL;
}

void jc_entry_set_body(struct jc_entry *entry, const void *body, size_t len)
{
    free(entry->body);
    entry->body = jc_xmemdup(body, len);
    entry->body_len = len;
}

struct jc_entry *jc_entry_ref(struct jc_entry *entry)
{
    entry->refs++;
    return entry;
}

void jc_entry_unref(struct jc_entry *entry)
{
    if (entry == NULL) {
        return;
    }
    if (--entry->refs > 0) {
        return;
    }
    for (int i = 0; i < JC_HDR_COUNT; i++) {
        free(entry->headers[i]);
    }
    free(entry->body);
    free(entry);
}

static void put_u32(struct jc_buf *b, uint32_t v)
{
    unsigned char p[4] = {(unsigned char)v, (unsigned char)(v >> 8), (unsigned char)(v >> 16),
                          (unsigned char)(v >> 24)};
    jc_buf_add(b, p, 4);
}

static void put_u64(struct jc_buf *b, uint64_t v)
{
    put_u32(b, (uint32_t)v);
    put_u32(b, (uint32_t)(v >> 32));
}

char *jc_entry_serialize(const struct jc_entry *entry, size_t *len)
{
    struct jc_buf b;
    jc_buf_init(&b, 0);
    jc_buf_add(&b, ENTRY_MAGIC, 4);
    unsigned char head[4] = {(unsigned char)entry->failed, (unsigned char)entry->err,
                             (unsigned char)(entry->status & 0xff),
                             (unsigned char)((entry->status >> 8) & 0xff)};
    jc_buf_add(&b, head, 4);
    put_u64(&b, entry->stored_at_ms);
    for (int i = 0; i < JC_HDR_COUNT; i++) {
        if (entry->headers[i] == NULL) {
            put_u32(&b, ABSENT_LEN);
            continue;
        }
        size_t n = strlen(entry->headers[i]);
        put_u32(&b, (uint32_t)n);
        jc_buf_add(&b, entry->headers[i], n);
    }
    put_u32(&b, (uint32_t)entry->body_len);
    jc_buf_add(&b, entry->body, entry->body_len);
    return jc_buf_take(&b, len);
}

struct reader {
    const unsigned char *p;
    size_t left;
};

static int get_bytes(struct reader *r, const unsigned char **out, size_t n)
{
    if (r->left < n) {
        return -1;
    }
    *out = r->p;
    r->p += n;
    r->left -= n;
    return 0;
}

static int get_u32(struct reader *r, uint32_t *v)
{
    const unsigned char *p;
    if (get_bytes(r, &p, 4) != 0) {
        return -1;
    }
    *v = (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
    return 0;
}

enum jc_err jc_entry_parse(const void *data, size_t len, struct jc_entry **out)
{
    struct reader r = {data, len};
    const unsigned char *p;
    uint32_t lo, hi, n;
    if (get_bytes(&r, &p, 4) != 0 || memcmp(p, ENTRY_MAGIC, 4) != 0) {
        return JC_ERR_INVALID;
    }
    if (get_bytes(&r, &p, 4) != 0 || p[1] > JC_ERR_SHUTDOWN) {
        return JC_ERR_INVALID;
    }
    struct jc_entry *e = jc_entry_new();
    e->failed = p[0] != 0;
    e->err = (enum jc_err)p[1];
    e->status = p[2] | p[3] << 8;
    if (get_u32(&r, &lo) != 0 || get_u32(&r, &hi) != 0) {
        goto fail;
    }
    e->stored_at_ms = (uint64_t)lo | (uint64_t)hi << 32;
    for (int i = 0; i < JC_HDR_COUNT; i++) {
        if (get_u32(&r, &n) != 0) {
            goto fail;
        }
        if (n == ABSENT_LEN) {
            continue;
        }
        if (get_bytes(&r, &p, n) != 0) {
            goto fail;
        }
        e->headers[i] = jc_xstrndup((const char *)p, n);
    }
    if (get_u32(&r, &n) != 0 || get_bytes(&r, &p, n) != 0 || r.left != 0) {
        goto fail;
    }
    jc_entry_set_body(e, p, n);
    *out = e;
    return JC_OK;
fail:
    jc_entry_unref(e);
    return JC_ERR_INVALID;
}
