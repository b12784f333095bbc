/* server/route.c: request paths and header values to what they mean.  See
 * route.h.  Nothing here allocates except the decoded name and key. */
#include "server/route.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/key.h"

static const struct {
    const char *path;
    enum jc_route_kind kind;
} fixed_routes[] = {
    {"/healthz", JC_ROUTE_HEALTHZ},
    {"/readyz", JC_ROUTE_READYZ},
    {"/metrics", JC_ROUTE_METRICS},
    {"/caches", JC_ROUTE_CACHES},
};

static void parse_cache_path(const char *path, struct jc_route *out)
{
    const char *slash = strchr(path, '/');
    if (slash == NULL) {
        out->kind = JC_ROUTE_NOT_FOUND;
        return;
    }
    const char *key_start = slash + 1;
    const char *key_end = strchr(key_start, '/');
    if (key_end != NULL && strcmp(key_end, "/status") != 0) {
        out->kind = JC_ROUTE_BAD;
        out->why = "the key must be one path segment (encode '/' as %2F)";
        return;
    }
    out->kind = key_end != NULL ? JC_ROUTE_STATUS : JC_ROUTE_VALUE;
    if (key_end == NULL) {
        key_end = key_start + strlen(key_start);
    }
    size_t name_len;
    if (jc_key_decode(path, (size_t)(slash - path), &out->cache, &name_len) != JC_OK ||
        strlen(out->cache) != name_len) {
        free(out->cache);
        out->cache = NULL;
        out->kind = JC_ROUTE_BAD;
        out->why = "malformed cache name";
        return;
    }
    out->why = "malformed percent-encoding in the key";
    if (jc_key_decode(key_start, (size_t)(key_end - key_start), &out->key, &out->key_len) !=
        JC_OK) {
        return;
    }
    if (jc_key_validate(out->key, out->key_len, &out->why) != JC_OK) {
        free(out->key);
        out->key = NULL;
        out->key_len = 0;
        return;
    }
    out->why = NULL;
}

void jc_route_parse(const char *path, struct jc_route *out)
{
    memset(out, 0, sizeof(*out));
    if (strncmp(path, "/caches/", 8) == 0) {
        parse_cache_path(path + 8, out);
        return;
    }
    out->kind = JC_ROUTE_NOT_FOUND;
    for (size_t i = 0; i < sizeof(fixed_routes) / sizeof(fixed_routes[0]); i++) {
        if (strcmp(path, fixed_routes[i].path) == 0) {
            out->kind = fixed_routes[i].kind;
        }
    }
}

void jc_route_clear(struct jc_route *route)
{
    free(route->cache);
    free(route->key);
    memset(route, 0, sizeof(*route));
}

bool jc_route_query_param(const char *query, const char *name, const char **value, size_t *len)
{
    size_t name_len = strlen(name);
    const char *p = query;
    while (p != NULL && *p != '\0') {
        const char *end = strchr(p, '&');
        size_t param_len = end != NULL ? (size_t)(end - p) : strlen(p);
        const char *eq = memchr(p, '=', param_len);
        size_t key_len = eq != NULL ? (size_t)(eq - p) : param_len;
        if (key_len == name_len && memcmp(p, name, name_len) == 0) {
            *value = eq != NULL ? eq + 1 : NULL;
            *len = eq != NULL ? param_len - key_len - 1 : 0;
            return true;
        }
        p = end != NULL ? end + 1 : NULL;
    }
    return false;
}

enum jc_err jc_route_parse_timeout(const char *raw, size_t len, uint64_t *ms)
{
    char *val;
    size_t n;
    if (raw == NULL || jc_key_decode(raw, len, &val, &n) != JC_OK) {
        return JC_ERR_INVALID;
    }
    bool ok = n > 0;
    uint64_t v = 0;
    for (size_t i = 0; ok && i < n; i++) {
        ok = val[i] >= '0' && val[i] <= '9';
        /* Saturate: a huge wait is capped by the caller, not rejected. */
        v = v > UINT64_MAX / 20 ? UINT64_MAX / 20 : v * 10 + (uint64_t)(val[i] - '0');
    }
    free(val);
    if (!ok) {
        return JC_ERR_INVALID;
    }
    *ms = v;
    return JC_OK;
}

bool jc_route_prefer_wait(const char *prefer, uint64_t *ms)
{
    const char *p = prefer;
    while (p != NULL && (p = strstr(p, "wait=")) != NULL) {
        bool starts = p == prefer || p[-1] == ' ' || p[-1] == ',' || p[-1] == ';';
        if (starts && p[5] >= '0' && p[5] <= '9') {
            uint64_t secs = strtoull(p + 5, NULL, 10);
            *ms = secs > UINT64_MAX / 1000u ? UINT64_MAX : secs * 1000u;
            return true;
        }
        p += 5;
    }
    return false;
}

bool jc_route_only_if_cached(const char *cc)
{
    const char *p = cc;
    while (p != NULL && *p != '\0') {
        while (*p == ' ' || *p == '\t' || *p == ',') {
            p++;
        }
        size_t n = strcspn(p, ", \t");
        if (n == 14 && strncasecmp(p, "only-if-cached", 14) == 0) {
            return true;
        }
        p += n;
        p += strcspn(p, ",");
    }
    return false;
}

bool jc_route_etag_matches(const char *if_none_match, const char *etag)
{
    const char *tag = strncmp(etag, "W/", 2) == 0 ? etag + 2 : etag;
    size_t tag_len = strlen(tag);
    const char *p = if_none_match;
    while (*p != '\0') {
        while (*p == ' ' || *p == '\t' || *p == ',') {
            p++;
        }
        const char *end = p + strcspn(p, ",");
        const char *last = end;
        while (last > p && (last[-1] == ' ' || last[-1] == '\t')) {
            last--;
        }
        if (last - p == 1 && *p == '*') {
            return true;
        }
        const char *cand = strncmp(p, "W/", 2) == 0 ? p + 2 : p;
        if (last > cand && (size_t)(last - cand) == tag_len && memcmp(cand, tag, tag_len) == 0) {
            return true;
        }
        p = end;
    }
    return false;
}

bool jc_route_bearer_ok(const char *authorization, const char *token)
{
    if (token == NULL || token[0] == '\0') {
        return true;
    }
    if (authorization == NULL || strncasecmp(authorization, "Bearer ", 7) != 0) {
        return false;
    }
    const char *given = authorization + 7;
    size_t n = strlen(token);
    size_t m = strlen(given);
    unsigned char diff = (unsigned char)(n != m);
    for (size_t i = 0; i < n; i++) {
        diff |= (unsigned char)(token[i] ^ (i < m ? given[i] : 0));
    }
    return diff == 0;
}
