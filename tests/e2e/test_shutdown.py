"""Graceful shutdown (SPEC 4, last paragraph) of one jcached process.

On SIGTERM or SIGINT jcached stops accepting, lets running fetches finish
(their requests, fetcher and waiters, still get the value), stores them, and
exits 0.  A new request during the drain is not served a fresh fetch."""

import http.client
import os
import signal
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from harness import CS_COLLAPSED, CS_STORED  # noqa: E402


class Shutdown(harness.E2ETestCase):
    def start(self):
        self.origin = self.start_origin()
        return self.start_jcached(harness.jcached_config([
            harness.cache_config("c", self.origin, "?delay_ms=1000"),
            harness.cache_config("now", self.origin),
        ]))

    def test_sigterm_lets_in_flight_fetch_finish_then_exits_0(self):
        jc = self.start()
        key = harness.unique_key("drain")
        reqs = [harness.in_background(jc.get_key, "c", key, timeout=20) for _ in range(3)]
        harness.wait_until(lambda: self.origin.count("/c/%s" % key) == 1, 3.0,
                           what="the fetch to start")
        time.sleep(0.1)
        os.kill(jc.pid, signal.SIGTERM)
        time.sleep(0.15)

        late_key = harness.unique_key("late")
        try:
            st, _, _ = jc.get_key("now", late_key, timeout=5)
            self.assertNotEqual(st, 200, "a request after SIGTERM must not start a fetch")
        except (OSError, http.client.HTTPException):
            pass  # refused or closed: no longer accepting

        results = [r.result(20) for r in reqs]
        self.assertEqual([r[0] for r in results], [200, 200, 200])
        self.assertEqual(len({r[2] for r in results}), 1)
        self.assertEqual(sorted(r[1].get("Cache-Status") for r in results),
                         sorted([CS_STORED, CS_COLLAPSED, CS_COLLAPSED]))
        self.assertEqual(jc.wait(10), 0, jc.stderr_text()[-2000:])
        self.assertEqual(self.origin.count("/c/%s" % key), 1)
        self.assertEqual(self.origin.count("/now/%s" % late_key), 0)

    def test_idle_sigterm_and_sigint_exit_0_quickly(self):
        for sig in (signal.SIGTERM, signal.SIGINT):
            jc = self.start()
            self.assertEqual(jc.get_key("now", "x")[0], 200)
            t0 = time.monotonic()
            code = jc.stop(sig, timeout=10)
            self.assertEqual(code, 0, "%s: %s" % (sig.name, jc.stderr_text()[-2000:]))
            self.assertLess(time.monotonic() - t0, 3.0, sig.name)


if __name__ == "__main__":
    harness.main()
