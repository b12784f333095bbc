/* config/schema.h: reading a JSON object against a table of its options
 * (internal to config/, after nginx's ngx_command_t).
 *
 * A struct jc_schema carries the JSON path of the value being read
 * ("caches[1].upstream.url") and the caller's error buffer; the first error
 * is written there as "<path>: <problem>" and every later one is ignored.
 * Every string read through it has ${VAR} and ${VAR:-default} replaced by
 * the environment first.  Thread-safe (no shared state; getenv only). */
#ifndef JC_CONFIG_SCHEMA_H
#define JC_CONFIG_SCHEMA_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/err.h"

struct json_t;

struct jc_schema {
    char *err; /* borrowed: the caller's message buffer */
    size_t err_len;
    bool failed;
    char path[512];
    size_t path_len;
};

enum jc_schema_kind {
    JC_SCHEMA_STRING = 0, /* char * at offset, new string (the old one is freed) */
    JC_SCHEMA_BOOL,       /* bool at offset */
    JC_SCHEMA_U64,        /* uint64_t at offset, integer in [min, max] */
    JC_SCHEMA_SIZE,       /* size_t at offset, integer in [min, max] */
    JC_SCHEMA_INT,        /* int at offset, integer in [min, max] */
    JC_SCHEMA_CUSTOM,     /* read() does the work */
};

#define JC_SCHEMA_REQUIRED      1u /* absent is an error */
#define JC_SCHEMA_NONEMPTY      2u /* STRING: "" is an error */
#define JC_SCHEMA_EMPTY_IS_NULL 4u /* STRING: "" is stored as NULL (an unset secret) */

/* Reads value (the path already names it) into base.  Returns JC_OK or the
 * error from jc_schema_fail.  value and base are borrowed. */
typedef enum jc_err jc_schema_read_fn(struct jc_schema *s, struct json_t *value, void *base);
/* Validates a string after substitution.  Borrows value. */
typedef enum jc_err jc_schema_check_fn(struct jc_schema *s, const char *value);

struct jc_schema_field {
    const char *name;
    enum jc_schema_kind kind;
    size_t offset;
    uint64_t min;
    uint64_t max;
    unsigned flags;
    jc_schema_read_fn *read;   /* CUSTOM only */
    jc_schema_check_fn *check; /* STRING only, may be NULL */
};

/* Starts an empty path; err (err_len bytes) receives the first error. */
void jc_schema_init(struct jc_schema *s, char *err, size_t err_len);

/* Records "<path>: <formatted problem>" unless an error was recorded
 * already.  Always returns JC_ERR_INVALID. */
enum jc_err jc_schema_fail(struct jc_schema *s, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Appends ".key" (or "key" at the top) or "[index]" to the path and returns
 * the mark to give jc_schema_pop.  Borrows key. */
size_t jc_schema_push_key(struct jc_schema *s, const char *key);
size_t jc_schema_push_index(struct jc_schema *s, size_t index);
void jc_schema_pop(struct jc_schema *s, size_t mark);

/* Reads obj, which must be an object whose keys are all in fields, into
 * base, in the order of fields.  note (may be NULL) is added to the "unknown
 * key" message, e.g. "for store type \"memory\"".  Borrows everything. */
enum jc_err jc_schema_read_object(struct jc_schema *s, struct json_t *obj,
                                  const struct jc_schema_field *fields, size_t n_fields, void *base,
                                  const char *note) JC_MUST_CHECK;

/* Reads a string with substitution.  On JC_OK *out is new (free()). */
enum jc_err jc_schema_string(struct jc_schema *s, struct json_t *value, char **out) JC_MUST_CHECK;

/* Reads a non-negative integer in [min, max]. */
enum jc_err jc_schema_uint(struct jc_schema *s, struct json_t *value, uint64_t min, uint64_t max,
                           uint64_t *out) JC_MUST_CHECK;

/* Reads an array of strings, each substituted and checked by check (may be
 * NULL), at least one when nonempty.  On JC_OK *out is a new array of new
 * strings (free each and the array) and *n_out its length. */
enum jc_err jc_schema_string_array(struct jc_schema *s, struct json_t *value, bool nonempty,
                                   jc_schema_check_fn *check, char ***out,
                                   size_t *n_out) JC_MUST_CHECK;

/* Replaces ${VAR} and ${VAR:-default} in the len bytes at in.  ${VAR} needs
 * VAR set (to anything, "" included); ${VAR:-default} uses default when VAR
 * is unset or empty, as the shell does, and the default may itself hold
 * ${...} and balanced braces ("${URL:-http://h/{key}}").  On JC_OK *out is
 * new (free()).  Borrows in. */
enum jc_err jc_schema_subst(struct jc_schema *s, const char *in, size_t len,
                            char **out) JC_MUST_CHECK;

/* Parses "host:port" or "[v6]:port" (port 1..65535; host names of A-Z a-z
 * 0-9 . - _).  With default_port > 0 the ":port" may be left out.  On true
 * *host is new (free()) and *port set.  Borrows in. */
bool jc_schema_parse_host_port(const char *in, int default_port, char **host, int *port);

/* Frees n strings of arr and arr.  Accepts NULL. */
void jc_schema_free_strings(char **arr, size_t n);

#endif
