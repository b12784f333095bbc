"""Errors travel (SPEC 2 "Responses", 3.3) on one jcached process.

A fetch that fails — an upstream status outside cache_statuses, an upstream
timeout, a dropped connection, a refused connection, a body over the cap —
reaches the fetching request and every waiter of that fetch with the same
answer, stores nothing, and releases the lock at once, so the next request
fetches afresh.  jcached's own errors are JSON without Cache-Status."""

import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from harness import cs_not_stored, cs_stored  # noqa: E402

WAITERS = 12


class Errors(harness.E2ETestCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.origin = cls.start_class_origin()
        cls.jc = cls.start_class_jcached(harness.jcached_config([
            harness.cache_config("c", cls.origin),
            harness.cache_config("slow", cls.origin, "?delay_ms=1500",
                                 upstream={"timeout_ms": 300}),
            harness.cache_config("small", cls.origin, upstream={"max_body_bytes": 1000}),
            {"name": "dead",
             "upstream": {"url": "http://127.0.0.1:%d/dead/{key}" % harness.free_port(),
                          "timeout_ms": 2000}},
        ]))

    def fan_out(self, cache, key, n=WAITERS):
        return harness.parallel(n, lambda i: self.jc.get_key(cache, key, timeout=20))

    def assert_empty(self, cache, key):
        doc = self.jc.status_of(cache, key)
        self.assertEqual(doc.get("status"), "EMPTY", doc)

    def test_upstream_503_reaches_every_waiter_and_is_not_stored(self):
        key = harness.unique_key("e503")
        path = "/c/%s" % key
        self.origin.set(path, status=503, delay_ms=400)
        results = self.fan_out("c", key)
        bodies = {r[2] for r in results}
        self.assertEqual([r[0] for r in results], [503] * WAITERS)
        self.assertEqual(len(bodies), 1, "one answer for every waiter")
        body = bodies.pop()
        self.assertIn(b'"status":503', body, "the origin's own body is passed on")
        self.assertIn(b'"n":1', body)
        for _, hdrs, _ in results:
            self.assertEqual(hdrs.get("Cache-Status"), cs_not_stored(503))
        self.assertEqual(self.origin.count(path), 1)
        self.assert_empty("c", key)

        # The lock was released at once: the next GET fetches again, now.
        self.origin.set(path, status=503)
        t0 = time.monotonic()
        st, hdrs, body = self.jc.get_key("c", key)
        self.assertLess(time.monotonic() - t0, 1.0)
        self.assertEqual(st, 503)
        self.assertIn(b'"n":2', body)
        self.assertEqual(self.origin.count(path), 2)
        self.origin.set(path)
        st, hdrs, body = self.jc.get_key("c", key)
        self.assertEqual((st, hdrs.get("Cache-Status")), (200, cs_stored(200)))
        self.assertEqual(self.origin.count(path), 3)

    def test_waiters_of_every_kind_get_the_failure(self):
        key = harness.unique_key("ekind")
        path = "/c/%s" % key
        self.origin.set(path, status=503, delay_ms=500)
        fetcher = harness.in_background(self.jc.get_key, "c", key, timeout=20)
        harness.wait_until(lambda: self.origin.count(path) == 1, 3.0, what="the fetch")
        oic = harness.in_background(self.jc.get_key, "c", key,
                                    headers={"Cache-Control": "only-if-cached"}, timeout=20)
        head = harness.in_background(self.jc.request, "HEAD", self.jc.key_path("c", key))
        st, hdrs, body = fetcher.result(20)
        self.assertEqual((st, hdrs.get("Cache-Status")), (503, cs_not_stored(503)))
        st2, hdrs2, body2 = oic.result(20)
        self.assertEqual((st2, hdrs2.get("Cache-Status"), body2),
                         (503, cs_not_stored(503), body))
        st3, hdrs3, body3 = head.result(20)
        self.assertEqual((st3, hdrs3.get("Cache-Status"), body3), (503, cs_not_stored(503), b""))
        self.assertEqual(self.origin.count(path), 1)

    def test_failed_post_build_stores_nothing(self):
        key = harness.unique_key("epost")
        path = "/c/%s" % key
        self.origin.set(path, status=503, delay_ms=200)
        st, _, body = self.jc.post_key("c", key)
        self.assertEqual(st, 202, body)
        harness.wait_until(lambda: self.origin.count(path) == 1, 3.0, what="the fetch")
        harness.wait_until(lambda: self.jc.status_of("c", key).get("status") == "EMPTY", 3.0,
                           what="EMPTY after the failed build")
        self.origin.set(path)
        st, hdrs, _ = self.jc.get_key("c", key)
        self.assertEqual((st, hdrs.get("Cache-Status")), (200, cs_stored(200)))
        self.assertEqual(self.origin.count(path), 2)

    def test_500_and_429_are_not_stored(self):
        for code in (500, 429):
            key = harness.unique_key("e%d" % code)
            path = "/c/%s" % key
            self.origin.set(path, status=code)
            for n in (1, 2):
                st, hdrs, body = self.jc.get_key("c", key)
                self.assertEqual(st, code)
                self.assertEqual(hdrs.get("Cache-Status"), cs_not_stored(code))
                self.assertEqual(self.origin.count(path), n)
            self.assert_empty("c", key)

    def test_404_is_cacheable_and_stored(self):
        key = harness.unique_key("e404")
        path = "/c/%s" % key
        self.origin.set(path, status=404)
        st, hdrs, body = self.jc.get_key("c", key)
        self.assertEqual((st, hdrs.get("Cache-Status")), (404, cs_stored(404)))
        st2, hdrs2, body2 = self.jc.get_key("c", key)
        self.assertEqual((st2, hdrs2.get("Cache-Status"), body2), (404, harness.CS_HIT, body))
        self.assertEqual(self.origin.count(path), 1)
        self.assertEqual(self.jc.status_of("c", key).get("status"), "EXISTS")

    def test_upstream_timeout_reaches_every_waiter(self):
        key = harness.unique_key("etmo")
        t0 = time.monotonic()
        results = self.fan_out("slow", key)
        elapsed = time.monotonic() - t0
        for r in results:
            self.assert_json_error(r, 504, "upstream_timeout")
        self.assertLess(elapsed, 1.4, "upstream.timeout_ms 300 ends the fetch early")
        self.assertEqual(self.origin.count("/slow/%s" % key), 1)
        self.assert_empty("slow", key)
        self.assert_json_error(self.jc.get_key("slow", key), 504, "upstream_timeout")
        self.assertEqual(self.origin.count("/slow/%s" % key), 2)

    def test_dropped_connection_is_upstream_unreachable_for_every_waiter(self):
        key = harness.unique_key("edrop")
        path = "/c/%s" % key
        self.origin.set(path, drop=1, delay_ms=300)
        for r in self.fan_out("c", key):
            self.assert_json_error(r, 502, "upstream_unreachable")
        self.assertEqual(self.origin.count(path), 1)
        self.assert_empty("c", key)

    def test_refused_connection_is_upstream_unreachable(self):
        key = harness.unique_key("edead")
        for r in self.fan_out("dead", key, 4):
            self.assert_json_error(r, 502, "upstream_unreachable")
        self.assert_json_error(self.jc.get_key("dead", key), 502, "upstream_unreachable")
        self.assert_empty("dead", key)

    def test_body_over_max_body_bytes_is_too_large_for_every_waiter(self):
        key = harness.unique_key("ebig")
        path = "/small/%s" % key
        self.origin.set(path, size=5000, delay_ms=300)
        for r in self.fan_out("small", key):
            self.assert_json_error(r, 502, "upstream_too_large")
        self.assertEqual(self.origin.count(path), 1)
        self.assert_empty("small", key)

    def test_body_at_max_body_bytes_is_stored(self):
        key = harness.unique_key("eedge")
        path = "/small/%s" % key
        self.origin.set(path, size=1000)
        st, hdrs, body = self.jc.get_key("small", key)
        self.assertEqual((st, len(body)), (200, 1000))
        self.assertEqual(hdrs.get("Cache-Status"), cs_stored(200))


if __name__ == "__main__":
    harness.main()
