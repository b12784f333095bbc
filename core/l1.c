/* core/l1.c: bounded, expiring in-process cache.
 *
 * Items live in a uthash table keyed by the key bytes and on a doubly linked
 * LRU list (head = most recently used).  Each item holds one reference to its
 * entry.  Invariant: count == number of items in the table == length of the
 * list, and count <= max_entries when max_entries > 0.  Event thread only. */
#include "core/l1.h"

#include <stdlib.h>
#include <uthash.h>

#include "core/entry.h"
#include "core/mem.h"

struct l1_item {
    UT_hash_handle hh;
    char *key;
    size_t key_len;
    struct jc_entry *entry;
    uint64_t deadline_ms;
    uint64_t touched_ms;
    struct l1_item *prev;
    struct l1_item *next;
};

struct jc_l1 {
    struct l1_item *table;
    struct l1_item *head;
    struct l1_item *tail;
    size_t count;
    size_t max_entries;
};

struct jc_l1 *jc_l1_new(size_t max_entries)
{
    struct jc_l1 *l1 = jc_xcalloc(1, sizeof(*l1));
    l1->max_entries = max_entries;
    return l1;
}

static void lru_unlink(struct jc_l1 *l1, struct l1_item *it)
{
    if (it->prev != NULL) {
        it->prev->next = it->next;
    } else {
        l1->head = it->next;
    }
    if (it->next != NULL) {
        it->next->prev = it->prev;
    } else {
        l1->tail = it->prev;
    }
    it->prev = NULL;
    it->next = NULL;
}

static void lru_push_front(struct jc_l1 *l1, struct l1_item *it)
{
    it->prev = NULL;
    it->next = l1->head;
    if (l1->head != NULL) {
        l1->head->prev = it;
    }
    l1->head = it;
    if (l1->tail == NULL) {
        l1->tail = it;
    }
}

static void item_remove(struct jc_l1 *l1, struct l1_item *it)
{
    HASH_DEL(l1->table, it);
    lru_unlink(l1, it);
    l1->count--;
    jc_entry_unref(it->entry);
    free(it->key);
    free(it);
}

void jc_l1_free(struct jc_l1 *l1)
{
    if (l1 == NULL) {
        return;
    }
    while (l1->head != NULL) {
        item_remove(l1, l1->head);
    }
    free(l1);
}

static struct l1_item *find(struct jc_l1 *l1, const char *key, size_t key_len)
{
    struct l1_item *it = NULL;
    HASH_FIND(hh, l1->table, key, key_len, it);
    return it;
}

static bool is_expired(const struct l1_item *it, uint64_t now_ms)
{
    return it->deadline_ms != 0 && it->deadline_ms <= now_ms;
}

bool jc_l1_get(struct jc_l1 *l1, const char *key, size_t key_len, uint64_t now_ms,
               struct jc_entry **entry, uint64_t *touched_ms)
{
    struct l1_item *it = find(l1, key, key_len);
    if (it == NULL) {
        return false;
    }
    if (is_expired(it, now_ms)) {
        item_remove(l1, it);
        return false;
    }
    if (l1->head != it) {
        lru_unlink(l1, it);
        lru_push_front(l1, it);
    }
    *entry = it->entry;
    *touched_ms = it->touched_ms;
    return true;
}

void jc_l1_put(struct jc_l1 *l1, const char *key, size_t key_len, struct jc_entry *entry,
               uint64_t deadline_ms, uint64_t touched_ms)
{
    struct l1_item *it = find(l1, key, key_len);
    if (it != NULL) {
        item_remove(l1, it);
    }
    if (l1->max_entries > 0 && l1->count >= l1->max_entries) {
        item_remove(l1, l1->tail);
    }
    it = jc_xcalloc(1, sizeof(*it));
    it->key = jc_xmemdup(key, key_len);
    it->key_len = key_len;
    it->entry = jc_entry_ref(entry);
    it->deadline_ms = deadline_ms;
    it->touched_ms = touched_ms;
    HASH_ADD_KEYPTR(hh, l1->table, it->key, it->key_len, it);
    lru_push_front(l1, it);
    l1->count++;
}

void jc_l1_slide(struct jc_l1 *l1, const char *key, size_t key_len, uint64_t deadline_ms,
                 uint64_t touched_ms)
{
    struct l1_item *it = find(l1, key, key_len);
    if (it != NULL) {
        it->deadline_ms = deadline_ms;
        it->touched_ms = touched_ms;
    }
}

void jc_l1_set_touched(struct jc_l1 *l1, const char *key, size_t key_len, uint64_t touched_ms)
{
    struct l1_item *it = find(l1, key, key_len);
    if (it != NULL) {
        it->touched_ms = touched_ms;
    }
}

void jc_l1_remove(struct jc_l1 *l1, const char *key, size_t key_len)
{
    struct l1_item *it = find(l1, key, key_len);
    if (it != NULL) {
        item_remove(l1, it);
    }
}

size_t jc_l1_purge(struct jc_l1 *l1, uint64_t now_ms)
{
    size_t removed = 0;
    struct l1_item *it = l1->head;
    while (it != NULL) {
        struct l1_item *next = it->next;
        if (is_expired(it, now_ms)) {
            item_remove(l1, it);
            removed++;
        }
        it = next;
    }
    return removed;
}

size_t jc_l1_count(const struct jc_l1 *l1)
{
    return l1->count;
}
