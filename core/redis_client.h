/* core/redis_client.h: one asynchronous Redis connection on the event loop,
 * shared by the Redis store and the Redis pub/sub broker.
 *
 * It connects to cfg->url, or to the primary found through Sentinel
 * (SENTINEL get-master-addr-by-name, confirmed with ROLE), authenticates,
 * selects the database, and reconnects with backoff after any failure,
 * resolving the primary again through Sentinel each time so a failover is
 * followed without a restart.  While disconnected, commands fail at once
 * through their callback with JC_ERR_STORE.
 *
 * A client opened for subscriptions (jc_redis_client_subscribe) re-subscribes
 * after every reconnect.  A -READONLY error reply (the primary was demoted by
 * a failover) drops the connection and resolves the primary again; the
 * command that got it fails with JC_ERR_STORE.
 *
 * Callback rule as in store.h: a function taking a callback either returns an
 * error and never calls it, or returns JC_OK and calls it exactly once, later,
 * from the loop.  Event thread only. */
#ifndef JC_CORE_REDIS_CLIENT_H
#define JC_CORE_REDIS_CLIENT_H

#include <stdbool.h>
#include <stddef.h>

#include "core/err.h"

struct jc_loop;
struct jc_store_config;
struct jc_redis_client;
struct redisReply;

/* reply is borrowed for the call; NULL when err != JC_OK.  A Redis error
 * reply arrives as JC_OK with reply->type == REDIS_REPLY_ERROR. */
typedef void jc_redis_reply_fn(void *arg, enum jc_err err, struct redisReply *reply);
/* Called on every connect (true) and disconnect (false). */
typedef void jc_redis_state_fn(void *arg, bool connected);
/* A message on a subscribed channel; channel and payload are borrowed. */
typedef void jc_redis_message_fn(void *arg, const char *channel, const char *payload,
                                 size_t payload_len);

/* On JC_OK *out is new (close with jc_redis_client_close) and connecting in
 * the background.  JC_ERR_INVALID for a bad url or sentinel setting.  Borrows
 * loop and cfg (they must outlive the client).  on_state may be NULL.
 * The url is "redis://[[user]:password@]host[:port][/db]" (port 6379 by
 * default, password percent-decoded); cfg->password and cfg->db, when set
 * (non-empty / non-zero), win over the url's. */
enum jc_err jc_redis_client_open(struct jc_loop *loop, const struct jc_store_config *cfg,
                                 jc_redis_state_fn *on_state, void *arg,
                                 struct jc_redis_client **out) JC_MUST_CHECK;
/* Closes the connection; commands still in flight get JC_ERR_STORE during
 * the call.  Not from inside one of this client's callbacks.  Accepts NULL. */
void jc_redis_client_close(struct jc_redis_client *client);
/* Returns whether commands can be sent now: connected, authenticated, the db
 * selected (and, with a subscription, the subscription confirmed). */
bool jc_redis_client_is_connected(const struct jc_redis_client *client);

/* Sends one command (binary-safe arguments; argvlen NULL = strlen each).
 * Borrows argv/argvlen for the call.  JC_ERR_INVALID (no callback) on a
 * subscribed client or for argc <= 0. */
enum jc_err jc_redis_client_command(struct jc_redis_client *client, jc_redis_reply_fn *cb,
                                    void *arg, int argc, const char **argv,
                                    const size_t *argvlen) JC_MUST_CHECK;

/* Runs a Lua script by EVALSHA, loading it (SCRIPT LOAD) on NOSCRIPT and
 * retrying once.  argv holds argc strings: the nkeys keys (KEYS), then the
 * arguments (ARGV); argvlen NULL = strlen each.  Borrows argv/argvlen for the
 * call.  script is NUL-terminated and must stay valid (same pointer) for the
 * client's life: its SHA-1 is computed once per pointer. */
enum jc_err jc_redis_client_eval(struct jc_redis_client *client, const char *script,
                                 jc_redis_reply_fn *cb, void *arg, int nkeys, int argc,
                                 const char **argv, const size_t *argvlen) JC_MUST_CHECK;

/* Puts the client in subscriber mode on channels matching pattern
 * (PSUBSCRIBE), now and after every reconnect.  on_message is called from
 * the loop for each message.  One pattern per client (a second call is
 * JC_ERR_INVALID); a subscribed client takes no other commands, so use a
 * second client to publish.  Borrows pattern (copied). */
enum jc_err jc_redis_client_subscribe(struct jc_redis_client *client, const char *pattern,
                                      jc_redis_message_fn *on_message, void *arg) JC_MUST_CHECK;

#endif
