"""Backend outages with several replicas on redis-server + nats-server (or
Redis pub/sub as the broker).

- Lost events (SPEC 3.6, 3.3): nats-server stops while clients wait on three
  replicas for one fetch; they still finish, through polling the store every
  poll_interval_ms, long before their wait timeout, with one answer: the value,
  or the upstream's 503 (nothing stored) when the fetch failed.
- Readiness (SPEC 2 /readyz): 200 while Redis and NATS are up; NATS stopped
  -> 503 broker_unavailable; NATS back on its port -> 200 again, and events
  travel again (a DELETE drops every replica's L1 copy).
- Redis restarted on the same port under traffic: while it is down, value
  requests get 503 store_unavailable with Retry-After and /readyz is 503
  store_unavailable; once it is back, the same jcached processes (never
  restarted) serve normally again: fetch once, store, hit.  With Redis pub/sub
  as broker the subscription comes back too."""

import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import cluster  # noqa: E402
import harness  # noqa: E402
from harness import CS_HIT, CS_STORED  # noqa: E402

DELAY_MS = 800


class OutageBase(cluster.ClusterTestCase):
    broker_kind = "nats"

    def setUp(self):
        super().setUp()
        self.origin = self.start_origin()
        self.redis = self.start_redis()
        if self.broker_kind == "nats":
            self.nats = self.start_nats()
            broker = cluster.nats_broker(self.nats)
        else:
            broker = cluster.redis_broker()
        self.replicas = self.start_replicas(
            3, [cluster.replica_cache("c", self.origin, "?delay_ms=20"),
                cluster.replica_cache("l1", self.origin, "?delay_ms=20", l1={"enabled": True})],
            cluster.redis_store(self.redis), broker)

    def assert_store_unavailable(self, resp, what):
        doc = self.assert_json_error(resp, 503, "store_unavailable")
        retry = resp[1].get("Retry-After")
        self.assertIsNotNone(retry, "%s: 503 without Retry-After: %r" % (what, resp[1]))
        self.assertTrue(retry.isdigit(), "%s: Retry-After %r is not delta-seconds"
                        % (what, retry))
        return doc


class Outages(OutageBase):
    """Redis store, NATS broker."""

    def test_waiters_finish_by_polling_when_nats_stops(self):
        key = harness.unique_key("poll")
        path = "/c/%s" % key
        self.origin.set(path, delay_ms=DELAY_MS)
        self.addCleanup(self.origin.set, path)
        t0 = time.monotonic()
        storm = harness.in_background(
            cluster.round_robin, self.replicas, 30,
            lambda jc, i: jc.get_key("c", key, timeout=20))
        harness.wait_until(lambda: self.origin.count(path) == 1, 5.0, what="the fetch")
        time.sleep(0.2)  # every client is parked in its wait
        self.nats.stop()
        results = storm.result(30)
        elapsed = time.monotonic() - t0
        self.assert_one_fetch(results, self.origin, path)
        # Waiters on the two other replicas never get the DONE event; they
        # must see the value at their next poll (150 ms), not at 10 s.
        self.assertLess(elapsed, DELAY_MS / 1000.0 + 2.0,
                        "waiters took %.1fs: they did not poll the store" % elapsed)
        self.assert_alive(self.replicas)

    def test_errors_reach_pollers_when_nats_stops(self):
        # SPEC 3.3: a failed fetch reaches also the waiters that learn of it
        # by polling; nothing is stored.
        key = harness.unique_key("pollerr")
        path = "/c/%s" % key
        self.origin.set(path, status=503, delay_ms=DELAY_MS)
        self.addCleanup(self.origin.set, path)
        t0 = time.monotonic()
        storm = harness.in_background(
            cluster.round_robin, self.replicas, 30,
            lambda jc, i: jc.get_key("c", key, timeout=20))
        harness.wait_until(lambda: self.origin.count(path) == 1, 5.0, what="the fetch")
        time.sleep(0.2)
        self.nats.stop()
        results = storm.result(30)
        elapsed = time.monotonic() - t0
        got = sorted({(r[0], r[1].get("Cache-Status") if r[1] else None) for r in results})
        self.assertEqual(got, [(503, harness.cs_not_stored(503))],
                         "every waiter on every replica gets the upstream's 503")
        self.assertEqual(len({r[2] for r in results}), 1, "one answer")
        self.assertEqual(self.origin.count(path), 1)
        self.assertLess(elapsed, DELAY_MS / 1000.0 + 2.0,
                        "waiters took %.1fs: they did not poll the store" % elapsed)
        for jc in self.replicas:
            self.assertEqual(jc.status_of("c", key)["status"], "EMPTY", "nothing stored")

    def test_readyz_follows_nats(self):
        self.wait_ready(self.replicas, 200, timeout=5.0)
        for jc in self.replicas:
            st, _, body = jc.get("/readyz")
            self.assertEqual(st, 200, body)
        self.nats.stop()
        self.wait_ready(self.replicas, 503, "broker_unavailable", timeout=5.0)
        for jc in self.replicas:
            self.assert_json_error(jc.get("/readyz"), 503, "broker_unavailable")
        self.nats.start_again()
        self.wait_ready(self.replicas, 200, timeout=15.0)
        self.assert_alive(self.replicas)
        # Connected again means subscribed again: events reach every replica.
        self.assert_delete_drops_l1(self.replicas, "l1", self.origin)

    def test_redis_restart_under_traffic(self):
        a, b, c = self.replicas
        pids = [jc.pid for jc in self.replicas]
        warm = harness.unique_key("warm")
        self.assertEqual(a.get_key("c", warm)[0], 200)
        traffic = cluster.Traffic(self.replicas, "c", warm).start()
        self.addCleanup(traffic.stop)
        time.sleep(0.5)

        self.redis.stop()
        self.wait_ready(self.replicas, 503, "store_unavailable", timeout=5.0)
        t_down = time.monotonic()
        for jc in self.replicas:
            self.assert_json_error(jc.get("/readyz"), 503, "store_unavailable")
            self.assert_store_unavailable(jc.get_key("c", harness.unique_key("down")),
                                          "cold key while Redis is down")
            self.assert_store_unavailable(jc.get_key("c", warm), "stored key, Redis down")
        time.sleep(1.0)

        t_up = time.monotonic()
        self.redis.start_again()
        self.wait_ready(self.replicas, 200, timeout=15.0)
        t_ready = time.monotonic()
        time.sleep(0.5)
        records = traffic.stop()

        self.assertEqual([jc.pid for jc in self.replicas], pids)
        self.assert_alive(self.replicas)
        self.check_traffic(records, t_down, t_up, t_ready)

        # Normal service again: one fetch, stored, then a hit elsewhere.
        key = harness.unique_key("after")
        st, hdrs, body = b.get_key("c", key)
        self.assertEqual((st, hdrs.get("Cache-Status")), (200, CS_STORED), body)
        st, hdrs, again = c.get_key("c", key)
        self.assertEqual((st, hdrs.get("Cache-Status"), again), (200, CS_HIT, body))
        self.assertEqual(self.origin.count("/c/%s" % key), 1)

    def check_traffic(self, records, t_down, t_up, t_ready):
        self.assertGreater(len(records), 20, "the traffic ran")
        odd = [(r[1], r[3], r[5][:160]) for r in records if r[3] not in (200, 503)]
        self.assertEqual(odd, [], "only values and 503 store_unavailable under an outage")
        for r in records:
            if r[3] == 503:
                self.assert_store_unavailable((r[3], r[4], r[5]), "traffic during the outage")
        down = [r[3] for r in records if t_down <= r[0] and r[0] + 0.5 < t_up]
        self.assertTrue(down and set(down) == {503}, "while down: %r" % down)
        after = [r[3] for r in records if r[0] >= t_ready]
        self.assertTrue(after and set(after) == {200}, "after recovery: %r" % after)


class OutagesRedisPubSub(OutageBase):
    """Redis store and Redis pub/sub broker: one restart takes both away."""

    broker_kind = "redis"

    def test_redis_restart_then_events_flow_again(self):
        a, b, c = self.replicas
        self.assert_delete_drops_l1(self.replicas, "l1", self.origin)
        self.redis.stop()
        self.wait_ready(self.replicas, 503, timeout=5.0)
        for jc in self.replicas:
            resp = jc.get("/readyz")
            self.assertIn(cluster.error_code(resp), ("store_unavailable", "broker_unavailable"),
                          resp)
            resp = jc.get_key("c", harness.unique_key("down"))
            self.assertEqual(resp[0], 503, resp)
            self.assertIn(cluster.error_code(resp), ("store_unavailable", "broker_unavailable"),
                          resp)
            self.assertIn("Retry-After", resp[1])
        time.sleep(0.5)
        self.redis.start_again()
        self.wait_ready(self.replicas, 200, timeout=15.0)
        self.assert_alive(self.replicas)
        key = harness.unique_key("after")
        st, hdrs, body = c.get_key("c", key)
        self.assertEqual((st, hdrs.get("Cache-Status")), (200, CS_STORED), body)
        st, hdrs, again = a.get_key("c", key)
        self.assertEqual((st, hdrs.get("Cache-Status"), again), (200, CS_HIT, body))
        # The subscriber connection came back subscribed.
        self.assert_delete_drops_l1(self.replicas, "l1", self.origin)


if __name__ == "__main__":
    cluster.main()
