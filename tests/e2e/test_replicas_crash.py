"""Crash recovery across replicas (SPEC 3.1, 3.4).

Three replicas (A, B, C) share a redis-server store; the broker is NATS in
one class and Redis pub/sub in the other.  The
upstream answers the first fetch of the key only after 3 s.  A alone asks
first, so A holds the lock and fetches; then clients wait on B and C.  A is
killed with SIGKILL mid-fetch.  Its lease (upstream.timeout_ms 1500 +
lease_grace_ms 300, on Redis's clock) ends, a waiting replica takes over and
fetches again (now fast), and every waiter on B and C gets that value: two
upstream fetches in all, one answer."""

import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import cluster  # noqa: E402
import harness  # noqa: E402

WAITERS = 40
SLOW_MS = 3000


class CrashBase:
    broker_kind = None

    def setUp(self):
        super().setUp()
        self.origin = self.start_origin()
        self.redis = self.start_redis()
        if self.broker_kind == "nats":
            broker = cluster.nats_broker(self.start_nats())
        else:
            broker = cluster.redis_broker()
        self.a, self.b, self.c = self.start_replicas(
            3, [cluster.replica_cache("c", self.origin)], cluster.redis_store(self.redis), broker)

    def test_kill9_of_the_fetching_replica_hands_over_after_the_lease(self):
        key = harness.unique_key("crash")
        path = "/c/%s" % key
        self.origin.set(path, delay_ms=SLOW_MS)
        self.addCleanup(self.origin.set, path)

        first = harness.in_background(self.a.get_key, "c", key, timeout=15)
        harness.wait_until(lambda: self.origin.count(path) == 1, 5.0,
                           what="A's fetch to reach the upstream")
        self.assertEqual(self.b.status_of("c", key)["status"], "PENDING")

        waiters = harness.in_background(
            cluster.round_robin, [self.b, self.c], WAITERS,
            lambda jc, i: jc.get_key("c", key, timeout=20))
        time.sleep(0.3)  # the waiters are parked on B and C
        t_kill = time.monotonic()
        cluster.kill9(self.a)
        self.origin.set(path, delay_ms=100)

        results = waiters.result(30)
        elapsed = time.monotonic() - t_kill
        with self.assertRaises(Exception):
            first.result(5)  # A's client lost its connection with A
        statuses = sorted({r[0] for r in results})
        self.assertEqual(statuses, [200], "every waiter on B and C gets a value: %r"
                         % sorted({(r[0], r[2][:100]) for r in results}))
        bodies = {r[2] for r in results}
        self.assertEqual(len(bodies), 1, "one answer: %r" % sorted(bodies)[:3])
        self.assertIn(b'"n":2', bodies.pop(), "the value comes from the second fetch")
        self.assertEqual(self.origin.count(path), 2, "exactly two upstream fetches")
        cs = [r[1].get("Cache-Status") for r in results]
        tally = {v: cs.count(v) for v in set(cs)}
        self.assertEqual(cs.count(harness.CS_STORED), 1, tally)
        self.assertEqual(cs.count(harness.CS_COLLAPSED), WAITERS - 1, tally)
        # The lease was 1.8 s from A's lock; taking over must not wait for
        # the clients' wait timeout (10 s).
        self.assertLess(elapsed, 6.0, "takeover took %.1fs after the kill" % elapsed)
        for jc in (self.b, self.c):
            self.assertEqual(jc.status_of("c", key)["status"], "EXISTS")
        self.assert_alive([self.b, self.c])



class CrashTakeoverNats(CrashBase, cluster.ClusterTestCase):
    broker_kind = "nats"


class CrashTakeoverRedisPubSub(CrashBase, cluster.ClusterTestCase):
    broker_kind = "redis"


if __name__ == "__main__":
    cluster.main()
