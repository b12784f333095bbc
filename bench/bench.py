#!/usr/bin/env python3
"""bench/bench.py: jcached against nginx and Varnish, on one 2-core machine.

bench/run.sh builds everything and runs this file pinned to the client core;
run it through run.sh.  What it does:

* Starts one jc-origin (the project's slow test upstream) and configures its
  per-prefix behaviour: /warm/ answers a 1 KiB body at once, /cold/ after
  1000 ms, /err/ a 500 after 1000 ms, /long/ after 8000 ms, /herd/ after
  HERD_DELAY_MS.  Every gateway maps /caches/<name>/<key> to the origin's
  /<name>/<key>, so every gateway fetches exactly the same thing.
* Starts the servers under test on CPU 0 (taskset -c 0): jcached (memory
  store, local broker, L1 on), a 3-replica jcached (Redis store, NATS broker,
  L1 off; redis-server and nats-server are pinned to CPU 0 as well, as they
  are part of that deployment), 3 nginx instances (each its own cache
  directory) and 3 Varnish instances.  The load generator (wrk), the herd
  client (bench/herd.c), jc-origin and this script run on CPU 1.
* Runs every measurement REPS times, interleaved (rep 1 of every system, then
  rep 2 ...), and reports medians, with each run's value listed at the end.

Wake-up latency (scenarios 3, 4, 7): the time from the upstream's answer to
each client's complete response.  The origin's answer time is taken as the
completion time of the first client response carrying that fetch's body
(the origin's JSON body holds its global fetch counter, so each fetch has
its own bytes): wake_i = done_i - min(done_j for j with the same body).
The first response of a fetch is the fetching request's own response and
leaves the gateway within microseconds of the origin's answer, so this
measures what the gateway adds for the waiters.  With several fetches (the
peers in scenario 4) each client is measured against its own fetch.  As a
cross-check the report also gives the first answer's time after
(first request sent + delay_ms).

All servers listen on 127.0.0.1 on free ports; every process is started by
this script, stopped by its PID (SIGTERM, then SIGKILL after a grace), and the
temporary directory is removed at the end.  Every loop is bounded.
"""

import argparse
import json
import os
import platform
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
SERVER_CPU = "0"

COLD_DELAY_MS = 1000
LONG_DELAY_MS = 8000
HERD_DELAY_MS = 4000
WARM_SIZE = 1024

SYSTEMS = ("jcached", "nginx", "varnish")


# ---------------------------------------------------------------------------
# Processes


class Proc:
    """One process started by the benchmark, stopped by its PID only."""

    live = []

    def __init__(self, name, argv, logdir, cpu=SERVER_CPU, cwd=None):
        self.name = name
        self.log_path = os.path.join(logdir, name + ".log")
        self.log = open(self.log_path, "wb")
        if cpu is not None:
            argv = ["taskset", "-c", cpu] + list(argv)
        self.popen = subprocess.Popen(argv, stdout=self.log, stderr=subprocess.STDOUT,
                                      stdin=subprocess.DEVNULL, cwd=cwd)
        self.pid = self.popen.pid
        Proc.live.append(self)

    def alive(self):
        return self.popen.poll() is None

    def stop(self, timeout=15.0):
        if self.alive():
            try:
                os.kill(self.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
            try:
                self.popen.wait(timeout)
            except subprocess.TimeoutExpired:
                os.kill(self.pid, signal.SIGKILL)
                self.popen.wait(5)
        self.log.close()
        if self in Proc.live:
            Proc.live.remove(self)

    def log_tail(self, n=20):
        try:
            with open(self.log_path, "rb") as f:
                return b"".join(f.readlines()[-n:]).decode("utf-8", "replace")
        except OSError:
            return ""

    def tree(self):
        """This process and its descendants (nginx workers, Varnish's child)."""
        children = {}
        for d in os.listdir("/proc"):
            if not d.isdigit():
                continue
            try:
                with open("/proc/%s/stat" % d) as f:
                    stat = f.read()
            except OSError:
                continue
            ppid = int(stat[stat.rfind(")") + 2:].split()[1])
            children.setdefault(ppid, []).append(int(d))
        out, pending = [], [self.pid]
        while pending:
            p = pending.pop()
            out.append(p)
            pending.extend(children.get(p, []))
        return out


def stop_all():
    for p in reversed(list(Proc.live)):
        try:
            p.stop()
        except Exception as e:  # keep stopping the others
            print("bench: stopping %s: %s" % (p.name, e), file=sys.stderr)


def proc_status(pid):
    """VmRSS, VmHWM (kB) and Threads of one process, or None once it is gone."""
    out = {}
    try:
        with open("/proc/%d/status" % pid) as f:
            for line in f:
                k, _, v = line.partition(":")
                if k in ("VmRSS", "VmHWM", "Threads", "RssAnon"):
                    out[k] = int(v.split()[0])
    except OSError:
        return None
    return out


def tree_status(proc):
    tot = {"VmRSS": 0, "VmHWM": 0, "Threads": 0, "RssAnon": 0, "procs": 0}
    for pid in proc.tree():
        st = proc_status(pid)
        if st is None or "VmRSS" not in st:
            continue
        for k in ("VmRSS", "VmHWM", "Threads", "RssAnon"):
            tot[k] += st.get(k, 0)
        tot["procs"] += 1
    return tot


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def http_get(port, path, timeout=10.0):
    url = "http://127.0.0.1:%d%s" % (port, path)
    try:
        with urllib.request.urlopen(url, timeout=timeout) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()


def wait_until(pred, timeout, what, proc=None):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and not proc.alive():
            raise RuntimeError("%s exited:\n%s" % (what, proc.log_tail()))
        try:
            if pred():
                return
        except (OSError, urllib.error.URLError):
            pass
        time.sleep(0.05)
    raise RuntimeError("%s not ready within %.0fs" % (what, timeout))


def tcp_open(port):
    with socket.create_connection(("127.0.0.1", port), timeout=1.0):
        return True


def fill(template, values):
    with open(os.path.join(HERE, template)) as f:
        text = f.read()
    for k, v in values.items():
        text = text.replace("@%s@" % k, str(v))
    return text


# ---------------------------------------------------------------------------
# The origin and the deployments


class Origin:
    def __init__(self, build, tmp):
        self.port = free_port()
        self.proc = Proc("jc-origin", [os.path.join(build, "jc-origin"), "--listen",
                                       "127.0.0.1:%d" % self.port], tmp, cpu=None)
        wait_until(lambda: http_get(self.port, "/_stats")[0] == 200, 10, "jc-origin", self.proc)
        self.set("/warm/", size=WARM_SIZE)
        self.set("/cold/", delay_ms=COLD_DELAY_MS)
        self.set("/err/", delay_ms=COLD_DELAY_MS, status=500)
        self.set("/long/", delay_ms=LONG_DELAY_MS)
        self.set("/herd/", delay_ms=HERD_DELAY_MS)

    def set(self, prefix, **params):
        q = "&".join("%s=%s" % kv for kv in params.items())
        st, body = http_get(self.port, "/_set?prefix=%s&%s" % (prefix, q))
        if st != 200:
            raise RuntimeError("jc-origin /_set: %d %r" % (st, body))

    def count(self, path):
        st, body = http_get(self.port, "/_stats?path=" + path)
        return json.loads(body)["count"]


class Deployment:
    """n servers of one kind; ports[i] is instance i; procs are what to stop."""

    kind = "?"

    def __init__(self, name, tmp):
        self.name = name
        self.dir = tempfile.mkdtemp(prefix=name + "-", dir=tmp)
        os.chmod(self.dir, 0o755)
        self.ports = []
        self.servers = []  # the gateway processes, measured for RSS/threads
        self.procs = []  # everything to stop, gateways last

    def stop(self):
        for p in reversed(self.procs):
            p.stop()
        self.procs = []


class Jcached(Deployment):
    kind = "jcached"

    def __init__(self, name, tmp, binary, origin, n=1, redis=False):
        super().__init__(name, tmp)
        store, broker = {"type": "memory"}, {"type": "local"}
        if redis:
            rport, nport = free_port(), free_port()
            r = Proc(name + "-redis", ["redis-server", "--bind", "127.0.0.1", "--port",
                                       str(rport), "--save", "", "--appendonly", "no",
                                       "--dir", self.dir], self.dir)
            self.procs.append(r)
            nats = Proc(name + "-nats", ["nats-server", "-a", "127.0.0.1", "-p", str(nport)],
                        self.dir)
            self.procs.append(nats)
            wait_until(lambda: tcp_open(rport), 10, "redis-server", r)
            wait_until(lambda: tcp_open(nport), 10, "nats-server", nats)
            store = {"type": "redis", "url": "redis://127.0.0.1:%d" % rport, "prefix": "jcbench"}
            broker = {"type": "nats", "urls": ["nats://127.0.0.1:%d" % nport]}
        for i in range(n):
            port = free_port()
            cfg = os.path.join(self.dir, "jcached-%d.json" % i)
            with open(cfg, "w") as f:
                f.write(fill("jcached.json.in", {
                    "PORT": port, "ORIGIN_PORT": origin.port, "STORE": json.dumps(store),
                    "BROKER": json.dumps(broker), "L1": "false" if redis else "true"}))
            p = Proc("%s-%d" % (name, i), [binary, "--config", cfg], self.dir)
            self.procs.append(p)
            self.servers.append(p)
            self.ports.append(port)
        for port, p in zip(self.ports, self.servers):
            wait_until(lambda: http_get(port, "/readyz")[0] == 200, 15, p.name, p)


class Nginx(Deployment):
    kind = "nginx"

    def __init__(self, name, tmp, origin, n=1):
        super().__init__(name, tmp)
        for i in range(n):
            d = os.path.join(self.dir, "n%d" % i)
            os.makedirs(os.path.join(d, "cache"))
            port = free_port()
            conf = os.path.join(d, "nginx.conf")
            with open(conf, "w") as f:
                f.write(fill("nginx.conf.in", {
                    "USER": "user root;" if os.geteuid() == 0 else "",
                    "DIR": d, "PORT": port, "ORIGIN_PORT": origin.port}))
            p = Proc("%s-%d" % (name, i), ["nginx", "-p", d, "-c", conf], d)
            self.procs.append(p)
            self.servers.append(p)
            self.ports.append(port)
        for port, p in zip(self.ports, self.servers):
            wait_until(lambda: http_get(port, "/caches/warm/ready")[0] == 200, 15, p.name, p)


class Varnish(Deployment):
    kind = "varnish"

    def __init__(self, name, tmp, origin, n=1):
        super().__init__(name, tmp)
        vcl = os.path.join(self.dir, "bench.vcl")
        with open(vcl, "w") as f:
            f.write(fill("varnish.vcl.in", {"ORIGIN_PORT": origin.port}))
        for i in range(n):
            port = free_port()
            work = os.path.join(self.dir, "v%d" % i)
            p = Proc("%s-%d" % (name, i), [
                "varnishd", "-F", "-j", "none", "-n", work, "-a", "127.0.0.1:%d" % port,
                "-f", vcl, "-s", "malloc,256m", "-t", "3600"], self.dir)
            self.procs.append(p)
            self.servers.append(p)
            self.ports.append(port)
        for port, p in zip(self.ports, self.servers):
            wait_until(lambda: http_get(port, "/caches/warm/ready")[0] == 200, 30, p.name, p)


# ---------------------------------------------------------------------------
# Load generators


UNITS = {"us": 1e-3, "ms": 1.0, "s": 1e3, "m": 60e3}


def parse_ms(s):
    m = re.match(r"([\d.]+)(us|ms|s|m)$", s)
    return float(m.group(1)) * UNITS[m.group(2)]


def run_wrk(port, path, seconds):
    out = subprocess.run(["wrk", "-t1", "-c64", "-d%ds" % seconds, "--latency",
                          "http://127.0.0.1:%d%s" % (port, path)],
                         capture_output=True, text=True, timeout=seconds + 30).stdout
    rps = re.search(r"Requests/sec:\s+([\d.]+)", out)
    p99 = re.search(r"^\s+99%\s+(\S+)", out, re.M)
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    sockerr = re.search(r"Socket errors: (.*)", out)
    if rps is None or p99 is None:
        raise RuntimeError("wrk printed nothing usable:\n" + out)
    return {"rps": float(rps.group(1)), "p99_ms": parse_ms(p99.group(1)),
            "non2xx": int(errors.group(1)) if errors else 0,
            "sockerr": sockerr.group(1) if sockerr else ""}


def run_herd(herd, ports, path, n, timeout_ms, burst=256):
    argv = [herd, "--n", str(n), "--ports", ",".join(map(str, ports)), "--path", path,
            "--timeout-ms", str(timeout_ms), "--burst", str(burst)]
    out = subprocess.run(argv, capture_output=True, text=True, timeout=timeout_ms / 1000 + 30)
    if out.returncode != 0:
        raise RuntimeError("jc-herd failed: " + out.stderr)
    recs = []
    for line in out.stdout.splitlines():
        if line.startswith("#"):
            continue
        i, port, status, sent, done, blen, fnv, cs = line.split()
        recs.append({"port": int(port), "status": int(status), "sent": int(sent) / 1000.0,
                     "done": int(done) / 1000.0, "len": int(blen), "body": fnv, "cs": cs})
    return recs


def pct(values, p):
    """Nearest-rank percentile of a non-empty list."""
    v = sorted(values)
    k = max(0, min(len(v) - 1, int(-(-p * len(v) // 100)) - 1))
    return v[k]


def herd_summary(recs, delay_ms):
    ok = [r for r in recs if r["status"] != 0]
    out = {"n": len(recs), "answered": len(ok),
           "statuses": sorted(set(r["status"] for r in ok)),
           "bodies": len(set(r["body"] for r in ok))}
    if not ok:
        return out
    first = {}
    for r in ok:
        first[r["body"]] = min(first.get(r["body"], r["done"]), r["done"])
    wake = [r["done"] - first[r["body"]] for r in ok]
    t0 = min(r["sent"] for r in recs if r["sent"] > 0)
    out.update({
        "wake_p50": pct(wake, 50), "wake_p99": pct(wake, 99), "wake_max": max(wake),
        "first_after_expected": min(r["done"] for r in ok) - (t0 + delay_ms),
        "last_ms": max(r["done"] for r in ok) - t0,
        "slowest_ms": max(r["done"] - r["sent"] for r in ok),
        "send_spread_ms": max(r["sent"] for r in recs) - t0,
        "late": sum(1 for r in ok if r["sent"] > min(first.values())),
    })
    return out


# ---------------------------------------------------------------------------
# Scenarios.  Each returns {system: [per-run dict, ...]}.


class Bench:
    def __init__(self, args, tmp):
        self.args = args
        self.tmp = tmp
        self.origin = Origin(args.build, tmp)
        self.nonce = "%x" % int(time.time() * 1000)
        self.deps = {}

    def start_shared(self):
        a, o, t = self.args, self.origin, self.tmp
        self.deps["jcached"] = Jcached("jcached", t, a.jcached, o)
        self.deps["jcached-redis"] = Jcached("jcached-redis", t, a.jcached, o, n=3, redis=True)
        self.deps["nginx"] = Nginx("nginx", t, o, n=3)
        self.deps["varnish"] = Varnish("varnish", t, o, n=3)

    def stop_shared(self):
        for d in self.deps.values():
            d.stop()
        self.deps = {}

    def key(self, scen, system, rep):
        return "%s-%s-%d-%s" % (scen, system, rep, self.nonce)

    def log(self, msg):
        print("  " + msg, file=sys.stderr, flush=True)

    def warm(self, reps):
        res = {s: [] for s in ("jcached", "jcached-redis", "nginx", "varnish")}
        path = "/caches/warm/w1"
        for rep in range(reps):
            for s in res:
                port = self.deps[s].ports[0]
                for _ in range(2):
                    st, body = http_get(port, path)
                    if st != 200 or len(body) != WARM_SIZE:
                        raise RuntimeError("%s: warm-up got %d, %d bytes" % (s, st, len(body)))
                r = run_wrk(port, path, self.args.duration)
                self.log("warm %s rep %d: %.0f req/s, p99 %.2f ms" % (s, rep + 1, r["rps"],
                                                                     r["p99_ms"]))
                res[s].append(r)
        return res

    def herd_scenario(self, scen, cache, systems, n, reps, timeout_ms, delay_ms):
        res = {s: [] for s in systems}
        for rep in range(reps):
            for s, dep in systems.items():
                key = self.key(scen, s, rep)
                ports = self.deps[dep].ports if scen == "s4" else self.deps[dep].ports[:1]
                recs = run_herd(self.args.herd, ports, "/caches/%s/%s" % (cache, key), n,
                                timeout_ms)
                time.sleep(0.2)
                r = herd_summary(recs, delay_ms)
                r["fetches"] = self.origin.count("/%s/%s" % (cache, key))
                self.log("%s %s rep %d: %s" % (scen, s, rep + 1, brief(r)))
                res[s].append(r)
        return res

    def memory(self, reps, n):
        res = {s: [] for s in SYSTEMS}
        for rep in range(reps):
            for s in SYSTEMS:
                res[s].append(self.memory_run(s, rep, n))
        return res

    def memory_run(self, system, rep, n):
        a, o = self.args, self.origin
        name = "s7-%s-%d" % (system, rep)
        if system == "jcached":
            dep = Jcached(name, self.tmp, a.jcached, o)
        elif system == "nginx":
            dep = Nginx(name, self.tmp, o)
        else:
            dep = Varnish(name, self.tmp, o)
        try:
            time.sleep(1.0)
            server = dep.servers[0]
            idle = tree_status(server)
            peak = {"threads": idle["Threads"], "rss": idle["VmRSS"]}
            stop = threading.Event()

            def sample():
                while not stop.is_set():
                    st = tree_status(server)
                    peak["threads"] = max(peak["threads"], st["Threads"])
                    peak["rss"] = max(peak["rss"], st["VmRSS"])
                    stop.wait(0.02)

            th = threading.Thread(target=sample, daemon=True)
            th.start()
            key = self.key("s7", system, rep)
            recs = run_herd(a.herd, dep.ports, "/caches/herd/" + key, n, 40000, burst=512)
            stop.set()
            th.join(5)
            end = tree_status(server)
            r = herd_summary(recs, HERD_DELAY_MS)
            r.update({
                "fetches": o.count("/herd/" + key),
                "idle_rss_mb": idle["VmRSS"] / 1024.0,
                "idle_anon_mb": idle["RssAnon"] / 1024.0,
                "rss_growth_mb": (max(end["VmHWM"], peak["rss"]) - idle["VmRSS"]) / 1024.0,
                "threads_idle": idle["Threads"], "threads_max": peak["threads"],
                "procs": idle["procs"]})
            self.log("s7 %s rep %d: %s" % (system, rep + 1, brief(r)))
            return r
        finally:
            dep.stop()


def brief(r):
    keys = ("rps", "p99_ms", "fetches", "answered", "statuses", "bodies", "wake_p99", "last_ms",
            "slowest_ms", "idle_rss_mb", "rss_growth_mb", "threads_idle", "threads_max", "late")
    return ", ".join("%s=%s" % (k, fmt_val(r[k])) for k in keys if k in r)


def fmt_val(v):
    if isinstance(v, float):
        return "%.2f" % v
    if isinstance(v, list):
        return "/".join(map(str, v))
    return str(v)


# ---------------------------------------------------------------------------
# Report


def med(runs, key):
    vals = [r[key] for r in runs if key in r]
    if not vals:
        return None
    if isinstance(vals[0], list):
        return sorted(set(x for v in vals for x in v))
    return statistics.median(vals)


def cell(v, fmt):
    if v is None:
        return "-"
    if isinstance(v, list):
        return "/".join(map(str, v)) or "-"
    return fmt % v


def ratio(a, b):
    if a is None or b is None or isinstance(a, list) or b == 0:
        return "-"
    return "%.2fx" % (a / b)


class Report:
    def __init__(self):
        self.lines = []
        self.verdicts = []
        self.raw = []

    def out(self, s=""):
        self.lines.append(s)
        print(s, flush=True)

    def table(self, title, res, rows, jc="jcached", peers=("nginx", "varnish")):
        self.out("== " + title)
        cols = [jc] + list(peers)
        head = "%-34s" % "figure (median)" + "".join("%14s" % c for c in cols)
        head += "".join("%14s" % ("jc/" + p) for p in peers)
        self.out(head)
        for label, key, fmt in rows:
            vals = [med(res[c], key) for c in cols]
            line = "%-34s" % label + "".join("%14s" % cell(v, fmt) for v in vals)
            line += "".join("%14s" % ratio(vals[0], v) for v in vals[1:])
            self.out(line)
            for c in cols:
                self.raw.append("%s | %s | %s: %s" % (title.split(".")[0], c, label, ", ".join(
                    cell(r.get(key), fmt) for r in res[c])))

    def verdict(self, text, ok):
        s = "target: %s -> %s" % (text, "PASS" if ok else "FAIL")
        self.verdicts.append(s)
        self.out(s)
        self.out()


def check(report, n, res, waiters=10000):
    """Prints scenario n's table and its target verdict."""
    jc = res.get("jcached")
    if n == 1:
        report.table("1. Warm hit from L1: wrk -t1 -c64, 1 KiB body", res,
                     [("req/s", "rps", "%.0f"), ("p99 latency (ms)", "p99_ms", "%.2f"),
                      ("non-2xx responses", "non2xx", "%d")])
        ok = med(jc, "rps") >= med(res["nginx"], "rps") and \
            med(jc, "p99_ms") <= med(res["nginx"], "p99_ms")
        report.verdict("jcached >= 1.0x nginx req/s and p99 <= nginx's", ok)
    elif n == 2:
        report.table("2. Warm hit from Redis (L1 off): wrk -t1 -c64, 1 KiB body", res,
                     [("req/s", "rps", "%.0f"), ("p99 latency (ms)", "p99_ms", "%.2f"),
                      ("non-2xx responses", "non2xx", "%d")], jc="jcached-redis")
        ok = med(res["jcached-redis"], "rps") >= 0.6 * med(res["nginx"], "rps")
        report.verdict("jcached (Redis, L1 off) >= 0.6x nginx req/s", ok)
    elif n == 3:
        report.table("3. Cold key, 200 clients, upstream 1000 ms, one instance", res,
                     herd_rows())
        ok = med(jc, "fetches") == 1 and med(jc, "wake_p99") <= 2.0 and \
            med(jc, "answered") == 200
        report.verdict("jcached 1 fetch, all answered, wake-up p99 <= 2 ms", ok)
    elif n == 4:
        report.table("4. Cold key, 200 clients round-robin over 3 replicas", res,
                     herd_rows(), jc="jcached-redis")
        j = res["jcached-redis"]
        ok = med(j, "fetches") == 1 and med(j, "bodies") == 1 and med(j, "wake_p99") <= 5.0
        report.verdict("jcached (Redis+NATS) 1 fetch, 1 body, wake-up p99 <= 5 ms", ok)
    elif n == 5:
        report.table("5. Upstream 500 after 1000 ms, 200 clients", res, [
            ("upstream fetches", "fetches", "%.0f"), ("answered", "answered", "%.0f"),
            ("statuses", "statuses", "%s"), ("slowest client (ms)", "slowest_ms", "%.1f"),
            ("last answer after first send (ms)", "last_ms", "%.1f")])
        ok = med(jc, "fetches") == 1 and med(jc, "statuses") == [500] and \
            med(jc, "answered") == 200 and med(jc, "slowest_ms") <= 1010
        report.verdict("jcached 1 fetch, every client gets the 500 within 1.01 s", ok)
    elif n == 6:
        report.table("6. Upstream takes 8000 ms, 50 clients", res, [
            ("upstream fetches", "fetches", "%.0f"), ("answered", "answered", "%.0f"),
            ("statuses", "statuses", "%s"), ("distinct bodies", "bodies", "%.0f"),
            ("last answer after first send (ms)", "last_ms", "%.1f")])
        report.verdict("jcached 1 fetch", med(jc, "fetches") == 1 and med(jc, "answered") == 50)
    elif n == 7:
        report.table("7. %d waiters, one cold key, one fresh instance" % waiters, res, [
            ("upstream fetches", "fetches", "%.0f"), ("answered", "answered", "%.0f"),
            ("sent after the answer (late)", "late", "%.0f"),
            ("wake-up p99 (ms)", "wake_p99", "%.1f"), ("wake-up max (ms)", "wake_max", "%.1f"),
            ("processes", "procs", "%.0f"), ("idle RSS, fresh (MB)", "idle_rss_mb", "%.1f"),
            ("  of it anonymous (MB)", "idle_anon_mb", "%.1f"),
            ("RSS growth (MB)", "rss_growth_mb", "%.1f"),
            ("threads idle", "threads_idle", "%.0f"), ("threads max", "threads_max", "%.0f")])
        ok = med(jc, "answered") == waiters and \
            all(r["threads_max"] == r["threads_idle"] for r in jc) and \
            med(jc, "rss_growth_mb") <= 40 and med(jc, "idle_rss_mb") <= 10
        report.verdict("all answered, thread count unchanged, RSS growth <= 40 MB, "
                       "idle RSS <= 10 MB", ok)


def herd_rows():
    return [("upstream fetches", "fetches", "%.0f"), ("answered", "answered", "%.0f"),
            ("distinct bodies", "bodies", "%.0f"), ("wake-up p50 (ms)", "wake_p50", "%.2f"),
            ("wake-up p99 (ms)", "wake_p99", "%.2f"), ("wake-up max (ms)", "wake_max", "%.2f"),
            ("first answer - (t0+delay) (ms)", "first_after_expected", "%.2f"),
            ("client send spread (ms)", "send_spread_ms", "%.2f")]


# ---------------------------------------------------------------------------
# Main


def versions(jcached):
    def first_line(argv):
        try:
            p = subprocess.run(argv, capture_output=True, text=True, timeout=10)
            return (p.stdout + p.stderr).strip().splitlines()[0]
        except (OSError, IndexError, subprocess.SubprocessError):
            return "?"
    cpu = "?"
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    root = os.path.dirname(HERE)
    rev = first_line(["git", "-C", root, "rev-parse", "--short", "HEAD"])
    try:
        dirty = subprocess.run(["git", "-C", root, "status", "--porcelain", "--untracked-files=no",
                                "--", "core", "server", "config", "CMakeLists.txt"],
                               capture_output=True, text=True, timeout=10).stdout.split("\n")
        dirty = [line[3:] for line in dirty if line.strip()]
    except (OSError, subprocess.SubprocessError):
        dirty = []
    if dirty:
        rev += " + uncommitted changes in " + ", ".join(dirty)
    return [
        "date:     " + time.strftime("%Y-%m-%d %H:%M:%S %Z"),
        "machine:  %s, %d CPUs, %.0f GiB, %s %s" % (cpu, os.cpu_count(), mem, platform.system(),
                                                    platform.release()),
        "jcached:  %s (git %s, CMAKE_BUILD_TYPE=Release, %s)" % (
            first_line([jcached, "--version"]), rev, jcached),
        "nginx:    " + first_line(["nginx", "-v"]),
        "varnish:  " + first_line(["varnishd", "-V"]),
        "wrk:      " + first_line(["wrk", "-v"]),
        "redis:    " + first_line(["redis-server", "--version"]),
        "nats:     " + first_line(["nats-server", "--version"]),
        "load at start: " + machine_load(),
    ]


def machine_load():
    """The load average and, where the kernel has it, the CPU pressure (the share
    of time some runnable task waited for a CPU): other work on the machine."""
    with open("/proc/loadavg") as f:
        out = "loadavg " + " ".join(f.read().split()[:3])
    try:
        with open("/proc/pressure/cpu") as f:
            some = f.readline().split()
        out += "; cpu pressure " + " ".join(some[1:4])
    except OSError:
        pass
    return out


def parse_args():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--build", required=True, help="directory with jcached and jc-origin")
    ap.add_argument("--herd", required=True, help="the jc-herd binary (bench/herd.c)")
    ap.add_argument("--jcached", help="the jcached binary to measure (default: BUILD/jcached)")
    ap.add_argument("--reps", type=int, default=3, help="runs of each measurement (3)")
    ap.add_argument("--duration", type=int, default=10, help="seconds of each wrk run (10)")
    ap.add_argument("--waiters", type=int, default=10000, help="clients in scenario 7")
    ap.add_argument("--only", default="1,2,3,4,5,6,7", help="scenarios to run, e.g. 1,3")
    ap.add_argument("--results", help="also write the report, as markdown, to this file")
    ap.add_argument("--keep", action="store_true", help="keep the temporary directory")
    return ap.parse_args()


def run(args, report, tmp):
    only = set(int(x) for x in args.only.split(","))
    b = Bench(args, tmp)
    R = args.reps
    res = {}
    if only & {1, 2, 3, 4, 5, 6}:
        b.log("starting the shared deployments")
        b.start_shared()
        if only & {1, 2}:
            res["warm"] = b.warm(R)
        one = {"jcached": "jcached", "nginx": "nginx", "varnish": "varnish"}
        three = {"jcached-redis": "jcached-redis", "nginx": "nginx", "varnish": "varnish"}
        if 3 in only:
            res[3] = b.herd_scenario("s3", "cold", one, 200, R, 20000, COLD_DELAY_MS)
        if 4 in only:
            res[4] = b.herd_scenario("s4", "cold", three, 200, R, 20000, COLD_DELAY_MS)
        if 5 in only:
            res[5] = b.herd_scenario("s5", "err", one, 200, R, 15000, COLD_DELAY_MS)
        if 6 in only:
            res[6] = b.herd_scenario("s6", "long", one, 50, R, 20000, LONG_DELAY_MS)
        b.stop_shared()
    if 7 in only:
        res[7] = b.memory(R, args.waiters)
    for n in sorted(only):
        r = res["warm"] if n in (1, 2) else res[n]
        check(report, n, r, args.waiters)


def write_results(path, report, header, elapsed):
    with open(path, "w") as f:
        f.write("# jcached benchmark results\n\n")
        f.write("Output of `bench/run.sh` (method: see bench/bench.py's opening comment "
                "and bench/README.md).\n\n```\n")
        f.write("\n".join(header) + "\n```\n\n```\n")
        f.write("\n".join(report.lines) + "\n```\n\n")
        f.write("## Targets\n\n```\n" + "\n".join(report.verdicts) + "\n```\n\n")
        f.write("## Every run (in order)\n\n```\n" + "\n".join(report.raw) + "\n```\n\n")
        f.write("Total time: %.0f s; load at end: %s\n" % (elapsed, machine_load()))


def main():
    args = parse_args()
    args.build = os.path.abspath(args.build)
    args.jcached = os.path.abspath(args.jcached or os.path.join(args.build, "jcached"))
    signal.signal(signal.SIGTERM, lambda *a: sys.exit(143))
    tmp = tempfile.mkdtemp(prefix="jc-bench-")
    os.chmod(tmp, 0o755)
    report = Report()
    header = versions(args.jcached) + report_head(args)
    print("\n".join(header) + "\n", flush=True)
    start = time.monotonic()
    try:
        run(args, report, tmp)
    finally:
        stop_all()
        if not args.keep:
            shutil.rmtree(tmp, ignore_errors=True)
    elapsed = time.monotonic() - start
    report.out("total: %.0f s; load at end: %s" % (elapsed, machine_load()))
    if args.results:
        write_results(args.results, report, header, elapsed)
    return 0


def report_head(args):
    client = ",".join(str(c) for c in sorted(os.sched_getaffinity(0)))
    return ["pinning:  servers (and their redis/nats) on CPU %s; wrk, jc-herd, jc-origin "
            "and the driver on CPU %s" % (SERVER_CPU, client),
            "runs:     %d of each, interleaved; tables show medians" % args.reps]


if __name__ == "__main__":
    sys.exit(main())
