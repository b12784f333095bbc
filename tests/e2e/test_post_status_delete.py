"""The admin side of one key (SPEC 2, 3.7) on one jcached process.

POST starts a build nobody waits for (202 PENDING, or 200 EXISTS when stored);
/status walks EMPTY -> PENDING -> EXISTS (ttl_ms with an expiry, null without);
DELETE is 204 whether or not the key existed, waits for a pending build first,
and afterwards the next GET fetches again — exactly once more, even under
traffic."""

import os
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from harness import CS_HIT, CS_STORED, json_body  # noqa: E402


class PostStatusDelete(harness.E2ETestCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.origin = cls.start_class_origin()
        o = cls.origin
        cls.jc = cls.start_class_jcached(harness.jcached_config([
            harness.cache_config("c", o, "?delay_ms=600"),
            harness.cache_config("exp", o, "?delay_ms=50",
                                 expiry={"type": "absolute", "time_ms": 5000}),
            harness.cache_config("quick", o, "?delay_ms=30"),
        ]))

    def status(self, cache, key):
        return self.jc.status_of(cache, key)

    def wait_status(self, cache, key, want, timeout=4.0):
        harness.wait_until(lambda: self.status(cache, key).get("status") == want, timeout,
                           interval=0.03, what="%s/%s %s" % (cache, key, want))

    def test_post_starts_a_build_nobody_waits_for(self):
        key = harness.unique_key("post")
        t0 = time.monotonic()
        st, hdrs, body = self.jc.post_key("c", key)
        self.assertLess(time.monotonic() - t0, 0.5, "POST does not wait for the build")
        self.assertEqual(st, 202, body)
        self.assertTrue(hdrs.get("Content-Type", "").startswith("application/json"))
        self.assertEqual(json_body(body), {"cache": "c", "key": key, "status": "PENDING"})
        self.assertEqual(self.status("c", key).get("status"), "PENDING")

        st, _, body = self.jc.post_key("c", key)
        self.assertEqual(st, 202, "a build is already running: 202 again")
        self.assertEqual(json_body(body).get("status"), "PENDING")

        self.wait_status("c", key, "EXISTS")
        self.assertEqual(self.origin.count("/c/%s" % key), 1)
        st, hdrs, _ = self.jc.get_key("c", key)
        self.assertEqual((st, hdrs.get("Cache-Status")), (200, CS_HIT))

        st, _, body = self.jc.post_key("c", key)
        self.assertEqual(st, 200)
        self.assertEqual(json_body(body), {"cache": "c", "key": key, "status": "EXISTS"})
        time.sleep(0.1)
        self.assertEqual(self.origin.count("/c/%s" % key), 1)

    def test_status_lifecycle(self):
        key = harness.unique_key("life")
        self.assertEqual(self.status("c", key),
                         {"cache": "c", "key": key, "status": "EMPTY", "ttl_ms": None})
        fetcher = harness.in_background(self.jc.get_key, "c", key, timeout=20)
        self.wait_status("c", key, "PENDING")
        self.assertIsNone(self.status("c", key).get("ttl_ms"))
        self.assertEqual(fetcher.result(20)[0], 200)
        self.assertEqual(self.status("c", key),
                         {"cache": "c", "key": key, "status": "EXISTS", "ttl_ms": None})
        st, _, body = self.jc.delete_key("c", key)
        self.assertEqual((st, body), (204, b""))
        self.assertEqual(self.status("c", key).get("status"), "EMPTY")

    def test_status_ttl_ms_with_expiry(self):
        key = harness.unique_key("ttl")
        self.assertEqual(self.jc.get_key("exp", key)[0], 200)
        doc = self.status("exp", key)
        self.assertEqual(doc.get("status"), "EXISTS", doc)
        ttl = doc.get("ttl_ms")
        self.assertIsInstance(ttl, int, doc)
        self.assertTrue(3000 < ttl <= 5000, doc)

    def test_delete_of_missing_key_is_204(self):
        key = harness.unique_key("none")
        st, _, body = self.jc.delete_key("c", key)
        self.assertEqual((st, body), (204, b""))
        self.assertEqual(self.status("c", key).get("status"), "EMPTY")

    def test_delete_waits_for_pending_build_then_deletes(self):
        key = harness.unique_key("delp")
        fetcher = harness.in_background(self.jc.get_key, "c", key, timeout=20)
        self.wait_status("c", key, "PENDING")
        t0 = time.monotonic()
        st, _, _ = self.jc.delete_key("c", key, timeout=20)
        elapsed = time.monotonic() - t0
        self.assertEqual(st, 204)
        self.assertGreater(elapsed, 0.2, "DELETE waited for the build in flight")
        fst, fhdrs, _ = fetcher.result(20)
        self.assertEqual((fst, fhdrs.get("Cache-Status")), (200, CS_STORED))
        self.assertEqual(self.status("c", key).get("status"), "EMPTY")
        st, hdrs, _ = self.jc.get_key("c", key)
        self.assertEqual((st, hdrs.get("Cache-Status")), (200, CS_STORED))
        self.assertEqual(self.origin.count("/c/%s" % key), 2)

    def test_delete_lets_current_waiters_have_the_value(self):
        key = harness.unique_key("delw")
        waiters = [harness.in_background(self.jc.get_key, "c", key, timeout=20) for _ in range(5)]
        harness.wait_until(lambda: self.origin.count("/c/%s" % key) == 1, 3.0, what="the fetch")
        time.sleep(0.05)
        self.assertEqual(self.jc.delete_key("c", key, timeout=20)[0], 204)
        results = [w.result(20) for w in waiters]
        self.assertEqual([r[0] for r in results], [200] * 5)
        self.assertEqual(len({r[2] for r in results}), 1)
        self.assertEqual(self.status("c", key).get("status"), "EMPTY")

    def test_delete_during_traffic_refetches_exactly_once(self):
        key = harness.unique_key("traffic")
        stop = threading.Event()
        seen = []

        def loop(_):
            while not stop.is_set():
                st, hdrs, _ = self.jc.get_key("quick", key, timeout=10)
                seen.append((st, hdrs.get("Cache-Status")))

        workers = [harness.in_background(loop, i) for i in range(3)]
        try:
            harness.wait_until(lambda: any(s[1] == CS_HIT for s in seen), 3.0, what="hits")
            time.sleep(0.2)
            self.assertEqual(self.jc.delete_key("quick", key)[0], 204)
            time.sleep(0.6)
        finally:
            stop.set()
            for w in workers:
                w.result(15)
        self.assertTrue(all(s[0] == 200 for s in seen), set(seen))
        self.assertEqual(self.origin.count("/quick/%s" % key), 2,
                         "one fetch before the DELETE, one after")
        self.assertEqual(sum(1 for s in seen if s[1] == CS_STORED), 2)


if __name__ == "__main__":
    harness.main()
