"""Keys (SPEC 2 "Key", "Upstream URL") on one jcached process.

A key is exactly one path segment, percent-decoded, 1 to 1024 bytes, without
NUL or control bytes, not "." or "..".  It reaches the upstream percent-encoded
again (everything outside RFC 3986 unreserved, "/" included), so no key can
reach another upstream path.  The client's query string is neither part of the
key nor forwarded.

Two path segments after the cache name (/caches/c/a/b) are answered as a
malformed path, 400 bad_request: SPEC's error table lists "malformed path"
under 400 and the key must be exactly one segment."""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from harness import CS_HIT, CS_STORED, json_body  # noqa: E402


class Keys(harness.E2ETestCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.origin = cls.start_class_origin()
        cls.jc = cls.start_class_jcached(harness.jcached_config([
            harness.cache_config("c", cls.origin),
        ]))

    def get(self, raw_path, **kw):
        return self.jc.request("GET", raw_path, **kw)

    def assert_bad(self, raw_path):
        before = self.origin.total()
        self.assert_json_error(self.get(raw_path), 400, "bad_request")
        self.assertEqual(self.origin.total(), before, "%s must not fetch" % raw_path)

    def test_encoded_slash_is_part_of_the_key(self):
        st, hdrs, body = self.get("/caches/c/a%2Fb")
        self.assertEqual((st, hdrs.get("Cache-Status")), (200, CS_STORED))
        self.assertIn(b'"path":"/c/a%2Fb"', body)
        self.assertEqual(self.origin.count("/c/a%2Fb"), 1)
        st, _, body = self.get("/caches/c/a%2Fb/status")
        self.assertEqual(st, 200)
        self.assertEqual(json_body(body).get("key"), "a/b")
        self.assertEqual(json_body(body).get("status"), "EXISTS")

    def test_dot_dot_inside_a_key_cannot_escape(self):
        for raw, upstream in (("..%2F..%2F_stats", "/c/..%2F..%2F_stats"),
                              ("%2E%2E%2F%2E%2E%2F_reset", "/c/..%2F..%2F_reset"),
                              ("..%2Fx", "/c/..%2Fx")):
            before = self.origin.total()
            st, hdrs, body = self.get("/caches/c/" + raw)
            self.assertEqual(st, 200, raw)
            self.assertIn(b'"path":"%s"' % upstream.encode(), body)
            self.assertEqual(self.origin.count(upstream), 1, raw)
            self.assertEqual(self.origin.total(), before + 1, raw)

    def test_upstream_gets_every_non_unreserved_byte_encoded(self):
        cases = (("a+b", "/c/a%2Bb"),
                 ("a%20b~c.d_e-f", "/c/a%20b~c.d_e-f"),
                 ("%C3%A9%28x%29", "/c/%C3%A9%28x%29"),
                 ("q%3Fr%23s%26t%3Du", "/c/q%3Fr%23s%26t%3Du"),
                 ("%2e%2e%2e", "/c/..."))
        for raw, upstream in cases:
            st, _, body = self.get("/caches/c/" + raw)
            self.assertEqual(st, 200, raw)
            self.assertEqual(self.origin.count(upstream), 1, "%s -> %s" % (raw, upstream))

    def test_one_key_however_it_is_encoded(self):
        st, hdrs, body = self.get("/caches/c/ab")
        self.assertEqual((st, hdrs.get("Cache-Status")), (200, CS_STORED))
        st, hdrs, again = self.get("/caches/c/%61%62")
        self.assertEqual((st, hdrs.get("Cache-Status"), again), (200, CS_HIT, body))
        self.assertEqual(self.origin.count("/c/ab"), 1)

    def test_key_length_limits(self):
        st, _, _ = self.get("/caches/c/" + "k" * 1024)
        self.assertEqual(st, 200)
        self.assertEqual(self.origin.count("/c/" + "k" * 1024), 1)
        st, _, _ = self.get("/caches/c/" + "%6C" * 1024)
        self.assertEqual(st, 200, "1024 bytes after decoding")
        self.assert_bad("/caches/c/" + "k" * 1025)
        self.assert_bad("/caches/c/" + "%6C" * 1025)
        self.assert_bad("/caches/c/")

    def test_control_bytes_are_rejected(self):
        for raw in ("%00", "a%00b", "%01", "a%0Ab", "%1F", "%7F", "%0d%0a"):
            self.assert_bad("/caches/c/" + raw)

    def test_dot_and_dot_dot_are_rejected(self):
        for raw in (".", "..", "%2E", "%2E%2E", "%2e", ".%2e"):
            self.assert_bad("/caches/c/" + raw)

    def test_malformed_escapes_are_rejected(self):
        for raw in ("%zz", "%4", "%", "a%g1", "%%41"):
            self.assert_bad("/caches/c/" + raw)

    def test_two_segments_are_a_malformed_path(self):
        self.assert_bad("/caches/c/a/b")

    def test_a_key_named_status(self):
        st, hdrs, body = self.get("/caches/c/status")
        self.assertEqual((st, hdrs.get("Cache-Status")), (200, CS_STORED))
        self.assertIn(b'"path":"/c/status"', body)
        st, _, body = self.get("/caches/c/status/status")
        self.assertEqual(st, 200)
        self.assertEqual(json_body(body).get("key"), "status")
        self.assertEqual(json_body(body).get("status"), "EXISTS")

    def test_query_is_not_key_and_not_forwarded(self):
        self.origin.set("/c/q", delay_ms=400)
        results = harness.parallel(2, lambda i: self.get("/caches/c/q?x=%d" % i))
        self.assertEqual([r[0] for r in results], [200, 200])
        self.assertEqual(results[0][2], results[1][2])
        self.assertEqual(sorted(r[1].get("Cache-Status") for r in results),
                         sorted([CS_STORED, harness.CS_COLLAPSED]))
        self.assertEqual(self.origin.count("/c/q"), 1)
        # Forwarded, these would change what the origin does.
        st, _, body = self.get("/caches/c/nq?status=503&drop=1")
        self.assertEqual(st, 200)
        self.assertIn(b'"status":200', body)


if __name__ == "__main__":
    harness.main()
