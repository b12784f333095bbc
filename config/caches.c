/* config/caches.c: the "caches" array: SPEC §4 caches[i] into struct
 * jc_cache_config, and back out as the JSON of GET /caches.
 *
 * Each cache starts from jc_cache_config_defaults() with its cache_statuses
 * copied at once into owned memory, so that a half-read array can always be
 * freed with jc_caches_free.  The nested objects (upstream, expiry, l1) are
 * read with the cache itself as base, since their options are flat members
 * of struct jc_cache_config.  Checks that involve two options (the wait
 * timeouts, unique names) run after the cache is read.
 *
 * The description for GET /caches leaves secrets out: header values (tokens
 * usually live there) and the user info of the upstream URL. */
#include "config/caches.h"

#include <inttypes.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "core/mem.h"

#define MS_PER_DAY      UINT64_C(86400000)
#define MAX_EXPIRY_MS   (MS_PER_DAY * 3650)
#define MAX_BODY_BYTES  (UINT64_C(1) << 30)
#define MAX_L1_ENTRIES  UINT64_C(100000000)
#define MAX_HEADER_NAME 256

static bool starts_with_nocase(const char *s, const char *prefix)
{
    for (; *prefix != '\0'; s++, prefix++) {
        char c = *s;
        if (c >= 'A' && c <= 'Z') {
            c = (char)(c - 'A' + 'a');
        }
        if (c != *prefix) {
            return false;
        }
    }
    return true;
}

static size_t authority_len(const char *url)
{
    const char *p = strstr(url, "://");
    return p == NULL ? 0 : strcspn(p + 3, "/?#");
}

static enum jc_err check_upstream_url(struct jc_schema *s, const char *url)
{
    size_t skip;
    if (starts_with_nocase(url, "http://")) {
        skip = 7;
    } else if (starts_with_nocase(url, "https://")) {
        skip = 8;
    } else {
        return jc_schema_fail(s, "must start with http:// or https://");
    }
    for (const char *p = url; *p != '\0'; p++) {
        if ((unsigned char)*p <= 0x20 || *p == 0x7f) {
            return jc_schema_fail(s, "must not contain spaces or control characters");
        }
    }
    if (strchr(url, '#') != NULL) {
        /* A fragment is never sent, so a {key} inside it would be lost. */
        return jc_schema_fail(s, "must not contain a #fragment");
    }
    size_t host_len = authority_len(url);
    if (host_len == 0) {
        return jc_schema_fail(s, "must name a host after the scheme");
    }
    if (strstr(url, "{key}") == NULL) {
        return jc_schema_fail(s, "must contain {key}");
    }
    const char *key = strstr(url + skip, "{key}");
    if (key < url + skip + host_len) {
        return jc_schema_fail(s, "{key} must be in the path or the query, not in the host");
    }
    return JC_OK;
}

static enum jc_err check_name(struct jc_schema *s, const char *name)
{
    if (!jc_cache_name_is_valid(name)) {
        return jc_schema_fail(s, "must be 1 to 64 of A-Z a-z 0-9 _ -");
    }
    return JC_OK;
}

static bool is_header_name(const char *name)
{
    size_t n = strlen(name);
    if (n == 0 || n > MAX_HEADER_NAME) {
        return false;
    }
    for (size_t i = 0; i < n; i++) {
        char ch = name[i];
        bool alnum =
            (ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9');
        if (!alnum && strchr("!#$%&'*+-.^_`|~", ch) == NULL) {
            return false;
        }
    }
    return true;
}

static bool same_name_nocase(const char *a, const char *b)
{
    return strlen(a) == strlen(b) && starts_with_nocase(a, b) && starts_with_nocase(b, a);
}

/* Reads one header; the path names it.  Appends it to c on success. */
static enum jc_err read_header(struct jc_schema *s, const char *name, json_t *value,
                               struct jc_cache_config *c)
{
    if (!is_header_name(name)) {
        return jc_schema_fail(s, "is not a valid HTTP header name");
    }
    for (size_t i = 0; i < c->n_upstream_headers; i++) {
        if (same_name_nocase(c->upstream_headers[i].name, name)) {
            return jc_schema_fail(s, "duplicate header (names are case-insensitive)");
        }
    }
    char *v;
    enum jc_err err = jc_schema_string(s, value, &v);
    if (err != JC_OK) {
        return err;
    }
    if (strpbrk(v, "\r\n") != NULL) {
        free(v);
        return jc_schema_fail(s, "must not contain CR or LF");
    }
    struct jc_header_kv *h = &c->upstream_headers[c->n_upstream_headers++];
    h->name = jc_xstrdup(name);
    h->value = v;
    return JC_OK;
}

static enum jc_err read_headers(struct jc_schema *s, json_t *v, void *base)
{
    struct jc_cache_config *c = base;
    if (!json_is_object(v)) {
        return jc_schema_fail(s, "must be an object of header name to value");
    }
    c->upstream_headers = jc_xcalloc(json_object_size(v), sizeof(*c->upstream_headers));
    const char *name;
    json_t *value;
    json_object_foreach(v, name, value)
    {
        size_t mark = jc_schema_push_key(s, name);
        enum jc_err err = read_header(s, name, value, c);
        if (err != JC_OK) {
            return err;
        }
        jc_schema_pop(s, mark);
    }
    return JC_OK;
}

static enum jc_err read_statuses(struct jc_schema *s, json_t *v, void *base)
{
    struct jc_cache_config *c = base;
    if (!json_is_array(v)) {
        return jc_schema_fail(s, "must be an array of HTTP status codes");
    }
    size_t n = json_array_size(v);
    int *codes = jc_xcalloc(n, sizeof(*codes));
    for (size_t i = 0; i < n; i++) {
        size_t mark = jc_schema_push_index(s, i);
        uint64_t code = 0;
        enum jc_err err = jc_schema_uint(s, json_array_get(v, i), 100, 599, &code);
        for (size_t j = 0; err == JC_OK && j < i; j++) {
            if (codes[j] == (int)code) {
                err = jc_schema_fail(s, "duplicate status %d", codes[j]);
            }
        }
        if (err != JC_OK) {
            free(codes);
            return err;
        }
        codes[i] = (int)code;
        jc_schema_pop(s, mark);
    }
    free(c->cache_statuses);
    c->cache_statuses = codes;
    c->n_cache_statuses = n;
    return JC_OK;
}

static enum jc_err read_expiry_type(struct jc_schema *s, json_t *v, void *base)
{
    struct jc_cache_config *c = base;
    char *type;
    enum jc_err err = jc_schema_string(s, v, &type);
    if (err != JC_OK) {
        return err;
    }
    if (strcmp(type, "sliding") == 0) {
        c->expiry_type = JC_EXPIRY_SLIDING;
    } else if (strcmp(type, "absolute") == 0) {
        c->expiry_type = JC_EXPIRY_ABSOLUTE;
    } else {
        err = jc_schema_fail(s, "must be \"sliding\" or \"absolute\"");
    }
    free(type);
    return err;
}

static const struct jc_schema_field expiry_fields[] = {
    {.name = "type",
     .kind = JC_SCHEMA_CUSTOM,
     .read = read_expiry_type,
     .flags = JC_SCHEMA_REQUIRED},
    {.name = "time_ms",
     .kind = JC_SCHEMA_U64,
     .offset = offsetof(struct jc_cache_config, expiry_ms),
     .min = 1,
     .max = MAX_EXPIRY_MS,
     .flags = JC_SCHEMA_REQUIRED},
};

static enum jc_err read_expiry(struct jc_schema *s, json_t *v, void *base)
{
    struct jc_cache_config *c = base;
    if (json_is_null(v)) {
        c->expiry_type = JC_EXPIRY_NONE;
        c->expiry_ms = 0;
        return JC_OK;
    }
    return jc_schema_read_object(s, v, expiry_fields,
                                 sizeof(expiry_fields) / sizeof(expiry_fields[0]), base, NULL);
}

static const struct jc_schema_field l1_fields[] = {
    {.name = "enabled",
     .kind = JC_SCHEMA_BOOL,
     .offset = offsetof(struct jc_cache_config, l1_enabled),
     .flags = JC_SCHEMA_REQUIRED},
    {.name = "purge_interval_s",
     .kind = JC_SCHEMA_U64,
     .offset = offsetof(struct jc_cache_config, l1_purge_interval_s),
     .min = 1,
     .max = 86400},
    {.name = "max_entries",
     .kind = JC_SCHEMA_SIZE,
     .offset = offsetof(struct jc_cache_config, l1_max_entries),
     .min = 1,
     .max = MAX_L1_ENTRIES},
};

static enum jc_err read_l1(struct jc_schema *s, json_t *v, void *base)
{
    return jc_schema_read_object(s, v, l1_fields, sizeof(l1_fields) / sizeof(l1_fields[0]), base,
                                 NULL);
}

static const struct jc_schema_field upstream_fields[] = {
    {.name = "url",
     .kind = JC_SCHEMA_STRING,
     .offset = offsetof(struct jc_cache_config, upstream_url),
     .flags = JC_SCHEMA_REQUIRED | JC_SCHEMA_NONEMPTY,
     .check = check_upstream_url},
    {.name = "timeout_ms",
     .kind = JC_SCHEMA_U64,
     .offset = offsetof(struct jc_cache_config, upstream_timeout_ms),
     .min = 1,
     .max = MS_PER_DAY},
    {.name = "headers", .kind = JC_SCHEMA_CUSTOM, .read = read_headers},
    {.name = "max_body_bytes",
     .kind = JC_SCHEMA_SIZE,
     .offset = offsetof(struct jc_cache_config, max_body_bytes),
     .min = 1,
     .max = MAX_BODY_BYTES},
};

static enum jc_err read_upstream(struct jc_schema *s, json_t *v, void *base)
{
    return jc_schema_read_object(s, v, upstream_fields,
                                 sizeof(upstream_fields) / sizeof(upstream_fields[0]), base, NULL);
}

static const struct jc_schema_field cache_fields[] = {
    {.name = "name",
     .kind = JC_SCHEMA_STRING,
     .offset = offsetof(struct jc_cache_config, name),
     .flags = JC_SCHEMA_REQUIRED | JC_SCHEMA_NONEMPTY,
     .check = check_name},
    {.name = "upstream",
     .kind = JC_SCHEMA_CUSTOM,
     .read = read_upstream,
     .flags = JC_SCHEMA_REQUIRED},
    {.name = "cache_statuses", .kind = JC_SCHEMA_CUSTOM, .read = read_statuses},
    {.name = "expiry", .kind = JC_SCHEMA_CUSTOM, .read = read_expiry},
    {.name = "l1", .kind = JC_SCHEMA_CUSTOM, .read = read_l1},
    {.name = "wait_timeout_ms",
     .kind = JC_SCHEMA_U64,
     .offset = offsetof(struct jc_cache_config, wait_timeout_ms),
     .max = MS_PER_DAY},
    {.name = "max_wait_timeout_ms",
     .kind = JC_SCHEMA_U64,
     .offset = offsetof(struct jc_cache_config, max_wait_timeout_ms),
     .max = MS_PER_DAY},
    {.name = "lease_grace_ms",
     .kind = JC_SCHEMA_U64,
     .offset = offsetof(struct jc_cache_config, lease_grace_ms),
     .max = MS_PER_DAY / 24},
    {.name = "poll_interval_ms",
     .kind = JC_SCHEMA_U64,
     .offset = offsetof(struct jc_cache_config, poll_interval_ms),
     .min = 1,
     .max = MS_PER_DAY / 24},
};

/* Checks between options of one cache and against the caches before it. */
static enum jc_err check_cache(struct jc_schema *s, json_t *obj, struct jc_cache_config *all,
                               size_t i)
{
    struct jc_cache_config *c = &all[i];
    for (size_t j = 0; j < i; j++) {
        if (strcmp(all[j].name, c->name) == 0) {
            jc_schema_push_key(s, "name");
            return jc_schema_fail(s, "duplicate cache name \"%s\" (also caches[%zu])", c->name, j);
        }
    }
    if (c->max_wait_timeout_ms < c->wait_timeout_ms) {
        if (json_object_get(obj, "max_wait_timeout_ms") != NULL) {
            jc_schema_push_key(s, "max_wait_timeout_ms");
            return jc_schema_fail(s, "must be at least wait_timeout_ms (%" PRIu64 ")",
                                  c->wait_timeout_ms);
        }
        jc_schema_push_key(s, "wait_timeout_ms");
        return jc_schema_fail(s, "must be at most max_wait_timeout_ms (%" PRIu64 ")",
                              c->max_wait_timeout_ms);
    }
    return JC_OK;
}

static void init_cache(struct jc_cache_config *c)
{
    jc_cache_config_defaults(c);
    int *codes = jc_xcalloc(c->n_cache_statuses, sizeof(*codes));
    if (c->n_cache_statuses > 0) {
        memcpy(codes, c->cache_statuses, c->n_cache_statuses * sizeof(*codes));
    }
    c->cache_statuses = codes;
}

enum jc_err jc_caches_read(struct jc_schema *s, json_t *value, struct jc_cache_config **out,
                           size_t *n_out)
{
    if (!json_is_array(value)) {
        return jc_schema_fail(s, "must be an array of caches");
    }
    size_t n = json_array_size(value);
    if (n == 0) {
        return jc_schema_fail(s, "must list at least one cache");
    }
    struct jc_cache_config *caches = jc_xcalloc(n, sizeof(*caches));
    for (size_t i = 0; i < n; i++) {
        init_cache(&caches[i]);
    }
    for (size_t i = 0; i < n; i++) {
        size_t mark = jc_schema_push_index(s, i);
        json_t *obj = json_array_get(value, i);
        enum jc_err err = jc_schema_read_object(
            s, obj, cache_fields, sizeof(cache_fields) / sizeof(cache_fields[0]), &caches[i], NULL);
        if (err == JC_OK) {
            err = check_cache(s, obj, caches, i);
        }
        if (err != JC_OK) {
            jc_caches_free(caches, n);
            return err;
        }
        jc_schema_pop(s, mark);
    }
    *out = caches;
    *n_out = n;
    return JC_OK;
}

void jc_caches_free(struct jc_cache_config *caches, size_t n)
{
    if (caches == NULL) {
        return;
    }
    for (size_t i = 0; i < n; i++) {
        struct jc_cache_config *c = &caches[i];
        free(c->name);
        free(c->upstream_url);
        for (size_t j = 0; j < c->n_upstream_headers; j++) {
            free(c->upstream_headers[j].name);
            free(c->upstream_headers[j].value);
        }
        free(c->upstream_headers);
        free(c->cache_statuses);
    }
    free(caches);
}

/* Returns new: url without "user:password@" in its authority. */
static char *url_without_userinfo(const char *url)
{
    const char *scheme_end = strstr(url, "://");
    if (scheme_end == NULL) {
        return jc_xstrdup(url);
    }
    const char *auth = scheme_end + 3;
    size_t auth_len = authority_len(url);
    const char *at = NULL;
    for (size_t i = 0; i < auth_len; i++) {
        if (auth[i] == '@') {
            at = auth + i;
        }
    }
    if (at == NULL) {
        return jc_xstrdup(url);
    }
    struct jc_buf b;
    jc_buf_init(&b, 0);
    jc_buf_add(&b, url, (size_t)(auth - url));
    jc_buf_add(&b, at + 1, strlen(at + 1));
    return jc_buf_take(&b, NULL);
}

static json_t *upstream_json(const struct jc_cache_config *c)
{
    json_t *names = json_array();
    for (size_t i = 0; i < c->n_upstream_headers; i++) {
        json_array_append_new(names, json_string(c->upstream_headers[i].name));
    }
    char *url = url_without_userinfo(c->upstream_url);
    json_t *up = json_pack("{s:s, s:I, s:I, s:o}", "url", url, "timeout_ms",
                           (json_int_t)c->upstream_timeout_ms, "max_body_bytes",
                           (json_int_t)c->max_body_bytes, "headers", names);
    free(url);
    return up;
}

static json_t *cache_json(const struct jc_cache_config *c)
{
    json_t *statuses = json_array();
    for (size_t i = 0; i < c->n_cache_statuses; i++) {
        json_array_append_new(statuses, json_integer(c->cache_statuses[i]));
    }
    json_t *expiry = json_null();
    if (c->expiry_type != JC_EXPIRY_NONE) {
        expiry = json_pack("{s:s, s:I}", "type",
                           c->expiry_type == JC_EXPIRY_SLIDING ? "sliding" : "absolute", "time_ms",
                           (json_int_t)c->expiry_ms);
    }
    json_t *l1 =
        json_pack("{s:b, s:I, s:I}", "enabled", (int)c->l1_enabled, "purge_interval_s",
                  (json_int_t)c->l1_purge_interval_s, "max_entries", (json_int_t)c->l1_max_entries);
    return json_pack("{s:s, s:o, s:o, s:o, s:o, s:I, s:I, s:I, s:I}", "name", c->name, "upstream",
                     upstream_json(c), "cache_statuses", statuses, "expiry", expiry, "l1", l1,
                     "wait_timeout_ms", (json_int_t)c->wait_timeout_ms, "max_wait_timeout_ms",
                     (json_int_t)c->max_wait_timeout_ms, "lease_grace_ms",
                     (json_int_t)c->lease_grace_ms, "poll_interval_ms",
                     (json_int_t)c->poll_interval_ms);
}

char *jc_caches_json(const struct jc_cache_config *caches, size_t n)
{
    json_t *arr = json_array();
    for (size_t i = 0; i < n; i++) {
        json_array_append_new(arr, cache_json(&caches[i]));
    }
    json_t *root = json_pack("{s:o}", "caches", arr);
    char *text = root != NULL ? json_dumps(root, JSON_COMPACT) : NULL;
    json_decref(root);
    if (text == NULL) {
        /* Only allocation fails here, and the daemon's policy is to abort. */
        abort();
    }
    char *copy = jc_xstrdup(text);
    free(text);
    return copy;
}
