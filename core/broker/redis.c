/* core/broker/redis.c: jc_broker_redis_ops, broker events over Redis pub/sub
 * on the store's Redis.
 *
 * For deployments without NATS.  Two connections from core/redis_client.h,
 * both with the store's settings (url or Sentinel, password, db), so they
 * follow a failover the way the store does: one for PUBLISH and one in
 * subscriber mode, which a Redis connection cannot leave to run other
 * commands.  The subscriber listens on the pattern "<prefix>:ev:*" (glob
 * characters in the prefix escaped) and the client subscribes again after
 * every reconnect.  An event goes to channel "<prefix>:ev:<cache>"; like the
 * NATS subject, the channel only helps people watching (PSUBSCRIBE
 * 'jcached:ev:weather'), the payload (event_codec.h) carries every field.
 *
 * Everything runs on the loop: hiredis delivers messages from its libevent
 * callbacks, so on_event is called straight from there, never from inside
 * publish.  Redis pub/sub is fire and forget: a message published while a
 * subscriber is reconnecting is lost for it, which waiters survive by polling
 * the store.  Event thread only. */
#include "core/broker/broker_impl.h"

#include <hiredis/hiredis.h>
#include <stdlib.h>
#include <string.h>

#include "core/broker/event_codec.h"
#include "core/log.h"
#include "core/mem.h"
#include "core/redis_client.h"

struct redis_broker {
    struct jc_broker base;
    jc_broker_event_fn *on_event;
    void *arg;
    char *prefix;
    struct jc_redis_client *pub; /* PUBLISH */
    struct jc_redis_client *sub; /* PSUBSCRIBE <prefix>:ev:* */
};

static void on_redis_message(void *arg, const char *channel, const char *payload,
                             size_t payload_len)
{
    struct redis_broker *b = arg;
    struct jc_event *ev = NULL;

    if (jc_event_codec_decode(payload, payload_len, &ev) != JC_OK) {
        jc_log_warn("broker redis: dropping a malformed event on %s", channel);
        return;
    }
    b->on_event(b->arg, ev);
    jc_event_codec_free(ev);
}

/* Returns new: prefix with Redis glob characters escaped, then ":ev:*". */
static char *make_pattern(const char *prefix)
{
    struct jc_buf buf;
    jc_buf_init(&buf, 0);
    for (const char *p = prefix; *p != '\0'; p++) {
        if (strchr("*?[]\\", *p) != NULL) {
            jc_buf_add(&buf, "\\", 1);
        }
        jc_buf_add(&buf, p, 1);
    }
    jc_buf_add(&buf, ":ev:*", 5);
    return jc_buf_take(&buf, NULL);
}

static void redis_close(struct jc_broker *broker)
{
    struct redis_broker *b = (struct redis_broker *)broker;
    jc_redis_client_close(b->sub);
    jc_redis_client_close(b->pub);
    free(b->prefix);
    free(b);
}

static enum jc_err redis_open(struct jc_loop *loop, const struct jc_broker_config *cfg,
                              jc_broker_event_fn *on_event, void *arg, struct jc_broker **out)
{
    if (cfg->redis == NULL) {
        jc_log_error("broker redis: needs the redis store's connection settings");
        return JC_ERR_INVALID;
    }
    const char *prefix = cfg->subject_prefix != NULL ? cfg->subject_prefix : "jcached";
    struct redis_broker *b = jc_xcalloc(1, sizeof(*b));
    b->base.ops = &jc_broker_redis_ops;
    b->on_event = on_event;
    b->arg = arg;
    b->prefix = jc_xstrdup(prefix);
    char *pattern = make_pattern(prefix);
    enum jc_err err = jc_redis_client_open(loop, cfg->redis, NULL, NULL, &b->pub);
    if (err == JC_OK) {
        err = jc_redis_client_open(loop, cfg->redis, NULL, NULL, &b->sub);
    }
    if (err == JC_OK) {
        err = jc_redis_client_subscribe(b->sub, pattern, on_redis_message, b);
    }
    free(pattern);
    if (err != JC_OK) {
        jc_log_error("broker redis: cannot open: %s", jc_strerror(err));
        redis_close(&b->base);
        return err;
    }
    *out = &b->base;
    return JC_OK;
}

static bool redis_is_ready(struct jc_broker *broker)
{
    struct redis_broker *b = (struct redis_broker *)broker;
    return jc_redis_client_is_connected(b->pub) && jc_redis_client_is_connected(b->sub);
}

/* The PUBLISH reply: nothing waits for it (fire and forget), so it is only
 * logged when it failed.  Called with arg NULL, so it stays safe even when
 * it arrives after the broker was closed. */
static void on_published(void *arg, enum jc_err err, struct redisReply *reply)
{
    (void)arg;
    if (err != JC_OK) {
        jc_log_debug("broker redis: publish lost: %s", jc_strerror(err));
    } else if (reply != NULL && reply->type == REDIS_REPLY_ERROR) {
        jc_log_warn("broker redis: publish refused: %s", reply->str);
    }
}

static enum jc_err redis_publish(struct jc_broker *broker, const struct jc_event *ev)
{
    struct redis_broker *b = (struct redis_broker *)broker;
    struct jc_buf payload, channel;

    if (!jc_redis_client_is_connected(b->pub)) {
        return JC_ERR_BROKER;
    }
    jc_buf_init(&payload, 0);
    enum jc_err err = jc_event_codec_encode(ev, &payload);
    if (err != JC_OK) {
        jc_buf_reset(&payload);
        return err;
    }
    jc_buf_init(&channel, 0);
    jc_buf_printf(&channel, "%s:ev:", b->prefix);
    if (ev->cache != NULL) {
        jc_buf_add(&channel, ev->cache, strlen(ev->cache));
    }
    const char *argv[] = {"PUBLISH", channel.data, payload.data};
    const size_t argvlen[] = {7, channel.len, payload.len};
    err = jc_redis_client_command(b->pub, on_published, NULL, 3, argv, argvlen);
    jc_buf_reset(&channel);
    jc_buf_reset(&payload);
    return err == JC_OK ? JC_OK : JC_ERR_BROKER;
}

const struct jc_broker_ops jc_broker_redis_ops = {
    .name = "redis",
    .open = redis_open,
    .close = redis_close,
    .is_ready = redis_is_ready,
    .publish = redis_publish,
};
