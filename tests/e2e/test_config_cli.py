"""Configuration and command line (SPEC 4).

A bad config is exit status 2 with "jcached: config: <json path>: <problem>"
on stderr, both at startup and with --check-config; a valid one passes
--check-config with 0.  ${VAR} and ${VAR:-default} are substituted (unset
without a default is an error naming it).  --version and --help exit 0, and
JCACHED_CONFIG works instead of --config."""

import os
import re
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402

UNSET = "JC_E2E_SURELY_UNSET_VAR_7Q"


def base_config(port=9):
    return harness.jcached_config([harness.cache_config("c", port)],
                                  listen="127.0.0.1:%d" % harness.free_port())


def with_cache(**fields):
    cfg = base_config()
    cfg["caches"][0] = harness.deep_merge(cfg["caches"][0], fields)
    return cfg


# (name, config, regex the "jcached: config: ..." line must match after the prefix)
BAD = [
    ("unknown top-level key", dict(base_config(), bogus=1), r".*bogus"),
    ("unknown nested key", with_cache(upstream={"bogus": 1}), r"caches\[0\]\.upstream.*bogus"),
    ("url without {key}", with_cache(upstream={"url": "http://127.0.0.1:9/x"}),
     r"caches\[0\]\.upstream\.url: "),
    ("memory store with nats broker",
     dict(base_config(), broker={"type": "nats", "urls": ["nats://127.0.0.1:4222"]}),
     r"(broker|store)[.:]"),
    ("redis store with local broker",
     dict(base_config(), store={"type": "redis", "url": "redis://127.0.0.1:6379"}),
     r"(broker|store)[.:]"),
    ("unset variable in a header", with_cache(upstream={"headers": {"X-T": "${%s}" % UNSET}}),
     r"caches\[0\]\.upstream\.headers.*%s" % UNSET),
    ("unset variable in admin_token", dict(base_config(), admin_token="${%s}" % UNSET),
     r"admin_token.*%s" % UNSET),
    ("listen of the wrong type", dict(base_config(), listen=8080), r"listen: "),
    ("timeout of the wrong type", with_cache(wait_timeout_ms="abc"),
     r"caches\[0\]\.wait_timeout_ms: "),
    ("bad log_level", dict(base_config(), log_level="loud"), r"log_level: "),
    ("bad cache name", with_cache(name="bad name!"), r"caches\[0\]\.name: "),
    ("bad expiry type", with_cache(expiry={"type": "weird", "time_ms": 10}),
     r"caches\[0\]\.expiry\.type: "),
    ("duplicate cache name",
     dict(base_config(), caches=[harness.cache_config("c", 9), harness.cache_config("c", 9)]),
     r"caches\[1\]\.name: "),
]


class ConfigCli(harness.E2ETestCase):
    def assert_config_error(self, proc, pattern, what):
        self.assertEqual(proc.returncode, 2, "%s: exit %d, stderr %r"
                         % (what, proc.returncode, proc.stderr))
        lines = [ln for ln in proc.stderr.splitlines() if ln.startswith("jcached: config: ")]
        self.assertTrue(lines, "%s: no 'jcached: config: ' line in %r" % (what, proc.stderr))
        self.assertTrue(any(re.match(pattern, ln[len("jcached: config: "):]) for ln in lines),
                        "%s: %r does not match %r" % (what, lines, pattern))

    def run_bad(self, *args):
        try:
            return harness.run_cli(*args, timeout=4.0)
        except subprocess.TimeoutExpired:
            self.fail("jcached %s accepted a bad config and kept running" % " ".join(args))

    def test_bad_configs_exit_2_naming_the_json_path(self):
        for what, cfg, pattern in BAD:
            with self.subTest(what):
                path = harness.write_config(cfg)
                self.assert_config_error(self.run_bad("--config", path), pattern, what)
                self.assert_config_error(self.run_bad("--check-config", path), pattern,
                                         what + " (--check-config)")

    def test_unreadable_or_invalid_json_exits_2(self):
        path = harness.write_config('{"caches": [')
        self.assert_config_error(self.run_bad("--config", path), r".+", "invalid JSON")
        missing = os.path.join(harness.make_tmp_dir("missing"), "none.json")
        self.assert_config_error(self.run_bad("--check-config", missing), r".+", "no file")
        self.assert_config_error(self.run_bad("--config", missing), r".+", "no file")

    def test_check_config_accepts_a_valid_config(self):
        cfg = base_config()
        cfg["admin_token"] = "${%s:-}" % UNSET
        cfg["caches"][0]["upstream"]["headers"] = {"X-T": "${JC_E2E_HDR}"}
        proc = harness.run_cli("--check-config", harness.write_config(cfg),
                               env={"JC_E2E_HDR": "v"})
        self.assertEqual(proc.returncode, 0, proc.stderr)

    def test_version_and_help(self):
        proc = harness.run_cli("--version")
        self.assertEqual(proc.returncode, 0, proc.stderr)
        self.assertRegex(proc.stdout + proc.stderr, r"\d+\.\d+")
        proc = harness.run_cli("--help")
        self.assertEqual(proc.returncode, 0, proc.stderr)
        self.assertIn("--config", proc.stdout + proc.stderr)

    def test_unknown_option_fails(self):
        proc = self.run_bad("--no-such-option")
        self.assertNotEqual(proc.returncode, 0)

    def test_jcached_config_env_instead_of_option(self):
        origin = self.start_origin()
        jc = self.start_jcached(harness.jcached_config([harness.cache_config("c", origin)]),
                                config_via_env=True)
        self.assertNotIn("--config", jc.cmd)
        st, _, body = jc.get_key("c", "env")
        self.assertEqual(st, 200)
        self.assertIn(b'"path":"/c/env"', body)

    def test_variables_are_substituted_at_startup(self):
        origin = self.start_origin()
        port = harness.free_port()
        cfg = {
            "listen": "127.0.0.1:${JC_E2E_PORT}",
            "admin_token": "${JC_E2E_TOKEN}",
            "log_level": "${%s:-info}" % UNSET,
            "store": {"type": "memory"},
            "broker": {"type": "local"},
            "caches": [{"name": "c", "upstream": {
                "url": "http://127.0.0.1:${JC_E2E_ORIGIN}/c/{key}?ctype=${%s:-text/x-dflt}"
                       % UNSET}}],
        }
        jc = self.start_jcached(cfg, port=port, env={
            "JC_E2E_PORT": str(port), "JC_E2E_TOKEN": "t0k", "JC_E2E_ORIGIN": str(origin.port)})
        st, hdrs, _ = jc.get_key("c", "v")
        self.assertEqual(st, 200)
        self.assertTrue(hdrs.get("Content-Type", "").startswith("text/x-dflt"), hdrs)
        self.assertEqual(jc.post_key("c", "w")[0], 401)
        self.assertEqual(jc.post_key("c", "w", {"Authorization": "Bearer t0k"})[0], 202)


if __name__ == "__main__":
    harness.main()
