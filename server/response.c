/* server/response.c: responses serialized once.
 *
 * The head is built in a jc_buf as headers are added, and sealed (with its
 * Content-Length) the first time it is asked for; from then on the response
 * is read-only, so any number of connections may send it at once. */
#include "server/response.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct jc_response {
    unsigned int refs;
    unsigned int status;
    bool sealed;
    struct jc_buf head;
    const void *body;
    size_t body_len;
    char *owned; /* the body when the response owns it */
    void (*release)(void *arg);
    void *release_arg;
};

struct reason {
    unsigned int status;
    const char *text;
};

static const struct reason reasons[] = {
    {100, "Continue"},
    {200, "OK"},
    {201, "Created"},
    {202, "Accepted"},
    {203, "Non-Authoritative Information"},
    {204, "No Content"},
    {205, "Reset Content"},
    {206, "Partial Content"},
    {300, "Multiple Choices"},
    {301, "Moved Permanently"},
    {302, "Found"},
    {303, "See Other"},
    {304, "Not Modified"},
    {307, "Temporary Redirect"},
    {308, "Permanent Redirect"},
    {400, "Bad Request"},
    {401, "Unauthorized"},
    {402, "Payment Required"},
    {403, "Forbidden"},
    {404, "Not Found"},
    {405, "Method Not Allowed"},
    {406, "Not Acceptable"},
    {407, "Proxy Authentication Required"},
    {408, "Request Timeout"},
    {409, "Conflict"},
    {410, "Gone"},
    {411, "Length Required"},
    {412, "Precondition Failed"},
    {413, "Content Too Large"},
    {414, "URI Too Long"},
    {415, "Unsupported Media Type"},
    {416, "Range Not Satisfiable"},
    {417, "Expectation Failed"},
    {421, "Misdirected Request"},
    {422, "Unprocessable Content"},
    {425, "Too Early"},
    {426, "Upgrade Required"},
    {428, "Precondition Required"},
    {429, "Too Many Requests"},
    {431, "Request Header Fields Too Large"},
    {451, "Unavailable For Legal Reasons"},
    {500, "Internal Server Error"},
    {501, "Not Implemented"},
    {502, "Bad Gateway"},
    {503, "Service Unavailable"},
    {504, "Gateway Timeout"},
    {505, "HTTP Version Not Supported"},
};

const char *jc_response_reason(unsigned int status)
{
    for (size_t i = 0; i < sizeof(reasons) / sizeof(reasons[0]); i++) {
        if (reasons[i].status == status) {
            return reasons[i].text;
        }
    }
    return "Unknown";
}

/* 1xx, 204 and 304 answers end at their head (RFC 9112 section 6.3). */
static bool has_body(unsigned int status)
{
    return status >= 200 && status != 204 && status != 304;
}

struct jc_response *jc_response_new(unsigned int status)
{
    struct jc_response *resp = jc_xcalloc(1, sizeof(*resp));
    resp->refs = 1;
    resp->status = status;
    jc_buf_init(&resp->head, 0);
    jc_buf_printf(&resp->head, "HTTP/1.1 %u %s\r\n", status, jc_response_reason(status));
    return resp;
}

void jc_response_add_header(struct jc_response *resp, const char *name, const char *value)
{
    jc_buf_add(&resp->head, name, strlen(name));
    jc_buf_add(&resp->head, ": ", 2);
    jc_buf_add(&resp->head, value, strlen(value));
    jc_buf_add(&resp->head, "\r\n", 2);
}

static void drop_body(struct jc_response *resp)
{
    free(resp->owned);
    if (resp->release != NULL) {
        resp->release(resp->release_arg);
    }
    resp->owned = NULL;
    resp->release = NULL;
    resp->body = NULL;
    resp->body_len = 0;
}

void jc_response_take_body(struct jc_response *resp, struct jc_buf *buf)
{
    drop_body(resp);
    resp->owned = jc_buf_take(buf, &resp->body_len);
    resp->body = resp->owned;
}

void jc_response_borrow_body(struct jc_response *resp, const void *body, size_t len,
                             void (*release)(void *arg), void *arg)
{
    drop_body(resp);
    resp->body = body;
    resp->body_len = len;
    resp->release = release;
    resp->release_arg = arg;
}

struct jc_response *jc_response_ref(struct jc_response *resp)
{
    resp->refs++;
    return resp;
}

void jc_response_unref(struct jc_response *resp)
{
    if (resp == NULL || --resp->refs > 0) {
        return;
    }
    drop_body(resp);
    jc_buf_reset(&resp->head);
    free(resp);
}

unsigned int jc_response_status(const struct jc_response *resp)
{
    return resp->status;
}

const char *jc_response_head(struct jc_response *resp, size_t *len)
{
    if (!resp->sealed) {
        resp->sealed = true;
        if (has_body(resp->status)) {
            jc_buf_printf(&resp->head, "Content-Length: %zu\r\n", resp->body_len);
        }
    }
    *len = resp->head.len;
    return resp->head.data;
}

const void *jc_response_body(const struct jc_response *resp, size_t *len)
{
    bool body = has_body(resp->status);
    *len = body ? resp->body_len : 0;
    return body ? resp->body : NULL;
}
