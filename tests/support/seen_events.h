/* tests/support/seen_events.h: what one broker instance received, in order,
 * for broker tests.  Event thread only. */
#ifndef JC_TESTS_SUPPORT_SEEN_EVENTS_H
#define JC_TESTS_SUPPORT_SEEN_EVENTS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/broker/broker.h"

#define JC_TEST_MAX_SEEN 64

struct seen {
    size_t count;
    size_t want; /* done becomes true once count >= want */
    bool done;
    struct {
        enum jc_event_kind kind;
        char cache[80];
        char key[1100];
        size_t key_len;
        uint64_t token;
        bool ok;
        char origin[80];
    } ev[JC_TEST_MAX_SEEN];
};

/* A jc_broker_event_fn: arg is a struct seen; copies ev into it. */
void jc_test_seen_record(void *arg, const struct jc_event *ev);

/* Sets how many events make s->done true. */
void jc_test_seen_expect(struct seen *s, size_t n);

#endif
