/* config/schema.c: the table-driven reader behind config.c and caches.c.
 *
 * Each JSON object of the configuration is described by a const table of
 * struct jc_schema_field (name, kind, offset into the C struct, limits,
 * flags).  jc_schema_read_object first rejects keys that are not in the
 * table, then reads the fields in table order, so that a later field may
 * rely on an earlier one.  The path of the value being read is kept in one
 * buffer that grows and shrinks with the walk; the first error freezes the
 * message ("caches[1].upstream.url: must contain {key}") and every later
 * jc_schema_fail only returns JC_ERR_INVALID.
 *
 * Every string goes through ${VAR} substitution before it is checked, so a
 * value taken from the environment is validated like any other. */
#include "config/schema.h"

#include <inttypes.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/mem.h"

void jc_schema_init(struct jc_schema *s, char *err, size_t err_len)
{
    memset(s, 0, sizeof(*s));
    s->err = err;
    s->err_len = err_len;
    if (err_len > 0) {
        err[0] = '\0';
    }
}

enum jc_err jc_schema_fail(struct jc_schema *s, const char *fmt, ...)
{
    if (s->failed) {
        return JC_ERR_INVALID;
    }
    s->failed = true;
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    if (s->err_len > 0) {
        snprintf(s->err, s->err_len, "%s: %s", s->path_len > 0 ? s->path : "top level", msg);
    }
    return JC_ERR_INVALID;
}

static size_t path_append(struct jc_schema *s, const char *text)
{
    size_t mark = s->path_len;
    size_t room = sizeof(s->path) - 1 - s->path_len;
    size_t n = strlen(text);
    if (n > room) {
        n = room;
    }
    /* Keys come from the file: keep control bytes out of the message. */
    for (size_t i = 0; i < n; i++) {
        unsigned char ch = (unsigned char)text[i];
        s->path[s->path_len + i] = (ch < 0x20 || ch == 0x7f) ? '?' : (char)ch;
    }
    s->path_len += n;
    s->path[s->path_len] = '\0';
    return mark;
}

size_t jc_schema_push_key(struct jc_schema *s, const char *key)
{
    size_t mark = s->path_len;
    if (s->path_len > 0) {
        path_append(s, ".");
    }
    path_append(s, key);
    return mark;
}

size_t jc_schema_push_index(struct jc_schema *s, size_t index)
{
    char text[32];
    snprintf(text, sizeof(text), "[%zu]", index);
    return path_append(s, text);
}

void jc_schema_pop(struct jc_schema *s, size_t mark)
{
    s->path_len = mark;
    s->path[mark] = '\0';
}

static const char *type_name(const json_t *v)
{
    switch (json_typeof(v)) {
    case JSON_OBJECT:
        return "an object";
    case JSON_ARRAY:
        return "an array";
    case JSON_STRING:
        return "a string";
    case JSON_INTEGER:
        return "an integer";
    case JSON_REAL:
        return "a number with a fraction or exponent";
    case JSON_TRUE:
    case JSON_FALSE:
        return "a boolean";
    case JSON_NULL:
        return "null";
    }
    return "unknown";
}

static const struct jc_schema_field *find_field(const struct jc_schema_field *fields, size_t n,
                                                const char *name)
{
    for (size_t i = 0; i < n; i++) {
        if (strcmp(fields[i].name, name) == 0) {
            return &fields[i];
        }
    }
    return NULL;
}

static enum jc_err fail_unknown_key(struct jc_schema *s, const struct jc_schema_field *fields,
                                    size_t n, const char *note)
{
    struct jc_buf known;
    jc_buf_init(&known, 0);
    for (size_t i = 0; i < n; i++) {
        jc_buf_printf(&known, "%s%s", i > 0 ? ", " : "", fields[i].name);
    }
    char *list = jc_buf_take(&known, NULL);
    enum jc_err err = jc_schema_fail(s, "unknown key%s%s (known keys: %s)", note ? " " : "",
                                     note ? note : "", list);
    free(list);
    return err;
}

static enum jc_err read_string_field(struct jc_schema *s, const struct jc_schema_field *f,
                                     json_t *v, void *base)
{
    char *str;
    enum jc_err err = jc_schema_string(s, v, &str);
    if (err != JC_OK) {
        return err;
    }
    if (str[0] == '\0' && (f->flags & JC_SCHEMA_NONEMPTY)) {
        free(str);
        return jc_schema_fail(s, "must not be empty");
    }
    if (str[0] != '\0' && f->check != NULL) {
        err = f->check(s, str);
        if (err != JC_OK) {
            free(str);
            return err;
        }
    }
    if (str[0] == '\0' && (f->flags & JC_SCHEMA_EMPTY_IS_NULL)) {
        free(str);
        str = NULL;
    }
    char **slot = (char **)((char *)base + f->offset);
    free(*slot);
    *slot = str;
    return JC_OK;
}

static enum jc_err read_field(struct jc_schema *s, const struct jc_schema_field *f, json_t *v,
                              void *base)
{
    uint64_t x = 0;
    enum jc_err err;
    char *slot = (char *)base + f->offset;
    switch (f->kind) {
    case JC_SCHEMA_STRING:
        return read_string_field(s, f, v, base);
    case JC_SCHEMA_BOOL:
        if (!json_is_boolean(v)) {
            return jc_schema_fail(s, "must be true or false, not %s", type_name(v));
        }
        *(bool *)(void *)slot = json_is_true(v);
        return JC_OK;
    case JC_SCHEMA_U64:
    case JC_SCHEMA_SIZE:
    case JC_SCHEMA_INT:
        err = jc_schema_uint(s, v, f->min, f->max, &x);
        if (err != JC_OK) {
            return err;
        }
        if (f->kind == JC_SCHEMA_U64) {
            *(uint64_t *)(void *)slot = x;
        } else if (f->kind == JC_SCHEMA_SIZE) {
            *(size_t *)(void *)slot = (size_t)x;
        } else {
            *(int *)(void *)slot = (int)x;
        }
        return JC_OK;
    case JC_SCHEMA_CUSTOM:
        return f->read(s, v, base);
    }
    return jc_schema_fail(s, "unsupported option kind");
}

enum jc_err jc_schema_read_object(struct jc_schema *s, json_t *obj,
                                  const struct jc_schema_field *fields, size_t n_fields, void *base,
                                  const char *note)
{
    if (!json_is_object(obj)) {
        return jc_schema_fail(s, "must be an object, not %s", type_name(obj));
    }
    const char *key;
    json_t *value;
    json_object_foreach(obj, key, value)
    {
        if (find_field(fields, n_fields, key) == NULL) {
            jc_schema_push_key(s, key);
            return fail_unknown_key(s, fields, n_fields, note);
        }
    }
    for (size_t i = 0; i < n_fields; i++) {
        const struct jc_schema_field *f = &fields[i];
        size_t mark = jc_schema_push_key(s, f->name);
        value = json_object_get(obj, f->name);
        enum jc_err err = JC_OK;
        if (value == NULL && (f->flags & JC_SCHEMA_REQUIRED)) {
            err = jc_schema_fail(s, "required");
        } else if (value != NULL) {
            err = read_field(s, f, value, base);
        }
        if (err != JC_OK) {
            return err;
        }
        jc_schema_pop(s, mark);
    }
    return JC_OK;
}

enum jc_err jc_schema_string(struct jc_schema *s, json_t *value, char **out)
{
    if (!json_is_string(value)) {
        return jc_schema_fail(s, "must be a string, not %s", type_name(value));
    }
    return jc_schema_subst(s, json_string_value(value), json_string_length(value), out);
}

enum jc_err jc_schema_uint(struct jc_schema *s, json_t *value, uint64_t min, uint64_t max,
                           uint64_t *out)
{
    if (!json_is_integer(value)) {
        return jc_schema_fail(s, "must be an integer from %" PRIu64 " to %" PRIu64 ", not %s", min,
                              max, type_name(value));
    }
    json_int_t x = json_integer_value(value);
    if (x < 0 || (uint64_t)x < min || (uint64_t)x > max) {
        return jc_schema_fail(s, "must be an integer from %" PRIu64 " to %" PRIu64 ", not %lld",
                              min, max, (long long)x);
    }
    *out = (uint64_t)x;
    return JC_OK;
}

static enum jc_err read_array_item(struct jc_schema *s, json_t *item, jc_schema_check_fn *check,
                                   char **out)
{
    char *str;
    enum jc_err err = jc_schema_string(s, item, &str);
    if (err != JC_OK) {
        return err;
    }
    if (str[0] == '\0') {
        err = jc_schema_fail(s, "must not be empty");
    } else if (check != NULL) {
        err = check(s, str);
    }
    if (err != JC_OK) {
        free(str);
        return err;
    }
    *out = str;
    return JC_OK;
}

enum jc_err jc_schema_string_array(struct jc_schema *s, json_t *value, bool nonempty,
                                   jc_schema_check_fn *check, char ***out, size_t *n_out)
{
    if (!json_is_array(value)) {
        return jc_schema_fail(s, "must be an array of strings, not %s", type_name(value));
    }
    size_t n = json_array_size(value);
    if (n == 0 && nonempty) {
        return jc_schema_fail(s, "must hold at least one entry");
    }
    char **arr = jc_xcalloc(n, sizeof(*arr));
    for (size_t i = 0; i < n; i++) {
        size_t mark = jc_schema_push_index(s, i);
        enum jc_err err = read_array_item(s, json_array_get(value, i), check, &arr[i]);
        if (err != JC_OK) {
            jc_schema_free_strings(arr, i);
            return err;
        }
        jc_schema_pop(s, mark);
    }
    *out = arr;
    *n_out = n;
    return JC_OK;
}

void jc_schema_free_strings(char **arr, size_t n)
{
    if (arr == NULL) {
        return;
    }
    for (size_t i = 0; i < n; i++) {
        free(arr[i]);
    }
    free(arr);
}

static bool is_name_char(char ch, bool first)
{
    bool alpha = (ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') || ch == '_';
    return alpha || (!first && ch >= '0' && ch <= '9');
}

/* Finds the '}' that closes a default starting at p[start], counting the
 * braces in between so that "{key}" inside a default is kept whole. */
static bool find_default_end(const char *p, size_t start, size_t len, size_t *end)
{
    size_t depth = 0;
    for (size_t i = start; i < len; i++) {
        if (p[i] == '{') {
            depth++;
        } else if (p[i] == '}') {
            if (depth == 0) {
                *end = i;
                return true;
            }
            depth--;
        }
    }
    return false;
}

static enum jc_err subst_into(struct jc_schema *s, const char *in, size_t len, struct jc_buf *b);

/* p starts with "${".  Appends its value to b and sets *used to its length. */
static enum jc_err subst_one(struct jc_schema *s, const char *p, size_t len, struct jc_buf *b,
                             size_t *used)
{
    size_t i = 2;
    while (i < len && is_name_char(p[i], i == 2)) {
        i++;
    }
    char name[128];
    if (i == 2 || i - 2 >= sizeof(name)) {
        return jc_schema_fail(s, "bad \"${\": expected ${NAME} or ${NAME:-default}, NAME made "
                                 "of letters, digits and _");
    }
    memcpy(name, p + 2, i - 2);
    name[i - 2] = '\0';
    const char *val = getenv(name);
    if (i < len && p[i] == '}') {
        if (val == NULL) {
            return jc_schema_fail(s,
                                  "environment variable %s is not set (write ${%s:-} to allow "
                                  "that)",
                                  name, name);
        }
        jc_buf_add(b, val, strlen(val));
        *used = i + 1;
        return JC_OK;
    }
    size_t end;
    if (i + 1 >= len || p[i] != ':' || p[i + 1] != '-' || !find_default_end(p, i + 2, len, &end)) {
        return jc_schema_fail(s, "bad \"${%s\": expected ${%s} or ${%s:-default}", name, name,
                              name);
    }
    *used = end + 1;
    if (val != NULL && val[0] != '\0') {
        jc_buf_add(b, val, strlen(val));
        return JC_OK;
    }
    return subst_into(s, p + i + 2, end - (i + 2), b);
}

static enum jc_err subst_into(struct jc_schema *s, const char *in, size_t len, struct jc_buf *b)
{
    size_t i = 0;
    while (i < len) {
        if (in[i] != '$' || i + 1 >= len || in[i + 1] != '{') {
            jc_buf_add(b, in + i, 1);
            i++;
            continue;
        }
        size_t used = 0;
        enum jc_err err = subst_one(s, in + i, len - i, b, &used);
        if (err != JC_OK) {
            return err;
        }
        i += used;
    }
    return JC_OK;
}

enum jc_err jc_schema_subst(struct jc_schema *s, const char *in, size_t len, char **out)
{
    struct jc_buf b;
    jc_buf_init(&b, 0);
    enum jc_err err = subst_into(s, in, len, &b);
    if (err != JC_OK) {
        jc_buf_reset(&b);
        return err;
    }
    *out = jc_buf_take(&b, NULL);
    return JC_OK;
}

static bool is_host_char(char ch)
{
    return (ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') ||
           ch == '.' || ch == '-' || ch == '_';
}

static bool is_v6_char(char ch)
{
    return ch == ':' || ch == '.' || (ch >= '0' && ch <= '9') || (ch >= 'a' && ch <= 'f') ||
           (ch >= 'A' && ch <= 'F');
}

static bool parse_port(const char *p, int *port)
{
    size_t n = strlen(p);
    if (n == 0 || n > 5) {
        return false;
    }
    int v = 0;
    for (size_t i = 0; i < n; i++) {
        if (p[i] < '0' || p[i] > '9') {
            return false;
        }
        v = v * 10 + (p[i] - '0');
    }
    if (v < 1 || v > 65535) {
        return false;
    }
    *port = v;
    return true;
}

/* Splits in into host and port text; a colon inside [v6] does not count. */
static bool split_host_port(const char *in, const char **h, size_t *h_len, const char **port)
{
    const char *colon = NULL;
    *h = in;
    if (in[0] == '[') {
        const char *close = strchr(in, ']');
        if (close == NULL || (close[1] != '\0' && close[1] != ':')) {
            return false;
        }
        *h = in + 1;
        *h_len = (size_t)(close - *h);
        colon = close[1] == ':' ? close + 1 : NULL;
    } else {
        colon = strchr(in, ':');
        *h_len = colon != NULL ? (size_t)(colon - in) : strlen(in);
    }
    *port = colon != NULL ? colon + 1 : NULL;
    return true;
}

bool jc_schema_parse_host_port(const char *in, int default_port, char **host, int *port)
{
    const char *h;
    size_t h_len;
    const char *port_text;
    if (!split_host_port(in, &h, &h_len, &port_text)) {
        return false;
    }
    bool (*allowed)(char) = in[0] == '[' ? is_v6_char : is_host_char;
    if (h_len == 0 || h_len > 253) {
        return false;
    }
    for (size_t i = 0; i < h_len; i++) {
        if (!allowed(h[i])) {
            return false;
        }
    }
    int p = default_port;
    if (port_text != NULL ? !parse_port(port_text, &p) : default_port <= 0) {
        return false;
    }
    *host = jc_xstrndup(h, h_len);
    *port = p;
    return true;
}
