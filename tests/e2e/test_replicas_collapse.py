"""Exactly once and errors travel across replicas (SPEC 3.1, 3.2, 3.3).

Three jcached replicas share one redis-server store; the broker is NATS in
one class and pub/sub on the same Redis in the other.  300 concurrent GETs of
one cold key, spread round-robin over the replicas while the upstream takes
800 ms, reach the upstream once; every client gets the same bytes; exactly
one answer says `stored`, all the others `collapsed`.  An upstream 503 reaches
every waiter on every replica with its body and `detail=not-stored`, nothing
is stored, and the next request fetches again; an upstream timeout reaches
them all as 504 upstream_timeout."""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import cluster  # noqa: E402
import harness  # noqa: E402
from harness import CS_HIT  # noqa: E402

N = 300
N_ERR = 60
DELAY_MS = 800


class CollapseBase:
    """The scenarios; subclasses choose the broker."""

    broker_kind = None

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.origin = cls.start_class_origin()
        cls.redis = cls.start_class_redis()
        broker = cls.start_class_broker(cls.broker_kind)
        cls.replicas = cls.start_class_replicas(
            3, [cluster.replica_cache("c", cls.origin, "?delay_ms=%d" % DELAY_MS)],
            cluster.redis_store(cls.redis), broker)

    def get(self, jc, key, i=0):
        return jc.get_key("c", key, timeout=30)

    def test_storm_over_replicas_fetches_once(self):
        key = harness.unique_key("storm")
        results = cluster.round_robin(self.replicas, N, lambda jc, i: self.get(jc, key))
        body = self.assert_one_fetch(results, self.origin, "/c/%s" % key)
        self.assertIn(b'"path":"/c/%s"' % key.encode(), body)
        # Every replica answered some of them, and each now has it in the store.
        for jc in self.replicas:
            st, hdrs, again = self.get(jc, key)
            self.assertEqual((st, again), (200, body))
            self.assertEqual(hdrs.get("Cache-Status"), CS_HIT)
            self.assertEqual(jc.status_of("c", key)["status"], "EXISTS")
        self.assertEqual(self.origin.count("/c/%s" % key), 1)

    def test_upstream_error_reaches_every_waiter_and_is_not_stored(self):
        key = harness.unique_key("err")
        path = "/c/%s" % key
        self.origin.set(path, status=503, delay_ms=DELAY_MS)
        self.addCleanup(self.origin.set, path)
        results = cluster.round_robin(self.replicas, N_ERR, lambda jc, i: self.get(jc, key))
        ns = harness.cs_not_stored(503)
        by_replica = {}
        for i, (st, hdrs, body) in enumerate(results):
            by_replica.setdefault(i % 3, []).append((st, hdrs.get("Cache-Status"), body))
        for idx, answers in sorted(by_replica.items()):
            self.assertEqual({a[0] for a in answers}, {503}, "replica %d statuses" % idx)
            self.assertEqual({a[1] for a in answers}, {ns}, "replica %d Cache-Status" % idx)
        bodies = {r[2] for r in results}
        self.assertEqual(len(bodies), 1, "one answer: %r" % sorted(bodies)[:3])
        self.assertIn(b'"status":503', bodies.pop(), "the upstream's own body is passed on")
        self.assertEqual(self.origin.count(path), 1, "the failed fetch ran once")
        for jc in self.replicas:
            self.assertEqual(jc.status_of("c", key)["status"], "EMPTY", "nothing stored")

        # The lock was released at once: the next request fetches afresh.
        self.origin.set(path)
        st, hdrs, body = self.get(self.replicas[1], key)
        self.assertEqual(st, 200, body)
        self.assertEqual(hdrs.get("Cache-Status"), harness.CS_STORED)
        self.assertEqual(self.origin.count(path), 2)
        st, hdrs, again = self.get(self.replicas[2], key)
        self.assertEqual((st, again, hdrs.get("Cache-Status")), (200, body, CS_HIT))

    def test_upstream_timeout_reaches_every_waiter(self):
        # The fetch outlives upstream.timeout_ms (1500): 504 upstream_timeout
        # for the fetching request and every waiter on every replica.
        key = harness.unique_key("slow")
        path = "/c/%s" % key
        self.origin.set(path, delay_ms=2500)
        self.addCleanup(self.origin.set, path)
        results = cluster.round_robin(self.replicas, N_ERR, lambda jc, i: self.get(jc, key))
        for r in results:
            self.assert_json_error(r, 504, "upstream_timeout")
        self.assertEqual(self.origin.count(path), 1, "one fetch, whose failure all share")
        for jc in self.replicas:
            self.assertEqual(jc.status_of("c", key)["status"], "EMPTY", "nothing stored")


class CollapseNats(CollapseBase, cluster.ClusterTestCase):
    broker_kind = "nats"


class CollapseRedisPubSub(CollapseBase, cluster.ClusterTestCase):
    broker_kind = "redis"


if __name__ == "__main__":
    cluster.main()
