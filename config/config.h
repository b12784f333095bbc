/* config/config.h: the JSON configuration file (SPEC §4) turned into values.
 *
 * jc_config_load() reads the file, substitutes ${VAR} and ${VAR:-default} in
 * every string, applies the defaults, and validates everything.  Errors name
 * the JSON path: "caches[0].upstream.url: must contain {key}".  The result is
 * const after load and owns all its strings.  Thread-safe (no shared state). */
#ifndef JC_CONFIG_CONFIG_H
#define JC_CONFIG_CONFIG_H

#include <stddef.h>

#include "core/broker/broker.h"
#include "core/cache.h"
#include "core/err.h"
#include "core/log.h"
#include "core/store/store.h"

struct jc_config {
    char *listen_host; /* "0.0.0.0" by default */
    int listen_port;   /* 8080 by default */
    char *admin_token; /* "" = admin calls are open */
    enum jc_log_level log_level;
    struct jc_store_config store;
    struct jc_broker_config broker; /* broker.redis points at store */
    struct jc_cache_config *caches;
    size_t n_caches;
};

/* Loads and validates the file at path.  On JC_OK *out is new (free with
 * jc_config_free).  Otherwise returns JC_ERR_INVALID and writes a message of
 * the form "<json path>: <problem>" (or "<file>: <problem>" for I/O and JSON
 * syntax errors) into err_msg (err_len bytes, NUL-terminated). */
enum jc_err jc_config_load(const char *path, struct jc_config **out, char *err_msg,
                           size_t err_len) JC_MUST_CHECK;

/* The same, from a JSON text in memory (for tests). */
enum jc_err jc_config_parse(const char *json, struct jc_config **out, char *err_msg,
                            size_t err_len) JC_MUST_CHECK;

void jc_config_free(struct jc_config *cfg);

/* Returns new: a JSON text describing the caches and their settings, secrets
 * (upstream header values, passwords, tokens) left out, for GET /caches. */
char *jc_config_caches_json(const struct jc_config *cfg);

#endif
