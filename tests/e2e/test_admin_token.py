"""The admin token (SPEC 2 "Admin token") on one jcached process.

With admin_token set, POST, DELETE and /status need exactly
"Authorization: Bearer <token>"; anything else is 401 unauthorized with
WWW-Authenticate: Bearer, and has no effect.  Reads of values never need it."""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from harness import json_body  # noqa: E402

TOKEN = "tok-3a7f9e"
GOOD = {"Authorization": "Bearer " + TOKEN}
BAD = [
    None,
    {"Authorization": "Bearer nope"},
    {"Authorization": "Bearer " + TOKEN[:-1]},
    {"Authorization": "Bearer " + TOKEN + "x"},
    {"Authorization": TOKEN},
    {"Authorization": "Basic " + TOKEN},
    {"Authorization": "Bearer"},
]


class AdminToken(harness.E2ETestCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.origin = cls.start_class_origin()
        cls.jc = cls.start_class_jcached(harness.jcached_config([
            harness.cache_config("c", cls.origin, "?delay_ms=100"),
        ], admin_token=TOKEN))

    def assert_unauthorized(self, resp):
        self.assert_json_error(resp, 401, "unauthorized")
        self.assertRegex(resp[1].get("WWW-Authenticate", ""), r"^Bearer\b")

    def test_admin_calls_need_the_token(self):
        key = harness.unique_key("adm")
        path = self.jc.key_path("c", key)
        for hdrs in BAD:
            self.assert_unauthorized(self.jc.request("POST", path, hdrs))
            self.assert_unauthorized(self.jc.request("GET", path + "/status", hdrs))
            self.assert_unauthorized(self.jc.request("DELETE", path, hdrs))
        self.assertEqual(self.origin.count("/c/%s" % key), 0, "a refused POST builds nothing")

        st, _, body = self.jc.request("POST", path, GOOD)
        self.assertEqual(st, 202, body)
        harness.wait_until(lambda: self.jc.status_of("c", key, GOOD).get("status") == "EXISTS",
                           3.0, what="EXISTS")

        for hdrs in BAD:
            self.assert_unauthorized(self.jc.request("DELETE", path, hdrs))
        self.assertEqual(self.jc.status_of("c", key, GOOD).get("status"), "EXISTS",
                         "a refused DELETE deletes nothing")
        self.assertEqual(self.jc.request("DELETE", path, GOOD)[0], 204)
        self.assertEqual(self.jc.status_of("c", key, GOOD).get("status"), "EMPTY")

    def test_reads_of_values_never_need_the_token(self):
        key = harness.unique_key("read")
        path = self.jc.key_path("c", key)
        for hdrs in BAD:
            st, _, body = self.jc.request("GET", path, hdrs)
            self.assertEqual(st, 200, hdrs)
            self.assertIn(b'"path":"/c/%s"' % key.encode(), body)
            self.assertEqual(self.jc.request("HEAD", path, hdrs)[0], 200, hdrs)
        only = dict(BAD[1], **{"Cache-Control": "only-if-cached"})
        self.assertEqual(self.jc.request("GET", path, only)[0], 200)
        self.assertEqual(self.origin.count("/c/%s" % key), 1)

    def test_token_is_never_echoed(self):
        st, _, body = self.jc.request("GET", "/caches")
        self.assertEqual(st, 200)
        self.assertNotIn(TOKEN, body.decode())
        st, _, body = self.jc.request("POST", self.jc.key_path("c", "x"), {"Authorization":
                                                                            "Bearer wrong"})
        self.assertEqual(st, 401)
        self.assertNotIn(TOKEN, json_body(body).get("message", ""))


if __name__ == "__main__":
    harness.main()
