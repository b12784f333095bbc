"""Multi-replica helpers for the tests/e2e/test_replicas_*.py scenarios.

Built on harness.py (imported, never changed): several build/jcached
processes share one store (redis-server, directly or found through
redis-sentinel) and one broker (nats-server, or pub/sub on the same Redis).
Everything binds to 127.0.0.1 on free ports and is stopped by PID.

What this adds to the harness:
  - config builders for the backends of SPEC section 4 (redis_store,
    sentinel_store, nats_broker, redis_broker) and replica_cache, a cache with
    the short leases these scenarios need;
  - RestartableRedis / RestartableNats: servers that can be stopped and
    started again on the same port (outage scenarios);
  - SentinelGroup: a primary, a replica and three sentinels, with a forced
    failover that waits until the sentinels and the servers agree;
  - round_robin (many concurrent requests spread over the replicas), Traffic
    (a background load that records every answer), and assertions for "one
    fetch, one answer";
  - ClusterTestCase: E2ETestCase plus starters for all of the above, each
    stopped by PID when the test (or the class) ends.

Python 3 standard library only.
"""

import http.client
import os
import signal
import socket
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from harness import CS_COLLAPSED, CS_HIT_L1, CS_STORED  # noqa: E402

# Short timings so that leases end and pollers wake within a test's budget.
UPSTREAM_TIMEOUT_MS = 1500
LEASE_GRACE_MS = 300
POLL_INTERVAL_MS = 150
WAIT_TIMEOUT_MS = 10000

# ---------------------------------------------------------------------------
# Config builders


def redis_store(redis, **extra):
    """{"type":"redis","url":...} for a RedisServer."""
    cfg = {"type": "redis", "url": redis.url}
    cfg.update(extra)
    return cfg


def sentinel_store(sentinels, primary_name="primary", **extra):
    """The Sentinel form of the Redis store for a list of RedisSentinel."""
    cfg = {"type": "redis",
           "sentinel": {"hosts": [s.host for s in sentinels], "primary_name": primary_name}}
    cfg.update(extra)
    return cfg


def nats_broker(nats, **extra):
    cfg = {"type": "nats", "urls": [nats.url]}
    cfg.update(extra)
    return cfg


def redis_broker():
    """Pub/sub on the store's Redis."""
    return {"type": "redis"}


def replica_cache(name, origin, path_suffix="", **overrides):
    """harness.cache_config with the short leases and polls of these
    scenarios: upstream.timeout_ms 1500, lease_grace_ms 300,
    poll_interval_ms 150, wait_timeout_ms 10000 (overrides win)."""
    base = {
        "upstream": {"timeout_ms": UPSTREAM_TIMEOUT_MS},
        "lease_grace_ms": LEASE_GRACE_MS,
        "poll_interval_ms": POLL_INTERVAL_MS,
        "wait_timeout_ms": WAIT_TIMEOUT_MS,
    }
    return harness.cache_config(name, origin, path_suffix, **harness.deep_merge(base, overrides))


# ---------------------------------------------------------------------------
# Servers that can go away and come back on the same port


def _rotate_logs(p):
    """Keeps the logs of an earlier run of p next to the new ones."""
    for path in (p.stdout_path, p.stderr_path):
        n = 1
        while os.path.exists("%s.%d" % (path, n)):
            n += 1
        if os.path.exists(path):
            os.rename(path, "%s.%d" % (path, n))


class RestartableRedis(harness.RedisServer):
    """A RedisServer that start_again() runs once more on the same port with
    the same arguments (no persistence: it comes back empty)."""

    def start_again(self, timeout=10.0):
        if self.alive():
            raise AssertionError("redis (pid %d) is still running" % self.pid)
        _rotate_logs(self)
        self._spawn(self.cmd)
        harness._wait_tcp(self.port, self.proc, timeout, "redis-server")
        harness.wait_until(self._ping_ok, timeout, what="redis PING after restart")


class RestartableNats(harness.NatsServer):
    """A NatsServer that start_again() runs once more on the same port."""

    def start_again(self, timeout=10.0):
        if self.alive():
            raise AssertionError("nats (pid %d) is still running" % self.pid)
        _rotate_logs(self)
        self._spawn(self.cmd)
        harness._wait_tcp(self.port, self.proc, timeout, "nats-server")
        harness.wait_until(self._info_ok, timeout, what="nats INFO after restart")


def redis_command(redis_port, *args, timeout=5.0):
    """One command to the Redis (or Sentinel) at 127.0.0.1:redis_port, no
    password; returns the decoded reply (an error reply raises RuntimeError)."""
    with socket.create_connection(("127.0.0.1", redis_port), timeout=timeout) as s:
        f = s.makefile("rb")
        s.sendall(harness._resp_encode(args))
        return harness._resp_read(f)


def redis_keys(redis_port, pattern):
    """KEYS pattern on the Redis at 127.0.0.1:redis_port (test data is small)."""
    return redis_command(redis_port, "KEYS", pattern)


def redis_role(redis_port):
    """"master" or "slave" as ROLE reports it, None when unreachable."""
    try:
        return redis_command(redis_port, "ROLE")[0]
    except (OSError, RuntimeError):
        return None


# ---------------------------------------------------------------------------
# Sentinel


class SentinelGroup:
    """A primary, one replica and three sentinels (quorum 2) on loopback.

    start(track) starts them, passing each process to track (which arranges
    for its stop by PID), and waits until every sentinel sees the replica and
    the two other sentinels, so a failover can be forced at once."""

    def __init__(self, primary_name="primary"):
        self.primary_name = primary_name
        self.servers = []
        self.sentinels = []

    def start(self, track, timeout=20.0):
        primary = track(harness.RedisServer())
        replica = track(harness.RedisServer(
            extra_args=["--replicaof", "127.0.0.1", str(primary.port)]))
        self.servers = [primary, replica]
        harness.wait_until(lambda: self._link_up(replica.port), timeout,
                           what="replica in sync with the primary")
        for _ in range(3):
            self.sentinels.append(track(harness.RedisSentinel(
                primary, primary_name=self.primary_name, quorum=2,
                down_after_ms=1000, failover_timeout_ms=3000)))
        harness.wait_until(self._sentinels_settled, timeout, interval=0.1,
                           what="sentinels to discover the replica and each other")
        return self

    def _link_up(self, port):
        try:
            info = redis_command(port, "INFO", "replication")
        except (OSError, RuntimeError):
            return False
        return "master_link_status:up" in info

    def _sentinels_settled(self):
        for s in self.sentinels:
            try:
                replicas = s.command("SENTINEL", "replicas", self.primary_name)
                peers = s.command("SENTINEL", "sentinels", self.primary_name)
            except (OSError, RuntimeError):
                return False
            if len(replicas) < 1 or len(peers) < 2:
                return False
        return True

    def primary_port(self, sentinel=None):
        """The primary's port as one sentinel reports it."""
        s = sentinel or self.sentinels[0]
        host, port = s.command("SENTINEL", "get-master-addr-by-name", self.primary_name)
        return int(port)

    def server_on(self, port):
        for srv in self.servers:
            if srv.port == port:
                return srv
        raise AssertionError("no server of the group listens on %d" % port)

    def failover(self, timeout=20.0):
        """SENTINEL FAILOVER on the first sentinel; returns the new primary
        (a RedisServer) once every sentinel reports it and it answers ROLE
        master.  The sentinels turn the old primary into a replica later
        (about ten seconds on), so it may still accept writes meanwhile."""
        old = self.primary_port()
        reply = self.sentinels[0].command("SENTINEL", "FAILOVER", self.primary_name)
        if reply != "OK":
            raise AssertionError("SENTINEL FAILOVER -> %r" % (reply,))

        def switched():
            ports = set()
            for s in self.sentinels:
                try:
                    ports.add(self.primary_port(s))
                except (OSError, RuntimeError, TypeError, ValueError):
                    return False
            if len(ports) != 1:
                return False
            new = ports.pop()
            return new if new != old and redis_role(new) == "master" else False

        new = harness.wait_until(switched, timeout, interval=0.1, what="sentinel failover")
        return self.server_on(new)


# ---------------------------------------------------------------------------
# Load


def round_robin(replicas, n, fn, timeout=60):
    """Runs fn(replica, i) for i in range(n) on n threads released together,
    request i going to replicas[i % len(replicas)]; returns the results in
    order."""
    return harness.parallel(n, lambda i: fn(replicas[i % len(replicas)], i), timeout=timeout)


def try_request(jc, method, path, headers=None, timeout=10.0):
    """jc.request, but a connection failure is returned as (None, None, repr)
    instead of raised, so background load can record it."""
    try:
        return jc.request(method, path, headers, timeout=timeout)
    except (OSError, http.client.HTTPException) as e:
        return None, None, repr(e).encode()


def error_code(resp):
    """The "error" field of a JSON error response, or None."""
    status, _, body = resp
    if status is None or status < 400:
        return None
    try:
        doc = harness.json_body(body)
    except ValueError:
        return None
    return doc.get("error") if isinstance(doc, dict) else None


class Traffic:
    """Background GETs, round-robin over the replicas, until stop(): each
    round asks for a fresh key and for one key stored before start.  Every
    answer is recorded as (monotonic time, replica index, key, status,
    Headers or None, body)."""

    def __init__(self, replicas, cache, warm_key, period=0.05, timeout=8.0):
        self.replicas = replicas
        self.cache = cache
        self.warm_key = warm_key
        self.period = period
        self.timeout = timeout
        self.records = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def start(self):
        self._thread.start()
        return self

    def stop(self):
        self._stop.set()
        self._thread.join(self.timeout + 5)
        return self.records

    def _run(self):
        i = 0
        while not self._stop.is_set():
            idx = i % len(self.replicas)
            jc = self.replicas[idx]
            key = self.warm_key if i % 2 else harness.unique_key("traffic")
            t = time.monotonic()
            st, hdrs, body = try_request(jc, "GET", jc.key_path(self.cache, key),
                                         timeout=self.timeout)
            self.records.append((t, idx, key, st, hdrs, body))
            i += 1
            self._stop.wait(self.period)

    def statuses(self):
        return [r[3] for r in self.records]


# ---------------------------------------------------------------------------
# Test case


class ClusterTestCase(harness.E2ETestCase):
    """E2ETestCase with starters for replicas and their backends."""

    @classmethod
    def start_class_redis(cls, **kw):
        return cls._track_class(RestartableRedis(**kw))

    @classmethod
    def start_class_nats(cls, **kw):
        return cls._track_class(RestartableNats(**kw))

    @classmethod
    def start_class_broker(cls, kind):
        """The broker config of kind "nats" (starting a nats-server for the
        class) or "redis" (pub/sub on the store's Redis)."""
        if kind == "nats":
            return nats_broker(cls.start_class_nats())
        return redis_broker()

    @classmethod
    def start_class_replicas(cls, n, caches, store, broker, **top):
        cfg = harness.jcached_config(caches, store=store, broker=broker, **top)
        return [cls.start_class_jcached(cfg) for _ in range(n)]

    def start_redis(self, **kw):
        return self._track(RestartableRedis(**kw))

    def start_nats(self, **kw):
        return self._track(RestartableNats(**kw))

    def start_replicas(self, n, caches, store, broker, **top):
        """n jcached processes with one config (each on its own port)."""
        cfg = harness.jcached_config(caches, store=store, broker=broker, **top)
        return [self.start_jcached(cfg) for _ in range(n)]

    def start_sentinel_group(self, primary_name="primary"):
        return SentinelGroup(primary_name).start(self._track)

    def wait_ready(self, replicas, status=200, code=None, timeout=15.0):
        """Waits until GET /readyz answers status (and, for an error, that
        error code) on every replica."""
        def all_there():
            for jc in replicas:
                resp = try_request(jc, "GET", "/readyz", timeout=2.0)
                if resp[0] != status or (code is not None and error_code(resp) != code):
                    return False
            return True
        harness.wait_until(all_there, timeout, interval=0.05,
                           what="/readyz %d%s on every replica"
                           % (status, " " + code if code else ""))

    def assert_alive(self, replicas):
        for jc in replicas:
            self.assertTrue(jc.alive(), "jcached pid %d exited (%s):\n%s"
                            % (jc.pid, jc.proc.returncode, jc.log_tail()))

    def until_l1(self, jc, cache, key, body, attempts=6, pause=0.1):
        """GETs key on jc until it answers from L1 with body.  A replica fills
        its L1 on a store hit, and the fetching replica's INVALIDATE event,
        when it arrives after that hit, empties it again (SPEC promises no
        fill timing), so a few GETs a moment apart are allowed."""
        seen = []
        for _ in range(attempts):
            st, hdrs, got = jc.get_key(cache, key)
            self.assertEqual((st, got), (200, body), "GET on port %d" % jc.port)
            seen.append(hdrs.get("Cache-Status"))
            if seen[-1] == CS_HIT_L1:
                return seen
            time.sleep(pause)
        self.fail("replica on port %d never served %s/%s from L1: %r"
                  % (jc.port, cache, key, seen))

    def assert_delete_drops_l1(self, replicas, cache, origin, slack=0.5):
        """On a cache with L1 on: once every replica serves a fresh key from
        L1, DELETE it on replicas[0]; after slack seconds for the INVALIDATE
        event, the next GET on replicas[1] fetches again (`stored`) and the
        others are store hits of that new value, never L1 hits of the old."""
        key = harness.unique_key("inv")
        st, _, old = replicas[0].get_key(cache, key)
        self.assertEqual(st, 200, old)
        for jc in replicas:
            self.until_l1(jc, cache, key, old)
        st, _, body = replicas[0].delete_key(cache, key)
        self.assertEqual(st, 204, body)
        time.sleep(slack)
        st, hdrs, new = replicas[1].get_key(cache, key)
        self.assertEqual((st, hdrs.get("Cache-Status")), (200, CS_STORED),
                         "the INVALIDATE event reached port %d" % replicas[1].port)
        self.assertNotEqual(new, old)
        for jc in replicas[2:] + replicas[:1]:
            st, hdrs, got = jc.get_key(cache, key)
            self.assertEqual((st, hdrs.get("Cache-Status"), got), (200, harness.CS_HIT, new),
                             "the INVALIDATE event reached port %d" % jc.port)
        self.assertEqual(origin.count("/%s/%s" % (cache, key)), 2)

    def assert_one_fetch(self, results, origin, path, stored=CS_STORED,
                         collapsed=CS_COLLAPSED, status=200):
        """results of one fetch's requests: all status, one body, one
        origin fetch of path, one `stored` and the rest `collapsed`.
        Returns the body."""
        statuses = sorted({r[0] for r in results})
        self.assertEqual(statuses, [status], "statuses %r" % statuses)
        bodies = {r[2] for r in results}
        self.assertEqual(len(bodies), 1, "one answer, got %d different bodies: %r"
                         % (len(bodies), sorted(b[:120] for b in bodies)[:4]))
        self.assertEqual(origin.count(path), 1, "upstream fetched exactly once")
        cs = [r[1].get("Cache-Status") for r in results]
        tally = {v: cs.count(v) for v in set(cs)}
        self.assertEqual(cs.count(stored), 1, "exactly one %r: %r" % (stored, tally))
        self.assertEqual(cs.count(collapsed), len(results) - 1,
                         "all others %r: %r" % (collapsed, tally))
        return bodies.pop()


def kill9(p):
    """SIGKILL by PID, as a crash."""
    return p.stop(signal.SIGKILL, timeout=5.0)


def main():
    harness.main()
