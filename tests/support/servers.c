/* tests/support/servers.c: starting and stopping real servers for tests.
 *
 * A server is one child process, found by PID only (never by name), with its
 * files in its own mkdtemp dir.  The argument list is built before fork(), so
 * the child only calls async-signal-safe functions (prctl, open, dup2,
 * execvp).  Readiness is "the port accepts a TCP connection while the child
 * is still alive"; a child that exits before that lost a race for its port
 * and is retried on another one.  A replica also waits for its first sync.
 * Single-threaded: the test's main thread only. */
#include "tests/support/servers.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <event2/event.h>
#include <fcntl.h>
#include <hiredis/hiredis.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "core/loop.h"
#include "core/mem.h"

#define MAX_ARGS      48
#define START_TRIES   5
#define STOP_GRACE_MS 3000

/* Outcomes of one start attempt. */
enum start_result { START_OK = 0, START_DIED, START_FAILED };

struct arg_list {
    char *v[MAX_ARGS + 1];
    int n;
};

static uint64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static void sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    }
}

__attribute__((format(printf, 2, 3))) static void arg_add(struct arg_list *a, const char *fmt, ...)
{
    if (a->n >= MAX_ARGS) {
        fprintf(stderr, "servers: too many arguments\n");
        abort();
    }
    char buf[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof(buf), fmt, ap);
    va_end(ap);
    a->v[a->n++] = jc_xstrdup(buf);
    a->v[a->n] = NULL;
}

static void arg_free(struct arg_list *a)
{
    for (int i = 0; i < a->n; i++) {
        free(a->v[i]);
    }
    a->n = 0;
}

int jc_test_free_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0) {
        return -1;
    }
    struct sockaddr_in sa;
    memset(&sa, 0, sizeof(sa));
    sa.sin_family = AF_INET;
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t sl = sizeof(sa);
    int port = -1;
    if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0 &&
        getsockname(fd, (struct sockaddr *)&sa, &sl) == 0) {
        port = ntohs(sa.sin_port);
    }
    close(fd);
    return port;
}

static bool port_accepts(int port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0) {
        return false;
    }
    struct sockaddr_in sa;
    memset(&sa, 0, sizeof(sa));
    sa.sin_family = AF_INET;
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    sa.sin_port = htons((uint16_t)port);
    bool ok = connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0;
    close(fd);
    return ok;
}

static void remove_tree(const char *path)
{
    DIR *d = opendir(path);
    if (d != NULL) {
        struct dirent *de;
        while ((de = readdir(d)) != NULL) {
            if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0) {
                continue;
            }
            char child[512];
            snprintf(child, sizeof(child), "%s/%s", path, de->d_name);
            struct stat st;
            if (lstat(child, &st) == 0 && S_ISDIR(st.st_mode)) {
                remove_tree(child);
            } else {
                unlink(child);
            }
        }
        closedir(d);
    }
    rmdir(path);
}

/* Every server dir this process made and the PID of its server (0 while
 * down), so that an exit without jc_test_server_stop (a failed check
 * assertion exits the test's process) still kills the servers and removes
 * their dirs.  The owner field keeps a forked child from cleaning up what
 * its parent started. */
#define MAX_LIVE 64

static struct {
    pid_t owner;
    pid_t pid;
    char dir[256];
} live[MAX_LIVE];

static bool cleanup_registered;

static void cleanup_at_exit(void)
{
    for (int i = 0; i < MAX_LIVE; i++) {
        if (live[i].owner != getpid() || live[i].dir[0] == '\0') {
            continue;
        }
        if (live[i].pid > 0) {
            int status;
            kill(live[i].pid, SIGKILL);
            waitpid(live[i].pid, &status, 0);
        }
        remove_tree(live[i].dir);
        live[i].dir[0] = '\0';
    }
}

/* Records the server of dir as pid (0: down); drop removes the record. */
static void track(const char *dir, pid_t pid, bool drop)
{
    int free_slot = -1;
    for (int i = 0; i < MAX_LIVE; i++) {
        if (live[i].dir[0] == '\0' || live[i].owner != getpid()) {
            free_slot = free_slot < 0 ? i : free_slot;
        } else if (strcmp(live[i].dir, dir) == 0) {
            live[i].pid = pid;
            if (drop) {
                live[i].dir[0] = '\0';
            }
            return;
        }
    }
    if (drop || free_slot < 0) {
        return;
    }
    if (!cleanup_registered) {
        atexit(cleanup_at_exit);
        cleanup_registered = true;
    }
    live[free_slot].owner = getpid();
    live[free_slot].pid = pid;
    snprintf(live[free_slot].dir, sizeof(live[free_slot].dir), "%s", dir);
}

static void set_pid(struct jc_test_server *s, pid_t pid)
{
    s->pid = pid;
    track(s->dir, pid, false);
}

static pid_t spawn(struct arg_list *a, const char *dir)
{
    char log_path[300];
    snprintf(log_path, sizeof(log_path), "%s/server.log", dir);
    pid_t pid = fork();
    if (pid != 0) {
        return pid;
    }
    /* The child: die with the test, log into the dir, never read the tty. */
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    int in = open("/dev/null", O_RDONLY);
    int out = open(log_path, O_WRONLY | O_CREAT | O_APPEND, 0600);
    if (in >= 0) {
        dup2(in, 0);
    }
    if (out >= 0) {
        dup2(out, 1);
        dup2(out, 2);
    }
    execvp(a->v[0], a->v);
    _exit(127);
}

static void build_redis_args(const struct jc_test_server *s, struct arg_list *a)
{
    arg_add(a, "redis-server");
    arg_add(a, "--port");
    arg_add(a, "%d", s->port);
    arg_add(a, "--bind");
    arg_add(a, "127.0.0.1");
    arg_add(a, "--save");
    arg_add(a, "%s", "");
    arg_add(a, "--appendonly");
    arg_add(a, "no");
    arg_add(a, "--dir");
    arg_add(a, "%s", s->dir);
    arg_add(a, "--protected-mode");
    arg_add(a, "no");
    arg_add(a, "--daemonize");
    arg_add(a, "no");
    /* Replicas sync at once instead of after the default 5 s delay. */
    arg_add(a, "--repl-diskless-sync");
    arg_add(a, "yes");
    arg_add(a, "--repl-diskless-sync-delay");
    arg_add(a, "0");
    /* A replica loads what it syncs straight into memory: no dump.rdb. */
    arg_add(a, "--repl-diskless-load");
    arg_add(a, "swapdb");
    if (s->password[0] != '\0') {
        arg_add(a, "--requirepass");
        arg_add(a, "%s", s->password);
        arg_add(a, "--masterauth");
        arg_add(a, "%s", s->password);
    }
    if (s->primary_port > 0) {
        arg_add(a, "--replicaof");
        arg_add(a, "127.0.0.1");
        arg_add(a, "%d", s->primary_port);
    }
}

static int write_sentinel_conf(const struct jc_test_server *s, const char *path)
{
    FILE *f = fopen(path, "w");
    if (f == NULL) {
        fprintf(stderr, "servers: cannot write %s: %s\n", path, strerror(errno));
        return -1;
    }
    fprintf(f, "port %d\nbind 127.0.0.1\nprotected-mode no\ndaemonize no\n", s->port);
    fprintf(f, "dir %s\n", s->dir);
    fprintf(f, "sentinel monitor %s 127.0.0.1 %d %d\n", s->primary_name, s->primary_port,
            s->quorum);
    fprintf(f, "sentinel down-after-milliseconds %s %d\n", s->primary_name, s->down_after_ms);
    fprintf(f, "sentinel failover-timeout %s 3000\n", s->primary_name);
    fprintf(f, "sentinel parallel-syncs %s 1\n", s->primary_name);
    if (s->password[0] != '\0') {
        fprintf(f, "sentinel auth-pass %s %s\n", s->primary_name, s->password);
    }
    if (s->sentinel_pass[0] != '\0') {
        fprintf(f, "requirepass %s\n", s->sentinel_pass);
    }
    return fclose(f) == 0 ? 0 : -1;
}

static int build_sentinel_args(const struct jc_test_server *s, struct arg_list *a, bool fresh)
{
    char path[300];
    snprintf(path, sizeof(path), "%s/sentinel.conf", s->dir);
    /* On a restart the sentinel keeps the config it rewrote (what it learnt). */
    if (fresh && write_sentinel_conf(s, path) != 0) {
        return -1;
    }
    arg_add(a, "redis-sentinel");
    arg_add(a, "%s", path);
    return 0;
}

static void build_nats_args(const struct jc_test_server *s, struct arg_list *a)
{
    arg_add(a, "nats-server");
    arg_add(a, "-a");
    arg_add(a, "127.0.0.1");
    arg_add(a, "-p");
    arg_add(a, "%d", s->port);
    if (s->user[0] != '\0') {
        arg_add(a, "--user");
        arg_add(a, "%s", s->user);
        arg_add(a, "--pass");
        arg_add(a, "%s", s->password);
    } else if (s->password[0] != '\0') {
        arg_add(a, "--auth");
        arg_add(a, "%s", s->password);
    }
}

static enum start_result wait_ready(struct jc_test_server *s)
{
    uint64_t deadline = now_ms() + JC_TEST_SERVER_WAIT_MS;
    while (now_ms() < deadline) {
        int status;
        if (waitpid(s->pid, &status, WNOHANG) == s->pid) {
            set_pid(s, 0);
            return START_DIED;
        }
        if (port_accepts(s->port)) {
            return START_OK;
        }
        sleep_ms(10);
    }
    return START_FAILED;
}

static enum start_result start_once(struct jc_test_server *s, bool fresh)
{
    struct arg_list a = {.n = 0};
    switch (s->kind) {
    case JC_TEST_SERVER_REDIS:
        build_redis_args(s, &a);
        break;
    case JC_TEST_SERVER_SENTINEL:
        if (build_sentinel_args(s, &a, fresh) != 0) {
            arg_free(&a);
            return START_FAILED;
        }
        break;
    case JC_TEST_SERVER_NATS:
        build_nats_args(s, &a);
        break;
    case JC_TEST_SERVER_NONE:
        return START_FAILED;
    }
    set_pid(s, spawn(&a, s->dir));
    enum start_result r = s->pid > 0 ? wait_ready(s) : START_FAILED;
    if (r == START_FAILED && s->pid > 0) {
        fprintf(stderr, "servers: %s on port %d did not start within %d ms (log in %s)\n", a.v[0],
                s->port, JC_TEST_SERVER_WAIT_MS, s->dir);
        jc_test_server_kill(s);
    }
    arg_free(&a);
    return r;
}

/* Starts s (its kind and settings filled in) on a fresh dir and port. */
static int start_fresh(struct jc_test_server *s)
{
    for (int attempt = 0; attempt < START_TRIES; attempt++) {
        /* mkdtemp fills in the template's last six characters, all 'X'. */
        int n = snprintf(s->dir, sizeof(s->dir), "/tmp/jc-test-");
        memset(s->dir + n, 'X', 6);
        s->dir[n + 6] = '\0';
        if (mkdtemp(s->dir) == NULL) {
            fprintf(stderr, "servers: mkdtemp: %s\n", strerror(errno));
            s->dir[0] = '\0';
            return -1;
        }
        s->port = jc_test_free_port();
        enum start_result r = s->port > 0 ? start_once(s, true) : START_FAILED;
        if (r == START_OK) {
            return 0;
        }
        track(s->dir, 0, true);
        remove_tree(s->dir);
        s->dir[0] = '\0';
        if (r == START_FAILED) {
            return -1;
        }
    }
    fprintf(stderr, "servers: server kept exiting at start (%d tries)\n", START_TRIES);
    return -1;
}

static void reset(struct jc_test_server *s, enum jc_test_server_kind kind)
{
    memset(s, 0, sizeof(*s));
    s->kind = kind;
}

static void copy_str(char *dst, size_t n, const char *src)
{
    snprintf(dst, n, "%s", src != NULL ? src : "");
}

static redisContext *connect_authed(int port, const char *password)
{
    struct timeval tv = {1, 0};
    redisContext *c = redisConnectWithTimeout("127.0.0.1", port, tv);
    if (c == NULL || c->err) {
        redisFree(c);
        return NULL;
    }
    if (password[0] != '\0') {
        redisReply *r = redisCommand(c, "AUTH %s", password);
        freeReplyObject(r);
    }
    return c;
}

static int wait_replica_synced(const struct jc_test_server *s)
{
    redisContext *c = connect_authed(s->port, s->password);
    if (c == NULL) {
        return -1;
    }
    uint64_t deadline = now_ms() + JC_TEST_SERVER_WAIT_MS;
    int rc = -1;
    while (rc != 0 && now_ms() < deadline) {
        redisReply *r = redisCommand(c, "INFO replication");
        if (r == NULL) {
            break;
        }
        if (r->type == REDIS_REPLY_STRING && strstr(r->str, "master_link_status:up") != NULL) {
            rc = 0;
        }
        freeReplyObject(r);
        if (rc != 0) {
            sleep_ms(20);
        }
    }
    redisFree(c);
    if (rc != 0) {
        fprintf(stderr, "servers: replica on port %d did not sync with its primary\n", s->port);
    }
    return rc;
}

int jc_test_redis_start(struct jc_test_server *s, const char *password)
{
    reset(s, JC_TEST_SERVER_REDIS);
    copy_str(s->password, sizeof(s->password), password);
    return start_fresh(s);
}

int jc_test_redis_start_replica(struct jc_test_server *s, const char *password, int primary_port)
{
    reset(s, JC_TEST_SERVER_REDIS);
    copy_str(s->password, sizeof(s->password), password);
    s->primary_port = primary_port;
    if (start_fresh(s) != 0) {
        return -1;
    }
    if (wait_replica_synced(s) != 0) {
        jc_test_server_stop(s);
        return -1;
    }
    return 0;
}

int jc_test_sentinel_start_opts(struct jc_test_server *s, const struct jc_test_sentinel_opts *o)
{
    reset(s, JC_TEST_SERVER_SENTINEL);
    copy_str(s->primary_name, sizeof(s->primary_name), o->primary_name);
    copy_str(s->password, sizeof(s->password), o->primary_password);
    copy_str(s->sentinel_pass, sizeof(s->sentinel_pass), o->sentinel_password);
    s->primary_port = o->primary_port;
    s->quorum = o->quorum > 0 ? o->quorum : 1;
    s->down_after_ms = o->down_after_ms > 0 ? o->down_after_ms : 1000;
    return start_fresh(s);
}

int jc_test_sentinel_start(struct jc_test_server *s, const char *primary_name, int primary_port,
                           const char *password)
{
    struct jc_test_sentinel_opts o = {
        .primary_name = primary_name,
        .primary_port = primary_port,
        .primary_password = password,
    };
    return jc_test_sentinel_start_opts(s, &o);
}

int jc_test_sentinel_wait_replicas(const struct jc_test_server *s, int n_replicas)
{
    redisContext *c = connect_authed(s->port, s->sentinel_pass);
    if (c == NULL) {
        return -1;
    }
    uint64_t deadline = now_ms() + JC_TEST_SERVER_WAIT_MS;
    int rc = -1;
    while (rc != 0 && now_ms() < deadline) {
        redisReply *r = redisCommand(c, "SENTINEL replicas %s", s->primary_name);
        if (r == NULL) {
            break;
        }
        if (r->type == REDIS_REPLY_ARRAY && r->elements >= (size_t)n_replicas) {
            rc = 0;
        }
        freeReplyObject(r);
        if (rc != 0) {
            sleep_ms(20);
        }
    }
    redisFree(c);
    if (rc != 0) {
        fprintf(stderr, "servers: sentinel on port %d does not know %d replicas\n", s->port,
                n_replicas);
    }
    return rc;
}

int jc_test_nats_start(struct jc_test_server *s, const char *token)
{
    reset(s, JC_TEST_SERVER_NATS);
    copy_str(s->password, sizeof(s->password), token);
    return start_fresh(s);
}

int jc_test_nats_start_userpass(struct jc_test_server *s, const char *user, const char *password)
{
    reset(s, JC_TEST_SERVER_NATS);
    copy_str(s->user, sizeof(s->user), user);
    copy_str(s->password, sizeof(s->password), password);
    return start_fresh(s);
}

static void terminate(struct jc_test_server *s)
{
    if (s->pid <= 0) {
        return;
    }
    kill(s->pid, SIGTERM);
    /* A paused server only sees the SIGTERM once it runs again. */
    kill(s->pid, SIGCONT);
    uint64_t deadline = now_ms() + STOP_GRACE_MS;
    int status;
    while (now_ms() < deadline) {
        pid_t r = waitpid(s->pid, &status, WNOHANG);
        if (r == s->pid || (r < 0 && errno == ECHILD)) {
            set_pid(s, 0);
            return;
        }
        sleep_ms(5);
    }
    kill(s->pid, SIGKILL);
    waitpid(s->pid, &status, 0);
    set_pid(s, 0);
}

void jc_test_server_stop(struct jc_test_server *s)
{
    if (s == NULL) {
        return;
    }
    terminate(s);
    if (s->dir[0] != '\0') {
        track(s->dir, 0, true);
        remove_tree(s->dir);
        s->dir[0] = '\0';
    }
}

void jc_test_server_kill(struct jc_test_server *s)
{
    if (s == NULL || s->pid <= 0) {
        return;
    }
    int status;
    kill(s->pid, SIGKILL);
    waitpid(s->pid, &status, 0);
    set_pid(s, 0);
}

int jc_test_server_restart(struct jc_test_server *s)
{
    if (s->kind == JC_TEST_SERVER_NONE || s->dir[0] == '\0') {
        fprintf(stderr, "servers: restart of a server that was never started\n");
        return -1;
    }
    terminate(s);
    /* The old process may still hold the port for a moment after exiting. */
    uint64_t deadline = now_ms() + JC_TEST_SERVER_WAIT_MS;
    while (now_ms() < deadline) {
        enum start_result r = start_once(s, false);
        if (r == START_OK) {
            return 0;
        }
        if (r == START_FAILED) {
            return -1;
        }
        sleep_ms(50);
    }
    fprintf(stderr, "servers: could not restart on port %d\n", s->port);
    return -1;
}

void jc_test_server_pause(struct jc_test_server *s)
{
    if (s->pid > 0) {
        kill(s->pid, SIGSTOP);
    }
}

void jc_test_server_resume(struct jc_test_server *s)
{
    if (s->pid > 0) {
        kill(s->pid, SIGCONT);
    }
}

const char *jc_test_redis_url(const struct jc_test_server *s, char *buf, size_t len)
{
    if (s->password[0] != '\0') {
        snprintf(buf, len, "redis://:%s@127.0.0.1:%d", s->password, s->port);
    } else {
        snprintf(buf, len, "redis://127.0.0.1:%d", s->port);
    }
    return buf;
}

const char *jc_test_nats_url(const struct jc_test_server *s, char *buf, size_t len)
{
    snprintf(buf, len, "nats://127.0.0.1:%d", s->port);
    return buf;
}

static void on_wake(void *arg)
{
    (void)arg;
}

/* Runs the loop in slices of at most 10 ms until *flag (if any) is set or
 * the deadline passes.  A timer bounds each slice, so the loop blocks in the
 * kernel instead of spinning. */
static bool run_loop(struct jc_loop *loop, bool *flag, int timeout_ms)
{
    struct jc_timer *t = jc_timer_new(loop, on_wake, NULL);
    uint64_t deadline = now_ms() + (uint64_t)(timeout_ms > 0 ? timeout_ms : 0);
    for (;;) {
        uint64_t now = now_ms();
        if ((flag != NULL && *flag) || now >= deadline) {
            break;
        }
        uint64_t slice = deadline - now < 10 ? deadline - now : 10;
        jc_timer_start(t, slice);
        event_base_loop(jc_loop_base(loop), EVLOOP_ONCE);
        jc_timer_stop(t);
    }
    jc_timer_free(t);
    return flag != NULL && *flag;
}

bool jc_test_loop_until(struct jc_loop *loop, bool *flag, int timeout_ms)
{
    return run_loop(loop, flag, timeout_ms);
}

void jc_test_loop_for(struct jc_loop *loop, int ms)
{
    run_loop(loop, NULL, ms);
}
