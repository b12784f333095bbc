/* bench/herd.c: jc-herd, the thundering-herd client of the benchmark.
 *
 * Opens N HTTP/1.1 connections to 127.0.0.1 (round-robin over the given
 * ports), sends one "GET PATH" on each as soon as it connects, and records for
 * every request the monotonic time it was sent and the time its whole
 * response (status line, headers, Content-Length bytes of body, or the end of
 * a chunked body, or EOF) had arrived.  One epoll loop on one thread does all
 * of it, so the client itself adds microseconds, not milliseconds, to a
 * wake-up: each readable socket is drained and parsed with a few memchr()s.
 *
 * Connections are HTTP/1.1 keep-alive, as a waiting client's usually are,
 * and each is held open until every response has arrived, so that no server
 * spends its wake-up time on closes; --close sends "Connection: close"
 * instead, which adds the server's shutdown() and close() to every answer.
 *
 * At most --burst connects are in progress at once, so that 10,000 clients
 * never overflow a server's accept queue (a dropped SYN costs a one-second
 * retransmit, which would look like a slow server).
 *
 * Output: "# start <CLOCK_MONOTONIC microseconds>" (to line the client's times
 * up with perf, strace or another process's clock), then one line per
 * request, times in microseconds from that start:
 *   <index> <port> <status> <sent_us> <done_us> <body_len> <fnv1a64 of body> <cache-status>
 * status 0 means no complete answer (error or --timeout-ms); cache-status is
 * the Cache-Status header with spaces turned into '_', or "-". */
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define MAX_PORTS  16
#define HEAD_LIMIT 16384

struct client {
    int fd;
    int port;
    int status;
    int done;
    uint64_t sent_us;
    uint64_t done_us;
    char *buf;
    size_t len;
    size_t cap;
    long head_len;    /* bytes of status line and headers, -1 until parsed */
    long content_len; /* -1 when absent */
    int chunked;
    char cache_status[128];
};

struct herd {
    int n;
    int ports[MAX_PORTS];
    int n_ports;
    const char *path;
    long timeout_ms;
    int burst;
    int close; /* send "Connection: close" */
    int epfd;
    int connecting;
    int next;
    int finished;
    uint64_t start_us;
    struct client *c;
    char request[2048];
    size_t request_len;
};

static uint64_t now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

static void die(const char *msg)
{
    fprintf(stderr, "jc-herd: %s\n", msg);
    exit(2);
}

static void usage(void)
{
    fputs("usage: jc-herd --n N --ports P1[,P2...] --path /caches/NAME/KEY\n"
          "               [--timeout-ms MS] [--burst B] [--close]\n",
          stderr);
    exit(2);
}

static int parse_count(const char *s)
{
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno != 0 || end == s || *end != '\0' || v < 0 || v > 1000000000L) {
        die("bad number in the arguments");
    }
    return (int)v;
}

static void parse_ports(struct herd *h, const char *s)
{
    char *end;
    while (*s != '\0') {
        if (h->n_ports == MAX_PORTS) {
            die("too many ports");
        }
        long p = strtol(s, &end, 10);
        if (end == s || p <= 0 || p > 65535) {
            die("bad --ports");
        }
        h->ports[h->n_ports++] = (int)p;
        s = *end == ',' ? end + 1 : end;
        if (*end != ',' && *end != '\0') {
            die("bad --ports");
        }
    }
}

static void parse_args(struct herd *h, int argc, char **argv)
{
    h->timeout_ms = 30000;
    h->burst = 256;
    for (int i = 1; i < argc; i += 2) {
        const char *k = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : "";
        if (strcmp(k, "--close") == 0) {
            h->close = 1;
            i--;
        } else if (strcmp(k, "--n") == 0) {
            h->n = parse_count(v);
        } else if (strcmp(k, "--ports") == 0) {
            parse_ports(h, v);
        } else if (strcmp(k, "--path") == 0) {
            h->path = v;
        } else if (strcmp(k, "--timeout-ms") == 0) {
            h->timeout_ms = parse_count(v);
        } else if (strcmp(k, "--burst") == 0) {
            h->burst = parse_count(v);
        } else {
            usage();
        }
    }
    if (h->n <= 0 || h->n_ports == 0 || h->path == NULL || h->burst <= 0) {
        usage();
    }
}

static void watch(struct herd *h, struct client *c, uint32_t events, int op)
{
    struct epoll_event ev = {.events = events, .data.ptr = c};
    if (epoll_ctl(h->epfd, op, c->fd, &ev) != 0) {
        die("epoll_ctl failed");
    }
}

static void finish(struct herd *h, struct client *c, int ok)
{
    if (c->done) {
        return;
    }
    c->done = 1;
    c->done_us = now_us() - h->start_us;
    if (!ok) {
        c->status = 0;
    }
    if (c->fd >= 0 && ok && !h->close) {
        /* Held open until the end: a client closing now would make the
         * server spend time on the close while it still answers others. */
        epoll_ctl(h->epfd, EPOLL_CTL_DEL, c->fd, NULL);
    } else if (c->fd >= 0) {
        close(c->fd);
        c->fd = -1;
    }
    h->finished++;
}

/* Starts the next connection while fewer than --burst are connecting. */
static void start_more(struct herd *h)
{
    while (h->next < h->n && h->connecting < h->burst) {
        struct client *c = &h->c[h->next];
        c->port = h->ports[h->next % h->n_ports];
        h->next++;
        c->fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        if (c->fd < 0) {
            finish(h, c, 0);
            continue;
        }
        int one = 1;
        setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
        struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)c->port)};
        sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        if (connect(c->fd, (struct sockaddr *)&sa, sizeof(sa)) != 0 && errno != EINPROGRESS) {
            finish(h, c, 0);
            continue;
        }
        h->connecting++;
        watch(h, c, EPOLLOUT, EPOLL_CTL_ADD);
    }
}

static void on_connected(struct herd *h, struct client *c)
{
    int err = 0;
    socklen_t len = sizeof(err);
    h->connecting--;
    if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0 || err != 0) {
        finish(h, c, 0);
        return;
    }
    c->sent_us = now_us() - h->start_us;
    ssize_t w = send(c->fd, h->request, h->request_len, MSG_NOSIGNAL);
    if (w != (ssize_t)h->request_len) {
        finish(h, c, 0);
        return;
    }
    watch(h, c, EPOLLIN, EPOLL_CTL_MOD);
}

/* Finds header name (case-insensitive) in the head; returns its value or NULL. */
static const char *find_header(const char *head, size_t len, const char *name, size_t *vlen)
{
    size_t nlen = strlen(name);
    const char *p = memchr(head, '\n', len);
    const char *end = head + len;
    while (p != NULL && p + 1 < end) {
        p++;
        const char *eol = memchr(p, '\n', (size_t)(end - p));
        if (eol == NULL) {
            return NULL;
        }
        if ((size_t)(eol - p) > nlen && p[nlen] == ':' && strncasecmp(p, name, nlen) == 0) {
            const char *v = p + nlen + 1;
            while (v < eol && (*v == ' ' || *v == '\t')) {
                v++;
            }
            const char *ve = eol;
            while (ve > v && (ve[-1] == '\r' || ve[-1] == ' ')) {
                ve--;
            }
            *vlen = (size_t)(ve - v);
            return v;
        }
        p = eol;
    }
    return NULL;
}

static void parse_head(struct client *c, size_t head_len)
{
    c->head_len = (long)head_len;
    c->content_len = -1;
    if (c->len > 12 && memcmp(c->buf, "HTTP/1.", 7) == 0) {
        c->status = (int)strtol(c->buf + 9, NULL, 10);
    }
    size_t vlen;
    const char *v = find_header(c->buf, head_len, "Content-Length", &vlen);
    if (v != NULL) {
        c->content_len = strtol(v, NULL, 10);
    }
    v = find_header(c->buf, head_len, "Transfer-Encoding", &vlen);
    c->chunked = v != NULL && vlen >= 7 && strncasecmp(v, "chunked", 7) == 0;
    v = find_header(c->buf, head_len, "Cache-Status", &vlen);
    snprintf(c->cache_status, sizeof(c->cache_status), "-");
    if (v != NULL) {
        size_t k = vlen < sizeof(c->cache_status) - 1 ? vlen : sizeof(c->cache_status) - 1;
        for (size_t i = 0; i < k; i++) {
            c->cache_status[i] = v[i] == ' ' ? '_' : v[i];
        }
        c->cache_status[k] = '\0';
    }
}

/* Returns 1 when the response in c->buf is complete. */
static int is_complete(struct client *c)
{
    if (c->head_len < 0) {
        const char *p = c->buf;
        const char *end = c->buf + c->len;
        while ((p = memchr(p, '\r', (size_t)(end - p))) != NULL) {
            if (end - p >= 4 && memcmp(p, "\r\n\r\n", 4) == 0) {
                parse_head(c, (size_t)(p + 4 - c->buf));
                break;
            }
            p++;
        }
        if (c->head_len < 0) {
            return 0;
        }
    }
    size_t body = c->len - (size_t)c->head_len;
    if (c->chunked) {
        return body >= 5 && memcmp(c->buf + c->len - 5, "0\r\n\r\n", 5) == 0;
    }
    return c->content_len >= 0 && body >= (size_t)c->content_len;
}

static void on_readable(struct herd *h, struct client *c)
{
    for (;;) {
        if (c->cap - c->len < 4096) {
            c->cap = c->cap == 0 ? 8192 : c->cap * 2;
            c->buf = realloc(c->buf, c->cap);
            if (c->buf == NULL) {
                die("out of memory");
            }
        }
        ssize_t r = recv(c->fd, c->buf + c->len, c->cap - c->len, 0);
        if (r > 0) {
            c->len += (size_t)r;
            continue;
        }
        if (r < 0 && (errno == EAGAIN || errno == EINTR)) {
            break;
        }
        /* EOF or error: complete if the response was, or if its body had
         * no length and so ends with the connection. */
        int complete = is_complete(c);
        finish(h, c, complete || (c->head_len >= 0 && c->content_len < 0 && !c->chunked));
        return;
    }
    if (c->len > HEAD_LIMIT && c->head_len < 0) {
        finish(h, c, 0);
        return;
    }
    if (is_complete(c)) {
        finish(h, c, 1);
    }
}

static uint64_t fnv1a(const char *p, size_t n)
{
    uint64_t x = 1469598103934665603ull;
    for (size_t i = 0; i < n; i++) {
        x ^= (unsigned char)p[i];
        x *= 1099511628211ull;
    }
    return x;
}

static void report(const struct herd *h)
{
    printf("# start %llu\n", (unsigned long long)h->start_us);
    for (int i = 0; i < h->n; i++) {
        const struct client *c = &h->c[i];
        size_t body = c->head_len >= 0 ? c->len - (size_t)c->head_len : 0;
        const char *b = c->head_len >= 0 ? c->buf + c->head_len : "";
        printf("%d %d %d %llu %llu %zu %016llx %s\n", i, c->port, c->status,
               (unsigned long long)c->sent_us, (unsigned long long)c->done_us, body,
               (unsigned long long)fnv1a(b, body), c->status ? c->cache_status : "-");
    }
}

static void run(struct herd *h)
{
    struct epoll_event evs[512];
    uint64_t deadline = h->start_us + (uint64_t)h->timeout_ms * 1000u;
    start_more(h);
    while (h->finished < h->n) {
        uint64_t t = now_us();
        if (t >= deadline) {
            break;
        }
        int k = epoll_wait(h->epfd, evs, 512, (int)((deadline - t) / 1000u) + 1);
        for (int i = 0; i < k; i++) {
            struct client *c = evs[i].data.ptr;
            if (c->done) {
                continue;
            }
            if (c->sent_us == 0 && (evs[i].events & (EPOLLOUT | EPOLLERR | EPOLLHUP))) {
                on_connected(h, c);
            } else {
                on_readable(h, c);
            }
        }
        start_more(h);
    }
    for (int i = 0; i < h->n; i++) {
        if (!h->c[i].done) {
            finish(h, &h->c[i], 0);
        }
    }
}

int main(int argc, char **argv)
{
    struct herd h = {0};
    parse_args(&h, argc, argv);
    int n = snprintf(h.request, sizeof(h.request),
                     "GET %s HTTP/1.1\r\nHost: 127.0.0.1\r\nUser-Agent: jc-herd\r\n%s\r\n", h.path,
                     h.close ? "Connection: close\r\n" : "");
    if (n < 0 || (size_t)n >= sizeof(h.request)) {
        die("--path too long");
    }
    h.request_len = (size_t)n;
    h.c = calloc((size_t)h.n, sizeof(*h.c));
    h.epfd = epoll_create1(EPOLL_CLOEXEC);
    if (h.c == NULL || h.epfd < 0) {
        die("cannot set up");
    }
    for (int i = 0; i < h.n; i++) {
        h.c[i].fd = -1;
        h.c[i].head_len = -1;
    }
    h.start_us = now_us();
    /* sent_us == 0 marks "not yet connected"; the start is never sent at 0. */
    h.start_us -= 1;
    run(&h);
    report(&h);
    for (int i = 0; i < h.n; i++) {
        if (h.c[i].fd >= 0) {
            close(h.c[i].fd);
        }
    }
    return 0;
}
