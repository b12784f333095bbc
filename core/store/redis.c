/* core/store/redis.c: the Redis store (jc_store_redis_ops).
 *
 * One Redis key per cache key, <prefix>:{<cache>}:k:<key bytes>, holds a
 * hash: s = state ("p" lock, "v" value, "f" tombstone), t = the fencing
 * token of the fetch that wrote it, v = the serialized jc_entry (value or
 * failed outcome).  A lock taken over a tombstone also keeps that
 * tombstone's token and outcome (ft, fv), still answered to the failed
 * fetch's waiters that poll after a new fetch began.  A missing key is EMPTY.  The lock's lease,
 * the value's TTL and the tombstone's life are the key's PEXPIRE, so they run on Redis's clock and
 * a lease that ended is simply a key that is gone. Tokens come from INCR on
 * <prefix>:{<cache>}:fence; the hash tag keeps both keys of a cache in one cluster slot, so each
 * script may touch both.
 *
 * Every transition is one Lua script, so it is atomic: lookup-or-lock,
 * commit-if-token, fail-if-token, status, touch.  Delete is a single DEL,
 * which is atomic by itself.  A key of another type, or a hash with an
 * unknown state, is EMPTY (and a lock overwrites it).  A value that
 * jc_entry_parse rejects is EMPTY too: a plain lookup reports EMPTY, and a
 * locking lookup runs once more telling the script to treat exactly those
 * bytes as EMPTY, so the lock replaces them atomically.
 *
 * Tokens travel as decimal strings (string.format('%d') of INCR's result),
 * never as Lua numbers, so they are compared exactly.  Connection handling,
 * EVALSHA and failing while Redis is down are core/redis_client.c's.
 * Event thread only. */
#include "core/store/store_impl.h"

#include <hiredis/hiredis.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "core/entry.h"
#include "core/log.h"
#include "core/mem.h"
#include "core/redis_client.h"

/* KEYS: key, fence.  ARGV: acquire ("1"/"0"), lease_ms, waited_token,
 * slide_ms, salt (0..65535), [bytes of a value to treat as EMPTY].
 * A new token is INCR(fence) * 65536 + salt: strictly increasing, and
 * unlikely to repeat a token after a failover lost the counter's latest
 * increments (Redis replicates asynchronously), which would let a stale
 * holder's commit pass for its successor's.
 * Returns {"v", token, value, pttl} | {"p", token} | {"f", token, outcome} |
 * {"a", token} | {"e"}. */
static const char lookup_script[] =
    "local s, t, v, ft, fv = nil, nil, nil, nil, nil\n"
    "if redis.call('TYPE', KEYS[1]).ok == 'hash' then\n"
    "  local h = redis.call('HMGET', KEYS[1], 's', 't', 'v', 'ft', 'fv')\n"
    "  s, t, v, ft, fv = h[1], h[2], h[3], h[4], h[5]\n"
    "end\n"
    "if s == 'v' and v and t and not (ARGV[6] and v == ARGV[6]) then\n"
    "  if tonumber(ARGV[4]) > 0 then redis.call('PEXPIRE', KEYS[1], ARGV[4]) end\n"
    "  return {'v', t, v, redis.call('PTTL', KEYS[1])}\n"
    "end\n"
    "if s == 'p' and t and ft == ARGV[3] and fv and not (ARGV[6] and fv == ARGV[6]) then\n"
    "  return {'f', ft, fv}\n"
    "end\n"
    "if s == 'p' and t then return {'p', t} end\n"
    "if s == 'f' and t == ARGV[3] and v and not (ARGV[6] and v == ARGV[6]) then\n"
    "  return {'f', t, v}\n"
    "end\n"
    "if ARGV[1] ~= '1' then return {'e'} end\n"
    "local tok = string.format('%d', redis.call('INCR', KEYS[2]) * 65536 + tonumber(ARGV[5]))\n"
    "redis.call('DEL', KEYS[1])\n"
    "if s == 'f' and t and v then\n"
    "  redis.call('HSET', KEYS[1], 's', 'p', 't', tok, 'ft', t, 'fv', v)\n"
    "else\n"
    "  redis.call('HSET', KEYS[1], 's', 'p', 't', tok)\n"
    "end\n"
    "redis.call('PEXPIRE', KEYS[1], ARGV[2])\n"
    "return {'a', tok}\n";

/* KEYS: key.  ARGV: token, state ("v"/"f"), entry, ttl_ms (< 0 = none).
 * Returns 1, or 0 when the key is not the lock of token (fenced). */
static const char replace_lock_script[] =
    "if redis.call('TYPE', KEYS[1]).ok ~= 'hash' then return 0 end\n"
    "local h = redis.call('HMGET', KEYS[1], 's', 't')\n"
    "if h[1] ~= 'p' or h[2] ~= ARGV[1] then return 0 end\n"
    "redis.call('DEL', KEYS[1])\n"
    "redis.call('HSET', KEYS[1], 's', ARGV[2], 't', ARGV[1], 'v', ARGV[3])\n"
    "if tonumber(ARGV[4]) >= 0 then redis.call('PEXPIRE', KEYS[1], ARGV[4]) end\n"
    "return 1\n";

/* KEYS: key.  Returns {"v", pttl} | {"p", -1} | {"e", -1}. */
static const char status_script[] =
    "if redis.call('TYPE', KEYS[1]).ok ~= 'hash' then return {'e', -1} end\n"
    "local h = redis.call('HMGET', KEYS[1], 's', 't', 'v')\n"
    "if h[1] == 'p' and h[2] then return {'p', -1} end\n"
    "if h[1] == 'v' and h[2] and h[3] then return {'v', redis.call('PTTL', KEYS[1])} end\n"
    "return {'e', -1}\n";

/* KEYS: key.  ARGV: ttl_ms (< 0 = none).  Returns 1, or 0 when no value. */
static const char touch_script[] =
    "if redis.call('TYPE', KEYS[1]).ok ~= 'hash' then return 0 end\n"
    "local h = redis.call('HMGET', KEYS[1], 's', 't', 'v')\n"
    "if h[1] ~= 'v' or not h[2] or not h[3] then return 0 end\n"
    "if tonumber(ARGV[1]) >= 0 then redis.call('PEXPIRE', KEYS[1], ARGV[1])\n"
    "else redis.call('PERSIST', KEYS[1]) end\n"
    "return 1\n";

struct redis_store {
    struct jc_store base; /* first: store.c reaches the ops through it */
    struct jc_redis_client *client;
    char *prefix;
    uint64_t salt_state; /* see token_salt */
};

/* A store key and its cache's fence key, built from a jc_store_key. */
struct key_pair {
    struct jc_buf key;
    struct jc_buf fence;
};

static void key_pair_init(struct key_pair *kp, const struct redis_store *s,
                          const struct jc_store_key *k)
{
    jc_buf_init(&kp->key, 0);
    jc_buf_init(&kp->fence, 0);
    jc_buf_printf(&kp->key, "%s:{%s}:k:", s->prefix, k->cache);
    jc_buf_add(&kp->key, k->key, k->key_len);
    jc_buf_printf(&kp->fence, "%s:{%s}:fence", s->prefix, k->cache);
}

static void key_pair_reset(struct key_pair *kp)
{
    jc_buf_reset(&kp->key);
    jc_buf_reset(&kp->fence);
}

static struct redis_store *redis_store_of(struct jc_store *store)
{
    return (struct redis_store *)store;
}

static const char *reply_str(const struct redisReply *r, size_t i)
{
    if (r->type != REDIS_REPLY_ARRAY || i >= r->elements ||
        r->element[i]->type != REDIS_REPLY_STRING) {
        return NULL;
    }
    return r->element[i]->str;
}

static uint64_t parse_token(const char *s)
{
    return s != NULL ? strtoull(s, NULL, 10) : 0;
}

/* Turns a transport error or an error reply into JC_ERR_STORE (logged). */
static enum jc_err check_reply(enum jc_err err, const struct redisReply *r, const char *op)
{
    if (err != JC_OK) {
        return err;
    }
    if (r == NULL || r->type == REDIS_REPLY_ERROR) {
        jc_log_warn("redis store: %s: %s", op, r != NULL ? r->str : "no reply");
        return JC_ERR_STORE;
    }
    return JC_OK;
}

/* ---- lookup --------------------------------------------------------------- */

struct lookup_op {
    struct redis_store *store;
    jc_store_lookup_fn *cb;
    void *arg;
    struct key_pair kp;
    struct jc_store_lookup lk;
    char *discard; /* a value to treat as EMPTY (unparseable), or NULL */
    size_t discard_len;
};

static void lookup_op_free(struct lookup_op *op)
{
    key_pair_reset(&op->kp);
    free(op->discard);
    free(op);
}

static enum jc_err send_lookup(struct lookup_op *op);

/* The script's answer for a value that does not parse: EMPTY for a plain
 * lookup; for a locking lookup, one more run that replaces those bytes. */
static bool retry_unparseable(struct lookup_op *op, const struct redisReply *v)
{
    /* The fence key names the cache ("<prefix>:{<cache>}:fence"). */
    jc_log_warn("redis store: a value under %.*s does not parse; treating it as empty",
                (int)(op->kp.fence.len - strlen(":fence")), op->kp.fence.data);
    if (!op->lk.acquire || op->discard != NULL) {
        return false;
    }
    op->discard = jc_xmemdup(v->str, v->len);
    op->discard_len = v->len;
    return send_lookup(op) == JC_OK;
}

/* Fills out from the script's reply.  Returns false if op was sent again. */
static bool decode_lookup(struct lookup_op *op, const struct redisReply *r,
                          struct jc_store_reply *out, enum jc_err *err)
{
    const char *state = reply_str(r, 0);
    out->token = parse_token(reply_str(r, 1));
    out->ttl_ms = -1;
    *err = JC_OK;
    if (state == NULL || (state[0] != 'e' && out->token == 0)) {
        jc_log_warn("redis store: lookup: unexpected reply");
        *err = JC_ERR_STORE;
        return true;
    }
    switch (state[0]) {
    case 'a':
        out->state = JC_STORE_ACQUIRED;
        return true;
    case 'p':
        out->state = JC_STORE_PENDING;
        return true;
    case 'e':
        out->state = JC_STORE_EMPTY;
        out->token = 0;
        return true;
    default:
        break;
    }
    const struct redisReply *v = r->elements > 2 ? r->element[2] : NULL;
    if (v == NULL || v->type != REDIS_REPLY_STRING ||
        jc_entry_parse(v->str, v->len, &out->entry) != JC_OK) {
        if (v != NULL && v->type == REDIS_REPLY_STRING && retry_unparseable(op, v)) {
            return false;
        }
        out->state = JC_STORE_EMPTY;
        out->token = 0;
        *err = op->lk.acquire ? JC_ERR_STORE : JC_OK;
        return true;
    }
    out->state = state[0] == 'v' ? JC_STORE_VALUE : JC_STORE_FAILED;
    if (state[0] == 'v' && r->elements > 3 && r->element[3]->type == REDIS_REPLY_INTEGER) {
        out->ttl_ms = r->element[3]->integer >= 0 ? r->element[3]->integer : -1;
    }
    return true;
}

static void on_lookup_reply(void *arg, enum jc_err err, struct redisReply *r)
{
    struct lookup_op *op = arg;
    struct jc_store_reply out = {0};
    err = check_reply(err, r, "lookup");
    if (err == JC_OK && !decode_lookup(op, r, &out, &err)) {
        return; /* sent again; this op answers later */
    }
    jc_store_lookup_fn *cb = op->cb;
    void *cb_arg = op->arg;
    lookup_op_free(op);
    cb(cb_arg, err, err == JC_OK ? &out : NULL);
    if (out.entry != NULL) {
        jc_entry_unref(out.entry);
    }
}

/* A pseudo-random 16-bit salt for new tokens (see lookup_script).  Not a
 * secret: it only has to differ between two holders of one counter value. */
static unsigned int token_salt(struct redis_store *st)
{
    st->salt_state = st->salt_state * 6364136223846793005u + 1442695040888963407u;
    return (unsigned int)(st->salt_state >> 48);
}

static enum jc_err send_lookup(struct lookup_op *op)
{
    char lease[24], waited[24], slide[24], salt[8];
    snprintf(lease, sizeof(lease), "%" PRIu64, op->lk.lease_ms > 0 ? op->lk.lease_ms : 1);
    snprintf(waited, sizeof(waited), "%" PRIu64, op->lk.waited_token);
    snprintf(slide, sizeof(slide), "%" PRId64, op->lk.slide_ms);
    snprintf(salt, sizeof(salt), "%u", token_salt(op->store));
    const char *argv[] = {
        op->kp.key.data, op->kp.fence.data, op->lk.acquire ? "1" : "0", lease, waited, slide, salt,
        op->discard};
    size_t argvlen[] = {op->kp.key.len, op->kp.fence.len, 1,
                        strlen(lease),  strlen(waited),   strlen(slide),
                        strlen(salt),   op->discard_len};
    int argc = op->discard != NULL ? 8 : 7;
    return jc_redis_client_eval(op->store->client, lookup_script, on_lookup_reply, op, 2, argc,
                                argv, argvlen);
}

static enum jc_err redis_lookup(struct jc_store *store, const struct jc_store_key *k,
                                const struct jc_store_lookup *lookup, jc_store_lookup_fn *cb,
                                void *arg)
{
    struct lookup_op *op = jc_xcalloc(1, sizeof(*op));
    op->store = redis_store_of(store);
    op->cb = cb;
    op->arg = arg;
    op->lk = *lookup;
    key_pair_init(&op->kp, op->store, k);
    enum jc_err err = send_lookup(op);
    if (err != JC_OK) {
        lookup_op_free(op);
    }
    return err;
}

/* ---- commit, fail, delete, touch ------------------------------------------ */

struct done_op {
    jc_store_done_fn *cb;
    void *arg;
    const char *what;    /* for logs */
    enum jc_err if_zero; /* the answer when the script returns 0 */
};

static struct done_op *done_op_new(jc_store_done_fn *cb, void *arg, const char *what,
                                   enum jc_err if_zero)
{
    struct done_op *op = jc_xcalloc(1, sizeof(*op));
    op->cb = cb;
    op->arg = arg;
    op->what = what;
    op->if_zero = if_zero;
    return op;
}

static void on_done_reply(void *arg, enum jc_err err, struct redisReply *r)
{
    struct done_op *op = arg;
    err = check_reply(err, r, op->what);
    if (err == JC_OK && r->type == REDIS_REPLY_INTEGER && r->integer == 0) {
        err = op->if_zero;
    }
    jc_store_done_fn *cb = op->cb;
    void *cb_arg = op->arg;
    free(op);
    cb(cb_arg, err);
}

/* Runs replace_lock_script: the lock of token becomes state with entry. */
static enum jc_err replace_lock(struct redis_store *s, const struct jc_store_key *k, uint64_t token,
                                const char *state, const struct jc_entry *entry, int64_t ttl_ms,
                                struct done_op *op)
{
    struct key_pair kp;
    key_pair_init(&kp, s, k);
    char tok[24], ttl[24];
    snprintf(tok, sizeof(tok), "%" PRIu64, token);
    snprintf(ttl, sizeof(ttl), "%" PRId64, ttl_ms);
    size_t blob_len = 0;
    char *blob = jc_entry_serialize(entry, &blob_len);
    const char *argv[] = {kp.key.data, tok, state, blob, ttl};
    size_t argvlen[] = {kp.key.len, strlen(tok), 1, blob_len, strlen(ttl)};
    enum jc_err err = jc_redis_client_eval(s->client, replace_lock_script, on_done_reply, op, 1, 5,
                                           argv, argvlen);
    free(blob);
    key_pair_reset(&kp);
    if (err != JC_OK) {
        free(op);
    }
    return err;
}

static enum jc_err redis_commit(struct jc_store *store, const struct jc_store_key *k,
                                uint64_t token, const struct jc_entry *entry, int64_t ttl_ms,
                                jc_store_done_fn *cb, void *arg)
{
    struct done_op *op = done_op_new(cb, arg, "commit", JC_ERR_FENCED);
    return replace_lock(redis_store_of(store), k, token, "v", entry, ttl_ms < 0 ? -1 : ttl_ms, op);
}

static enum jc_err redis_fail(struct jc_store *store, const struct jc_store_key *k, uint64_t token,
                              const struct jc_entry *entry, uint64_t tombstone_ms,
                              jc_store_done_fn *cb, void *arg)
{
    struct done_op *op = done_op_new(cb, arg, "fail", JC_ERR_FENCED);
    int64_t ttl = tombstone_ms > INT64_MAX ? INT64_MAX : (int64_t)tombstone_ms;
    return replace_lock(redis_store_of(store), k, token, "f", entry, ttl, op);
}

static enum jc_err redis_del(struct jc_store *store, const struct jc_store_key *k,
                             jc_store_done_fn *cb, void *arg)
{
    struct redis_store *s = redis_store_of(store);
    struct key_pair kp;
    key_pair_init(&kp, s, k);
    struct done_op *op = done_op_new(cb, arg, "delete", JC_OK);
    const char *argv[] = {"DEL", kp.key.data};
    size_t argvlen[] = {3, kp.key.len};
    enum jc_err err = jc_redis_client_command(s->client, on_done_reply, op, 2, argv, argvlen);
    key_pair_reset(&kp);
    if (err != JC_OK) {
        free(op);
    }
    return err;
}

static enum jc_err redis_touch(struct jc_store *store, const struct jc_store_key *k, int64_t ttl_ms,
                               jc_store_done_fn *cb, void *arg)
{
    struct redis_store *s = redis_store_of(store);
    struct key_pair kp;
    key_pair_init(&kp, s, k);
    struct done_op *op = done_op_new(cb, arg, "touch", JC_ERR_NOT_FOUND);
    char ttl[24];
    snprintf(ttl, sizeof(ttl), "%" PRId64, ttl_ms);
    const char *argv[] = {kp.key.data, ttl};
    size_t argvlen[] = {kp.key.len, strlen(ttl)};
    enum jc_err err =
        jc_redis_client_eval(s->client, touch_script, on_done_reply, op, 1, 2, argv, argvlen);
    key_pair_reset(&kp);
    if (err != JC_OK) {
        free(op);
    }
    return err;
}

/* ---- status --------------------------------------------------------------- */

struct status_op {
    jc_store_status_fn *cb;
    void *arg;
};

static void on_status_reply(void *arg, enum jc_err err, struct redisReply *r)
{
    struct status_op *op = arg;
    enum jc_key_status status = JC_KEY_EMPTY;
    int64_t ttl = -1;
    err = check_reply(err, r, "status");
    const char *state = err == JC_OK ? reply_str(r, 0) : NULL;
    if (state != NULL && state[0] == 'p') {
        status = JC_KEY_PENDING;
    } else if (state != NULL && state[0] == 'v') {
        status = JC_KEY_EXISTS;
        if (r->elements > 1 && r->element[1]->type == REDIS_REPLY_INTEGER &&
            r->element[1]->integer >= 0) {
            ttl = r->element[1]->integer;
        }
    } else if (err == JC_OK && state == NULL) {
        jc_log_warn("redis store: status: unexpected reply");
        err = JC_ERR_STORE;
    }
    jc_store_status_fn *cb = op->cb;
    void *cb_arg = op->arg;
    free(op);
    cb(cb_arg, err, status, ttl);
}

static enum jc_err redis_status(struct jc_store *store, const struct jc_store_key *k,
                                jc_store_status_fn *cb, void *arg)
{
    struct redis_store *s = redis_store_of(store);
    struct key_pair kp;
    key_pair_init(&kp, s, k);
    struct status_op *op = jc_xcalloc(1, sizeof(*op));
    op->cb = cb;
    op->arg = arg;
    const char *argv[] = {kp.key.data};
    size_t argvlen[] = {kp.key.len};
    enum jc_err err =
        jc_redis_client_eval(s->client, status_script, on_status_reply, op, 1, 1, argv, argvlen);
    key_pair_reset(&kp);
    if (err != JC_OK) {
        free(op);
    }
    return err;
}

/* ---- open / close ----------------------------------------------------------- */

static enum jc_err redis_open(struct jc_loop *loop, const struct jc_store_config *cfg,
                              struct jc_store **out)
{
    struct redis_store *s = jc_xcalloc(1, sizeof(*s));
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    s->salt_state = (uint64_t)ts.tv_nsec ^ (uint64_t)ts.tv_sec << 20 ^ (uint64_t)getpid() << 40;
    s->base.ops = &jc_store_redis_ops;
    s->prefix = jc_xstrdup(cfg->prefix != NULL && cfg->prefix[0] != '\0' ? cfg->prefix : "jcached");
    enum jc_err err = jc_redis_client_open(loop, cfg, NULL, NULL, &s->client);
    if (err != JC_OK) {
        free(s->prefix);
        free(s);
        return err;
    }
    *out = &s->base;
    return JC_OK;
}

static void redis_close(struct jc_store *store)
{
    struct redis_store *s = redis_store_of(store);
    jc_redis_client_close(s->client);
    free(s->prefix);
    free(s);
}

static bool redis_is_ready(struct jc_store *store)
{
    return jc_redis_client_is_connected(redis_store_of(store)->client);
}

const struct jc_store_ops jc_store_redis_ops = {
    .name = "redis",
    .open = redis_open,
    .close = redis_close,
    .is_ready = redis_is_ready,
    .lookup = redis_lookup,
    .commit = redis_commit,
    .fail = redis_fail,
    .del = redis_del,
    .status = redis_status,
    .touch = redis_touch,
};
