/* core/redis_client.c: one asynchronous Redis connection on the event loop.
 *
 * The connection is a hiredis 0.14 async context driven by the libevent
 * adapter on the loop's event_base.  Its life is a small state machine:
 *
 *   retry timer -> [Sentinel query] -> connect -> handshake -> ready
 *        ^                                                       |
 *        +------------- backoff (50 ms doubling to 2 s) <--------+
 *
 * Sentinel resolution is asynchronous too (hiredis 0.14 has no Sentinel
 * support): each configured sentinel is asked in turn, on its own short-lived
 * async context, for SENTINEL get-master-addr-by-name; the first answer wins.
 * Because it runs on every (re)connect, a failover is followed.  The handshake
 * is pipelined: AUTH (if a password is set), SELECT (if db != 0), then ROLE
 * with Sentinel (the address must really be a primary, else we retry) or PING
 * without.  A timer bounds both the sentinel query and the handshake, since
 * hiredis 0.14 has no async connect timeout.
 *
 * Only a ready client sends commands.  Any other time a command fails with
 * JC_ERR_STORE through its callback, from a zero-delay timer that drains a
 * queue of failed commands, so the callback rule holds.  Commands in flight
 * when the link drops get a NULL reply from hiredis, which becomes
 * JC_ERR_STORE.  A -READONLY error means the primary was demoted: the link
 * is dropped and the primary resolved again.  A server that keeps the
 * connection but stops answering (hung, paused) is caught by a watchdog:
 * replies owed and none for REPLY_TIMEOUT_MS drops the link too, so no
 * command waits forever.  It uses real monotonic time, not the loop's
 * injectable clock, since it measures the network.  Blocking commands
 * (BLPOP and the like) are therefore not for this client.
 *
 * Link ownership: ac->data points at the client while the client owns the
 * context, and is set to NULL the moment the client lets go of it (drop,
 * close).  Every hiredis callback checks it, so callbacks that hiredis runs
 * while freeing a context we already let go of do nothing but answer their
 * caller.  hiredis frees a context itself after a failed connect or a
 * disconnect; we never free one from inside its connect or disconnect
 * callback.
 *
 * EVALSHA uses a SHA-1 computed here (a small implementation below), so no
 * round trip is spent on SCRIPT LOAD unless Redis answers NOSCRIPT.
 * Event thread only. */
#include "core/redis_client.h"

#include <errno.h>
#include <hiredis/adapters/libevent.h>
#include <hiredis/async.h>
#include <hiredis/hiredis.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/key.h"
#include "core/log.h"
#include "core/loop.h"
#include "core/mem.h"
#include "core/store/store.h"

#define BACKOFF_MIN_MS       50
#define BACKOFF_MAX_MS       2000
#define HANDSHAKE_TIMEOUT_MS 1500
#define REPLY_TIMEOUT_MS     5000
#define WATCHDOG_PERIOD_MS   500
#define SENTINEL_TIMEOUT_MS  1000
#define DEFAULT_PORT         6379
#define DEFAULT_SENTINEL     26379

struct endpoint {
    char *host;
    int port;
};

struct script_sha {
    struct script_sha *next;
    const char *script; /* borrowed: valid for the client's life */
    char sha[41];
};

/* A command that fails without reaching Redis, answered from fail_timer. */
struct failed_cmd {
    struct failed_cmd *next;
    jc_redis_reply_fn *cb;
    void *arg;
};

/* One command in flight: hiredis privdata. */
struct cmd {
    jc_redis_reply_fn *cb;
    void *arg;
    const char *script; /* eval only: for SCRIPT LOAD on NOSCRIPT */
    char *formatted;    /* eval only: the EVALSHA as sent, for the retry */
    int formatted_len;
    bool retried;
};

struct jc_redis_client {
    struct jc_loop *loop;
    jc_redis_state_fn *on_state;
    void *state_arg;

    struct endpoint direct; /* url mode */
    struct endpoint *sentinels;
    size_t n_sentinels;
    char *primary_name;
    char *sentinel_password;
    char *user;
    char *password;
    int db;
    bool use_sentinel;

    redisAsyncContext *ac; /* the primary link, or NULL */
    bool ready;
    int handshake_left;
    redisAsyncContext *sac; /* the sentinel being asked, or NULL */
    size_t sentinel_idx;
    redisAsyncContext *wac;  /* the sentinel that answered, subscribed to +switch-master */
    struct endpoint hint;    /* the new primary a +switch-master named, tried first */
    struct endpoint primary; /* where the last connect went */

    struct jc_timer *retry_timer;
    struct jc_timer *hs_timer;
    struct jc_timer *fail_timer;
    struct jc_timer *watchdog;
    uint64_t last_rx_ms; /* monotonic: the last reply, or the first send after a quiet spell */
    uint64_t backoff_ms;
    bool warned; /* a failure was logged since the last ready */

    struct failed_cmd *failed_head;
    struct failed_cmd **failed_tail;
    struct script_sha *scripts;

    char *pattern;
    jc_redis_message_fn *on_message;
    void *msg_arg;
};

static void start_connect(struct jc_redis_client *c);
static void lose_link(struct jc_redis_client *c, const char *why);

/* ---- SHA-1 (FIPS 180-1), for EVALSHA ---------------------------------- */

static uint32_t rol32(uint32_t x, int n)
{
    return (x << n) | (x >> (32 - n));
}

static void sha1_block(uint32_t h[5], const unsigned char *p)
{
    uint32_t w[80];
    for (int i = 0; i < 16; i++) {
        w[i] = (uint32_t)p[4 * i] << 24 | (uint32_t)p[4 * i + 1] << 16 |
               (uint32_t)p[4 * i + 2] << 8 | (uint32_t)p[4 * i + 3];
    }
    for (int i = 16; i < 80; i++) {
        w[i] = rol32(w[i - 3] ^ w[i - 8] ^ w[i - 14] ^ w[i - 16], 1);
    }
    uint32_t a = h[0], b = h[1], cc = h[2], d = h[3], e = h[4];
    for (int i = 0; i < 80; i++) {
        uint32_t f, k;
        if (i < 20) {
            f = (b & cc) | (~b & d);
            k = 0x5a827999u;
        } else if (i < 40) {
            f = b ^ cc ^ d;
            k = 0x6ed9eba1u;
        } else if (i < 60) {
            f = (b & cc) | (b & d) | (cc & d);
            k = 0x8f1bbcdcu;
        } else {
            f = b ^ cc ^ d;
            k = 0xca62c1d6u;
        }
        uint32_t t = rol32(a, 5) + f + e + k + w[i];
        e = d;
        d = cc;
        cc = rol32(b, 30);
        b = a;
        a = t;
    }
    h[0] += a;
    h[1] += b;
    h[2] += cc;
    h[3] += d;
    h[4] += e;
}

/* Writes the lowercase hex SHA-1 of data[0..len) (40 chars and a NUL). */
static void sha1_hex(const void *data, size_t len, char out[41])
{
    uint32_t h[5] = {0x67452301u, 0xefcdab89u, 0x98badcfeu, 0x10325476u, 0xc3d2e1f0u};
    const unsigned char *p = data;
    size_t off = 0;
    for (; len - off >= 64; off += 64) {
        sha1_block(h, p + off);
    }
    unsigned char tail[128] = {0};
    size_t rest = len - off;
    memcpy(tail, p + off, rest);
    tail[rest] = 0x80;
    size_t tail_len = rest < 56 ? 64 : 128;
    uint64_t bits = (uint64_t)len * 8u;
    for (int i = 0; i < 8; i++) {
        tail[tail_len - 1 - (size_t)i] = (unsigned char)(bits >> (8 * i));
    }
    sha1_block(h, tail);
    if (tail_len == 128) {
        sha1_block(h, tail + 64);
    }
    for (int i = 0; i < 5; i++) {
        snprintf(out + 8 * i, 9, "%08x", (unsigned)h[i]);
    }
}

/* ---- settings ----------------------------------------------------------- */

/* Returns new: s[0..len) percent-decoded, or NULL on a bad escape. */
static char *percent_decode(const char *s, size_t len)
{
    char *out;
    size_t out_len;
    return jc_key_decode(s, len, &out, &out_len) == JC_OK ? out : NULL;
}

static int parse_int(const char *s, size_t len, long min, long max, long *out)
{
    if (len == 0 || len > 9) {
        return -1;
    }
    long v = 0;
    for (size_t i = 0; i < len; i++) {
        if (s[i] < '0' || s[i] > '9') {
            return -1;
        }
        v = v * 10 + (s[i] - '0');
    }
    if (v < min || v > max) {
        return -1;
    }
    *out = v;
    return 0;
}

/* Parses "host[:port]" or "[v6]:port" from s[0..len) into ep. */
static int parse_hostport(const char *s, size_t len, int default_port, struct endpoint *ep)
{
    const char *host = s, *port = NULL;
    size_t host_len = len;
    if (len > 0 && s[0] == '[') {
        const char *close = memchr(s, ']', len);
        if (close == NULL) {
            return -1;
        }
        host = s + 1;
        host_len = (size_t)(close - host);
        port = close + 1 < s + len && close[1] == ':' ? close + 2 : NULL;
    } else {
        const char *colon = memchr(s, ':', len);
        if (colon != NULL) {
            host_len = (size_t)(colon - s);
            port = colon + 1;
        }
    }
    long p = default_port;
    if (port != NULL && parse_int(port, (size_t)(s + len - port), 1, 65535, &p) != 0) {
        return -1;
    }
    if (host_len == 0) {
        return -1;
    }
    ep->host = jc_xstrndup(host, host_len);
    ep->port = (int)p;
    return 0;
}

/* Splits "[user]:password" into c->user / c->password (percent-decoded). */
static int parse_userinfo(struct jc_redis_client *c, const char *s, size_t len)
{
    const char *colon = memchr(s, ':', len);
    if (colon == NULL) {
        return -1;
    }
    size_t user_len = (size_t)(colon - s);
    c->password = percent_decode(colon + 1, len - user_len - 1);
    if (user_len > 0) {
        c->user = percent_decode(s, user_len);
    }
    if (c->password == NULL || (user_len > 0 && c->user == NULL)) {
        return -1;
    }
    return 0;
}

/* Parses "redis://[[user]:password@]host[:port][/db]". */
static int parse_url(struct jc_redis_client *c, const char *url)
{
    static const char scheme[] = "redis://";
    if (strncmp(url, scheme, sizeof(scheme) - 1) != 0) {
        return -1;
    }
    const char *p = url + sizeof(scheme) - 1;
    const char *end = p + strlen(p);
    const char *slash = memchr(p, '/', (size_t)(end - p));
    const char *auth_end = slash != NULL ? slash : end;
    const char *at = NULL;
    for (const char *q = p; q < auth_end; q++) {
        if (*q == '@') {
            at = q;
        }
    }
    if (at != NULL) {
        if (parse_userinfo(c, p, (size_t)(at - p)) != 0) {
            return -1;
        }
        p = at + 1;
    }
    if (parse_hostport(p, (size_t)(auth_end - p), DEFAULT_PORT, &c->direct) != 0) {
        return -1;
    }
    long db = 0;
    if (slash != NULL && slash + 1 < end &&
        parse_int(slash + 1, strlen(slash + 1), 0, 1000000, &db) != 0) {
        return -1;
    }
    c->db = (int)db;
    return 0;
}

static int parse_sentinel(struct jc_redis_client *c, const struct jc_store_sentinel_config *s)
{
    if (s->n_hosts == 0 || s->primary_name == NULL || s->primary_name[0] == '\0') {
        return -1;
    }
    c->sentinels = jc_xcalloc(s->n_hosts, sizeof(*c->sentinels));
    for (size_t i = 0; i < s->n_hosts; i++) {
        if (s->hosts[i] == NULL || parse_hostport(s->hosts[i], strlen(s->hosts[i]),
                                                  DEFAULT_SENTINEL, &c->sentinels[i]) != 0) {
            return -1;
        }
        c->n_sentinels = i + 1;
    }
    c->primary_name = jc_xstrdup(s->primary_name);
    if (s->password != NULL && s->password[0] != '\0') {
        c->sentinel_password = jc_xstrdup(s->password);
    }
    c->use_sentinel = true;
    return 0;
}

/* Fills c from cfg: the url (or Sentinel), then cfg->password / cfg->db,
 * which win over the url's when set. */
static int parse_config(struct jc_redis_client *c, const struct jc_store_config *cfg)
{
    if (cfg->has_sentinel) {
        if (parse_sentinel(c, &cfg->sentinel) != 0) {
            return -1;
        }
    } else if (cfg->url == NULL || parse_url(c, cfg->url) != 0) {
        return -1;
    }
    if (cfg->password != NULL && cfg->password[0] != '\0') {
        free(c->password);
        c->password = jc_xstrdup(cfg->password);
    }
    if (cfg->db < 0) {
        return -1;
    }
    if (cfg->db != 0) {
        c->db = cfg->db;
    }
    return 0;
}

/* ---- failing commands without Redis ------------------------------------- */

static void on_fail_timer(void *arg)
{
    struct jc_redis_client *c = arg;
    struct failed_cmd *list = c->failed_head;
    c->failed_head = NULL;
    c->failed_tail = &c->failed_head;
    while (list != NULL) {
        struct failed_cmd *f = list;
        list = f->next;
        f->cb(f->arg, JC_ERR_STORE, NULL);
        free(f);
    }
}

/* Queues cb(arg, JC_ERR_STORE, NULL) for the next loop turn. */
static void fail_later(struct jc_redis_client *c, jc_redis_reply_fn *cb, void *arg)
{
    struct failed_cmd *f = jc_xcalloc(1, sizeof(*f));
    f->cb = cb;
    f->arg = arg;
    *c->failed_tail = f;
    c->failed_tail = &f->next;
    if (!jc_timer_is_pending(c->fail_timer)) {
        jc_timer_start(c->fail_timer, 0);
    }
}

/* ---- link management ---------------------------------------------------- */

static uint64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* A reply arrived on ac: the server is alive. */
static void note_rx(struct jc_redis_client *c, const redisAsyncContext *ac)
{
    if (c != NULL && c->ac == ac) {
        c->last_rx_ms = mono_ms();
    }
}

/* Before a send: if nothing was owed, the reply clock starts now. */
static void note_tx(struct jc_redis_client *c)
{
    if (c->ac->replies.head == NULL) {
        c->last_rx_ms = mono_ms();
    }
}

static void note_failure(struct jc_redis_client *c, const char *what, const char *why)
{
    if (!c->warned) {
        jc_log_warn("redis: %s: %s", what, why != NULL ? why : "unknown error");
        c->warned = true;
    } else {
        jc_log_debug("redis: %s: %s", what, why != NULL ? why : "unknown error");
    }
}

static void schedule_reconnect(struct jc_redis_client *c)
{
    jc_timer_stop(c->hs_timer);
    jc_timer_start(c->retry_timer, c->backoff_ms);
    c->backoff_ms = c->backoff_ms * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS : c->backoff_ms * 2;
}

static void release_async(redisAsyncContext **acp)
{
    redisAsyncContext *ac = *acp;
    *acp = NULL;
    if (ac != NULL) {
        ac->data = NULL;
        redisAsyncFree(ac);
    }
}

/* Lets go of the primary link: in-flight commands get JC_ERR_STORE (now, or
 * when hiredis finishes the callback it is in).  Does not reconnect. */
static void release_link(struct jc_redis_client *c)
{
    c->ready = false;
    jc_timer_stop(c->watchdog);
    release_async(&c->ac);
}

static void release_sentinel(struct jc_redis_client *c)
{
    release_async(&c->sac);
}

/* The link failed (we drop it, or it is gone): reconnect with backoff and
 * tell the owner if it was ready.  The state callback runs last. */
static void lose_link(struct jc_redis_client *c, const char *why)
{
    bool was_ready = c->ready;
    char what[300];
    snprintf(what, sizeof(what), "connection to %s:%d", c->primary.host ? c->primary.host : "?",
             c->primary.port);
    note_failure(c, what, why);
    release_link(c);
    schedule_reconnect(c);
    if (was_ready && c->on_state != NULL) {
        c->on_state(c->state_arg, false);
    }
}

static void on_connect(const redisAsyncContext *ac, int status)
{
    struct jc_redis_client *c = ac->data;
    if (c == NULL || c->ac != ac || status == REDIS_OK) {
        return;
    }
    /* hiredis frees the context after this returns: just forget it. */
    char why[256];
    snprintf(why, sizeof(why), "connect failed: %s", ac->errstr);
    c->ac->data = NULL;
    c->ac = NULL;
    lose_link(c, why);
}

static void on_disconnect(const redisAsyncContext *ac, int status)
{
    (void)status;
    struct jc_redis_client *c = ac->data;
    if (c == NULL || c->ac != ac) {
        return;
    }
    char why[256];
    snprintf(why, sizeof(why), "lost: %s", ac->errstr[0] != '\0' ? ac->errstr : "closed by peer");
    c->ac->data = NULL;
    c->ac = NULL;
    lose_link(c, why);
}

static void on_hs_timer(void *arg)
{
    struct jc_redis_client *c = arg;
    if (c->sac != NULL) {
        jc_log_debug("redis: sentinel %s:%d did not answer in time",
                     c->sentinels[c->sentinel_idx].host, c->sentinels[c->sentinel_idx].port);
        release_sentinel(c);
        c->sentinel_idx++;
        start_connect(c);
        return;
    }
    if (c->ac != NULL && !c->ready) {
        lose_link(c, "handshake timed out");
    }
}

static void on_watchdog(void *arg)
{
    struct jc_redis_client *c = arg;
    if (!c->ready || c->ac == NULL) {
        return;
    }
    if (c->ac->replies.head != NULL && mono_ms() - c->last_rx_ms > REPLY_TIMEOUT_MS) {
        lose_link(c, "no reply in time (server hung?)");
        return;
    }
    jc_timer_start(c->watchdog, WATCHDOG_PERIOD_MS);
}

static void on_retry_timer(void *arg)
{
    struct jc_redis_client *c = arg;
    c->sentinel_idx = 0;
    start_connect(c);
}

static redisAsyncContext *async_connect(struct jc_redis_client *c, const struct endpoint *ep,
                                        char *why, size_t why_len)
{
    redisAsyncContext *ac = redisAsyncConnect(ep->host, ep->port);
    if (ac == NULL) {
        snprintf(why, why_len, "out of memory");
        return NULL;
    }
    if (ac->err != 0 || redisLibeventAttach(ac, jc_loop_base(c->loop)) != REDIS_OK) {
        snprintf(why, why_len, "%s", ac->err != 0 ? ac->errstr : "cannot attach to the loop");
        redisAsyncFree(ac);
        return NULL;
    }
    redisEnableKeepAlive(&ac->c);
    ac->data = c;
    return ac;
}

/* ---- primary handshake -------------------------------------------------- */

static void send_subscribe(struct jc_redis_client *c);

static void become_ready(struct jc_redis_client *c)
{
    jc_timer_stop(c->hs_timer);
    c->backoff_ms = BACKOFF_MIN_MS;
    if (c->warned) {
        jc_log_info("redis: connected to %s:%d", c->primary.host, c->primary.port);
    }
    c->warned = false;
    c->ready = true;
    c->last_rx_ms = mono_ms();
    jc_timer_start(c->watchdog, WATCHDOG_PERIOD_MS);
    if (c->on_state != NULL) {
        c->on_state(c->state_arg, true);
    }
}

static bool role_is_master(const redisReply *r)
{
    return r->type == REDIS_REPLY_ARRAY && r->elements > 0 &&
           r->element[0]->type == REDIS_REPLY_STRING && strcmp(r->element[0]->str, "master") == 0;
}

static void on_handshake_reply(redisAsyncContext *ac, void *reply, void *priv)
{
    (void)priv;
    struct jc_redis_client *c = ac->data;
    redisReply *r = reply;
    if (c == NULL || c->ac != ac || r == NULL) {
        return; /* a lost link is handled by on_connect / on_disconnect */
    }
    if (r->type == REDIS_REPLY_ERROR) {
        lose_link(c, r->str);
        return;
    }
    if (--c->handshake_left > 0) {
        return;
    }
    if (c->use_sentinel && !role_is_master(r)) {
        lose_link(c, "the address Sentinel gave is not a primary (yet)");
        return;
    }
    if (c->pattern != NULL) {
        send_subscribe(c); /* ready once Redis confirms the subscription */
        return;
    }
    become_ready(c);
}

static void send_handshake_cmd(struct jc_redis_client *c, int argc, const char **argv)
{
    if (redisAsyncCommandArgv(c->ac, on_handshake_reply, NULL, argc, argv, NULL) == REDIS_OK) {
        c->handshake_left++;
    }
}

static void connect_primary(struct jc_redis_client *c, const struct endpoint *ep)
{
    char why[256];
    if (c->primary.host != ep->host) {
        free(c->primary.host);
        c->primary.host = jc_xstrdup(ep->host);
        c->primary.port = ep->port;
    }
    c->ac = async_connect(c, &c->primary, why, sizeof(why));
    if (c->ac == NULL) {
        lose_link(c, why);
        return;
    }
    redisAsyncSetConnectCallback(c->ac, on_connect);
    redisAsyncSetDisconnectCallback(c->ac, on_disconnect);
    c->handshake_left = 0;
    char db[16];
    snprintf(db, sizeof(db), "%d", c->db);
    if (c->password != NULL && c->user != NULL) {
        send_handshake_cmd(c, 3, (const char *[]){"AUTH", c->user, c->password});
    } else if (c->password != NULL) {
        send_handshake_cmd(c, 2, (const char *[]){"AUTH", c->password});
    }
    if (c->db != 0) {
        send_handshake_cmd(c, 2, (const char *[]){"SELECT", db});
    }
    send_handshake_cmd(c, 1, (const char *[]){c->use_sentinel ? "ROLE" : "PING"});
    jc_timer_start(c->hs_timer, HANDSHAKE_TIMEOUT_MS);
}

/* ---- Sentinel ------------------------------------------------------------ */

/* Parses "<name> <old-ip> <old-port> <new-ip> <new-port>" into c->hint if
 * name is our primary's.  Returns whether it did. */
static bool parse_switch_master(struct jc_redis_client *c, const char *msg)
{
    char name[256], new_ip[256];
    int new_port = 0;
    if (sscanf(msg, "%255s %*s %*s %255s %d", name, new_ip, &new_port) != 3 ||
        strcmp(name, c->primary_name) != 0 || new_port <= 0 || new_port > 65535) {
        return false;
    }
    free(c->hint.host);
    c->hint.host = jc_xstrdup(new_ip);
    c->hint.port = new_port;
    return true;
}

/* A message on the watcher: on +switch-master for our primary, drop the link
 * (the old primary stays writable until Sentinel demotes it, which can take
 * seconds) and reconnect to the address the message names. */
static void on_switch_master(redisAsyncContext *ac, void *reply, void *priv)
{
    (void)priv;
    struct jc_redis_client *c = ac->data;
    redisReply *r = reply;
    if (c == NULL || c->wac != ac) {
        return;
    }
    if (r == NULL) {
        c->wac->data = NULL; /* the sentinel went away; hiredis is freeing it */
        c->wac = NULL;
        return;
    }
    if (r->type != REDIS_REPLY_ARRAY || r->elements != 3 ||
        r->element[2]->type != REDIS_REPLY_STRING || !parse_switch_master(c, r->element[2]->str)) {
        return;
    }
    jc_log_info("redis: sentinel reports a failover of %s to %s:%d", c->primary_name, c->hint.host,
                c->hint.port);
    if (c->sac == NULL) {
        c->backoff_ms = BACKOFF_MIN_MS;
        lose_link(c, "the primary changed (+switch-master)");
    }
}

/* Keeps the sentinel connection that just answered (c->sac), subscribed to
 * +switch-master, in place of the previous one. */
static void watch_failovers(struct jc_redis_client *c)
{
    release_async(&c->wac);
    c->wac = c->sac;
    c->sac = NULL;
    const char *argv[] = {"SUBSCRIBE", "+switch-master"};
    if (redisAsyncCommandArgv(c->wac, on_switch_master, NULL, 2, argv, NULL) != REDIS_OK) {
        release_async(&c->wac);
    }
}

static void on_sentinel_reply(redisAsyncContext *ac, void *reply, void *priv)
{
    (void)priv;
    struct jc_redis_client *c = ac->data;
    redisReply *r = reply;
    if (c == NULL || c->sac != ac) {
        return;
    }
    const struct endpoint *s = &c->sentinels[c->sentinel_idx];
    long port = 0;
    if (r != NULL && r->type == REDIS_REPLY_ARRAY && r->elements == 2 &&
        r->element[0]->type == REDIS_REPLY_STRING && r->element[1]->type == REDIS_REPLY_STRING &&
        parse_int(r->element[1]->str, r->element[1]->len, 1, 65535, &port) == 0) {
        struct endpoint ep = {r->element[0]->str, (int)port};
        free(c->primary.host);
        c->primary.host = jc_xstrdup(ep.host);
        c->primary.port = ep.port;
        jc_log_debug("redis: sentinel %s:%d says the primary is %s:%d", s->host, s->port, ep.host,
                     ep.port);
        jc_timer_stop(c->hs_timer);
        watch_failovers(c);
        connect_primary(c, &c->primary);
        return;
    }
    jc_log_debug("redis: sentinel %s:%d: %s", s->host, s->port,
                 r == NULL                      ? "unreachable"
                 : r->type == REDIS_REPLY_ERROR ? r->str
                                                : "does not know the primary");
    if (r == NULL) {
        c->sac->data = NULL; /* hiredis is freeing it */
        c->sac = NULL;
    } else {
        release_sentinel(c);
    }
    c->sentinel_idx++;
    start_connect(c);
}

static void on_sentinel_auth(redisAsyncContext *ac, void *reply, void *priv)
{
    (void)priv;
    redisReply *r = reply;
    if (ac->data != NULL && r != NULL && r->type == REDIS_REPLY_ERROR) {
        jc_log_debug("redis: sentinel AUTH: %s", r->str);
    }
}

static void ask_sentinel(struct jc_redis_client *c)
{
    const struct endpoint *s = &c->sentinels[c->sentinel_idx];
    char why[256];
    c->sac = async_connect(c, s, why, sizeof(why));
    if (c->sac == NULL) {
        jc_log_debug("redis: sentinel %s:%d: %s", s->host, s->port, why);
        c->sentinel_idx++;
        start_connect(c);
        return;
    }
    if (c->sentinel_password != NULL) {
        const char *auth[] = {"AUTH", c->sentinel_password};
        redisAsyncCommandArgv(c->sac, on_sentinel_auth, NULL, 2, auth, NULL);
    }
    const char *q[] = {"SENTINEL", "get-master-addr-by-name", c->primary_name};
    if (redisAsyncCommandArgv(c->sac, on_sentinel_reply, NULL, 3, q, NULL) != REDIS_OK) {
        release_sentinel(c);
        c->sentinel_idx++;
        start_connect(c);
        return;
    }
    jc_timer_start(c->hs_timer, SENTINEL_TIMEOUT_MS);
}

/* Starts the next connect attempt: through the next sentinel to ask, or
 * straight to the url's address. */
static void start_connect(struct jc_redis_client *c)
{
    if (!c->use_sentinel) {
        connect_primary(c, &c->direct);
        return;
    }
    if (c->sentinel_idx == 0 && c->hint.host != NULL) {
        /* Once: the primary a +switch-master named (its ROLE is checked). */
        connect_primary(c, &c->hint);
        free(c->hint.host);
        c->hint.host = NULL;
        return;
    }
    if (c->sentinel_idx < c->n_sentinels) {
        ask_sentinel(c);
        return;
    }
    note_failure(c, "sentinel", "no sentinel knows the primary");
    schedule_reconnect(c);
}

/* ---- public API ---------------------------------------------------------- */

enum jc_err jc_redis_client_open(struct jc_loop *loop, const struct jc_store_config *cfg,
                                 jc_redis_state_fn *on_state, void *arg,
                                 struct jc_redis_client **out)
{
    struct jc_redis_client *c = jc_xcalloc(1, sizeof(*c));
    c->loop = loop;
    c->on_state = on_state;
    c->state_arg = arg;
    c->failed_tail = &c->failed_head;
    c->backoff_ms = BACKOFF_MIN_MS;
    c->retry_timer = jc_timer_new(loop, on_retry_timer, c);
    c->hs_timer = jc_timer_new(loop, on_hs_timer, c);
    c->fail_timer = jc_timer_new(loop, on_fail_timer, c);
    c->watchdog = jc_timer_new(loop, on_watchdog, c);
    if (parse_config(c, cfg) != 0) {
        jc_log_error("redis: invalid connection settings (url, sentinel or db)");
        jc_redis_client_close(c);
        return JC_ERR_INVALID;
    }
    /* Connect from the loop, so that nothing happens before we return. */
    jc_timer_start(c->retry_timer, 0);
    *out = c;
    return JC_OK;
}

void jc_redis_client_close(struct jc_redis_client *client)
{
    if (client == NULL) {
        return;
    }
    release_sentinel(client);
    release_async(&client->wac);
    release_link(client);
    while (client->failed_head != NULL) {
        on_fail_timer(client);
    }
    jc_timer_free(client->retry_timer);
    jc_timer_free(client->hs_timer);
    jc_timer_free(client->fail_timer);
    jc_timer_free(client->watchdog);
    while (client->scripts != NULL) {
        struct script_sha *s = client->scripts;
        client->scripts = s->next;
        free(s);
    }
    free(client->direct.host);
    free(client->primary.host);
    free(client->hint.host);
    for (size_t i = 0; i < client->n_sentinels; i++) {
        free(client->sentinels[i].host);
    }
    free(client->sentinels);
    free(client->primary_name);
    free(client->sentinel_password);
    free(client->user);
    free(client->password);
    free(client->pattern);
    free(client);
}

bool jc_redis_client_is_connected(const struct jc_redis_client *client)
{
    return client->ready;
}

static void cmd_free(struct cmd *cmd)
{
    if (cmd->formatted != NULL) {
        redisFreeCommand(cmd->formatted);
    }
    free(cmd);
}

static bool is_readonly_error(const redisReply *r)
{
    return r->type == REDIS_REPLY_ERROR &&
           (strncmp(r->str, "READONLY", 8) == 0 || strstr(r->str, "-READONLY") != NULL);
}

static void on_script_loaded(redisAsyncContext *ac, void *reply, void *priv);

/* NOSCRIPT: load the script, then send the same EVALSHA once more. */
static bool retry_after_noscript(redisAsyncContext *ac, struct cmd *cmd, const redisReply *r)
{
    if (cmd->script == NULL || cmd->retried || r->type != REDIS_REPLY_ERROR ||
        strncmp(r->str, "NOSCRIPT", 8) != 0) {
        return false;
    }
    cmd->retried = true;
    const char *argv[] = {"SCRIPT", "LOAD", cmd->script};
    return redisAsyncCommandArgv(ac, on_script_loaded, cmd, 3, argv, NULL) == REDIS_OK;
}

static void on_cmd_reply(redisAsyncContext *ac, void *reply, void *priv)
{
    struct cmd *cmd = priv;
    struct jc_redis_client *c = ac->data;
    redisReply *r = reply;
    if (r != NULL) {
        note_rx(c, ac);
    }
    if (r != NULL && c != NULL && c->ac == ac && retry_after_noscript(ac, cmd, r)) {
        return;
    }
    if (r != NULL && is_readonly_error(r)) {
        if (c != NULL && c->ac == ac) {
            lose_link(c, "the server is now a replica (READONLY)");
        }
        r = NULL;
    }
    jc_redis_reply_fn *cb = cmd->cb;
    void *arg = cmd->arg;
    cmd_free(cmd);
    cb(arg, r != NULL ? JC_OK : JC_ERR_STORE, r);
}

static void on_script_loaded(redisAsyncContext *ac, void *reply, void *priv)
{
    struct cmd *cmd = priv;
    struct jc_redis_client *c = ac->data;
    redisReply *r = reply;
    if (r != NULL) {
        note_rx(c, ac);
    }
    if (r != NULL && r->type != REDIS_REPLY_ERROR && c != NULL && c->ac == ac &&
        redisAsyncFormattedCommand(ac, on_cmd_reply, cmd, cmd->formatted,
                                   (size_t)cmd->formatted_len) == REDIS_OK) {
        return;
    }
    jc_redis_reply_fn *cb = cmd->cb;
    void *arg = cmd->arg;
    cmd_free(cmd);
    if (r != NULL && r->type == REDIS_REPLY_ERROR) {
        cb(arg, JC_OK, r); /* SCRIPT LOAD refused the script: pass the error on */
        return;
    }
    cb(arg, JC_ERR_STORE, NULL);
}

enum jc_err jc_redis_client_command(struct jc_redis_client *client, jc_redis_reply_fn *cb,
                                    void *arg, int argc, const char **argv, const size_t *argvlen)
{
    if (cb == NULL || argc <= 0 || client->pattern != NULL) {
        return JC_ERR_INVALID;
    }
    if (!client->ready) {
        fail_later(client, cb, arg);
        return JC_OK;
    }
    struct cmd *cmd = jc_xcalloc(1, sizeof(*cmd));
    cmd->cb = cb;
    cmd->arg = arg;
    note_tx(client);
    if (redisAsyncCommandArgv(client->ac, on_cmd_reply, cmd, argc, argv, argvlen) != REDIS_OK) {
        cmd_free(cmd);
        fail_later(client, cb, arg);
    }
    return JC_OK;
}

/* Returns borrowed: the hex SHA-1 of script, computed once per script. */
static const char *script_sha(struct jc_redis_client *c, const char *script)
{
    for (struct script_sha *s = c->scripts; s != NULL; s = s->next) {
        if (s->script == script) {
            return s->sha;
        }
    }
    struct script_sha *s = jc_xcalloc(1, sizeof(*s));
    s->script = script;
    sha1_hex(script, strlen(script), s->sha);
    s->next = c->scripts;
    c->scripts = s;
    return s->sha;
}

/* Returns new: EVALSHA sha nkeys argv... in Redis protocol, or NULL. */
static char *format_evalsha(const char *sha, int nkeys, int argc, const char **argv,
                            const size_t *argvlen, int *out_len)
{
    char nkeys_s[16];
    snprintf(nkeys_s, sizeof(nkeys_s), "%d", nkeys);
    const char **av = jc_xcalloc((size_t)argc + 3, sizeof(*av));
    size_t *al = jc_xcalloc((size_t)argc + 3, sizeof(*al));
    av[0] = "EVALSHA";
    av[1] = sha;
    av[2] = nkeys_s;
    for (int i = 0; i < 3; i++) {
        al[i] = strlen(av[i]);
    }
    for (int i = 0; i < argc; i++) {
        av[i + 3] = argv[i];
        al[i + 3] = argvlen != NULL ? argvlen[i] : strlen(argv[i]);
    }
    char *formatted = NULL;
    int len = redisFormatCommandArgv(&formatted, argc + 3, av, al);
    free(av);
    free(al);
    if (len < 0) {
        return NULL;
    }
    *out_len = len;
    return formatted;
}

enum jc_err jc_redis_client_eval(struct jc_redis_client *client, const char *script,
                                 jc_redis_reply_fn *cb, void *arg, int nkeys, int argc,
                                 const char **argv, const size_t *argvlen)
{
    if (cb == NULL || script == NULL || nkeys < 0 || argc < nkeys || client->pattern != NULL) {
        return JC_ERR_INVALID;
    }
    if (!client->ready) {
        fail_later(client, cb, arg);
        return JC_OK;
    }
    struct cmd *cmd = jc_xcalloc(1, sizeof(*cmd));
    cmd->cb = cb;
    cmd->arg = arg;
    cmd->script = script;
    cmd->formatted =
        format_evalsha(script_sha(client, script), nkeys, argc, argv, argvlen, &cmd->formatted_len);
    note_tx(client);
    if (cmd->formatted == NULL ||
        redisAsyncFormattedCommand(client->ac, on_cmd_reply, cmd, cmd->formatted,
                                   (size_t)cmd->formatted_len) != REDIS_OK) {
        cmd_free(cmd);
        fail_later(client, cb, arg);
    }
    return JC_OK;
}

static void on_pmessage(redisAsyncContext *ac, void *reply, void *priv)
{
    (void)priv;
    struct jc_redis_client *c = ac->data;
    redisReply *r = reply;
    if (c == NULL || c->ac != ac || r == NULL || r->type != REDIS_REPLY_ARRAY || r->elements < 3 ||
        r->element[0]->type != REDIS_REPLY_STRING) {
        return;
    }
    const char *kind = r->element[0]->str;
    if (strcmp(kind, "psubscribe") == 0 && !c->ready) {
        become_ready(c);
    } else if (strcmp(kind, "pmessage") == 0 && r->elements == 4 &&
               r->element[2]->type == REDIS_REPLY_STRING &&
               r->element[3]->type == REDIS_REPLY_STRING) {
        c->on_message(c->msg_arg, r->element[2]->str, r->element[3]->str, r->element[3]->len);
    }
}

static void send_subscribe(struct jc_redis_client *c)
{
    const char *argv[] = {"PSUBSCRIBE", c->pattern};
    if (redisAsyncCommandArgv(c->ac, on_pmessage, NULL, 2, argv, NULL) != REDIS_OK) {
        lose_link(c, "cannot send PSUBSCRIBE");
    }
}

enum jc_err jc_redis_client_subscribe(struct jc_redis_client *client, const char *pattern,
                                      jc_redis_message_fn *on_message, void *arg)
{
    if (pattern == NULL || on_message == NULL || client->pattern != NULL) {
        return JC_ERR_INVALID;
    }
    client->pattern = jc_xstrdup(pattern);
    client->on_message = on_message;
    client->msg_arg = arg;
    if (client->ready) {
        send_subscribe(client);
    }
    return JC_OK;
}
