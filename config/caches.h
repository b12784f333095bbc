/* config/caches.h: the "caches" array of the configuration (internal to
 * config/): reading it into struct jc_cache_config values and describing
 * them for GET /caches.  Thread-safe (no shared state). */
#ifndef JC_CONFIG_CACHES_H
#define JC_CONFIG_CACHES_H

#include <stddef.h>

#include "config/schema.h"
#include "core/cache.h"
#include "core/err.h"

struct json_t;

/* Reads value (the path names it: "caches"), a non-empty array of cache
 * objects with unique names, defaults from jc_cache_config_defaults().  On
 * JC_OK *out is a new array of *n_out caches (free with jc_caches_free);
 * every string and the cache_statuses table are owned by it.  Borrows s and
 * value. */
enum jc_err jc_caches_read(struct jc_schema *s, struct json_t *value, struct jc_cache_config **out,
                           size_t *n_out) JC_MUST_CHECK;

/* Frees what jc_caches_read returned.  Accepts NULL. */
void jc_caches_free(struct jc_cache_config *caches, size_t n);

/* Returns new (free()): {"caches":[…]} with every setting of every cache,
 * upstream header names without their values, and the upstream URL without
 * user info.  Borrows caches. */
char *jc_caches_json(const struct jc_cache_config *caches, size_t n);

#endif
