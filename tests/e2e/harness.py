"""Shared helpers for the end-to-end scenarios in tests/e2e/test_*.py.

The scenarios talk real HTTP to real processes: build/jcached, build/jc-origin
(the scripted upstream of tests/support/origin.c) and, for multi-replica
scenarios, redis-server and nats-server.  Everything binds to 127.0.0.1 on a
free port, every process is started here and stopped by its PID (in the test's
cleanup, and again at exit for anything still alive), and every process writes
its output to a file in a temporary directory so a failing test can show it.

Python 3 standard library only.  Environment:
  JC_BUILD_DIR       where jcached and jc-origin are (default: <repo>/build)
  JC_SOURCE_DIR      the repository (default: two levels above this file)
  JC_E2E_LOG_LEVEL   log_level given to jcached (default: info)
  JC_E2E_KEEP        1 = keep the temporary directories for inspection
"""

import atexit
import concurrent.futures
import copy
import http.client
import json
import os
import select
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import unittest
import urllib.parse
import uuid

SOURCE_DIR = os.environ.get("JC_SOURCE_DIR") or os.path.abspath(
    os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
BUILD_DIR = os.environ.get("JC_BUILD_DIR") or os.path.join(SOURCE_DIR, "build")
JCACHED_BIN = os.path.join(BUILD_DIR, "jcached")
ORIGIN_BIN = os.path.join(BUILD_DIR, "jc-origin")
LOG_LEVEL = os.environ.get("JC_E2E_LOG_LEVEL", "info")
KEEP_TMP = os.environ.get("JC_E2E_KEEP") == "1"

# Exact Cache-Status values of SPEC section 2.
CS_STORED = "jcached; fwd=uri-miss; fwd-status=200; stored"
CS_COLLAPSED = "jcached; fwd=uri-miss; fwd-status=200; collapsed"
CS_HIT = "jcached; hit"
CS_HIT_L1 = "jcached; hit; detail=l1"


def cs_not_stored(status):
    """The Cache-Status of a fetch whose upstream status is not cacheable."""
    return "jcached; fwd=uri-miss; fwd-status=%d; detail=not-stored" % status


def cs_stored(status):
    return "jcached; fwd=uri-miss; fwd-status=%d; stored" % status


def cs_collapsed(status):
    return "jcached; fwd=uri-miss; fwd-status=%d; collapsed" % status


# ---------------------------------------------------------------------------
# Small utilities


def free_port():
    """Returns a TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def unique_key(tag="k"):
    """Returns a fresh key; the fixed-length suffix keeps keys from being
    prefixes of one another (origin overrides match by path prefix)."""
    return "%s-%s" % (tag, uuid.uuid4().hex[:10])


def wait_until(pred, timeout=5.0, interval=0.02, what="condition"):
    """Calls pred() until it returns a true value (returned) or timeout passes
    (AssertionError)."""
    deadline = time.monotonic() + timeout
    while True:
        value = pred()
        if value:
            return value
        if time.monotonic() >= deadline:
            raise AssertionError("timed out after %.1fs waiting for %s" % (timeout, what))
        time.sleep(interval)


def deep_merge(base, overrides):
    """Returns a copy of base with overrides merged in (dicts recursively)."""
    out = copy.deepcopy(base)
    for k, v in overrides.items():
        if isinstance(v, dict) and isinstance(out.get(k), dict):
            out[k] = deep_merge(out[k], v)
        else:
            out[k] = copy.deepcopy(v)
    return out


def parallel(n, fn, start_together=True, timeout=60):
    """Runs fn(i) for i in range(n) on n threads, all released at once by a
    barrier, and returns the results in order.  An exception in any call is
    raised here."""
    barrier = threading.Barrier(n) if start_together and n > 1 else None

    def run(i):
        if barrier is not None:
            barrier.wait(timeout)
        return fn(i)

    with concurrent.futures.ThreadPoolExecutor(max_workers=n) as pool:
        futures = [pool.submit(run, i) for i in range(n)]
        return [f.result(timeout) for f in futures]


def in_background(fn, *args, **kwargs):
    """Starts fn(*args, **kwargs) on a thread; returns a Future."""
    pool = concurrent.futures.ThreadPoolExecutor(max_workers=1)
    fut = pool.submit(fn, *args, **kwargs)
    pool.shutdown(wait=False)
    return fut


class Headers:
    """Response headers with case-insensitive lookup; repeated fields are
    joined with ", " (RFC 9110 5.3)."""

    def __init__(self, pairs):
        self._d = {}
        self._names = {}
        for name, value in pairs:
            low = name.lower()
            if low in self._d:
                self._d[low] += ", " + value
            else:
                self._d[low] = value
                self._names[low] = name

    def __getitem__(self, name):
        return self._d[name.lower()]

    def get(self, name, default=None):
        return self._d.get(name.lower(), default)

    def __contains__(self, name):
        return name.lower() in self._d

    def keys(self):
        return [self._names[k] for k in self._d]

    def items(self):
        return [(self._names[k], v) for k, v in self._d.items()]

    def __len__(self):
        return len(self._d)

    def __repr__(self):
        return "Headers(%r)" % dict(self.items())


def http_request(host, port, method, path, headers=None, body=None, timeout=10.0):
    """One HTTP/1.1 request on a fresh connection.  Returns (status, Headers,
    body bytes).  The path is sent exactly as given (no normalisation)."""
    conn = http.client.HTTPConnection(host, port, timeout=timeout)
    try:
        conn.request(method, path, body=body, headers=dict(headers or {}))
        resp = conn.getresponse()
        data = resp.read()
        return resp.status, Headers(resp.getheaders()), data
    finally:
        conn.close()


def json_body(body):
    """Parses a response body as JSON (bytes or str)."""
    if isinstance(body, bytes):
        body = body.decode("utf-8")
    return json.loads(body)


_tmp_dirs = []


def make_tmp_dir(prefix):
    d = tempfile.mkdtemp(prefix="jc-e2e-%s-" % prefix)
    _tmp_dirs.append(d)
    return d


# ---------------------------------------------------------------------------
# Processes


_live = {}
_live_lock = threading.Lock()


class StartError(RuntimeError):
    pass


class Process:
    """A child process started by the harness, stopped by its PID.  Its stdout
    and stderr go to files in self.dir unless the subclass pipes stdout."""

    name = "process"

    def __init__(self):
        self.proc = None
        self.dir = make_tmp_dir(self.name)
        self.stdout_path = os.path.join(self.dir, "stdout.log")
        self.stderr_path = os.path.join(self.dir, "stderr.log")
        self.returncode = None

    def _spawn(self, cmd, env=None, pipe_stdout=False, cwd=None):
        full_env = dict(os.environ)
        if env:
            full_env.update(env)
        self._stdout_f = open(self.stdout_path, "wb")
        self._stderr_f = open(self.stderr_path, "wb")
        self.cmd = list(cmd)
        self.proc = subprocess.Popen(
            cmd,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE if pipe_stdout else self._stdout_f,
            stderr=self._stderr_f,
            env=full_env,
            cwd=cwd or self.dir,
        )
        with _live_lock:
            _live[self.proc.pid] = self
        return self.proc

    @property
    def pid(self):
        return self.proc.pid if self.proc else None

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def stop(self, sig=signal.SIGTERM, timeout=10.0):
        """Sends sig to the process (by PID) and waits for it; SIGKILL after
        timeout.  Returns the exit code (negative: killed by that signal)."""
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            try:
                os.kill(self.proc.pid, sig)
            except ProcessLookupError:
                pass
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                os.kill(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        self._finish()
        return self.returncode

    def kill(self):
        """SIGKILL by PID (a crash, for crash-recovery scenarios)."""
        return self.stop(signal.SIGKILL, timeout=5.0)

    def wait(self, timeout):
        """Waits for the process to exit on its own; returns its exit code
        (AssertionError when it is still running after timeout)."""
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            raise AssertionError("%s (pid %d) still running after %.1fs"
                                 % (self.name, self.proc.pid, timeout))
        self._finish()
        return self.returncode

    def _finish(self):
        self.returncode = self.proc.returncode
        with _live_lock:
            _live.pop(self.proc.pid, None)
        for f in (getattr(self, "_stdout_f", None), getattr(self, "_stderr_f", None)):
            if f is not None and not f.closed:
                f.close()

    def stderr_text(self):
        try:
            with open(self.stderr_path, "rb") as f:
                return f.read().decode("utf-8", "replace")
        except OSError:
            return ""

    def stdout_text(self):
        try:
            with open(self.stdout_path, "rb") as f:
                return f.read().decode("utf-8", "replace")
        except OSError:
            return ""

    def log_tail(self, lines=40):
        out = []
        for label, text in (("stdout", self.stdout_text()), ("stderr", self.stderr_text())):
            tail = text.splitlines()[-lines:]
            if tail:
                out.append("--- %s %s (pid %s) ---" % (self.name, label, self.pid))
                out.extend(tail)
        return "\n".join(out)


def _kill_leftovers():
    with _live_lock:
        procs = list(_live.values())
    for p in procs:
        try:
            if p.proc.poll() is None:
                os.kill(p.proc.pid, signal.SIGKILL)
                p.proc.wait(5)
        except (ProcessLookupError, subprocess.TimeoutExpired):
            pass
    if not KEEP_TMP:
        for d in _tmp_dirs:
            shutil.rmtree(d, ignore_errors=True)


atexit.register(_kill_leftovers)


def _wait_tcp(port, proc, timeout, what):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise StartError("%s exited with %s before listening" % (what, proc.returncode))
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.02)
    raise StartError("%s did not listen on %d within %.1fs" % (what, port, timeout))


# ---------------------------------------------------------------------------
# The scripted upstream


class Origin(Process):
    """build/jc-origin on a free port.  Paths are "fetches" counted per raw
    path; see tests/support/origin.c for the query parameters."""

    name = "origin"

    def __init__(self, binary=None, timeout=10.0):
        super().__init__()
        proc = self._spawn([binary or ORIGIN_BIN, "--listen", "127.0.0.1:0"], pipe_stdout=True)
        line = self._read_listen_line(proc, timeout)
        prefix = "listening on "
        if not line.startswith(prefix):
            self.stop(signal.SIGKILL)
            raise StartError("jc-origin printed %r, expected 'listening on 127.0.0.1:<port>'"
                             % line)
        self.host, port = line[len(prefix):].rsplit(":", 1)
        self.port = int(port)
        # Keep draining stdout so the origin can never block on a full pipe.
        self._drain = threading.Thread(target=self._drain_stdout, daemon=True)
        self._drain.start()

    def _read_listen_line(self, proc, timeout):
        deadline = time.monotonic() + timeout
        buf = b""
        fd = proc.stdout.fileno()
        while b"\n" not in buf:
            left = deadline - time.monotonic()
            if left <= 0:
                self.stop(signal.SIGKILL)
                raise StartError("jc-origin did not print its port within %.1fs" % timeout)
            ready, _, _ = select.select([fd], [], [], left)
            if not ready:
                continue
            chunk = os.read(fd, 4096)
            if not chunk:
                self.stop(signal.SIGKILL)
                raise StartError("jc-origin exited before listening: %s" % self.stderr_text())
            buf += chunk
        line = buf.split(b"\n", 1)[0]
        self._stdout_f.write(buf)
        self._stdout_f.flush()
        return line.decode().strip()

    def _drain_stdout(self):
        try:
            while True:
                chunk = self.proc.stdout.read1(4096)
                if not chunk:
                    return
                if not self._stdout_f.closed:
                    self._stdout_f.write(chunk)
                    self._stdout_f.flush()
        except (OSError, ValueError):
            return

    @property
    def base(self):
        return "http://127.0.0.1:%d" % self.port

    def request(self, method, path, headers=None, timeout=10.0):
        return http_request("127.0.0.1", self.port, method, path, headers, timeout=timeout)

    def _json(self, path):
        status, _, body = self.request("GET", path)
        if status != 200:
            raise AssertionError("origin %s -> %d %r" % (path, status, body))
        return json_body(body)

    def stats(self):
        """{"total": N, "paths": {"/a/b": n, ...}}"""
        return self._json("/_stats")

    def count(self, path):
        """How many fetches reached the origin for this raw (still
        percent-encoded) path, query excluded."""
        return self._json("/_stats?" + urllib.parse.urlencode({"path": path}))["count"]

    def total(self):
        return self.stats()["total"]

    def reset(self):
        """Zeroes every count and clears every override."""
        return self._json("/_reset")

    def set(self, prefix, **params):
        """Overrides the behaviour of every path starting with prefix
        (status=503, delay_ms=100, drop=1, size=…, etag=1, …); no params
        clears the override.  True is sent as 1."""
        q = {"prefix": prefix}
        for k, v in params.items():
            q[k] = 1 if v is True else v
        return self._json("/_set?" + urllib.parse.urlencode(q))


# ---------------------------------------------------------------------------
# Configuration builders


def _origin_port(origin):
    return origin.port if hasattr(origin, "port") else int(origin)


def cache_config(name, origin, path_suffix="", **overrides):
    """A cache dict named name whose upstream is
    http://127.0.0.1:<origin>/<name>/{key}<path_suffix> (path_suffix is
    typically a query string such as "?delay_ms=500").  overrides are merged
    recursively: upstream={"timeout_ms": 300}, l1={"enabled": True},
    expiry={"type": "sliding", "time_ms": 800}, wait_timeout_ms=…"""
    c = {
        "name": name,
        "upstream": {
            "url": "http://127.0.0.1:%d/%s/{key}%s" % (_origin_port(origin), name, path_suffix),
        },
    }
    return deep_merge(c, overrides)


def jcached_config(caches, store=None, broker=None, **top):
    """A whole config: memory store and local broker unless given; top-level
    keys (admin_token, log_level, …) as keyword arguments."""
    cfg = {
        "log_level": LOG_LEVEL,
        "store": store or {"type": "memory"},
        "broker": broker or {"type": "local"},
        "caches": list(caches),
    }
    cfg.update(top)
    return cfg


def write_config(cfg, directory=None, name="jcached.json"):
    """Writes cfg (a dict, or a raw string written as is) to a file and returns
    its path."""
    d = directory or make_tmp_dir("config")
    path = os.path.join(d, name)
    with open(path, "w") as f:
        if isinstance(cfg, str):
            f.write(cfg)
        else:
            json.dump(cfg, f, indent=2)
    return path


def run_cli(*args, env=None, timeout=15.0):
    """Runs jcached with args to completion; returns CompletedProcess with
    text stdout/stderr.  For --check-config, --version, --help and configs
    that must be rejected."""
    full_env = dict(os.environ)
    if env:
        full_env.update(env)
    return subprocess.run([JCACHED_BIN] + list(args), stdin=subprocess.DEVNULL,
                          capture_output=True, text=True, env=full_env, timeout=timeout)


# ---------------------------------------------------------------------------
# jcached


class Jcached(Process):
    """One build/jcached process.

    config: a dict (see jcached_config) or the path of a JSON file (loaded).
    The harness sets "listen" to 127.0.0.1:<free port> unless port= is given,
    in which case the config's own "listen" is kept (it may use ${VAR}) and
    port is where the harness connects.  env: extra environment.
    config_via_env: pass the file in JCACHED_CONFIG instead of --config.
    wait_ready: wait (bounded) until GET /healthz answers 200."""

    name = "jcached"

    def __init__(self, config, env=None, args=(), config_via_env=False, port=None,
                 wait_ready=True, ready_timeout=15.0, binary=None):
        super().__init__()
        if isinstance(config, str):
            with open(config) as f:
                config = json.load(f)
        self.config = copy.deepcopy(config)
        self.env = dict(env or {})
        self.args = list(args)
        self.config_via_env = config_via_env
        self.binary = binary or JCACHED_BIN
        fixed_port = port is not None
        attempts = 1 if fixed_port else 3
        for attempt in range(attempts):
            self.port = port if fixed_port else free_port()
            if not fixed_port or "listen" not in self.config:
                self.config["listen"] = "127.0.0.1:%d" % self.port
            self.config_path = write_config(self.config, self.dir)
            self._start()
            if not wait_ready:
                return
            try:
                self.wait_ready(ready_timeout)
                return
            except StartError:
                text = self.stderr_text().lower()
                retry = (not self.alive() and attempt + 1 < attempts
                         and ("in use" in text or "bind" in text))
                self.stop(signal.SIGKILL)
                if not retry:
                    raise StartError("jcached did not become healthy:\n%s" % self.log_tail())

    def _start(self):
        cmd = [self.binary] + self.args
        env = dict(self.env)
        if self.config_via_env:
            env["JCACHED_CONFIG"] = self.config_path
        else:
            cmd += ["--config", self.config_path]
        self._spawn(cmd, env=env)

    def wait_ready(self, timeout=15.0, path="/healthz"):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise StartError("jcached exited with %d" % self.proc.returncode)
            try:
                status, _, _ = self.request("GET", path, timeout=1.0)
                if status == 200:
                    return
            except (OSError, http.client.HTTPException):
                pass
            time.sleep(0.03)
        raise StartError("jcached: GET %s not 200 within %.1fs" % (path, timeout))

    @property
    def url(self):
        return "http://127.0.0.1:%d" % self.port

    def request(self, method, path, headers=None, body=None, timeout=10.0):
        """Returns (status, Headers, body bytes)."""
        return http_request("127.0.0.1", self.port, method, path, headers, body, timeout)

    def get(self, path, headers=None, timeout=10.0):
        return self.request("GET", path, headers, timeout=timeout)

    def key_path(self, cache, key, suffix=""):
        """/caches/<cache>/<key percent-encoded>[suffix]."""
        return "/caches/%s/%s%s" % (cache, urllib.parse.quote(key, safe=""), suffix)

    def get_key(self, cache, key, headers=None, query="", timeout=10.0):
        return self.request("GET", self.key_path(cache, key, query), headers, timeout=timeout)

    def status_of(self, cache, key, headers=None):
        """GET /caches/<cache>/<key>/status → the parsed JSON (asserts 200)."""
        status, _, body = self.request("GET", self.key_path(cache, key, "/status"), headers)
        if status != 200:
            raise AssertionError("status route -> %d %r" % (status, body))
        return json_body(body)

    def delete_key(self, cache, key, headers=None, timeout=10.0):
        return self.request("DELETE", self.key_path(cache, key), headers, timeout=timeout)

    def post_key(self, cache, key, headers=None, timeout=10.0):
        return self.request("POST", self.key_path(cache, key), headers, timeout=timeout)

    def metrics(self):
        """GET /metrics parsed into {"name{labels}": float}."""
        status, _, body = self.request("GET", "/metrics")
        if status != 200:
            raise AssertionError("/metrics -> %d" % status)
        return parse_prometheus(body.decode())


def parse_prometheus(text):
    """Parses Prometheus text exposition into {"name{labels}": value}."""
    out = {}
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        if "}" in line:
            series, rest = line.rsplit("}", 1)
            series += "}"
        else:
            series, rest = line.split(None, 1)
        fields = rest.split()
        out[series.strip()] = float(fields[0])
    return out


# ---------------------------------------------------------------------------
# Backends for multi-replica scenarios


class RedisServer(Process):
    """redis-server on a free loopback port, no persistence, in a temp dir."""

    name = "redis"

    def __init__(self, password=None, extra_args=(), timeout=10.0, binary="redis-server"):
        super().__init__()
        self.port = free_port()
        self.password = password
        cmd = [binary, "--port", str(self.port), "--bind", "127.0.0.1", "--dir", self.dir,
               "--save", "", "--appendonly", "no", "--daemonize", "no",
               "--protected-mode", "no"]
        if password:
            cmd += ["--requirepass", password]
        cmd += list(extra_args)
        self._spawn(cmd)
        _wait_tcp(self.port, self.proc, timeout, "redis-server")
        wait_until(lambda: self._ping_ok(), timeout, what="redis PING")

    def _ping_ok(self):
        try:
            return self.command("PING") == "PONG"
        except (OSError, RuntimeError):
            return False

    @property
    def url(self):
        if self.password:
            return "redis://:%s@127.0.0.1:%d" % (self.password, self.port)
        return "redis://127.0.0.1:%d" % self.port

    def command(self, *args, timeout=5.0):
        """Sends one command and returns the decoded reply (str, int, list,
        None); an error reply raises RuntimeError."""
        with socket.create_connection(("127.0.0.1", self.port), timeout=timeout) as s:
            f = s.makefile("rb")
            if self.password:
                s.sendall(_resp_encode(["AUTH", self.password]))
                _resp_read(f)
            s.sendall(_resp_encode(args))
            return _resp_read(f)


def _resp_encode(args):
    parts = [b"*%d\r\n" % len(args)]
    for a in args:
        if not isinstance(a, bytes):
            a = str(a).encode()
        parts.append(b"$%d\r\n%s\r\n" % (len(a), a))
    return b"".join(parts)


def _resp_read(f):
    line = f.readline()
    if not line:
        raise OSError("redis closed the connection")
    kind, rest = line[:1], line[1:-2]
    if kind == b"+":
        return rest.decode()
    if kind == b"-":
        raise RuntimeError(rest.decode())
    if kind == b":":
        return int(rest)
    if kind == b"$":
        n = int(rest)
        if n < 0:
            return None
        data = f.read(n + 2)[:-2]
        try:
            return data.decode()
        except UnicodeDecodeError:
            return data
    if kind == b"*":
        n = int(rest)
        if n < 0:
            return None
        return [_resp_read(f) for _ in range(n)]
    raise OSError("bad RESP line %r" % line)


class RedisSentinel(Process):
    """redis-sentinel on a free loopback port monitoring primary (a
    RedisServer) under primary_name, with short failover timings."""

    name = "sentinel"

    def __init__(self, primary, primary_name="primary", quorum=1, down_after_ms=1000,
                 failover_timeout_ms=3000, password=None, timeout=10.0,
                 binary="redis-sentinel"):
        super().__init__()
        self.port = free_port()
        self.primary_name = primary_name
        conf = [
            "port %d" % self.port,
            "bind 127.0.0.1",
            "dir %s" % self.dir,
            "sentinel monitor %s 127.0.0.1 %d %d" % (primary_name, primary.port, quorum),
            "sentinel down-after-milliseconds %s %d" % (primary_name, down_after_ms),
            "sentinel failover-timeout %s %d" % (primary_name, failover_timeout_ms),
            "sentinel parallel-syncs %s 1" % primary_name,
        ]
        if primary.password:
            conf.append("sentinel auth-pass %s %s" % (primary_name, primary.password))
        if password:
            conf.append("requirepass %s" % password)
        self.conf_path = os.path.join(self.dir, "sentinel.conf")
        with open(self.conf_path, "w") as f:
            f.write("\n".join(conf) + "\n")
        self._spawn([binary, self.conf_path])
        _wait_tcp(self.port, self.proc, timeout, "redis-sentinel")

    @property
    def host(self):
        return "127.0.0.1:%d" % self.port

    def command(self, *args, timeout=5.0):
        with socket.create_connection(("127.0.0.1", self.port), timeout=timeout) as s:
            f = s.makefile("rb")
            s.sendall(_resp_encode(args))
            return _resp_read(f)


class NatsServer(Process):
    """nats-server on a free loopback port.  token: require that token.
    jetstream: enable JetStream with its store in the temp dir."""

    name = "nats"

    def __init__(self, token=None, user=None, password=None, jetstream=False, timeout=10.0,
                 binary="nats-server"):
        super().__init__()
        self.port = free_port()
        self.token = token
        cmd = [binary, "-a", "127.0.0.1", "-p", str(self.port)]
        if token:
            cmd += ["--auth", token]
        if user:
            cmd += ["--user", user, "--pass", password or ""]
        if jetstream:
            cmd += ["-js", "-sd", self.dir]
        self._spawn(cmd)
        _wait_tcp(self.port, self.proc, timeout, "nats-server")
        wait_until(self._info_ok, timeout, what="nats INFO")

    def _info_ok(self):
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=1.0) as s:
                return s.makefile("rb").readline().startswith(b"INFO ")
        except OSError:
            return False

    @property
    def url(self):
        return "nats://127.0.0.1:%d" % self.port


# ---------------------------------------------------------------------------
# unittest glue


def _needs_binaries(*paths):
    missing = [p for p in paths if not os.access(p, os.X_OK)]
    if missing:
        raise unittest.SkipTest("not built: %s" % ", ".join(missing))


class E2ETestCase(unittest.TestCase):
    """Base class: start_origin() / start_jcached() / start_redis() /
    start_nats() start processes that are stopped by PID when the test (or,
    from setUpClass, the class) ends.  When a test fails, the tail of every
    process log is printed."""

    _class_procs = []

    @classmethod
    def setUpClass(cls):
        _needs_binaries(JCACHED_BIN, ORIGIN_BIN)
        cls._class_procs = []

    @classmethod
    def _track_class(cls, p):
        cls._class_procs.append(p)
        cls.addClassCleanup(_quiet_stop, p)
        return p

    @classmethod
    def start_class_origin(cls):
        return cls._track_class(Origin())

    @classmethod
    def start_class_jcached(cls, config, **kw):
        return cls._track_class(Jcached(config, **kw))

    def setUp(self):
        self._procs = []
        result = getattr(getattr(self, "_outcome", None), "result", None)
        self._bad_before = _bad_count(result)
        self.addCleanup(self._dump_logs_on_failure)

    def _dump_logs_on_failure(self):
        result = getattr(getattr(self, "_outcome", None), "result", None)
        if result is None or _bad_count(result) == self._bad_before:
            return
        for p in list(type(self)._class_procs) + self._procs:
            tail = p.log_tail()
            if tail:
                sys.stderr.write("\n" + tail + "\n")

    def _track(self, p):
        self._procs.append(p)
        self.addCleanup(_quiet_stop, p)
        return p

    def start_origin(self):
        return self._track(Origin())

    def start_jcached(self, config, **kw):
        return self._track(Jcached(config, **kw))

    def start_redis(self, **kw):
        return self._track(RedisServer(**kw))

    def start_nats(self, **kw):
        return self._track(NatsServer(**kw))

    # Assertions shared by the scenarios.

    def assert_json_error(self, resp, status, code):
        """resp is (status, headers, body): a jcached-generated JSON error
        {"error": code, "message": …} without Cache-Status."""
        st, hdrs, body = resp
        self.assertEqual(st, status, "expected %d %s, got %d %r" % (status, code, st, body[:300]))
        try:
            doc = json_body(body)
        except ValueError:
            self.fail("error body is not JSON: %r" % body[:300])
        self.assertIsInstance(doc, dict, body)
        ctype = hdrs.get("Content-Type", "")
        self.assertTrue(ctype.startswith("application/json"),
                        "error Content-Type %r, expected application/json" % ctype)
        self.assertEqual(doc.get("error"), code, body)
        self.assertIsInstance(doc.get("message"), str, body)
        self.assertNotIn("Cache-Status", hdrs, "a jcached-generated error must not carry "
                         "Cache-Status (RFC 9211): %r" % hdrs)
        return doc


def _bad_count(result):
    if result is None:
        return 0
    return len(getattr(result, "failures", [])) + len(getattr(result, "errors", []))


def _quiet_stop(p):
    try:
        p.stop(signal.SIGTERM, timeout=5.0)
    except Exception:  # cleanup must never mask the test's own outcome
        try:
            p.stop(signal.SIGKILL)
        except Exception:
            pass


def main():
    unittest.main(verbosity=2)
