/* core/cache.h: the options of one named cache (SPEC §4 "caches[]").
 *
 * Plain data, filled by config/ and const after load.  Event thread only for
 * the registry helpers (they do not modify anything). */
#ifndef JC_CORE_CACHE_H
#define JC_CORE_CACHE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum jc_expiry_type { JC_EXPIRY_NONE = 0, JC_EXPIRY_SLIDING, JC_EXPIRY_ABSOLUTE };

struct jc_header_kv {
    char *name;
    char *value;
};

struct jc_cache_config {
    char *name; /* [A-Za-z0-9_-]{1,64} */

    char *upstream_url; /* contains "{key}" */
    uint64_t upstream_timeout_ms;
    struct jc_header_kv *upstream_headers;
    size_t n_upstream_headers;
    size_t max_body_bytes;

    int *cache_statuses;
    size_t n_cache_statuses;

    enum jc_expiry_type expiry_type;
    uint64_t expiry_ms; /* 0 with JC_EXPIRY_NONE */

    bool l1_enabled;
    uint64_t l1_purge_interval_s;
    size_t l1_max_entries;

    uint64_t wait_timeout_ms;
    uint64_t max_wait_timeout_ms;
    uint64_t lease_grace_ms;
    uint64_t poll_interval_ms;
};

/* Fills c with the defaults of SPEC §4 (name and upstream_url NULL).
 * cache_statuses points to a static table; config/ copies before changing. */
void jc_cache_config_defaults(struct jc_cache_config *c);

/* Returns whether status is in c->cache_statuses. */
bool jc_cache_is_cacheable_status(const struct jc_cache_config *c, int status);

/* Returns the lease of a fetch: upstream.timeout_ms + lease_grace_ms. */
uint64_t jc_cache_lease_ms(const struct jc_cache_config *c);

/* Returns whether name is a valid cache name. */
bool jc_cache_name_is_valid(const char *name);

#endif
