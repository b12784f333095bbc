/* core/store/store.c: the registry of store backends by name, and the
 * wrappers that are the only code calling ->ops->.  See store.h. */
#include "core/store/store.h"

#include <string.h>

#include "core/store/store_impl.h"

static const struct jc_store_ops *const store_backends[] = {
    &jc_store_memory_ops,
    &jc_store_redis_ops,
};

enum jc_err jc_store_open(struct jc_loop *loop, const struct jc_store_config *cfg,
                          struct jc_store **out)
{
    for (size_t i = 0; i < sizeof(store_backends) / sizeof(store_backends[0]); i++) {
        if (strcmp(store_backends[i]->name, cfg->type) == 0) {
            return store_backends[i]->open(loop, cfg, out);
        }
    }
    return JC_ERR_INVALID;
}

void jc_store_close(struct jc_store *store)
{
    if (store != NULL) {
        store->ops->close(store);
    }
}

const char *jc_store_name(const struct jc_store *store)
{
    return store->ops->name;
}

bool jc_store_is_ready(struct jc_store *store)
{
    return store->ops->is_ready(store);
}

enum jc_err jc_store_lookup(struct jc_store *store, const struct jc_store_key *k,
                            const struct jc_store_lookup *lookup, jc_store_lookup_fn *cb, void *arg)
{
    return store->ops->lookup(store, k, lookup, cb, arg);
}

enum jc_err jc_store_commit(struct jc_store *store, const struct jc_store_key *k, uint64_t token,
                            const struct jc_entry *entry, int64_t ttl_ms, jc_store_done_fn *cb,
                            void *arg)
{
    return store->ops->commit(store, k, token, entry, ttl_ms, cb, arg);
}

enum jc_err jc_store_fail(struct jc_store *store, const struct jc_store_key *k, uint64_t token,
                          const struct jc_entry *entry, uint64_t tombstone_ms, jc_store_done_fn *cb,
                          void *arg)
{
    return store->ops->fail(store, k, token, entry, tombstone_ms, cb, arg);
}

enum jc_err jc_store_delete(struct jc_store *store, const struct jc_store_key *k,
                            jc_store_done_fn *cb, void *arg)
{
    return store->ops->del(store, k, cb, arg);
}

enum jc_err jc_store_status(struct jc_store *store, const struct jc_store_key *k,
                            jc_store_status_fn *cb, void *arg)
{
    return store->ops->status(store, k, cb, arg);
}

enum jc_err jc_store_touch(struct jc_store *store, const struct jc_store_key *k, int64_t ttl_ms,
                           jc_store_done_fn *cb, void *arg)
{
    return store->ops->touch(store, k, ttl_ms, cb, arg);
}
