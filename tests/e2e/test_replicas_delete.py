"""DELETE drops the value from every replica's L1 (SPEC 2 DELETE, 3.7).

Three replicas with L1 on share a redis-server store; the broker is NATS in
one class and Redis pub/sub in the other.  Once every replica serves the key
from L1, a DELETE on one of them returns 204, and after the invalidation
event has had a moment to travel no replica answers from L1 any more: the
next GET is a miss that fetches again, and the ones after it are store hits
of the new value."""

import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import cluster  # noqa: E402
import harness  # noqa: E402
from harness import CS_HIT, CS_STORED  # noqa: E402

# How long an invalidation event may take between replicas on loopback.
EVENT_SLACK_S = 0.5


class DeleteBase:
    broker_kind = None

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.origin = cls.start_class_origin()
        cls.redis = cls.start_class_redis()
        broker = cls.start_class_broker(cls.broker_kind)
        cls.replicas = cls.start_class_replicas(
            3, [cluster.replica_cache("c", cls.origin, "?delay_ms=50", l1={"enabled": True})],
            cluster.redis_store(cls.redis), broker)

    def test_delete_on_one_replica_drops_l1_everywhere(self):
        a, b, c = self.replicas
        key = harness.unique_key("del")
        path = "/c/%s" % key
        st, hdrs, old = a.get_key("c", key)
        self.assertEqual((st, hdrs.get("Cache-Status")), (200, CS_STORED))
        for jc in self.replicas:
            self.until_l1(jc, "c", key, old)
        self.assertEqual(self.origin.count(path), 1)

        st, _, body = a.delete_key("c", key)
        self.assertEqual(st, 204, body)
        for jc in self.replicas:
            self.assertEqual(jc.status_of("c", key)["status"], "EMPTY",
                             "the store no longer has the key once DELETE returned")
        time.sleep(EVENT_SLACK_S)

        st, hdrs, new = b.get_key("c", key)
        self.assertEqual(st, 200)
        self.assertEqual(hdrs.get("Cache-Status"), CS_STORED,
                         "B's next GET must be a miss that fetches again")
        self.assertNotEqual(new, old)
        self.assertIn(b'"n":2', new)
        for jc in (c, a):
            st, hdrs, got = jc.get_key("c", key)
            self.assertEqual(st, 200)
            self.assertEqual(hdrs.get("Cache-Status"), CS_HIT,
                             "replica on port %d: expected a store hit of the refetched "
                             "value, not its dropped L1 copy" % jc.port)
            self.assertEqual(got, new)
        self.assertEqual(self.origin.count(path), 2)


class DeleteNats(DeleteBase, cluster.ClusterTestCase):
    broker_kind = "nats"


class DeleteRedisPubSub(DeleteBase, cluster.ClusterTestCase):
    broker_kind = "redis"


if __name__ == "__main__":
    cluster.main()
