"""Cache-Control: only-if-cached is "get" (SPEC 2): it answers the stored
value, or waits for a build already in flight, and never fetches upstream; on
an EMPTY key it is 504 not_cached (RFC 9111 5.2.1.7)."""

import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from harness import CS_HIT, CS_STORED  # noqa: E402

OIC = {"Cache-Control": "only-if-cached"}


class OnlyIfCached(harness.E2ETestCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.origin = cls.start_class_origin()
        cls.jc = cls.start_class_jcached(harness.jcached_config([
            harness.cache_config("c", cls.origin, "?delay_ms=600"),
        ]))

    def count(self, key):
        return self.origin.count("/c/%s" % key)

    def test_empty_key_is_not_cached_and_not_fetched(self):
        key = harness.unique_key("oic")
        self.assert_json_error(self.jc.get_key("c", key, headers=OIC), 504, "not_cached")
        st, hdrs, body = self.jc.request("HEAD", self.jc.key_path("c", key), OIC)
        self.assertEqual((st, body), (504, b""))
        self.assertNotIn("Cache-Status", hdrs)
        time.sleep(0.1)
        self.assertEqual(self.count(key), 0)
        self.assertEqual(self.jc.status_of("c", key).get("status"), "EMPTY")

    def test_pending_key_waits_for_the_build(self):
        key = harness.unique_key("oicp")
        fetcher = harness.in_background(self.jc.get_key, "c", key, timeout=20)
        harness.wait_until(lambda: self.jc.status_of("c", key).get("status") == "PENDING",
                           3.0, what="PENDING")
        st, hdrs, body = self.jc.get_key("c", key, headers=OIC, timeout=20)
        fst, fhdrs, fbody = fetcher.result(20)
        self.assertEqual((fst, fhdrs.get("Cache-Status")), (200, CS_STORED))
        self.assertEqual((st, body), (200, fbody))
        self.assertEqual(self.count(key), 1)

    def test_existing_key_is_served(self):
        key = harness.unique_key("oice")
        st, _, body = self.jc.get_key("c", key)
        self.assertEqual(st, 200)
        st2, hdrs2, body2 = self.jc.get_key("c", key, headers=OIC)
        self.assertEqual((st2, body2, hdrs2.get("Cache-Status")), (200, body, CS_HIT))
        self.assertEqual(self.count(key), 1)

    def test_only_if_cached_among_other_directives(self):
        key = harness.unique_key("oicl")
        resp = self.jc.get_key("c", key, headers={"Cache-Control": "no-transform, only-if-cached"})
        self.assert_json_error(resp, 504, "not_cached")
        self.assertEqual(self.count(key), 0)


if __name__ == "__main__":
    harness.main()
