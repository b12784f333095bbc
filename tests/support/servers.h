/* tests/support/servers.h: real redis-server, redis-sentinel and nats-server
 * processes for tests, on free loopback ports, stopped by PID.
 *
 * Each start function forks and execs the server (found on PATH) with its
 * working files in a fresh temp dir under /tmp, bound to 127.0.0.1 only, with
 * no persistence, its output in <dir>/server.log; then it waits (at most
 * JC_TEST_SERVER_WAIT_MS) until the port accepts connections.  If the server
 * dies at start (say, because another process took the port first), it is
 * retried on another free port a few times.  The child gets SIGKILL when
 * the test process dies, so a crashed test leaves no server behind.
 *
 * All functions return 0 on success and -1 on failure (with a line on
 * stderr saying why).  A struct jc_test_server is caller-allocated; zero it
 * (or let a start function fill it) before use; jc_test_server_stop accepts a
 * zeroed or already-stopped server.  Not thread-safe: call from the test's
 * main thread. */
#ifndef JC_TESTS_SUPPORT_SERVERS_H
#define JC_TESTS_SUPPORT_SERVERS_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

struct jc_loop;

#define JC_TEST_SERVER_WAIT_MS 5000

enum jc_test_server_kind {
    JC_TEST_SERVER_NONE = 0,
    JC_TEST_SERVER_REDIS,
    JC_TEST_SERVER_SENTINEL,
    JC_TEST_SERVER_NATS,
};

struct jc_test_server {
    pid_t pid;     /* 0 when not running */
    int port;      /* kept across jc_test_server_kill/restart */
    char dir[256]; /* temp dir; "" after jc_test_server_stop */

    /* How it was started, so that jc_test_server_restart can do it again. */
    enum jc_test_server_kind kind;
    char password[128];      /* redis requirepass / nats token / nats password, "" = none */
    char user[64];           /* nats user, "" = none */
    int primary_port;        /* redis replica: its primary; sentinel: the monitored primary */
    char primary_name[64];   /* sentinel */
    char sentinel_pass[128]; /* sentinel: its own requirepass, "" = none */
    int quorum;              /* sentinel */
    int down_after_ms;       /* sentinel */
};

/* Returns a port that was free on 127.0.0.1 a moment ago, or -1. */
int jc_test_free_port(void);

/* redis-server on a free port; password != NULL sets requirepass. */
int jc_test_redis_start(struct jc_test_server *s, const char *password);

/* redis-server replicating 127.0.0.1:primary_port (password is both its own
 * requirepass and its masterauth).  Returns once the replica has synced
 * (master_link_status:up), so writes made before are visible on it. */
int jc_test_redis_start_replica(struct jc_test_server *s, const char *password, int primary_port);

struct jc_test_sentinel_opts {
    const char *primary_name;
    int primary_port;
    const char *primary_password;  /* auth-pass for the primary and its replicas, or NULL */
    const char *sentinel_password; /* the sentinel's own requirepass, or NULL */
    int quorum;                    /* 0 = 1 */
    int down_after_ms;             /* 0 = 1000 (short, so failover tests stay quick) */
};

/* redis-sentinel monitoring 127.0.0.1:primary_port as primary_name with
 * quorum 1, down-after 1000 ms and failover-timeout 3000 ms; password (or
 * NULL) is the primary's requirepass (sentinel auth-pass). */
int jc_test_sentinel_start(struct jc_test_server *s, const char *primary_name, int primary_port,
                           const char *password);
/* The same with every setting spelled out (borrows o). */
int jc_test_sentinel_start_opts(struct jc_test_server *s, const struct jc_test_sentinel_opts *o);

/* Waits (at most JC_TEST_SERVER_WAIT_MS) until sentinel s knows at least
 * n_replicas replicas of its primary, so a failover can pick one.  Kill the
 * primary only after this, or the sentinel has nobody to promote. */
int jc_test_sentinel_wait_replicas(const struct jc_test_server *s, int n_replicas);

/* nats-server on a free port; token != NULL requires that auth token. */
int jc_test_nats_start(struct jc_test_server *s, const char *token);
/* nats-server requiring user/password. */
int jc_test_nats_start_userpass(struct jc_test_server *s, const char *user, const char *password);

/* SIGTERM, then SIGKILL if it has not exited within 3 s; reaps it and
 * removes the temp dir.  The struct can be reused for a new start. */
void jc_test_server_stop(struct jc_test_server *s);

/* SIGKILL and reap (a crash); the dir and port are kept, so
 * jc_test_server_restart brings it back on the same port. */
void jc_test_server_kill(struct jc_test_server *s);

/* Stops the process (SIGTERM as in stop, if still running) and starts it
 * again with the same settings on the same port, keeping the dir (redis has no
 * persistence, so it comes back empty; a sentinel keeps its rewritten
 * config).  Waits until it accepts connections. */
int jc_test_server_restart(struct jc_test_server *s);

/* SIGSTOP / SIGCONT: the server keeps its connections but answers nothing. */
void jc_test_server_pause(struct jc_test_server *s);
void jc_test_server_resume(struct jc_test_server *s);

/* Returns "redis://[:password@]127.0.0.1:port" in buf (len bytes). */
const char *jc_test_redis_url(const struct jc_test_server *s, char *buf, size_t len);
/* Returns "nats://127.0.0.1:port" in buf (len bytes). */
const char *jc_test_nats_url(const struct jc_test_server *s, char *buf, size_t len);

/* Runs loop until *flag is true or timeout_ms of real time pass (the
 * loop's injectable clock is not used).  Returns *flag.  Borrows both. */
bool jc_test_loop_until(struct jc_loop *loop, bool *flag, int timeout_ms);

/* Runs loop for about ms of real time, then returns. */
void jc_test_loop_for(struct jc_loop *loop, int ms);

#endif
