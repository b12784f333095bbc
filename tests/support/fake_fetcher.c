/* tests/support/fake_fetcher.c: scripted in-process fetcher for unit tests.
 *
 * Three small lists, all owned by the fake: scripts (one per URL, the one
 * with url == NULL being the default), per-URL call counters, and the fetches
 * not answered yet.  A fetch copies its script into a struct fake_call,
 * which owns a timer; the timer answers it (after the delay, or at once when
 * released) and frees it.  Every answer goes through a timer, so no callback
 * ever runs inside fetch().  Event thread only. */
#include "tests/support/fake_fetcher.h"

#include <stdlib.h>
#include <string.h>

#include "core/fetch.h"
#include "core/loop.h"
#include "core/mem.h"

struct fake_script {
    struct fake_script *next;
    char *url;  /* NULL: the default script */
    char *body; /* owned copies that reply points to */
    char *headers[JC_HDR_COUNT];
    struct jc_fake_reply reply;
};

struct fake_count {
    struct fake_count *next;
    char *url;
    size_t calls;
};

struct fake_call {
    struct fake_call *prev;
    struct fake_call *next;
    struct jc_fake_fetcher *ff;
    char *url;
    struct fake_script *script; /* a private copy of the script that applied */
    bool held;
    struct jc_timer *timer;
    jc_fetch_done_fn *cb;
    void *arg;
};

struct jc_fake_fetcher {
    struct jc_fetcher fetcher;
    struct jc_loop *loop;
    struct fake_script *scripts;
    struct fake_count *counts;
    struct fake_call *calls; /* unanswered fetches */
    size_t n_pending;
    struct jc_fake_request last;
    bool has_last;
};

static bool same_url(const char *a, const char *b)
{
    if (a == NULL || b == NULL) {
        return a == b;
    }
    return strcmp(a, b) == 0;
}

static char *dup_or_null(const char *s)
{
    return s != NULL ? jc_xstrdup(s) : NULL;
}

/* Returns new: a script for url holding copies of reply's strings. */
static struct fake_script *script_new(const char *url, const struct jc_fake_reply *reply)
{
    struct fake_script *s = jc_xcalloc(1, sizeof(*s));
    s->url = dup_or_null(url);
    s->reply = *reply;
    if (reply->body != NULL) {
        size_t len = reply->body_len > 0 ? reply->body_len : strlen(reply->body);
        s->body = jc_xmemdup(reply->body, len);
        s->reply.body = s->body;
        s->reply.body_len = len;
    }
    for (int i = 0; i < JC_HDR_COUNT; i++) {
        s->headers[i] = dup_or_null(reply->headers[i]);
        s->reply.headers[i] = s->headers[i];
    }
    return s;
}

static void script_free(struct fake_script *s)
{
    if (s == NULL) {
        return;
    }
    free(s->url);
    free(s->body);
    for (int i = 0; i < JC_HDR_COUNT; i++) {
        free(s->headers[i]);
    }
    free(s);
}

static struct fake_script *script_find(const struct jc_fake_fetcher *ff, const char *url)
{
    for (struct fake_script *s = ff->scripts; s != NULL; s = s->next) {
        if (same_url(s->url, url)) {
            return s;
        }
    }
    return NULL;
}

static void count_call(struct jc_fake_fetcher *ff, const char *url)
{
    struct fake_count *c = ff->counts;
    while (c != NULL && strcmp(c->url, url) != 0) {
        c = c->next;
    }
    if (c == NULL) {
        c = jc_xcalloc(1, sizeof(*c));
        c->url = jc_xstrdup(url);
        c->next = ff->counts;
        ff->counts = c;
    }
    c->calls++;
}

static void call_unlink(struct jc_fake_fetcher *ff, struct fake_call *call)
{
    if (call->prev != NULL) {
        call->prev->next = call->next;
    } else {
        ff->calls = call->next;
    }
    if (call->next != NULL) {
        call->next->prev = call->prev;
    }
    ff->n_pending--;
}

static void call_free(struct fake_call *call)
{
    jc_timer_free(call->timer);
    script_free(call->script);
    free(call->url);
    free(call);
}

/* Returns new: the response a script describes. */
static struct jc_entry *reply_entry(const struct fake_call *call)
{
    const struct jc_fake_reply *r = &call->script->reply;
    struct jc_entry *e = jc_entry_new();
    e->status = r->status != 0 ? r->status : 200;
    for (int i = 0; i < JC_HDR_COUNT; i++) {
        if (r->headers[i] != NULL) {
            jc_entry_set_header(e, (enum jc_entry_header)i, r->headers[i], strlen(r->headers[i]));
        }
    }
    if (r->body != NULL) {
        jc_entry_set_body(e, r->body, r->body_len);
    } else {
        jc_entry_set_body(e, "", 0);
    }
    return e;
}

static void on_answer(void *arg)
{
    struct fake_call *call = arg;
    call_unlink(call->ff, call);
    if (call->script->reply.err != JC_OK) {
        call->cb(call->arg, call->script->reply.err, NULL);
    } else {
        call->cb(call->arg, JC_OK, reply_entry(call));
    }
    call_free(call);
}

static void remember_request(struct jc_fake_fetcher *ff, const struct jc_fetch_request *req)
{
    free(ff->last.url);
    ff->last.url = jc_xstrdup(req->url);
    ff->last.n_headers = req->n_headers;
    ff->last.timeout_ms = req->timeout_ms;
    ff->last.max_body_bytes = req->max_body_bytes;
    ff->has_last = true;
}

static enum jc_err fake_fetch(void *ctx, const struct jc_fetch_request *req, jc_fetch_done_fn *cb,
                              void *arg)
{
    struct jc_fake_fetcher *ff = ctx;
    count_call(ff, req->url);
    remember_request(ff, req);
    const struct fake_script *s = script_find(ff, req->url);
    if (s == NULL) {
        s = script_find(ff, NULL);
    }
    struct jc_fake_reply plain = {.status = 200, .body = req->url};
    struct fake_script *copy = script_new(NULL, s != NULL ? &s->reply : &plain);
    if (copy->reply.refuse != JC_OK) {
        enum jc_err refuse = copy->reply.refuse;
        script_free(copy);
        return refuse;
    }
    struct fake_call *call = jc_xcalloc(1, sizeof(*call));
    call->ff = ff;
    call->url = jc_xstrdup(req->url);
    call->script = copy;
    call->held = copy->reply.hold;
    call->cb = cb;
    call->arg = arg;
    call->timer = jc_timer_new(ff->loop, on_answer, call);
    call->next = ff->calls;
    if (ff->calls != NULL) {
        ff->calls->prev = call;
    }
    ff->calls = call;
    ff->n_pending++;
    if (!call->held) {
        jc_timer_start(call->timer, copy->reply.delay_ms);
    }
    return JC_OK;
}

struct jc_fake_fetcher *jc_fake_fetcher_new(struct jc_loop *loop)
{
    struct jc_fake_fetcher *ff = jc_xcalloc(1, sizeof(*ff));
    ff->loop = loop;
    ff->fetcher.fetch = fake_fetch;
    ff->fetcher.ctx = ff;
    return ff;
}

void jc_fake_fetcher_free(struct jc_fake_fetcher *ff)
{
    if (ff == NULL) {
        return;
    }
    while (ff->calls != NULL) {
        struct fake_call *call = ff->calls;
        call_unlink(ff, call);
        call_free(call);
    }
    while (ff->scripts != NULL) {
        struct fake_script *s = ff->scripts;
        ff->scripts = s->next;
        script_free(s);
    }
    while (ff->counts != NULL) {
        struct fake_count *c = ff->counts;
        ff->counts = c->next;
        free(c->url);
        free(c);
    }
    free(ff->last.url);
    free(ff);
}

const struct jc_fetcher *jc_fake_fetcher_fetcher(struct jc_fake_fetcher *ff)
{
    return &ff->fetcher;
}

void jc_fake_fetcher_script(struct jc_fake_fetcher *ff, const char *url,
                            const struct jc_fake_reply *reply)
{
    struct fake_script **p = &ff->scripts;
    while (*p != NULL && !same_url((*p)->url, url)) {
        p = &(*p)->next;
    }
    struct fake_script *s = script_new(url, reply);
    if (*p != NULL) {
        s->next = (*p)->next;
        script_free(*p);
    }
    *p = s;
}

size_t jc_fake_fetcher_release(struct jc_fake_fetcher *ff, const char *url)
{
    size_t n = 0;
    for (struct fake_call *call = ff->calls; call != NULL; call = call->next) {
        if (!call->held || (url != NULL && strcmp(call->url, url) != 0)) {
            continue;
        }
        call->held = false;
        jc_timer_start(call->timer, 0);
        n++;
    }
    return n;
}

size_t jc_fake_fetcher_calls(const struct jc_fake_fetcher *ff, const char *url)
{
    size_t n = 0;
    for (const struct fake_count *c = ff->counts; c != NULL; c = c->next) {
        if (url == NULL || strcmp(c->url, url) == 0) {
            n += c->calls;
        }
    }
    return n;
}

size_t jc_fake_fetcher_pending(const struct jc_fake_fetcher *ff)
{
    return ff->n_pending;
}

const struct jc_fake_request *jc_fake_fetcher_last(const struct jc_fake_fetcher *ff)
{
    return ff->has_last ? &ff->last : NULL;
}
