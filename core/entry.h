/* core/entry.h: a stored outcome of one upstream fetch.
 *
 * An entry is immutable once shared and refcounted (jc_entry_ref/unref).  It
 * is either a value to serve (failed == 0: the upstream's status, the headers
 * jcached keeps, the body) or the outcome of a failed fetch that every waiter
 * of that fetch must see (failed == 1): an upstream status that is not
 * cacheable (err == JC_OK, status/body set) or a transport error (err set).
 *
 * Entries travel through the store in the binary form of
 * jc_entry_serialize().  Event thread only (the refcount is not atomic). */
#ifndef JC_CORE_ENTRY_H
#define JC_CORE_ENTRY_H

#include <stddef.h>
#include <stdint.h>

#include "core/err.h"

enum jc_entry_header {
    JC_HDR_CONTENT_TYPE = 0,
    JC_HDR_CONTENT_ENCODING,
    JC_HDR_CONTENT_LANGUAGE,
    JC_HDR_ETAG,
    JC_HDR_LAST_MODIFIED,
    JC_HDR_COUNT
};

struct jc_entry {
    int refs;
    int failed;                  /* 1: the outcome of a failed fetch, never served as a hit */
    enum jc_err err;             /* failed && err != JC_OK: transport error, no HTTP response */
    int status;                  /* the upstream's HTTP status */
    uint64_t stored_at_ms;       /* wall clock, ms since the epoch, when the fetch finished */
    char *headers[JC_HDR_COUNT]; /* NUL-terminated, or NULL when absent */
    char *body;                  /* body_len bytes, NUL-terminated past the end */
    size_t body_len;
};

/* Returns the header name of h ("Content-Type"). */
const char *jc_entry_header_name(enum jc_entry_header h);

/* Returns new: an empty entry with one reference. */
struct jc_entry *jc_entry_new(void);
/* Returns new: a failed entry for a transport error (no HTTP response). */
struct jc_entry *jc_entry_new_error(enum jc_err err);
/* Sets header h to a copy of value[0..len) (replacing any previous value). */
void jc_entry_set_header(struct jc_entry *entry, enum jc_entry_header h, const char *value,
                         size_t len);
/* Sets the body; takes *body (malloc'd, len bytes + a NUL) and sets *body = NULL. */
void jc_entry_take_body(struct jc_entry *entry, char **body, size_t len);
void jc_entry_set_body(struct jc_entry *entry, const void *body, size_t len);

struct jc_entry *jc_entry_ref(struct jc_entry *entry);
void jc_entry_unref(struct jc_entry *entry);

/* Returns new: the serialized form (free with free()); *len gets its size. */
char *jc_entry_serialize(const struct jc_entry *entry, size_t *len);
/* Parses a serialized entry.  On JC_OK, *out is new.  JC_ERR_INVALID on a
 * truncated or corrupt input.  Borrows data. */
enum jc_err jc_entry_parse(const void *data, size_t len, struct jc_entry **out) JC_MUST_CHECK;

#endif
