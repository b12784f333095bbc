/* tests/support/jc_test.h: small helpers shared by the check-based tests.
 *
 * A test clock to install on a loop (time moves only when the test says so),
 * and a main() that runs one suite.  Header-only; event thread only. */
#ifndef JC_TESTS_SUPPORT_JC_TEST_H
#define JC_TESTS_SUPPORT_JC_TEST_H

#include <check.h>
#include <stdint.h>
#include <stdlib.h>

#include "core/loop.h"

/* A manual clock: jc_loop_now_ms() returns now_ms while it is installed. */
struct jc_test_clock {
    uint64_t now_ms;
};

static inline uint64_t jc_test_clock_read(void *arg)
{
    return ((struct jc_test_clock *)arg)->now_ms;
}

/* Makes loop read its monotonic time from clock (borrowed; it must outlive
 * the installation).  Starts at a large value so that "0" is never a time. */
static inline void jc_test_clock_install(struct jc_loop *loop, struct jc_test_clock *clock)
{
    if (clock->now_ms == 0) {
        clock->now_ms = 1000000;
    }
    jc_loop_set_clock(loop, jc_test_clock_read, clock);
}

static inline void jc_test_clock_advance(struct jc_test_clock *clock, uint64_t ms)
{
    clock->now_ms += ms;
}

/* Runs the suite built by make_suite() and exits non-zero on any failure. */
#define JC_TEST_MAIN(make_suite)                                                                   \
    int main(void)                                                                                 \
    {                                                                                              \
        SRunner *sr = srunner_create(make_suite());                                                \
        srunner_run_all(sr, CK_NORMAL);                                                            \
        int failed = srunner_ntests_failed(sr);                                                    \
        srunner_free(sr);                                                                          \
        return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;                                          \
    }

#endif
