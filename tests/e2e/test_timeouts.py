"""Client wait timeouts (SPEC 2 "Per request", 3.9) on one jcached process.

timeout_ms (or Prefer: wait=N) bounds how long one client waits: past it the
client gets 504 wait_timeout while the fetch goes on and its value is stored.
The default is the cache's wait_timeout_ms, the ceiling max_wait_timeout_ms;
a value that is not a non-negative integer is 400.  A client that hangs up
never cancels the fetch."""

import os
import socket
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from harness import CS_HIT, CS_STORED  # noqa: E402


class Timeouts(harness.E2ETestCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.origin = cls.start_class_origin()
        o = cls.origin
        cls.jc = cls.start_class_jcached(harness.jcached_config([
            harness.cache_config("c", o),
            harness.cache_config("slow", o, "?delay_ms=1000"),
            harness.cache_config("slower", o, "?delay_ms=2000"),
            harness.cache_config("fast", o, "?delay_ms=400"),
            harness.cache_config("capped", o, "?delay_ms=1500", wait_timeout_ms=200,
                                 max_wait_timeout_ms=300),
            harness.cache_config("short", o, "?delay_ms=1500", wait_timeout_ms=300),
        ]))

    def timed_get(self, cache, key, query="", headers=None):
        t0 = time.monotonic()
        resp = self.jc.get_key(cache, key, headers=headers, query=query, timeout=20)
        return resp, time.monotonic() - t0

    def wait_exists(self, cache, key, timeout=5.0):
        harness.wait_until(lambda: self.jc.status_of(cache, key).get("status") == "EXISTS",
                           timeout, interval=0.05, what="%s/%s EXISTS" % (cache, key))

    def assert_hit_once(self, cache, key):
        st, hdrs, _ = self.jc.get_key(cache, key)
        self.assertEqual((st, hdrs.get("Cache-Status")), (200, CS_HIT))
        self.assertEqual(self.origin.count("/%s/%s" % (cache, key)), 1)

    def test_timeout_ms_gives_wait_timeout_and_fetch_goes_on(self):
        key = harness.unique_key("tmo")
        resp, elapsed = self.timed_get("slow", key, "?timeout_ms=100")
        self.assert_json_error(resp, 504, "wait_timeout")
        self.assertLess(elapsed, 0.8, "answered after about 100 ms, not after the fetch")
        self.wait_exists("slow", key)
        self.assert_hit_once("slow", key)

    def test_waiter_times_out_while_fetcher_gets_value(self):
        key = harness.unique_key("tmow")
        fetcher = harness.in_background(self.jc.get_key, "slow", key, timeout=20)
        time.sleep(0.2)
        resp, elapsed = self.timed_get("slow", key, "?timeout_ms=100")
        self.assert_json_error(resp, 504, "wait_timeout")
        self.assertLess(elapsed, 0.7)
        st, hdrs, _ = fetcher.result(20)
        self.assertEqual((st, hdrs.get("Cache-Status")), (200, CS_STORED))
        self.assert_hit_once("slow", key)

    def test_prefer_wait_is_seconds(self):
        key = harness.unique_key("prefer")
        resp, elapsed = self.timed_get("slower", key, headers={"Prefer": "wait=1"})
        self.assert_json_error(resp, 504, "wait_timeout")
        self.assertGreater(elapsed, 0.8, "Prefer: wait=1 waits about 1000 ms")
        self.assertLess(elapsed, 1.8, "Prefer: wait=1 waits about 1000 ms")

        key = harness.unique_key("prefer")
        (st, hdrs, _), _ = self.timed_get("fast", key, headers={"Prefer": "wait=1"})
        self.assertEqual((st, hdrs.get("Cache-Status")), (200, CS_STORED))

    def test_timeout_ms_wins_over_prefer_wait(self):
        key = harness.unique_key("both")
        resp, elapsed = self.timed_get("slower", key, "?timeout_ms=100",
                                       headers={"Prefer": "wait=5"})
        self.assert_json_error(resp, 504, "wait_timeout")
        self.assertLess(elapsed, 0.8)

    def test_timeout_ms_is_capped_by_max_wait_timeout_ms(self):
        key = harness.unique_key("cap")
        resp, elapsed = self.timed_get("capped", key, "?timeout_ms=100000")
        self.assert_json_error(resp, 504, "wait_timeout")
        self.assertGreater(elapsed, 0.25, "timeout_ms, capped at 300, not the default 200")
        self.assertLess(elapsed, 1.2, "capped at max_wait_timeout_ms 300")
        self.wait_exists("capped", key)

    def test_default_wait_is_wait_timeout_ms(self):
        key = harness.unique_key("dflt")
        resp, elapsed = self.timed_get("short", key)
        self.assert_json_error(resp, 504, "wait_timeout")
        self.assertLess(elapsed, 1.2, "wait_timeout_ms 300")
        self.wait_exists("short", key)
        self.assert_hit_once("short", key)

    def test_bad_timeout_ms_is_400_and_fetches_nothing(self):
        key = harness.unique_key("bad")
        for value in ("abc", "-1", "1.5", "", "10abc", "0x10", "1e3"):
            resp = self.jc.get_key("c", key, query="?timeout_ms=" + value)
            self.assert_json_error(resp, 400, "bad_request")
        st, _, body = self.jc.request("HEAD", self.jc.key_path("c", key, "?timeout_ms=abc"))
        self.assertEqual((st, body), (400, b""))
        self.assertEqual(self.origin.count("/c/%s" % key), 0)
        self.assertEqual(self.jc.status_of("c", key).get("status"), "EMPTY")

    def test_huge_timeout_ms_is_capped_not_rejected(self):
        key = harness.unique_key("huge")
        (st, hdrs, _), _ = self.timed_get("fast", key, "?timeout_ms=99999999999999999999999")
        self.assertEqual((st, hdrs.get("Cache-Status")), (200, CS_STORED))

    def test_zero_timeout_serves_a_stored_value_and_times_out_on_a_cold_key(self):
        key = harness.unique_key("zero")
        resp, elapsed = self.timed_get("fast", key, "?timeout_ms=0")
        self.assert_json_error(resp, 504, "wait_timeout")
        self.assertLess(elapsed, 0.3)
        self.wait_exists("fast", key)
        for query, headers in (("?timeout_ms=0", None), ("", {"Prefer": "wait=0"})):
            st, hdrs, _ = self.jc.get_key("fast", key, query=query, headers=headers)
            self.assertEqual((st, hdrs.get("Cache-Status")), (200, CS_HIT),
                             "a stored value needs no wait (%s %s)" % (query, headers))
        self.assertEqual(self.origin.count("/fast/%s" % key), 1)

    def test_disconnecting_client_does_not_cancel_fetch(self):
        key = harness.unique_key("gone")
        with socket.create_connection(("127.0.0.1", self.jc.port), timeout=5) as s:
            s.sendall(("GET %s HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"
                       % self.jc.key_path("slow", key)).encode())
            time.sleep(0.2)
        self.wait_exists("slow", key)
        self.assert_hit_once("slow", key)


if __name__ == "__main__":
    harness.main()
