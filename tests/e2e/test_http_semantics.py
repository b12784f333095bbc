"""What a value response carries (SPEC 2 "Responses") on one jcached process.

Content-Type, Content-Encoding, Content-Language, ETag and Last-Modified pass
through from the upstream; its other headers (X-Origin-Fetch) do not.
If-None-Match equal to the stored ETag is 304 without a body; HEAD has the
headers of GET and no body, and on a cold key it builds like GET."""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from harness import CS_HIT, CS_STORED  # noqa: E402

PASSED = ("Content-Type", "Content-Encoding", "Content-Language", "ETag", "Last-Modified")


class HttpSemantics(harness.E2ETestCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        o = cls.origin = cls.start_class_origin()
        cls.jc = cls.start_class_jcached(harness.jcached_config([
            harness.cache_config("h", o, "?etag=1&lang=fr&gzip=1&ctype=text/plain"),
            harness.cache_config("plain", o),
        ]))

    def test_selected_headers_pass_through(self):
        key = harness.unique_key("hdr")
        direct = self.origin.request("GET", "/h/%s?etag=1&lang=fr&gzip=1&ctype=text/plain"
                                     % harness.unique_key("direct"))[1]
        for cs in (CS_STORED, CS_HIT):
            st, hdrs, body = self.jc.get_key("h", key)
            self.assertEqual((st, hdrs.get("Cache-Status")), (200, cs))
            self.assertTrue(hdrs.get("Content-Type", "").startswith("text/plain"), hdrs)
            self.assertEqual(hdrs.get("Content-Encoding"), "gzip")
            self.assertEqual(hdrs.get("Content-Language"), "fr")
            self.assertRegex(hdrs.get("ETag", ""), r'^"[0-9]+"$')
            self.assertEqual(hdrs.get("Last-Modified"), direct["Last-Modified"])
            self.assertNotIn("X-Origin-Fetch", hdrs)
            self.assertIn("Age", hdrs)
            self.assertIn(b'"n":1', body)

    def test_if_none_match_stored_etag_is_304(self):
        key = harness.unique_key("inm")
        st, hdrs, body = self.jc.get_key("h", key)
        self.assertEqual(st, 200)
        etag = hdrs["ETag"]
        st, hdrs304, body304 = self.jc.get_key("h", key, headers={"If-None-Match": etag})
        self.assertEqual((st, body304), (304, b""))
        self.assertEqual(hdrs304.get("ETag"), etag, "a 304 repeats the ETag (RFC 9110 15.4.5)")
        st, _, again = self.jc.get_key("h", key, headers={"If-None-Match": '"nope"'})
        self.assertEqual((st, again), (200, body))
        st, _, _ = self.jc.get_key("h", key, headers={"If-None-Match": '"nope", ' + etag})
        self.assertEqual(st, 304, "If-None-Match is a list (RFC 9110 13.1.2)")
        self.assertEqual(self.origin.count("/h/%s" % key), 1)

    def test_no_upstream_etag_means_no_304(self):
        key = harness.unique_key("noetag")
        st, hdrs, body = self.jc.get_key("plain", key)
        self.assertEqual(st, 200)
        self.assertNotIn("ETag", hdrs)
        st, _, again = self.jc.get_key("plain", key, headers={"If-None-Match": '"1"'})
        self.assertEqual((st, again), (200, body))

    def test_head_has_get_headers_and_no_body(self):
        key = harness.unique_key("head")
        st, ghdrs, gbody = self.jc.get_key("h", key)
        self.assertEqual(st, 200)
        st, hhdrs, hbody = self.jc.request("HEAD", self.jc.key_path("h", key))
        self.assertEqual((st, hbody), (200, b""))
        for name in PASSED:
            self.assertEqual(hhdrs.get(name), ghdrs.get(name), name)
        self.assertEqual(hhdrs.get("Cache-Status"), CS_HIT)
        self.assertIn("Age", hhdrs)
        if "Content-Length" in hhdrs:
            self.assertEqual(int(hhdrs["Content-Length"]), len(gbody),
                             "HEAD's Content-Length is the GET body's (RFC 9110 8.6)")

    def test_head_on_cold_key_builds(self):
        key = harness.unique_key("headcold")
        st, hdrs, body = self.jc.request("HEAD", self.jc.key_path("plain", key))
        self.assertEqual((st, body, hdrs.get("Cache-Status")), (200, b"", CS_STORED))
        st, hdrs, body = self.jc.get_key("plain", key)
        self.assertEqual((st, hdrs.get("Cache-Status")), (200, CS_HIT))
        self.assertIn(b'"n":1', body)
        self.assertEqual(self.origin.count("/plain/%s" % key), 1)


if __name__ == "__main__":
    harness.main()
