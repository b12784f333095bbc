/* tests/support/fake_fetcher.h: an in-process struct jc_fetcher for unit
 * tests, with scripted answers per URL and call counts.
 *
 * A script says how fetches of one URL (or of every URL without a script of
 * its own) are answered: an HTTP response (status, body, headers) or an
 * error, after delay_ms of real time on the loop's timers, or only when the
 * test calls jc_fake_fetcher_release().  A script can also make fetch()
 * itself refuse with an error.  Each fetch copies the script that applies
 * when it starts, so a test may change the script while earlier fetches are
 * still held.  Without any script a fetch answers 200 with the URL as body.
 *
 * Callback rule, as core/fetch.h asks: fetch() either returns an error and
 * never calls back, or returns JC_OK and calls back exactly once, later, from
 * the loop (a delay of 0 still waits for the next loop turn).  Freeing the
 * fake drops unanswered fetches without calling them.  Event thread only. */
#ifndef JC_TESTS_SUPPORT_FAKE_FETCHER_H
#define JC_TESTS_SUPPORT_FAKE_FETCHER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/entry.h"
#include "core/err.h"

struct jc_loop;
struct jc_fetcher;
struct jc_fake_fetcher;

/* How fetches of a URL are answered.  Strings are borrowed by
 * jc_fake_fetcher_script(), which copies them. */
struct jc_fake_reply {
    enum jc_err refuse;                /* != JC_OK: fetch() returns this and never calls back */
    enum jc_err err;                   /* != JC_OK: the fetch ends with this error and no entry */
    int status;                        /* 0 = 200 */
    const char *body;                  /* NULL = empty */
    size_t body_len;                   /* 0 = strlen(body) */
    const char *headers[JC_HDR_COUNT]; /* NULL = absent */
    uint64_t delay_ms;                 /* real time before the answer */
    bool hold;                         /* answer only on jc_fake_fetcher_release */
};

/* What one fetch was asked for (the last one, see jc_fake_fetcher_last). */
struct jc_fake_request {
    char *url;
    size_t n_headers;
    uint64_t timeout_ms;
    size_t max_body_bytes;
};

/* Returns new: a fake fetcher answering from loop (borrowed; it must outlive
 * the fake). */
struct jc_fake_fetcher *jc_fake_fetcher_new(struct jc_loop *loop);
/* Frees the fake and its unanswered fetches (their callbacks never run).
 * Accepts NULL. */
void jc_fake_fetcher_free(struct jc_fake_fetcher *ff);

/* Returns borrowed, valid until jc_fake_fetcher_free: the jc_fetcher to hand
 * to the code under test. */
const struct jc_fetcher *jc_fake_fetcher_fetcher(struct jc_fake_fetcher *ff);

/* Sets how fetches of url are answered from now on; url NULL sets the
 * answer for every URL that has no script of its own.  Borrows both. */
void jc_fake_fetcher_script(struct jc_fake_fetcher *ff, const char *url,
                            const struct jc_fake_reply *reply);

/* Answers the held fetches of url (NULL: of every URL), from the loop, each
 * with the script it started with.  Returns how many it released. */
size_t jc_fake_fetcher_release(struct jc_fake_fetcher *ff, const char *url);

/* Returns how many fetches of url (NULL: of any URL) were started, refused
 * ones included. */
size_t jc_fake_fetcher_calls(const struct jc_fake_fetcher *ff, const char *url);

/* Returns how many started fetches have not been answered yet (held or
 * still delayed). */
size_t jc_fake_fetcher_pending(const struct jc_fake_fetcher *ff);

/* Returns borrowed, valid until the next fetch or jc_fake_fetcher_free: the
 * request of the last fetch, or NULL before the first. */
const struct jc_fake_request *jc_fake_fetcher_last(const struct jc_fake_fetcher *ff);

#endif
