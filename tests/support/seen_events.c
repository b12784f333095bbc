/* tests/support/seen_events.c: see seen_events.h. */
#include "tests/support/seen_events.h"

#include <check.h>
#include <stdio.h>
#include <string.h>

void jc_test_seen_record(void *arg, const struct jc_event *ev)
{
    struct seen *s = arg;
    ck_assert_uint_lt(s->count, JC_TEST_MAX_SEEN);
    ck_assert_uint_le(ev->key_len, sizeof(s->ev[0].key));
    s->ev[s->count].kind = ev->kind;
    snprintf(s->ev[s->count].cache, sizeof(s->ev[0].cache), "%s", ev->cache);
    memcpy(s->ev[s->count].key, ev->key, ev->key_len);
    s->ev[s->count].key_len = ev->key_len;
    s->ev[s->count].token = ev->token;
    s->ev[s->count].ok = ev->ok;
    snprintf(s->ev[s->count].origin, sizeof(s->ev[0].origin), "%s", ev->origin);
    s->count++;
    if (s->count >= s->want) {
        s->done = true;
    }
}

void jc_test_seen_expect(struct seen *s, size_t n)
{
    s->want = n;
    s->done = s->count >= n;
}
