/* server/wire.c: one connection's requests, parsed with http-parser.
 *
 * A head is always parsed in one contiguous buffer: the bytes of one read
 * when the head ends inside them (the usual case: nothing is copied), else
 * the bytes held so far, parsed again from the start once they hold the
 * blank line that ends a head (a head sent a byte at a time is parsed
 * twice, not once per byte).  So the
 * parser's callbacks see every header name and value whole, as spans into
 * that buffer, and copy out only the few jcached reads when the head ends.
 * The body is then fed through the same parser and dropped: jcached reads
 * nothing from it.  The parser pauses at the end of each request, so bytes
 * of a pipelined next request stay with the caller. */
#include "server/wire.h"

#include <limits.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/mem.h"

/* What the callbacks of one parse record: spans into the parsed buffer. */
struct scan {
    struct jc_wire *w;
    const char *url;
    size_t url_len;
    const char *values[JC_WIRE_HEADER_COUNT];
    size_t value_lens[JC_WIRE_HEADER_COUNT];
    int field;   /* the header being read: an enum jc_wire_header, or one below */
    bool valued; /* the header being read had its value: a second is a fold */
    bool host;
    bool expect_continue;
    const char *bad; /* set by a callback that refuses the request */
};

#define FIELD_OTHER  (-1)
#define FIELD_HOST   (-2)
#define FIELD_EXPECT (-3)

static const char *const header_names[JC_WIRE_HEADER_COUNT] = {
    [JC_WIRE_AUTHORIZATION] = "Authorization",
    [JC_WIRE_CACHE_CONTROL] = "Cache-Control",
    [JC_WIRE_IF_NONE_MATCH] = "If-None-Match",
    [JC_WIRE_PREFER] = "Prefer",
};

static bool name_is(const char *at, size_t len, const char *name)
{
    return strlen(name) == len && strncasecmp(at, name, len) == 0;
}

static int on_url(http_parser *p, const char *at, size_t len)
{
    struct scan *s = p->data;
    if (s->url == NULL) {
        s->url = at;
    }
    s->url_len = (size_t)(at + len - s->url);
    return 0;
}

static int on_header_field(http_parser *p, const char *at, size_t len)
{
    struct scan *s = p->data;
    /* Debian's http-parser is built lenient: it takes "Name : v" and even
     * "Transfer-Encoding : chunked", which a proxy in front may not; RFC 9112
     * section 5.1 says refuse, so both sides frame requests alike. */
    if (memchr(at, ' ', len) != NULL || memchr(at, '\t', len) != NULL) {
        s->bad = "whitespace in a header name";
        return -1;
    }
    s->field = FIELD_OTHER;
    s->valued = false;
    if (name_is(at, len, "Host")) {
        s->field = FIELD_HOST;
    } else if (name_is(at, len, "Expect")) {
        s->field = FIELD_EXPECT;
    }
    for (int i = 0; i < JC_WIRE_HEADER_COUNT; i++) {
        if (name_is(at, len, header_names[i])) {
            s->field = i;
        }
    }
    return 0;
}

static int on_header_value(http_parser *p, const char *at, size_t len)
{
    struct scan *s = p->data;
    if (s->valued) {
        /* The head is parsed whole, so a value comes in one piece unless it
         * is folded over lines (obsolete: RFC 9112 section 5.2). */
        s->bad = "a header value folded over lines";
        return -1;
    }
    s->valued = true;
    while (len > 0 && (at[len - 1] == ' ' || at[len - 1] == '\t')) {
        len--; /* trailing whitespace is not part of the value */
    }
    if (s->field == FIELD_HOST) {
        s->host = true;
    } else if (s->field == FIELD_EXPECT) {
        s->expect_continue = name_is(at, len, "100-continue");
    } else if (s->field >= 0 && s->values[s->field] == NULL) {
        s->values[s->field] = at;
        s->value_lens[s->field] = len;
    }
    return 0;
}

/* Splits the request target into path and query.  The absolute form
 * ("http://host/path", RFC 9112 section 3.2.2) is read as its path. */
static void set_target(struct jc_wire_request *req, const char *url, size_t len)
{
    static const char *const schemes[] = {"http://", "https://"};
    const char *end = url + len;
    for (size_t i = 0; i < 2; i++) {
        size_t n = strlen(schemes[i]);
        if (len >= n && strncasecmp(url, schemes[i], n) == 0) {
            url += n;
            while (url < end && *url != '/' && *url != '?') {
                url++; /* the authority */
            }
            break;
        }
    }
    const char *q = memchr(url, '?', (size_t)(end - url));
    const char *path_end = q != NULL ? q : end;
    req->path = path_end > url ? jc_xstrndup(url, (size_t)(path_end - url)) : jc_xstrdup("/");
    if (q != NULL) {
        req->query = jc_xstrndup(q + 1, (size_t)(end - q - 1));
    }
}

/* The head is whole: copy out what the request needs. */
static int on_headers_complete(http_parser *p)
{
    struct scan *s = p->data;
    struct jc_wire_request *req = &s->w->request;
    if (p->http_major != 1) {
        s->bad = "unsupported HTTP version";
        return -1;
    }
    if (p->http_minor >= 1 && !s->host) {
        s->bad = "an HTTP/1.1 request needs a Host header";
        return -1;
    }
    req->method = http_method_str((enum http_method)p->method);
    req->head = p->method == HTTP_HEAD;
    req->http10 = p->http_minor == 0;
    req->keep_alive = http_should_keep_alive(p) != 0;
    set_target(req, s->url != NULL ? s->url : "", s->url_len);
    for (int i = 0; i < JC_WIRE_HEADER_COUNT; i++) {
        if (s->values[i] != NULL) {
            req->headers[i] = jc_xstrndup(s->values[i], s->value_lens[i]);
        }
    }
    bool body =
        (p->flags & F_CHUNKED) != 0 || (p->content_length > 0 && p->content_length != ULLONG_MAX);
    s->w->send_continue = s->expect_continue && !req->http10 && body;
    s->w->in_body = true;
    return 0;
}

static int on_message_complete(http_parser *p)
{
    struct scan *s = p->data;
    s->w->done = true;
    http_parser_pause(p, 1);
    return 0;
}

static const http_parser_settings settings = {
    .on_url = on_url,
    .on_header_field = on_header_field,
    .on_header_value = on_header_value,
    .on_headers_complete = on_headers_complete,
    .on_message_complete = on_message_complete,
};

/* Runs the parser over data; false when the bytes are malformed. */
static bool run(struct jc_wire *w, const char *data, size_t len, size_t *used)
{
    struct scan s = {.w = w, .field = FIELD_OTHER};
    w->parser.data = &s;
    *used = http_parser_execute(&w->parser, &settings, data, len);
    enum http_errno err = HTTP_PARSER_ERRNO(&w->parser);
    if (err == HPE_PAUSED) {
        /* The request ended (on_message_complete).  An Upgrade is not
         * taken: answer the request, then close. */
        if (w->parser.upgrade) {
            w->request.keep_alive = false;
        }
        return true;
    }
    if (err != HPE_OK) {
        w->error = s.bad != NULL ? s.bad : http_errno_description(err);
        return false;
    }
    return true;
}

void jc_wire_init(struct jc_wire *w)
{
    /* A process-wide setting of the parser's; jcached is its one user. */
    http_parser_set_max_header_size(JC_WIRE_MAX_HEAD);
    memset(w, 0, sizeof(*w));
    http_parser_init(&w->parser, HTTP_REQUEST);
}

void jc_wire_request_clear(struct jc_wire_request *req)
{
    free(req->path);
    free(req->query);
    for (int i = 0; i < JC_WIRE_HEADER_COUNT; i++) {
        free(req->headers[i]);
    }
    memset(req, 0, sizeof(*req));
}

/* The head passed JC_WIRE_MAX_HEAD: was it still in its first line? */
static enum jc_wire_status too_large(const char *head, size_t len)
{
    size_t n = len < JC_WIRE_MAX_HEAD ? len : JC_WIRE_MAX_HEAD;
    return memchr(head, '\n', n) == NULL ? JC_WIRE_URI_TOO_LONG : JC_WIRE_HEAD_TOO_LARGE;
}

/* The head is read: the rest of data is body (dropped) or the next request. */
static enum jc_wire_status feed_body(struct jc_wire *w, const char *data, size_t len, size_t *used)
{
    size_t n = 0;
    if (!w->done && len > 0 && !run(w, data, len, &n)) {
        return JC_WIRE_BAD;
    }
    *used = w->done ? n : len;
    return w->done ? JC_WIRE_REQUEST : JC_WIRE_MORE;
}

/* Parses the head in buf (held bytes, then those of data) from the start;
 * old is how many of buf's bytes were held before this read. */
static enum jc_wire_status parse_head(struct jc_wire *w, const char *buf, size_t buf_len,
                                      size_t old, const char *data, size_t len, size_t *used)
{
    size_t n;
    http_parser_init(&w->parser, HTTP_REQUEST);
    if (!run(w, buf, buf_len, &n)) {
        bool overflow = HTTP_PARSER_ERRNO(&w->parser) == HPE_HEADER_OVERFLOW;
        return overflow ? too_large(buf, buf_len) : JC_WIRE_BAD;
    }
    if (!w->in_body) {
        return JC_WIRE_MORE; /* the caller holds the bytes */
    }
    /* The head ended in data's bytes (the held ones did not end it). */
    size_t taken = n - old;
    free(w->held);
    w->held = NULL;
    w->held_len = 0;
    size_t more = 0;
    enum jc_wire_status st = feed_body(w, data + taken, len - taken, &more);
    *used = taken + more;
    return st;
}

/* Whether the bytes from "from" on (with the three before, for a line end
 * split across reads) hold the blank line that ends a head.  Parsing the
 * held head again only then keeps a head sent a byte at a time linear. */
static bool may_end_head(const char *held, size_t from, size_t len)
{
    size_t i = from > 3 ? from - 3 : 0;
    for (; i + 1 < len; i++) {
        if (held[i] == '\n' &&
            (held[i + 1] == '\n' || (held[i + 1] == '\r' && i + 2 < len && held[i + 2] == '\n'))) {
            return true;
        }
    }
    return false;
}

enum jc_wire_status jc_wire_feed(struct jc_wire *w, const char *data, size_t len, size_t *used)
{
    *used = 0;
    if (w->done) {
        return JC_WIRE_REQUEST;
    }
    if (w->in_body) {
        return feed_body(w, data, len, used);
    }
    if (w->held == NULL) {
        enum jc_wire_status st = parse_head(w, data, len, 0, data, len, used);
        if (st != JC_WIRE_MORE || w->in_body) {
            return st;
        }
        if (len > JC_WIRE_MAX_HEAD) {
            return too_large(data, len);
        }
        w->held = jc_xmemdup(data, len);
        w->held_len = len;
        *used = len;
        return JC_WIRE_MORE;
    }
    /* Hold at most one byte past the limit: enough to know it was passed. */
    size_t old = w->held_len;
    size_t take = len < JC_WIRE_MAX_HEAD + 1 - old ? len : JC_WIRE_MAX_HEAD + 1 - old;
    w->held = jc_xrealloc(w->held, old + take);
    memcpy(w->held + old, data, take);
    w->held_len = old + take;
    enum jc_wire_status st = JC_WIRE_MORE;
    if (may_end_head(w->held, old, w->held_len)) {
        st = parse_head(w, w->held, w->held_len, old, data, len, used);
    }
    if (st != JC_WIRE_MORE || w->in_body) {
        return st;
    }
    if (w->held_len > JC_WIRE_MAX_HEAD) {
        return too_large(w->held, w->held_len);
    }
    *used = take;
    return JC_WIRE_MORE;
}

void jc_wire_next(struct jc_wire *w)
{
    jc_wire_request_clear(&w->request);
    free(w->held);
    jc_wire_init(w);
}

bool jc_wire_started(const struct jc_wire *w)
{
    return w->held != NULL || w->in_body || w->done;
}

void jc_wire_clear(struct jc_wire *w)
{
    jc_wire_request_clear(&w->request);
    free(w->held);
    w->held = NULL;
    w->held_len = 0;
}
