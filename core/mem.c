/* core/mem.c: aborting allocators and jc_buf.  See mem.h. */
#include "core/mem.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void oom(size_t size)
{
    fprintf(stderr, "jcached: out of memory allocating %zu bytes\n", size);
    abort();
}

void *jc_xmalloc(size_t size)
{
    void *p = malloc(size ? size : 1);
    if (p == NULL) {
        oom(size);
    }
    return p;
}

void *jc_xcalloc(size_t n, size_t size)
{
    void *p = calloc(n ? n : 1, size ? size : 1);
    if (p == NULL) {
        oom(n * size);
    }
    return p;
}

void *jc_xrealloc(void *ptr, size_t size)
{
    void *p = realloc(ptr, size ? size : 1);
    if (p == NULL) {
        oom(size);
    }
    return p;
}

char *jc_xstrdup(const char *s)
{
    return jc_xstrndup(s, strlen(s));
}

char *jc_xstrndup(const char *s, size_t n)
{
    char *p = jc_xmalloc(n + 1);
    memcpy(p, s, n);
    p[n] = '\0';
    return p;
}

void *jc_xmemdup(const void *p, size_t n)
{
    void *q = jc_xmalloc(n + 1);
    if (n > 0) {
        memcpy(q, p, n);
    }
    ((char *)q)[n] = '\0';
    return q;
}

void jc_buf_init(struct jc_buf *buf, size_t cap)
{
    buf->data = NULL;
    buf->len = 0;
    buf->alloc = 0;
    buf->cap = cap;
}

static void buf_reserve(struct jc_buf *buf, size_t extra)
{
    size_t need = buf->len + extra + 1;
    if (need <= buf->alloc) {
        return;
    }
    size_t alloc = buf->alloc ? buf->alloc : 256;
    while (alloc < need) {
        alloc *= 2;
    }
    buf->data = jc_xrealloc(buf->data, alloc);
    buf->alloc = alloc;
}

enum jc_err jc_buf_append(struct jc_buf *buf, const void *p, size_t n)
{
    if (buf->cap > 0 && (n > buf->cap || buf->len > buf->cap - n)) {
        return JC_ERR_TOO_LARGE;
    }
    buf_reserve(buf, n);
    if (n > 0) {
        memcpy(buf->data + buf->len, p, n);
    }
    buf->len += n;
    buf->data[buf->len] = '\0';
    return JC_OK;
}

void jc_buf_add(struct jc_buf *buf, const void *p, size_t n)
{
    buf_reserve(buf, n);
    if (n > 0) {
        memcpy(buf->data + buf->len, p, n);
    }
    buf->len += n;
    buf->data[buf->len] = '\0';
}

void jc_buf_printf(struct jc_buf *buf, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char small[256];
    int n = vsnprintf(small, sizeof(small), fmt, ap);
    va_end(ap);
    if (n < 0) {
        return;
    }
    buf_reserve(buf, (size_t)n);
    if ((size_t)n < sizeof(small)) {
        memcpy(buf->data + buf->len, small, (size_t)n + 1);
    } else {
        va_start(ap, fmt);
        vsnprintf(buf->data + buf->len, (size_t)n + 1, fmt, ap);
        va_end(ap);
    }
    buf->len += (size_t)n;
}

char *jc_buf_take(struct jc_buf *buf, size_t *len)
{
    if (buf->data == NULL) {
        buf_reserve(buf, 0);
        buf->data[0] = '\0';
    }
    char *p = buf->data;
    if (len != NULL) {
        *len = buf->len;
    }
    buf->data = NULL;
    buf->len = 0;
    buf->alloc = 0;
    return p;
}

void jc_buf_reset(struct jc_buf *buf)
{
    free(buf->data);
    buf->data = NULL;
    buf->len = 0;
    buf->alloc = 0;
}
