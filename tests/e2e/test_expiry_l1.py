"""L1 and expiry (SPEC 3.7, 3.8) on one jcached process.

With L1 on, repeated GETs are served from L1 (Cache-Status detail=l1), and a
DELETE drops the key from L1 too.  Sliding expiry: every hit, L1 hits
included, extends the entry, so a key read every 300 ms outlives its 800 ms
time; idle for longer, it is fetched again.  Absolute expiry: reads do not
extend it; it is fetched again about time_ms after it was stored.  L1 never
outlives the store entry."""

import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from harness import CS_HIT, CS_HIT_L1, CS_STORED  # noqa: E402

HITS = (CS_HIT, CS_HIT_L1)
L1 = {"enabled": True}


class ExpiryL1(harness.E2ETestCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        o = cls.origin = cls.start_class_origin()
        sliding = {"type": "sliding", "time_ms": 800}
        absolute = {"type": "absolute", "time_ms": 1000}
        cls.jc = cls.start_class_jcached(harness.jcached_config([
            harness.cache_config("l1", o, l1=L1),
            harness.cache_config("slide", o, expiry=sliding),
            harness.cache_config("slide_l1", o, expiry=sliding, l1=L1),
            harness.cache_config("abs", o, expiry=absolute),
            harness.cache_config("abs_l1", o, expiry=absolute, l1=L1),
        ]))

    def cs(self, cache, key):
        st, hdrs, _ = self.jc.get_key(cache, key)
        self.assertEqual(st, 200)
        return hdrs.get("Cache-Status")

    def count(self, cache, key):
        return self.origin.count("/%s/%s" % (cache, key))

    def test_l1_hit_and_delete_drops_it(self):
        key = harness.unique_key("l1")
        self.assertEqual(self.cs("l1", key), CS_STORED)
        # Whether the fetching request fills L1 itself is not in SPEC; by the
        # second read at the latest the value comes from L1.
        self.assertIn(self.cs("l1", key), HITS)
        self.assertEqual(self.cs("l1", key), CS_HIT_L1)
        self.assertEqual(self.jc.delete_key("l1", key)[0], 204)
        self.assertEqual(self.cs("l1", key), CS_STORED, "DELETE dropped the L1 copy too")
        self.assertEqual(self.count("l1", key), 2)
        self.assertIn(self.cs("l1", key), HITS)
        self.assertEqual(self.cs("l1", key), CS_HIT_L1)

    def sliding(self, cache):
        key = harness.unique_key("slide")
        self.assertEqual(self.cs(cache, key), CS_STORED)
        t_end = time.monotonic() + 2.1
        while time.monotonic() < t_end:
            time.sleep(0.3)
            self.assertIn(self.cs(cache, key), HITS, "each read extends a sliding entry")
        self.assertEqual(self.count(cache, key), 1)
        time.sleep(1.3)
        self.assertEqual(self.cs(cache, key), CS_STORED, "idle past time_ms: expired")
        self.assertEqual(self.count(cache, key), 2)

    def test_sliding_expiry_is_extended_by_reads(self):
        self.sliding("slide")

    def test_sliding_expiry_with_l1_is_extended_by_l1_reads(self):
        self.sliding("slide_l1")

    def ttl(self, cache, key):
        doc = self.jc.status_of(cache, key)
        self.assertEqual(doc.get("status"), "EXISTS", doc)
        return doc.get("ttl_ms")

    def test_sliding_ttl_is_reset_by_hits(self):
        for cache in ("slide", "slide_l1"):
            key = harness.unique_key("ttl")
            self.assertEqual(self.cs(cache, key), CS_STORED)
            self.assertIn(self.cs(cache, key), HITS)
            time.sleep(0.45)
            before = self.ttl(cache, key)
            self.assertLessEqual(before, 450, "%s: the status call is not a hit" % cache)
            self.assertIn(self.cs(cache, key), HITS)
            after = self.ttl(cache, key)
            self.assertGreater(after, 600, "%s: a hit extends the TTL (%d -> %d)"
                               % (cache, before, after))

    def test_expired_entry_is_empty(self):
        for cache in ("abs", "abs_l1"):
            key = harness.unique_key("gone")
            self.assertEqual(self.cs(cache, key), CS_STORED)
            self.assertIn(self.cs(cache, key), HITS)
            self.assertGreater(self.ttl(cache, key), 700)
            time.sleep(1.25)
            self.assertEqual(self.jc.status_of(cache, key).get("status"), "EMPTY", cache)

    def test_age_grows_on_l1_hits(self):
        key = harness.unique_key("age")
        self.assertEqual(self.cs("l1", key), CS_STORED)
        self.assertIn(self.cs("l1", key), HITS)
        time.sleep(1.2)
        st, hdrs, _ = self.jc.get_key("l1", key)
        self.assertEqual((st, hdrs.get("Cache-Status")), (200, CS_HIT_L1))
        self.assertGreaterEqual(int(hdrs["Age"]), 1)

    def absolute(self, cache):
        key = harness.unique_key("abs")
        self.assertEqual(self.cs(cache, key), CS_STORED)
        t0 = time.monotonic()
        seen = {}
        for at in (0.3, 0.6, 0.9, 1.2, 1.5):
            time.sleep(max(0.0, t0 + at - time.monotonic()))
            seen[at] = self.cs(cache, key)
        self.assertIn(seen[0.3], HITS)
        self.assertIn(seen[0.6], HITS)
        refetched = [at for at in (0.9, 1.2) if seen[at] == CS_STORED]
        self.assertEqual(len(refetched), 1,
                         "reads do not extend an absolute entry; it expires about 1000 ms "
                         "after the store: %r" % seen)
        self.assertIn(seen[1.5], HITS)
        self.assertEqual(self.count(cache, key), 2)

    def test_absolute_expiry_is_not_extended_by_reads(self):
        self.absolute("abs")

    def test_absolute_expiry_with_l1_never_outlives_the_store(self):
        self.absolute("abs_l1")


if __name__ == "__main__":
    harness.main()
