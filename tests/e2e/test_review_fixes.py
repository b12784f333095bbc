"""Behaviours fixed after review, end to end on one jcached process.

- A key that is not valid UTF-8 still gives valid JSON in /status and POST
  answers: each such byte is written as the code point of the same value.
- An admin call without the token is 401 before its parameters are judged.
- A second jcached cannot start on the port of a running one (no
  SO_REUSEPORT), so two memory stores never split one address's traffic."""

import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402

TOKEN = "tok-review"
AUTH = {"Authorization": "Bearer " + TOKEN}


class ReviewFixes(harness.E2ETestCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.origin = cls.start_class_origin()
        cls.jc = cls.start_class_jcached(harness.jcached_config([
            harness.cache_config("c", cls.origin, "?delay_ms=50"),
        ], admin_token=TOKEN))

    def test_non_utf8_key_gives_valid_json(self):
        st, hdrs, body = self.jc.request("GET", "/caches/c/%FF%FEok%C3%A9/status", headers=AUTH)
        self.assertEqual(st, 200)
        doc = json.loads(body.decode("utf-8"))
        self.assertEqual(doc["key"], "\u00ff\u00feok\u00e9")
        self.assertEqual(doc["status"], "EMPTY")
        st, hdrs, body = self.jc.request("POST", "/caches/c/%80x", headers=AUTH)
        self.assertIn(st, (200, 202))
        self.assertEqual(json.loads(body.decode("utf-8"))["key"], "\u0080x")

    def test_unauthorized_before_bad_parameters(self):
        st, hdrs, body = self.jc.request("POST", "/caches/c/k?timeout_ms=abc")
        self.assert_json_error((st, hdrs, body), 401, "unauthorized")
        st, hdrs, body = self.jc.request("DELETE", "/caches/c/k?timeout_ms=-1")
        self.assert_json_error((st, hdrs, body), 401, "unauthorized")

    def test_second_process_cannot_share_the_port(self):
        cfg = dict(self.jc.config)
        second = harness.Jcached(cfg, port=self.jc.port, wait_ready=False)
        try:
            self.assertNotEqual(second.wait(10.0), 0)
        finally:
            second.stop()
        st, _, _ = self.jc.request("GET", "/healthz")
        self.assertEqual(st, 200)


if __name__ == "__main__":
    harness.main()
