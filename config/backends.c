/* config/backends.c: the "store" and "broker" objects (SPEC §1 and §4).
 *
 * Both objects are typed: "type" is read first and picks the table of keys
 * that backend accepts, so a key of another backend ("url" under a memory
 * store) is reported as unknown for that type.  A Redis store is reached
 * either by URL or through Sentinel, never both; the URL's password and
 * database are copied into struct jc_store_config, which the Redis client
 * reads, while the URL itself is kept as given.  Empty secrets (usually
 * "${VAR:-}") are stored as NULL: no authentication.  Error messages never
 * repeat a URL, since it may hold a password. */
#include "config/backends.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "core/key.h"
#include "core/mem.h"

#define MAX_PREFIX_LEN 64
#define MAX_REDIS_DB   65535
#define N_FIELDS(t)    (sizeof(t) / sizeof((t)[0]))

static const char *const store_types[] = {"memory", "redis"};
static const char *const broker_types[] = {"local", "nats", "redis"};

static enum jc_err read_nothing(struct jc_schema *s, json_t *v, void *base)
{
    (void)s;
    (void)v;
    (void)base;
    return JC_OK;
}

static enum jc_err check_host_port(struct jc_schema *s, const char *value)
{
    char *host;
    int port;
    if (!jc_schema_parse_host_port(value, 26379, &host, &port)) {
        return jc_schema_fail(s, "must be host[:port], e.g. 127.0.0.1:26379");
    }
    free(host);
    return JC_OK;
}

/* A Redis key prefix or NATS subject prefix: safe in both, no empty token. */
static enum jc_err check_prefix(struct jc_schema *s, const char *value)
{
    size_t n = strlen(value);
    bool ok = n <= MAX_PREFIX_LEN && value[0] != '.' && value[n - 1] != '.' &&
              strstr(value, "..") == NULL;
    for (size_t i = 0; ok && i < n; i++) {
        char ch = value[i];
        ok = (ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') ||
             strchr("_-:.", ch) != NULL;
    }
    if (!ok) {
        return jc_schema_fail(s, "must be 1 to 64 of A-Z a-z 0-9 _ - : . with no empty "
                                 "dot-separated part");
    }
    return JC_OK;
}

static enum jc_err check_nats_url(struct jc_schema *s, const char *value)
{
    size_t skip = 0;
    if (strncmp(value, "nats://", 7) == 0) {
        skip = 7;
    } else if (strncmp(value, "tls://", 6) == 0) {
        skip = 6;
    }
    if (skip == 0 || value[skip] == '\0' || strpbrk(value, " \t\r\n,") != NULL) {
        return jc_schema_fail(s, "must be one URL nats://host:port or tls://host:port");
    }
    return JC_OK;
}

/* Reads obj's "type" into *type, one of names[0..n).  The path is left at
 * the object. */
static enum jc_err read_type(struct jc_schema *s, json_t *obj, const char *const *names, size_t n,
                             char **type)
{
    const char *list = n == 2 ? "memory, redis" : "local, nats, redis";
    size_t mark = jc_schema_push_key(s, "type");
    json_t *v = json_object_get(obj, "type");
    if (v == NULL) {
        return jc_schema_fail(s, "required (one of %s)", list);
    }
    char *str;
    enum jc_err err = jc_schema_string(s, v, &str);
    if (err != JC_OK) {
        return err;
    }
    for (size_t i = 0; i < n; i++) {
        if (strcmp(str, names[i]) == 0) {
            free(*type);
            *type = str;
            jc_schema_pop(s, mark);
            return JC_OK;
        }
    }
    free(str);
    return jc_schema_fail(s, "must be one of %s", list);
}

/* Decodes %XX escapes of the len bytes at in (no %00).  On true *out is new. */
static bool percent_decode(const char *in, size_t len, char **out)
{
    char *dec;
    size_t dec_len;
    if (jc_key_decode(in, len, &dec, &dec_len) != JC_OK) {
        return false;
    }
    if (strlen(dec) != dec_len) {
        free(dec);
        return false;
    }
    *out = dec;
    return true;
}

static bool parse_db(const char *p, int *db)
{
    size_t n = strlen(p);
    int v = 0;
    if (n > 5) {
        return false;
    }
    for (size_t i = 0; i < n; i++) {
        if (p[i] < '0' || p[i] > '9') {
            return false;
        }
        v = v * 10 + (p[i] - '0');
    }
    *db = v;
    return v <= MAX_REDIS_DB;
}

/* Reads the password of "redis://[user]:password@…" (authority of auth_len
 * bytes at auth).  Sets *hostport to what follows the user info. */
static enum jc_err parse_userinfo(struct jc_schema *s, const char *auth, size_t auth_len,
                                  char **password, const char **hostport)
{
    const char *at = NULL;
    for (size_t i = 0; i < auth_len; i++) {
        if (auth[i] == '@') {
            at = auth + i;
        }
    }
    *password = NULL;
    *hostport = auth;
    if (at == NULL) {
        return JC_OK;
    }
    /* The user name (Redis 6 ACL) stays in the URL, where the client reads
     * it; only the password has a place in struct jc_store_config. */
    const char *colon = memchr(auth, ':', (size_t)(at - auth));
    if (colon == NULL) {
        return jc_schema_fail(s, "the user info must be :password or user:password");
    }
    char *user = NULL;
    bool ok = percent_decode(auth, (size_t)(colon - auth), &user);
    free(user);
    if (!ok || !percent_decode(colon + 1, (size_t)(at - colon - 1), password)) {
        return jc_schema_fail(s, "bad %%-escape in the password");
    }
    *hostport = at + 1;
    return JC_OK;
}

/* Parses "redis://[[user]:password@]host[:port][/db]".  On JC_OK *password is new or
 * NULL (none or empty), and *db is set when the URL names one. */
static enum jc_err parse_redis_url(struct jc_schema *s, const char *url, char **password, int *db,
                                   bool *has_db)
{
    if (strncmp(url, "redis://", 8) != 0) {
        return jc_schema_fail(s, "must look like redis://[[user]:password@]host[:port][/db]%s",
                              strncmp(url, "rediss://", 9) == 0 ? " (TLS is not supported)" : "");
    }
    const char *auth = url + 8;
    size_t auth_len = strcspn(auth, "/?#");
    const char *tail = auth + auth_len;
    if (strpbrk(tail, "?#") != NULL) {
        return jc_schema_fail(s, "must not have a query or fragment");
    }
    const char *hostport;
    enum jc_err err = parse_userinfo(s, auth, auth_len, password, &hostport);
    if (err != JC_OK) {
        return err;
    }
    char *hp = jc_xstrndup(hostport, (size_t)(tail - hostport));
    char *host = NULL;
    int port;
    bool ok = jc_schema_parse_host_port(hp, 6379, &host, &port);
    free(hp);
    free(host);
    if (!ok) {
        err = jc_schema_fail(s, "must name host[:port], e.g. redis://127.0.0.1:6379/0");
    } else if (*tail == '/' && !parse_db(tail + 1, db)) {
        err =
            jc_schema_fail(s, "the database after / must be an integer from 0 to %d", MAX_REDIS_DB);
    }
    *has_db = *tail == '/';
    if (err != JC_OK || (*password != NULL && (*password)[0] == '\0')) {
        free(*password);
        *password = NULL;
    }
    return err;
}

static enum jc_err read_sentinel_hosts(struct jc_schema *s, json_t *v, void *base)
{
    struct jc_store_sentinel_config *sc = base;
    return jc_schema_string_array(s, v, true, check_host_port, &sc->hosts, &sc->n_hosts);
}

static const struct jc_schema_field sentinel_fields[] = {
    {.name = "hosts",
     .kind = JC_SCHEMA_CUSTOM,
     .read = read_sentinel_hosts,
     .flags = JC_SCHEMA_REQUIRED},
    {.name = "primary_name",
     .kind = JC_SCHEMA_STRING,
     .offset = offsetof(struct jc_store_sentinel_config, primary_name),
     .flags = JC_SCHEMA_REQUIRED | JC_SCHEMA_NONEMPTY},
    {.name = "password",
     .kind = JC_SCHEMA_STRING,
     .offset = offsetof(struct jc_store_sentinel_config, password),
     .flags = JC_SCHEMA_EMPTY_IS_NULL},
};

static enum jc_err read_sentinel(struct jc_schema *s, json_t *v, void *base)
{
    struct jc_store_config *st = base;
    st->has_sentinel = true;
    return jc_schema_read_object(s, v, sentinel_fields, N_FIELDS(sentinel_fields), &st->sentinel,
                                 NULL);
}

static const struct jc_schema_field memory_store_fields[] = {
    {.name = "type", .kind = JC_SCHEMA_CUSTOM, .read = read_nothing},
};

static const struct jc_schema_field redis_store_fields[] = {
    {.name = "type", .kind = JC_SCHEMA_CUSTOM, .read = read_nothing},
    {.name = "url",
     .kind = JC_SCHEMA_STRING,
     .offset = offsetof(struct jc_store_config, url),
     .flags = JC_SCHEMA_NONEMPTY},
    {.name = "sentinel", .kind = JC_SCHEMA_CUSTOM, .read = read_sentinel},
    {.name = "password",
     .kind = JC_SCHEMA_STRING,
     .offset = offsetof(struct jc_store_config, password),
     .flags = JC_SCHEMA_EMPTY_IS_NULL},
    {.name = "db",
     .kind = JC_SCHEMA_INT,
     .offset = offsetof(struct jc_store_config, db),
     .max = MAX_REDIS_DB},
    {.name = "prefix",
     .kind = JC_SCHEMA_STRING,
     .offset = offsetof(struct jc_store_config, prefix),
     .flags = JC_SCHEMA_NONEMPTY,
     .check = check_prefix},
};

/* After the keys of a Redis store are read: url xor sentinel, and the URL's
 * password and database, each given at most once. */
static enum jc_err check_redis_store(struct jc_schema *s, json_t *obj, struct jc_store_config *st)
{
    if (st->url != NULL && st->has_sentinel) {
        jc_schema_push_key(s, "sentinel");
        return jc_schema_fail(s, "give either store.url or store.sentinel, not both");
    }
    if (st->url == NULL && !st->has_sentinel) {
        jc_schema_push_key(s, "url");
        return jc_schema_fail(s, "required (or store.sentinel)");
    }
    if (st->url == NULL) {
        return JC_OK;
    }
    size_t mark = jc_schema_push_key(s, "url");
    char *password = NULL;
    int db = 0;
    bool has_db = false;
    enum jc_err err = parse_redis_url(s, st->url, &password, &db, &has_db);
    if (err != JC_OK) {
        return err;
    }
    jc_schema_pop(s, mark);
    if (password != NULL && st->password != NULL) {
        free(password);
        jc_schema_push_key(s, "password");
        return jc_schema_fail(s, "also given in store.url; give it once");
    }
    if (has_db && json_object_get(obj, "db") != NULL) {
        free(password);
        jc_schema_push_key(s, "db");
        return jc_schema_fail(s, "also given in store.url; give it once");
    }
    if (password != NULL) {
        st->password = password;
    }
    if (has_db) {
        st->db = db;
    }
    return JC_OK;
}

enum jc_err jc_backends_read_store(struct jc_schema *s, json_t *value, struct jc_store_config *st)
{
    if (!json_is_object(value)) {
        return jc_schema_fail(s, "must be an object with a \"type\"");
    }
    enum jc_err err = read_type(s, value, store_types, N_FIELDS(store_types), &st->type);
    if (err != JC_OK) {
        return err;
    }
    if (strcmp(st->type, "memory") == 0) {
        return jc_schema_read_object(s, value, memory_store_fields, N_FIELDS(memory_store_fields),
                                     st, "for store type \"memory\"");
    }
    err = jc_schema_read_object(s, value, redis_store_fields, N_FIELDS(redis_store_fields), st,
                                "for store type \"redis\"");
    if (err != JC_OK) {
        return err;
    }
    return check_redis_store(s, value, st);
}

static enum jc_err read_nats_urls(struct jc_schema *s, json_t *v, void *base)
{
    struct jc_broker_config *br = base;
    return jc_schema_string_array(s, v, true, check_nats_url, &br->urls, &br->n_urls);
}

static const struct jc_schema_field local_broker_fields[] = {
    {.name = "type", .kind = JC_SCHEMA_CUSTOM, .read = read_nothing},
};

static const struct jc_schema_field nats_broker_fields[] = {
    {.name = "type", .kind = JC_SCHEMA_CUSTOM, .read = read_nothing},
    {.name = "urls", .kind = JC_SCHEMA_CUSTOM, .read = read_nats_urls, .flags = JC_SCHEMA_REQUIRED},
    {.name = "token",
     .kind = JC_SCHEMA_STRING,
     .offset = offsetof(struct jc_broker_config, token),
     .flags = JC_SCHEMA_EMPTY_IS_NULL},
    {.name = "user",
     .kind = JC_SCHEMA_STRING,
     .offset = offsetof(struct jc_broker_config, user),
     .flags = JC_SCHEMA_EMPTY_IS_NULL},
    {.name = "password",
     .kind = JC_SCHEMA_STRING,
     .offset = offsetof(struct jc_broker_config, password),
     .flags = JC_SCHEMA_EMPTY_IS_NULL},
    {.name = "prefix",
     .kind = JC_SCHEMA_STRING,
     .offset = offsetof(struct jc_broker_config, subject_prefix),
     .flags = JC_SCHEMA_NONEMPTY,
     .check = check_prefix},
};

static const struct jc_schema_field redis_broker_fields[] = {
    {.name = "type", .kind = JC_SCHEMA_CUSTOM, .read = read_nothing},
    {.name = "prefix",
     .kind = JC_SCHEMA_STRING,
     .offset = offsetof(struct jc_broker_config, subject_prefix),
     .flags = JC_SCHEMA_NONEMPTY,
     .check = check_prefix},
};

static enum jc_err check_nats_auth(struct jc_schema *s, const struct jc_broker_config *br)
{
    if (br->token != NULL && (br->user != NULL || br->password != NULL)) {
        jc_schema_push_key(s, "token");
        return jc_schema_fail(s, "give either a token or user and password, not both");
    }
    if (br->user != NULL && br->password == NULL) {
        jc_schema_push_key(s, "password");
        return jc_schema_fail(s, "required with broker.user");
    }
    if (br->user == NULL && br->password != NULL) {
        jc_schema_push_key(s, "user");
        return jc_schema_fail(s, "required with broker.password");
    }
    return JC_OK;
}

enum jc_err jc_backends_read_broker(struct jc_schema *s, json_t *value, struct jc_broker_config *br)
{
    if (!json_is_object(value)) {
        return jc_schema_fail(s, "must be an object with a \"type\"");
    }
    enum jc_err err = read_type(s, value, broker_types, N_FIELDS(broker_types), &br->type);
    if (err != JC_OK) {
        return err;
    }
    if (strcmp(br->type, "local") == 0) {
        return jc_schema_read_object(s, value, local_broker_fields, N_FIELDS(local_broker_fields),
                                     br, "for broker type \"local\"");
    }
    if (strcmp(br->type, "redis") == 0) {
        return jc_schema_read_object(s, value, redis_broker_fields, N_FIELDS(redis_broker_fields),
                                     br, "for broker type \"redis\"");
    }
    err = jc_schema_read_object(s, value, nats_broker_fields, N_FIELDS(nats_broker_fields), br,
                                "for broker type \"nats\"");
    if (err != JC_OK) {
        return err;
    }
    return check_nats_auth(s, br);
}

void jc_backends_defaults(struct jc_store_config *st, struct jc_broker_config *br)
{
    memset(st, 0, sizeof(*st));
    memset(br, 0, sizeof(*br));
    st->type = jc_xstrdup("memory");
    st->prefix = jc_xstrdup("jcached");
    br->type = jc_xstrdup("local");
    br->subject_prefix = jc_xstrdup("jcached");
}

enum jc_err jc_backends_link(struct jc_schema *s, const struct jc_store_config *st,
                             struct jc_broker_config *br)
{
    bool memory = strcmp(st->type, "memory") == 0;
    bool local = strcmp(br->type, "local") == 0;
    if (memory && !local) {
        jc_schema_push_key(s, "broker");
        jc_schema_push_key(s, "type");
        return jc_schema_fail(s,
                              "\"%s\" needs the redis store; the memory store works only with "
                              "the local broker",
                              br->type);
    }
    if (!memory && local) {
        jc_schema_push_key(s, "broker");
        jc_schema_push_key(s, "type");
        return jc_schema_fail(s, "the redis store needs broker type nats or redis (local reaches "
                                 "only this process)");
    }
    br->redis = strcmp(br->type, "redis") == 0 ? st : NULL;
    return JC_OK;
}

void jc_backends_free(struct jc_store_config *st, struct jc_broker_config *br)
{
    if (st != NULL) {
        free(st->type);
        free(st->url);
        free(st->prefix);
        free(st->password);
        jc_schema_free_strings(st->sentinel.hosts, st->sentinel.n_hosts);
        free(st->sentinel.primary_name);
        free(st->sentinel.password);
    }
    if (br != NULL) {
        free(br->type);
        jc_schema_free_strings(br->urls, br->n_urls);
        free(br->token);
        free(br->user);
        free(br->password);
        free(br->subject_prefix);
    }
}
