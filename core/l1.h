/* core/l1.h: the in-process L1 cache of one named cache.
 *
 * A bounded map from key bytes to a refcounted entry with an optional
 * deadline.  When full, the least recently used item is evicted.  Expired
 * items are dropped when looked up and by jc_l1_purge().  The L1 never
 * decides expiry itself: the engine gives each item a deadline no later than
 * the store entry's, so an L1 copy never outlives the store's.  Event thread
 * only. */
#ifndef JC_CORE_L1_H
#define JC_CORE_L1_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct jc_entry;
struct jc_l1;

/* Returns new: an empty L1 holding at most max_entries items (0 = no limit). */
struct jc_l1 *jc_l1_new(size_t max_entries);
void jc_l1_free(struct jc_l1 *l1);

/* Looks key up at now_ms.  On a live item returns true, sets *entry to a
 * borrowed reference (valid until the item is removed or replaced; take
 * jc_entry_ref to keep it) and *touched_ms to the item's touch time, and
 * marks it most recently used.  An expired item is removed; returns false. */
bool jc_l1_get(struct jc_l1 *l1, const char *key, size_t key_len, uint64_t now_ms,
               struct jc_entry **entry, uint64_t *touched_ms);

/* Inserts or replaces key with entry (borrows; the L1 takes its own
 * reference), deadline_ms (0 = none) and touched_ms. */
void jc_l1_put(struct jc_l1 *l1, const char *key, size_t key_len, struct jc_entry *entry,
               uint64_t deadline_ms, uint64_t touched_ms);

/* Moves a live item's deadline and touch time (sliding expiry). */
void jc_l1_slide(struct jc_l1 *l1, const char *key, size_t key_len, uint64_t deadline_ms,
                 uint64_t touched_ms);

/* Records that a refresh of the store's TTL was sent at touched_ms, without
 * moving the deadline (that waits for the store's answer). */
void jc_l1_set_touched(struct jc_l1 *l1, const char *key, size_t key_len, uint64_t touched_ms);

/* Removes key if present. */
void jc_l1_remove(struct jc_l1 *l1, const char *key, size_t key_len);

/* Removes every item whose deadline is at or before now_ms; returns how many. */
size_t jc_l1_purge(struct jc_l1 *l1, uint64_t now_ms);

size_t jc_l1_count(const struct jc_l1 *l1);

#endif
