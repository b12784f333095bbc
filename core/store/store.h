/* core/store/store.h: the store, where values and locks live (what core uses).
 *
 * One store key per (cache, key) holds, at any moment, exactly one of:
 *   - nothing                                     -> EMPTY
 *   - a lock: the fetch holding it and its token  -> PENDING (lease = TTL)
 *   - a value (a serialized jc_entry)             -> VALUE (TTL = expiry)
 *   - a tombstone: the failed outcome of the fetch with token T, kept briefly
 *     so that waiters of that fetch learn of the failure even by polling.
 *     For everyone else a tombstone is EMPTY.
 * Every transition is atomic in the store (a Lua script in Redis), and
 * leases and TTLs are measured on the store's clock.
 *
 * Tokens (fencing tokens) are issued by the store, strictly increasing per
 * store, never 0.  A commit or fail with a token that is not the current
 * lock's is rejected with JC_ERR_FENCED and changes nothing.
 *
 * Callback rule: a function taking a callback either returns an error and
 * never calls it, or returns JC_OK and calls it exactly once, later, from the
 * event loop (never before it returns).  A store that is down answers through
 * the callback with JC_ERR_STORE.  Event thread only. */
#ifndef JC_CORE_STORE_STORE_H
#define JC_CORE_STORE_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/err.h"

struct jc_loop;
struct jc_entry;
struct jc_store;

struct jc_store_sentinel_config {
    char **hosts; /* "host:port" */
    size_t n_hosts;
    char *primary_name;
    char *password; /* the sentinels' password, or NULL */
};

struct jc_store_config {
    char *type;     /* "memory" or "redis" */
    char *url;      /* redis: "redis://[:password@]host:port[/db]", or NULL with sentinel */
    char *prefix;   /* redis: key prefix, default "jcached" */
    char *password; /* redis: AUTH password (also taken from url), or NULL */
    int db;         /* redis: SELECT db (also taken from url) */
    bool has_sentinel;
    struct jc_store_sentinel_config sentinel;
};

/* Which (cache, key) a call is about.  key is binary (key_len bytes). */
struct jc_store_key {
    const char *cache;
    const char *key;
    size_t key_len;
};

enum jc_store_state {
    JC_STORE_EMPTY = 0, /* nothing (only with acquire == false) */
    JC_STORE_PENDING,   /* another fetch holds the lock; token = its token */
    JC_STORE_VALUE,     /* entry = the value; ttl_ms = its remaining TTL or -1 */
    JC_STORE_ACQUIRED,  /* the caller now holds the lock; token = its token */
    JC_STORE_FAILED,    /* the fetch with token == waited_token failed; entry = its outcome */
};

struct jc_store_lookup {
    bool acquire;          /* take the lock when EMPTY (else report EMPTY) */
    uint64_t lease_ms;     /* with acquire: the lock's lease */
    uint64_t waited_token; /* a tombstone with this token is FAILED; 0 = none */
    int64_t slide_ms;      /* > 0: on VALUE, reset the TTL to slide_ms (sliding expiry) */
};

struct jc_store_reply {
    enum jc_store_state state;
    uint64_t token;
    struct jc_entry *entry; /* VALUE, FAILED: borrowed for the callback; jc_entry_ref to keep */
    int64_t ttl_ms;         /* VALUE: remaining TTL in ms, -1 = no expiry */
};

enum jc_key_status { JC_KEY_EMPTY = 0, JC_KEY_PENDING, JC_KEY_EXISTS };

typedef void jc_store_lookup_fn(void *arg, enum jc_err err, const struct jc_store_reply *reply);
typedef void jc_store_done_fn(void *arg, enum jc_err err);
typedef void jc_store_status_fn(void *arg, enum jc_err err, enum jc_key_status status,
                                int64_t ttl_ms);

/* Opens the backend named by cfg->type.  On JC_OK *out is new (close with
 * jc_store_close).  A backend that cannot reach its server yet still opens
 * (it reconnects in the background); JC_ERR_INVALID for an unknown type or a
 * bad setting.  Borrows loop and cfg (both must outlive the store). */
enum jc_err jc_store_open(struct jc_loop *loop, const struct jc_store_config *cfg,
                          struct jc_store **out) JC_MUST_CHECK;
void jc_store_close(struct jc_store *store);

/* Returns the backend's name ("memory", "redis"). */
const char *jc_store_name(const struct jc_store *store);
/* Returns whether the store is connected now (for /readyz). */
bool jc_store_is_ready(struct jc_store *store);

/* Reads the key and, with lookup->acquire, takes the lock if it is EMPTY (or
 * a tombstone of another fetch, or a lock whose lease has ended) in the same
 * atomic step.  Borrows k and lookup. */
enum jc_err jc_store_lookup(struct jc_store *store, const struct jc_store_key *k,
                            const struct jc_store_lookup *lookup, jc_store_lookup_fn *cb,
                            void *arg) JC_MUST_CHECK;

/* Replaces the lock held with token by the value entry, with TTL ttl_ms
 * (-1 = no expiry).  JC_ERR_FENCED if token is not the current lock's.
 * Borrows entry. */
enum jc_err jc_store_commit(struct jc_store *store, const struct jc_store_key *k, uint64_t token,
                            const struct jc_entry *entry, int64_t ttl_ms, jc_store_done_fn *cb,
                            void *arg) JC_MUST_CHECK;

/* Replaces the lock held with token by a tombstone holding the failed
 * outcome entry, kept for tombstone_ms.  JC_ERR_FENCED if token is not the
 * current lock's.  Borrows entry. */
enum jc_err jc_store_fail(struct jc_store *store, const struct jc_store_key *k, uint64_t token,
                          const struct jc_entry *entry, uint64_t tombstone_ms, jc_store_done_fn *cb,
                          void *arg) JC_MUST_CHECK;

/* Removes whatever the key holds (value, lock or tombstone).  JC_OK also when
 * there was nothing. */
enum jc_err jc_store_delete(struct jc_store *store, const struct jc_store_key *k,
                            jc_store_done_fn *cb, void *arg) JC_MUST_CHECK;

/* Reports EMPTY (also for a tombstone), PENDING or EXISTS, and the value's
 * remaining TTL in ms (-1 when not EXISTS or no expiry). */
enum jc_err jc_store_status(struct jc_store *store, const struct jc_store_key *k,
                            jc_store_status_fn *cb, void *arg) JC_MUST_CHECK;

/* Resets a value's TTL to ttl_ms (sliding expiry).  JC_ERR_NOT_FOUND if the
 * key holds no value. */
enum jc_err jc_store_touch(struct jc_store *store, const struct jc_store_key *k, int64_t ttl_ms,
                           jc_store_done_fn *cb, void *arg) JC_MUST_CHECK;

#endif
