/* core/mem.h: allocation that aborts on exhaustion, and a growable byte buffer
 * with an explicit cap.
 *
 * jcached is a daemon: running out of memory is not recoverable, so the x*
 * functions print a message and abort instead of returning NULL.  What is
 * handled is limits: a jc_buf never grows past its cap.  Thread-safe. */
#ifndef JC_CORE_MEM_H
#define JC_CORE_MEM_H

#include <stddef.h>

#include "core/err.h"

void *jc_xmalloc(size_t size);
void *jc_xcalloc(size_t n, size_t size);
void *jc_xrealloc(void *ptr, size_t size);
char *jc_xstrdup(const char *s);
char *jc_xstrndup(const char *s, size_t n);
void *jc_xmemdup(const void *p, size_t n);

/* A growable buffer.  data is NUL-terminated past len for convenience. */
struct jc_buf {
    char *data;
    size_t len;
    size_t alloc;
    size_t cap; /* the most len may reach; 0 = no cap */
};

void jc_buf_init(struct jc_buf *buf, size_t cap);
/* Appends n bytes.  Returns JC_ERR_TOO_LARGE (and appends nothing) past the cap. */
enum jc_err jc_buf_append(struct jc_buf *buf, const void *p, size_t n) JC_MUST_CHECK;
/* Appends n bytes, ignoring the cap (for buffers built from trusted data). */
void jc_buf_add(struct jc_buf *buf, const void *p, size_t n);
/* Appends a formatted string; no cap check (for building small messages). */
void jc_buf_printf(struct jc_buf *buf, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Returns new: the buffer's bytes (caller frees with free()); the buffer is reset. */
char *jc_buf_take(struct jc_buf *buf, size_t *len);
void jc_buf_reset(struct jc_buf *buf);

#endif
