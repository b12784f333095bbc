/* core/store/store_impl.h: for store backends only.
 *
 * A backend exports one const struct jc_store_ops and embeds struct jc_store
 * as the first member of its own state, so store.c's wrappers can reach the
 * ops.  The contract of each op is that of the wrapper of the same name in
 * store.h.  Event thread only. */
#ifndef JC_CORE_STORE_STORE_IMPL_H
#define JC_CORE_STORE_STORE_IMPL_H

#include "core/store/store.h"

struct jc_store_ops {
    const char *name;
    enum jc_err (*open)(struct jc_loop *loop, const struct jc_store_config *cfg,
                        struct jc_store **out);
    void (*close)(struct jc_store *store);
    bool (*is_ready)(struct jc_store *store);
    enum jc_err (*lookup)(struct jc_store *store, const struct jc_store_key *k,
                          const struct jc_store_lookup *lookup, jc_store_lookup_fn *cb, void *arg);
    enum jc_err (*commit)(struct jc_store *store, const struct jc_store_key *k, uint64_t token,
                          const struct jc_entry *entry, int64_t ttl_ms, jc_store_done_fn *cb,
                          void *arg);
    enum jc_err (*fail)(struct jc_store *store, const struct jc_store_key *k, uint64_t token,
                        const struct jc_entry *entry, uint64_t tombstone_ms, jc_store_done_fn *cb,
                        void *arg);
    enum jc_err (*del)(struct jc_store *store, const struct jc_store_key *k, jc_store_done_fn *cb,
                       void *arg);
    enum jc_err (*status)(struct jc_store *store, const struct jc_store_key *k,
                          jc_store_status_fn *cb, void *arg);
    enum jc_err (*touch)(struct jc_store *store, const struct jc_store_key *k, int64_t ttl_ms,
                         jc_store_done_fn *cb, void *arg);
};

struct jc_store {
    const struct jc_store_ops *ops;
};

extern const struct jc_store_ops jc_store_memory_ops;
extern const struct jc_store_ops jc_store_redis_ops;

#endif
