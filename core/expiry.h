/* core/expiry.h: sliding and absolute expiry as pure functions of a cache's
 * options and the time.
 *
 * The store owns the real TTL (measured on its clock).  The L1 copy of a
 * value gets a deadline no later than the store's: the remaining TTL the store
 * reported when the value was read or written, counted from then.  With
 * sliding expiry an L1 hit refreshes the store's TTL at most once per tenth
 * of time_ms, and only then moves the L1 deadline.  Thread-safe. */
#ifndef JC_CORE_EXPIRY_H
#define JC_CORE_EXPIRY_H

#include <stdbool.h>
#include <stdint.h>

struct jc_cache_config;

/* The TTL to write a new value with: time_ms, or -1 for no expiry. */
int64_t jc_expiry_write_ttl(const struct jc_cache_config *c);

/* The TTL a store read resets a value to: time_ms for sliding, else 0 (none). */
int64_t jc_expiry_read_slide(const struct jc_cache_config *c);

/* The L1 deadline for a value whose remaining store TTL was ttl_ms at
 * now_ms (-1 = no expiry): 0 (none) or now_ms + ttl_ms. */
uint64_t jc_expiry_l1_deadline(int64_t ttl_ms, uint64_t now_ms);

/* Whether an L1 hit at now_ms on an item last refreshed at touched_ms must
 * refresh the store (sliding expiry only, once per tenth of time_ms). */
bool jc_expiry_l1_needs_touch(const struct jc_cache_config *c, uint64_t touched_ms,
                              uint64_t now_ms);

#endif
