"""Routes and service endpoints (SPEC 2) on one jcached process.

Unknown cache -> 404 unknown_cache; unknown route -> 404 not_found; a method a
route does not take -> 405 with Allow; GET /caches lists the caches without
secrets; /healthz and /readyz are 200 on the memory store and local broker;
/metrics is Prometheus text whose request and fetch counters move."""

import os
import re
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from harness import json_body  # noqa: E402

HDR_SECRET = "hdr-secret-5f1d"
ADMIN_SECRET = "admin-secret-9c2e"
AUTH = {"Authorization": "Bearer " + ADMIN_SECRET}


def counter_sums(text):
    """Returns {metric family: summed value} for the counters in a Prometheus
    text exposition (TYPE lines name the counters)."""
    counters = set()
    for m in re.finditer(r"^# TYPE (\S+) counter\s*$", text, re.M):
        counters.add(m.group(1))
    sums = {}
    for series, value in harness.parse_prometheus(text).items():
        name = series.split("{", 1)[0]
        family = name[:-len("_total")] if name.endswith("_total") else name
        if name in counters or family in counters:
            sums[name] = sums.get(name, 0.0) + value
    return sums


class HttpApi(harness.E2ETestCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        o = cls.origin = cls.start_class_origin()
        cls.jc = cls.start_class_jcached(harness.jcached_config([
            harness.cache_config("c", o),
            harness.cache_config("weather", o, upstream={
                "headers": {"Authorization": "Bearer " + HDR_SECRET}}),
        ], admin_token=ADMIN_SECRET))

    def test_unknown_cache(self):
        before = self.origin.total()
        for method, suffix in (("GET", ""), ("HEAD", ""), ("POST", ""), ("DELETE", ""),
                               ("GET", "/status")):
            resp = self.jc.request(method, "/caches/nope/k" + suffix, AUTH)
            if method == "HEAD":
                self.assertEqual((resp[0], resp[2]), (404, b""))
            else:
                self.assert_json_error(resp, 404, "unknown_cache")
        self.assertEqual(self.origin.total(), before)

    def test_unknown_route(self):
        for path in ("/", "/nope", "/cachesx/c/k", "/healthz/x", "/caches/c/k/status/x"):
            resp = self.jc.request("GET", path)
            if path == "/caches/c/k/status/x" and resp[0] == 400:
                continue  # a malformed key path; both answers fit SPEC
            self.assert_json_error(resp, 404, "not_found")

    def test_method_not_allowed_names_allowed_methods(self):
        before = self.origin.total()
        for method in ("PUT", "PATCH"):
            resp = self.jc.request(method, "/caches/c/k", AUTH, body=b"x")
            self.assert_json_error(resp, 405, "method_not_allowed")
            allow = {m.strip() for m in resp[1].get("Allow", "").split(",")}
            self.assertTrue({"GET", "HEAD", "POST", "DELETE"} <= allow, resp[1])
            self.assertNotIn(method, allow)
        self.assertEqual(self.origin.total(), before)

    def test_method_not_allowed_on_service_routes(self):
        for method, path in (("POST", "/healthz"), ("PUT", "/readyz"), ("DELETE", "/caches"),
                             ("POST", "/metrics"), ("POST", "/caches/c/k/status"),
                             ("DELETE", "/caches/c/k/status")):
            resp = self.jc.request(method, path, AUTH)
            self.assert_json_error(resp, 405, "method_not_allowed")
            allow = {m.strip() for m in resp[1].get("Allow", "").split(",")}
            self.assertIn("GET", allow, path)
            self.assertNotIn(method, allow, path)

    def test_caches_listing_has_no_secrets(self):
        st, hdrs, body = self.jc.request("GET", "/caches")
        self.assertEqual(st, 200)
        self.assertTrue(hdrs.get("Content-Type", "").startswith("application/json"))
        doc = json_body(body)
        text = body.decode()
        self.assertIn('"c"', text)
        self.assertIn('"weather"', text)
        self.assertIn("/weather/{key}", text, "settings include the upstream URL")
        self.assertNotIn(HDR_SECRET, text)
        self.assertNotIn(ADMIN_SECRET, text)
        self.assertTrue(doc)

    def test_health_and_readiness(self):
        for path in ("/healthz", "/readyz"):
            st, _, _ = self.jc.request("GET", path)
            self.assertEqual(st, 200, path)

    def test_metrics_counters_move(self):
        st, hdrs, body = self.jc.request("GET", "/metrics")
        self.assertEqual(st, 200)
        self.assertTrue(hdrs.get("Content-Type", "").startswith("text/plain"), hdrs)
        text = body.decode()
        self.assertRegex(text, r"(?m)^# TYPE \S+ (counter|gauge|histogram|summary)")
        before = counter_sums(text)
        req = [n for n in before if "request" in n]
        fetch = [n for n in before if "fetch" in n or "upstream" in n]
        self.assertTrue(req, "a request counter: %s" % sorted(before))
        self.assertTrue(fetch, "a fetch counter: %s" % sorted(before))

        key = harness.unique_key("m")
        for _ in range(3):
            self.assertEqual(self.jc.get_key("c", key)[0], 200)
        after = counter_sums(self.jc.request("GET", "/metrics")[2].decode())
        self.assertGreaterEqual(sum(after.get(n, 0) for n in req) - sum(before[n] for n in req),
                                3, "request counters moved")
        self.assertGreaterEqual(
            sum(after.get(n, 0) for n in fetch) - sum(before[n] for n in fetch), 1,
            "fetch counters moved")
        for name, value in after.items():
            self.assertGreaterEqual(value, before.get(name, 0), "counter %s went down" % name)


if __name__ == "__main__":
    harness.main()
