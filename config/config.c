/* config/config.c: the configuration file (SPEC §4) into struct jc_config.
 *
 * The text is parsed by jansson (duplicate keys rejected) and then walked
 * with the tables of config/schema.h: the top level here, the store and
 * broker in config/backends.c, the caches in config/caches.c.  A fresh
 * struct jc_config holds every default before the walk and each option read
 * replaces its default, so the struct can be freed with jc_config_free at
 * any point, even half-read after an error.  The store and broker
 * combination of SPEC §1 is checked last, when both are known.  The result
 * owns all its strings and is not changed after load. */
#include "config/config.h"

#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config/backends.h"
#include "config/caches.h"
#include "config/schema.h"
#include "core/mem.h"

#define N_FIELDS(t) (sizeof(t) / sizeof((t)[0]))

static enum jc_err read_listen(struct jc_schema *s, json_t *v, void *base)
{
    struct jc_config *cfg = base;
    char *str;
    enum jc_err err = jc_schema_string(s, v, &str);
    if (err != JC_OK) {
        return err;
    }
    char *host;
    int port;
    bool ok = jc_schema_parse_host_port(str, 0, &host, &port);
    free(str);
    if (!ok) {
        return jc_schema_fail(s, "must be host:port with a port from 1 to 65535, e.g. "
                                 "127.0.0.1:8080 or [::1]:8080");
    }
    free(cfg->listen_host);
    cfg->listen_host = host;
    cfg->listen_port = port;
    return JC_OK;
}

static enum jc_err read_log_level(struct jc_schema *s, json_t *v, void *base)
{
    struct jc_config *cfg = base;
    char *str;
    enum jc_err err = jc_schema_string(s, v, &str);
    if (err != JC_OK) {
        return err;
    }
    if (jc_log_parse_level(str, &cfg->log_level) != 0) {
        err = jc_schema_fail(s, "must be one of debug, info, warn, error");
    }
    free(str);
    return err;
}

static enum jc_err read_store(struct jc_schema *s, json_t *v, void *base)
{
    struct jc_config *cfg = base;
    return jc_backends_read_store(s, v, &cfg->store);
}

static enum jc_err read_broker(struct jc_schema *s, json_t *v, void *base)
{
    struct jc_config *cfg = base;
    return jc_backends_read_broker(s, v, &cfg->broker);
}

static enum jc_err read_caches(struct jc_schema *s, json_t *v, void *base)
{
    struct jc_config *cfg = base;
    return jc_caches_read(s, v, &cfg->caches, &cfg->n_caches);
}

static const struct jc_schema_field top_fields[] = {
    {.name = "listen", .kind = JC_SCHEMA_CUSTOM, .read = read_listen},
    {.name = "admin_token",
     .kind = JC_SCHEMA_STRING,
     .offset = offsetof(struct jc_config, admin_token)},
    {.name = "log_level", .kind = JC_SCHEMA_CUSTOM, .read = read_log_level},
    {.name = "store", .kind = JC_SCHEMA_CUSTOM, .read = read_store},
    {.name = "broker", .kind = JC_SCHEMA_CUSTOM, .read = read_broker},
    {.name = "caches", .kind = JC_SCHEMA_CUSTOM, .read = read_caches, .flags = JC_SCHEMA_REQUIRED},
};

static struct jc_config *config_new(void)
{
    struct jc_config *cfg = jc_xcalloc(1, sizeof(*cfg));
    cfg->listen_host = jc_xstrdup("0.0.0.0");
    cfg->listen_port = 8080;
    cfg->admin_token = jc_xstrdup("");
    cfg->log_level = JC_LOG_INFO;
    jc_backends_defaults(&cfg->store, &cfg->broker);
    return cfg;
}

static enum jc_err config_from_json(json_t *root, struct jc_config **out, char *err_msg,
                                    size_t err_len)
{
    struct jc_schema s;
    jc_schema_init(&s, err_msg, err_len);
    struct jc_config *cfg = config_new();
    enum jc_err err = jc_schema_read_object(&s, root, top_fields, N_FIELDS(top_fields), cfg, NULL);
    if (err == JC_OK) {
        err = jc_backends_link(&s, &cfg->store, &cfg->broker);
    }
    if (err != JC_OK) {
        jc_config_free(cfg);
        return err;
    }
    *out = cfg;
    return JC_OK;
}

static void syntax_error(const char *source, const json_error_t *je, char *err_msg, size_t err_len)
{
    if (err_len == 0) {
        return;
    }
    if (je->line > 0) {
        snprintf(err_msg, err_len, "%s: line %d, column %d: %s", source, je->line, je->column,
                 je->text);
    } else {
        snprintf(err_msg, err_len, "%s: %s", source, je->text);
    }
}

enum jc_err jc_config_load(const char *path, struct jc_config **out, char *err_msg, size_t err_len)
{
    FILE *f = fopen(path, "r");
    if (f == NULL) {
        snprintf(err_msg, err_len, "%s: cannot open: %s", path, strerror(errno));
        return JC_ERR_INVALID;
    }
    json_error_t je;
    json_t *root = json_loadf(f, JSON_REJECT_DUPLICATES, &je);
    fclose(f);
    if (root == NULL) {
        syntax_error(path, &je, err_msg, err_len);
        return JC_ERR_INVALID;
    }
    enum jc_err err = config_from_json(root, out, err_msg, err_len);
    json_decref(root);
    return err;
}

enum jc_err jc_config_parse(const char *json, struct jc_config **out, char *err_msg, size_t err_len)
{
    json_error_t je;
    json_t *root = json_loads(json, JSON_REJECT_DUPLICATES, &je);
    if (root == NULL) {
        syntax_error("config text", &je, err_msg, err_len);
        return JC_ERR_INVALID;
    }
    enum jc_err err = config_from_json(root, out, err_msg, err_len);
    json_decref(root);
    return err;
}

void jc_config_free(struct jc_config *cfg)
{
    if (cfg == NULL) {
        return;
    }
    free(cfg->listen_host);
    free(cfg->admin_token);
    jc_backends_free(&cfg->store, &cfg->broker);
    jc_caches_free(cfg->caches, cfg->n_caches);
    free(cfg);
}

char *jc_config_caches_json(const struct jc_config *cfg)
{
    return jc_caches_json(cfg->caches, cfg->n_caches);
}
