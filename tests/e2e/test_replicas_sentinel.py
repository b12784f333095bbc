"""Redis found through Sentinel, and a failover under traffic (SPEC 4).

A primary, one replica and three sentinels (quorum 2) on loopback; three
jcached replicas use the Sentinel form of the Redis store (broker: NATS in
one class, Redis pub/sub in the other).  `SENTINEL FAILOVER primary` during
traffic: after a few seconds at most of 503 store_unavailable, every replica
serves again without a restart; a value stored before the switch is still a
hit (it was replicated), and new keys are fetched once and stored on the new
primary.  With Redis pub/sub as broker, the invalidation events also follow
the new primary: a DELETE after the switch drops the L1 copy on the other
replicas."""

import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import cluster  # noqa: E402
import harness  # noqa: E402
from harness import CS_HIT, CS_STORED  # noqa: E402

# How long jcached may answer 503 after the sentinels agree on the new primary.
SWITCH_BUDGET_S = 8.0


class SentinelBase:
    broker_kind = None

    def setUp(self):
        super().setUp()
        self.origin = self.start_origin()
        self.group = self.start_sentinel_group("primary")
        if self.broker_kind == "nats":
            broker = cluster.nats_broker(self.start_nats())
        else:
            broker = cluster.redis_broker()
        self.replicas = self.start_replicas(
            3, [cluster.replica_cache("c", self.origin, "?delay_ms=20"),
                cluster.replica_cache("l1", self.origin, "?delay_ms=20", l1={"enabled": True})],
            cluster.sentinel_store(self.group.sentinels, "primary"), broker)
        self.wait_ready(self.replicas, 200, timeout=10.0)

    def stored_on(self, port, key):
        return cluster.redis_keys(port, "*%s*" % key)

    def serves_fresh_key(self, jc):
        st, _, _ = cluster.try_request(jc, "GET", jc.key_path("c", harness.unique_key("probe")),
                                       timeout=5.0)
        return st == 200

    def test_failover_under_traffic(self):
        a, b, c = self.replicas
        old_port = self.group.primary_port()
        warm = harness.unique_key("warm")
        st, hdrs, warm_body = a.get_key("c", warm)
        self.assertEqual((st, hdrs.get("Cache-Status")), (200, CS_STORED))
        self.assertTrue(self.stored_on(old_port, warm), "stored on the first primary")

        traffic = cluster.Traffic(self.replicas, "c", warm).start()
        self.addCleanup(traffic.stop)
        time.sleep(0.5)
        t_failover = time.monotonic()
        new_primary = self.group.failover()
        t_switched = time.monotonic()
        self.assertNotEqual(new_primary.port, old_port)
        for jc in self.replicas:
            harness.wait_until(lambda: self.serves_fresh_key(jc), SWITCH_BUDGET_S,
                               interval=0.1, what="replica %d to serve after the failover"
                               % jc.port)
        t_serving = time.monotonic()
        time.sleep(0.5)
        records = traffic.stop()
        self.assert_alive(self.replicas)
        self.check_traffic(records, t_failover, t_serving)
        sys.stderr.write("failover %.1fs, jcached back %.1fs after it\n"
                         % (t_switched - t_failover, t_serving - t_switched))

        st, hdrs, body = b.get_key("c", warm)
        self.assertEqual((st, hdrs.get("Cache-Status"), body), (200, CS_HIT, warm_body),
                         "the replicated value survives the failover")
        key = harness.unique_key("new")
        st, hdrs, body = c.get_key("c", key)
        self.assertEqual((st, hdrs.get("Cache-Status")), (200, CS_STORED), body)
        st, hdrs, again = a.get_key("c", key)
        self.assertEqual((st, hdrs.get("Cache-Status"), again), (200, CS_HIT, body))
        self.assertEqual(self.origin.count("/c/%s" % key), 1)
        self.assertEqual(cluster.redis_role(new_primary.port), "master")
        self.assertTrue(self.stored_on(new_primary.port, key),
                        "new keys are stored on the new primary (port %d)" % new_primary.port)
        # Events (NATS, or pub/sub now on the new primary) still travel.
        self.assert_delete_drops_l1(self.replicas, "l1", self.origin)

    def check_traffic(self, records, t_failover, t_serving):
        self.assertGreater(len(records), 10, "the traffic ran")
        odd = [(r[1], r[3], r[5][:160]) for r in records if r[3] not in (200, 503)]
        self.assertEqual(odd, [], "only values and 503 during a failover")
        for st, hdrs, body in [(r[3], r[4], r[5]) for r in records if r[3] == 503]:
            self.assert_json_error((st, hdrs, body), 503, "store_unavailable")
            self.assertIn("Retry-After", hdrs)
        late = [(r[1], r[3]) for r in records if r[0] > t_serving and r[3] != 200]
        self.assertEqual(late, [], "every request after the switch succeeds")
        before = [r[3] for r in records if r[0] < t_failover]
        self.assertTrue(before and set(before) == {200}, "before the failover: %r" % before)


class SentinelNats(SentinelBase, cluster.ClusterTestCase):
    broker_kind = "nats"


class SentinelRedisPubSub(SentinelBase, cluster.ClusterTestCase):
    broker_kind = "redis"


if __name__ == "__main__":
    cluster.main()
