/* core/cache.c: defaults and predicates of a cache's options.  See cache.h. */
#include "core/cache.h"

#include <string.h>

static int default_statuses[] = {200, 203, 204, 300, 301, 308, 404, 405, 410, 414, 501};

void jc_cache_config_defaults(struct jc_cache_config *c)
{
    memset(c, 0, sizeof(*c));
    c->upstream_timeout_ms = 30000;
    c->max_body_bytes = 8u * 1024u * 1024u;
    c->cache_statuses = default_statuses;
    c->n_cache_statuses = sizeof(default_statuses) / sizeof(default_statuses[0]);
    c->expiry_type = JC_EXPIRY_NONE;
    c->l1_enabled = false;
    c->l1_purge_interval_s = 600;
    c->l1_max_entries = 10000;
    c->wait_timeout_ms = 30000;
    c->max_wait_timeout_ms = 300000;
    c->lease_grace_ms = 2000;
    c->poll_interval_ms = 500;
}

bool jc_cache_is_cacheable_status(const struct jc_cache_config *c, int status)
{
    for (size_t i = 0; i < c->n_cache_statuses; i++) {
        if (c->cache_statuses[i] == status) {
            return true;
        }
    }
    return false;
}

uint64_t jc_cache_lease_ms(const struct jc_cache_config *c)
{
    return c->upstream_timeout_ms + c->lease_grace_ms;
}

bool jc_cache_name_is_valid(const char *name)
{
    size_t n = strlen(name);
    if (n < 1 || n > 64) {
        return false;
    }
    for (size_t i = 0; i < n; i++) {
        char ch = name[i];
        bool ok = (ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') ||
                  (ch >= '0' && ch <= '9') || ch == '_' || ch == '-';
        if (!ok) {
            return false;
        }
    }
    return true;
}
