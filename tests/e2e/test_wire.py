"""HTTP/1.1 on the wire: jcached's connection handling, bytes in, bytes out.

Every scenario talks to jcached over a raw socket and parses the answer
itself (status line, headers up to the blank line, then exactly
Content-Length bytes), so it sees what a client library would hide:
persistent connections and their end (HTTP/1.1 default, Connection: close,
HTTP/1.0 with and without keep-alive), pipelining (answers in order, also
when the first one waits for the upstream, behind more than 64 KiB of
pipelined requests, and behind an answer larger than the socket buffers), a
head trickled one byte at a time, the 16 KiB head limit (exactly 16384 bytes
served; 414 uri_too_long, 431 headers_too_large, both JSON, delivered whole
before the close), malformed requests (400 bad_request), bodiless answers
(HEAD, 204, 304) that leave the next answer right after their blank line,
request bodies by Content-Length and chunked that are read and ignored,
Expect: 100-continue, the Date header, a client that hangs up while its
fetch runs (and one that only shuts its sending side, which still gets its
answer), the query string on the wire, and no libevent warning on stderr
per connection."""

import email.utils
import json
import os
import re
import socket
import struct
import sys
import time
import urllib.parse

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from harness import CS_COLLAPSED, CS_HIT, CS_STORED  # noqa: E402

IO_TIMEOUT = 5.0
SLOW_MS = 600
BIG_BYTES = 6 << 20  # more than loopback socket buffers hold unread
HEAD_LIMIT = 16384
STATUS_LINE = re.compile(rb"HTTP/1\.[01] [0-9]{3} [^\r\n]*\Z")
IMF_FIXDATE = re.compile(r"(Mon|Tue|Wed|Thu|Fri|Sat|Sun), [0-9]{2} "
                         r"(Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) "
                         r"[0-9]{4} [0-9]{2}:[0-9]{2}:[0-9]{2} GMT\Z")


class Response:
    """One parsed response: status, reason, version, headers (harness.Headers),
    body bytes, and head (the raw bytes of the status line and headers, blank
    line included)."""

    def __init__(self, version, status, reason, headers, head, body):
        self.version = version
        self.status = status
        self.reason = reason
        self.headers = headers
        self.head = head
        self.body = body

    def connection_tokens(self):
        value = self.headers.get("Connection", "")
        return {t.strip().lower() for t in value.split(",") if t.strip()}

    def json(self):
        return json.loads(self.body.decode("utf-8"))

    def __repr__(self):
        return "Response(%r + %r)" % (self.head, self.body[:300])


class Conn:
    """A raw client connection to 127.0.0.1:port with a receive buffer."""

    def __init__(self, port, timeout=IO_TIMEOUT, nodelay=False):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        if nodelay:
            self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.buf = b""
        self.eof = False

    def close(self):
        self.sock.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def send(self, data):
        self.sock.sendall(data)

    def _fill(self):
        """Reads once more into the buffer; False at EOF.  A timeout or a
        reset raises (the caller's test fails, with what was received)."""
        if self.eof:
            return False
        try:
            chunk = self.sock.recv(65536)
        except socket.timeout:
            raise AssertionError("no more bytes within %.1fs; received so far: %r"
                                 % (self.sock.gettimeout(), self.buf[:600]))
        except ConnectionResetError:
            raise AssertionError("connection reset by the server; received so far: %r"
                                 % self.buf[:600])
        if not chunk:
            self.eof = True
            return False
        self.buf += chunk
        return True

    def _take(self, n):
        while len(self.buf) < n:
            if not self._fill():
                raise AssertionError("EOF after %d of %d bytes: %r" % (len(self.buf), n,
                                                                      self.buf[:600]))
        out, self.buf = self.buf[:n], self.buf[n:]
        return out

    def _take_line(self):
        while b"\r\n" not in self.buf:
            if not self._fill():
                raise AssertionError("EOF inside a chunked body: %r" % self.buf[:600])
        line, self.buf = self.buf.split(b"\r\n", 1)
        return line

    def read_head(self):
        """Reads one response head; asserts that the buffer starts with a
        status line (no stray bytes before it)."""
        while b"\r\n\r\n" not in self.buf:
            if not self._fill():
                raise AssertionError("EOF before a complete response head: %r" % self.buf[:600])
        head, self.buf = self.buf.split(b"\r\n\r\n", 1)
        lines = head.split(b"\r\n")
        if not STATUS_LINE.match(lines[0]):
            raise AssertionError("the response does not start with a status line: %r"
                                 % head[:600])
        version, code, reason = lines[0].split(b" ", 2)
        pairs = []
        for line in lines[1:]:
            if b":" not in line:
                raise AssertionError("malformed response header line %r" % line)
            name, value = line.split(b":", 1)
            pairs.append((name.decode("latin-1"), value.strip().decode("latin-1")))
        return (version.decode(), int(code), reason.decode("latin-1"), harness.Headers(pairs),
                head + b"\r\n\r\n")

    def read_response(self, method="GET"):
        """Reads one final response (interim 1xx answers are not skipped).
        Bodiless answers (HEAD, 1xx, 204, 304) take nothing after the head."""
        version, status, reason, headers, head = self.read_head()
        if method == "HEAD" or status < 200 or status in (204, 304):
            body = b""
        elif "Transfer-Encoding" in headers:
            body = self._read_chunked()
        elif "Content-Length" in headers:
            body = self._take(int(headers["Content-Length"]))
        else:
            while self._fill():
                pass
            body, self.buf = self.buf, b""
        return Response(version, status, reason, headers, head, body)

    def _read_chunked(self):
        body = b""
        while True:
            size = int(self._take_line().split(b";", 1)[0], 16)
            if size == 0:
                while self._take_line():
                    pass
                return body
            body += self._take(size)
            self._take(2)

    def request(self, data, method="GET"):
        self.send(data)
        return self.read_response(method)

    def read_to_eof(self):
        """Reads until the server closes; returns what came after the last
        parsed response (asserts on a timeout: the server kept it open)."""
        while self._fill():
            pass
        out, self.buf = self.buf, b""
        return out

    def nothing_pending(self, wait=0.1):
        """True when no byte arrives within wait seconds (the socket stays
        open and silent)."""
        if self.buf:
            return False
        old = self.sock.gettimeout()
        self.sock.settimeout(wait)
        try:
            chunk = self.sock.recv(65536)
        except socket.timeout:
            return True
        finally:
            self.sock.settimeout(old)
        self.buf += chunk
        if not chunk:
            self.eof = True
        return False


def get(path, version="HTTP/1.1", headers=()):
    """The bytes of a GET with a Host header plus headers (name, value)."""
    return req("GET", path, version, headers)


def req(method, path, version="HTTP/1.1", headers=(), body=b""):
    lines = ["%s %s %s" % (method, path, version), "Host: 127.0.0.1"]
    lines += ["%s: %s" % (n, v) for n, v in headers]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body


class Wire(harness.E2ETestCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        o = cls.origin = cls.start_class_origin()
        cls.jc = cls.start_class_jcached(harness.jcached_config([
            harness.cache_config("c", o, "?etag=1"),
            harness.cache_config("slow", o, "?delay_ms=%d" % SLOW_MS),
            harness.cache_config("big", o, "?size=%d" % BIG_BYTES),
        ]))

    def conn(self, **kw):
        c = Conn(self.jc.port, **kw)
        self.addCleanup(c.close)
        return c

    def value_path(self, cache="c", tag="w"):
        key = harness.unique_key(tag)
        return key, "/caches/%s/%s" % (cache, key)

    def assert_value(self, resp, key, cache="c", cs=None):
        self.assertEqual(resp.status, 200, resp)
        self.assertEqual(resp.json().get("path"), "/%s/%s" % (cache, key), resp)
        if cs is not None:
            self.assertEqual(resp.headers.get("Cache-Status"), cs, resp)

    def assert_wire_error(self, resp, status, code):
        """A jcached JSON error that ends the connection."""
        self.assert_json_error((resp.status, resp.headers, resp.body), status, code)
        self.assertIn("close", resp.connection_tokens(), resp)

    def assert_closes(self, c):
        rest = c.read_to_eof()
        self.assertEqual(rest, b"", "bytes after the last response: %r" % rest[:300])

    def assert_alive(self):
        self.assertTrue(self.jc.alive(), "jcached exited: %s" % self.jc.log_tail())
        self.assertEqual(self.jc.request("GET", "/healthz", timeout=3.0)[0], 200)

    # 1. HTTP/1.1 persistence and Connection: close

    def test_http11_keeps_the_connection_open(self):
        c = self.conn()
        k1, p1 = self.value_path()
        k2, p2 = self.value_path()
        r1 = c.request(get(p1))
        self.assert_value(r1, k1, cs=CS_STORED)
        self.assertNotIn("close", r1.connection_tokens(), r1)
        r2 = c.request(get(p2))
        self.assert_value(r2, k2, cs=CS_STORED)
        r3 = c.request(get(p1))
        self.assert_value(r3, k1, cs=CS_HIT)
        self.assertTrue(c.nothing_pending(), "the connection stays open and silent")

    def test_connection_close_is_honoured(self):
        c = self.conn()
        self.assertEqual(c.request(get("/healthz")).status, 200)
        r = c.request(get("/healthz", headers=[("Connection", "close")]))
        self.assertEqual(r.status, 200, r)
        self.assertIn("close", r.connection_tokens(), r)
        self.assert_closes(c)

    # 2. HTTP/1.0

    def test_http10_closes_by_default(self):
        c = self.conn()
        r = c.request(get("/healthz", version="HTTP/1.0"))
        self.assertEqual(r.status, 200, r)
        self.assertIn("close", r.connection_tokens(), r)
        self.assert_closes(c)

    def test_http10_keep_alive(self):
        c = self.conn()
        ka = [("Connection", "keep-alive")]
        key, path = self.value_path()
        r1 = c.request(get(path, version="HTTP/1.0", headers=ka))
        self.assert_value(r1, key)
        self.assertIn("keep-alive", r1.connection_tokens(), r1)
        self.assertIn("Content-Length", r1.headers, "a 1.0 keep-alive body needs a length")
        r2 = c.request(get(path, version="HTTP/1.0", headers=ka))
        self.assert_value(r2, key, cs=CS_HIT)
        self.assertIn("keep-alive", r2.connection_tokens(), r2)
        r3 = c.request(get("/healthz", version="HTTP/1.0"))
        self.assertEqual(r3.status, 200, r3)
        self.assertIn("close", r3.connection_tokens(), r3)
        self.assert_closes(c)

    # 3. Pipelining

    def test_pipelined_requests_answered_in_order(self):
        c = self.conn()
        key, path = self.value_path()
        c.send(get("/healthz") + get(path) + get("/caches") + get("/nope"))
        r1, r2, r3, r4 = (c.read_response() for _ in range(4))
        self.assertEqual((r1.status, r1.json()), (200, {"status": "ok"}), r1)
        self.assert_value(r2, key, cs=CS_STORED)
        self.assertEqual(r3.status, 200, r3)
        self.assertIn(b'"slow"', r3.body, r3)
        self.assert_json_error((r4.status, r4.headers, r4.body), 404, "not_found")
        self.assertTrue(c.nothing_pending())

    def test_pipelined_answers_wait_for_a_slow_first_one(self):
        c = self.conn()
        key, path = self.value_path("slow")
        t0 = time.monotonic()
        c.send(get(path) + get("/healthz") + get("/readyz"))
        r1 = c.read_response()
        self.assert_value(r1, key, cache="slow", cs=CS_STORED)
        self.assertGreaterEqual(time.monotonic() - t0, SLOW_MS / 1000.0 * 0.8)
        r2, r3 = c.read_response(), c.read_response()
        self.assertEqual((r2.status, r2.json()), (200, {"status": "ok"}), r2)
        self.assertEqual((r3.status, r3.json().get("status")), (200, "ready"), r3)

    def test_long_pipeline_behind_a_waiting_request(self):
        """More pipelined bytes than a busy connection keeps (64 KiB): the
        rest waits in the socket, nothing is lost or reordered."""
        c = self.conn(timeout=10.0)
        key, path = self.value_path("slow")
        n = 2000
        c.send(get(path) + b"".join(get("/healthz?n=%d" % i) for i in range(n)))
        self.assert_value(c.read_response(), key, cache="slow", cs=CS_STORED)
        statuses = [c.read_response().status for _ in range(n)]
        self.assertEqual(statuses, [200] * n)
        self.assertTrue(c.nothing_pending())

    def test_pipelined_behind_a_large_answer_read_slowly(self):
        """An answer the socket does not take at once is finished before the
        next pipelined one starts."""
        c = self.conn(timeout=10.0)
        key, path = self.value_path("big")
        c.send(get(path) + get("/healthz") + get(path))
        time.sleep(0.3)
        r1, r2, r3 = c.read_response(), c.read_response(), c.read_response()
        self.assertEqual((r1.status, len(r1.body)), (200, BIG_BYTES), r1)
        self.assertEqual((r2.status, r2.body), (200, b'{"status":"ok"}\n'), r2)
        self.assertEqual((r3.status, r3.headers.get("Cache-Status")), (200, CS_HIT), r3)
        self.assertEqual(r3.body, r1.body)

    # 4. A trickled head

    def test_head_sent_one_byte_at_a_time(self):
        c = self.conn(nodelay=True)
        key, path = self.value_path()
        data = get(path, headers=[("User-Agent", "trickle/1.0"), ("Accept", "*/*")])
        for i in range(len(data)):
            c.send(data[i:i + 1])
            time.sleep(0.001)
        self.assert_value(c.read_response(), key, cs=CS_STORED)
        self.assertEqual(c.request(get("/healthz")).status, 200)

    # 5. Head limits

    def oversized(self, data):
        """Sends data (which the server refuses part-way) and returns the
        one response read up to EOF."""
        c = self.conn()
        try:
            c.send(data)
        except (BrokenPipeError, ConnectionResetError) as e:
            self.fail("sending the oversized head failed (%s) before the answer was read" % e)
        r = c.read_response()
        self.assert_closes(c)
        return r

    def test_request_line_over_16k_is_414(self):
        r = self.oversized(get("/caches/c/" + "a" * 20480))
        self.assert_wire_error(r, 414, "uri_too_long")
        self.assert_alive()

    def test_headers_over_16k_are_431(self):
        pad = [("X-Pad-%03d" % i, "p" * 200) for i in range(100)]
        r = self.oversized(get("/healthz", headers=pad))
        self.assert_wire_error(r, 431, "headers_too_large")
        self.assert_alive()

    def test_head_limit_is_exactly_16k(self):
        base = len(get("/healthz", headers=[("X-Pad", "")]))
        at = get("/healthz", headers=[("X-Pad", "p" * (HEAD_LIMIT - base))])
        self.assertEqual(len(at), HEAD_LIMIT)
        c = self.conn()
        r = c.request(at)
        self.assertEqual(r.status, 200, "a head of exactly 16 KiB is served: %r" % r)
        self.assertEqual(c.request(get("/healthz")).status, 200)
        r = self.oversized(get("/healthz", headers=[("X-Pad", "p" * (HEAD_LIMIT - base + 1))]))
        self.assert_wire_error(r, 431, "headers_too_large")

    def test_long_legal_head_is_served(self):
        key = "k" * 1024
        enc = "".join("%%%02X" % b for b in key.encode())
        self.assertEqual(len(enc), 3072)
        hdrs = [("User-Agent", "u" * 1000), ("X-Trace", "t" * 1800), ("Accept", "*/*")]
        data = get("/caches/c/" + enc, headers=hdrs)
        self.assertGreater(len(data), 5500)
        self.assertLess(len(data), 7000)
        c = self.conn()
        r = c.request(data)
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.json().get("path"), "/c/" + key)
        self.assertEqual(c.request(get("/healthz")).status, 200)

    # 6. Malformed requests

    def test_malformed_requests_are_400(self):
        cases = [
            b"GARBAGE\r\n\r\n",
            b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nNoColonHere\r\n\r\n",
            b"GET / HTTP/9.Z\r\n\r\n",
            b"GET /healthz HTTP/1.1\r\nHost : 127.0.0.1\r\n\r\n",
            b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: abc\r\n\r\n",
        ]
        for data in cases:
            with self.subTest(request=data):
                c = self.conn()
                c.send(data)
                r = c.read_response()
                self.assert_wire_error(r, 400, "bad_request")
                self.assert_closes(c)
        self.assert_alive()

    def test_framing_a_proxy_could_read_otherwise_is_400(self):
        # RFC 9112 5.1 and 5.2: whitespace before the colon, and folded
        # values, are refused, so no "Transfer-Encoding : chunked" desync.
        cases = [
            b"POST /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nTransfer-Encoding : chunked\r\n"
            b"\r\n0\r\n\r\n",
            b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nCache-Control: no-cache,\r\n"
            b" only-if-cached\r\n\r\n",
        ]
        for data in cases:
            with self.subTest(request=data):
                c = self.conn()
                c.send(data)
                self.assert_wire_error(c.read_response(), 400, "bad_request")
                self.assert_closes(c)

    def test_error_after_a_head_request_has_its_body(self):
        # The 400 for bytes that follow a HEAD is not a HEAD answer.
        c = self.conn()
        c.send(req("HEAD", "/healthz") + b"GARBAGE\r\n\r\n")
        h = c.read_response(method="HEAD")
        self.assertEqual(h.status, 200, h)
        self.assert_wire_error(c.read_response(), 400, "bad_request")
        self.assert_closes(c)

    # 7. HEAD

    def test_head_has_get_length_and_no_body(self):
        c = self.conn()
        key, path = self.value_path()
        g = c.request(get(path))
        self.assert_value(g, key, cs=CS_STORED)
        h = c.request(req("HEAD", path), method="HEAD")
        self.assertEqual(h.status, g.status, h)
        self.assertIn("Content-Length", h.headers, h)
        self.assertEqual(h.headers["Content-Length"], g.headers["Content-Length"])
        self.assertTrue(c.nothing_pending(), "HEAD sent body bytes: %r" % c.buf[:300])
        self.assert_value(c.request(get(path)), key, cs=CS_HIT)

    # 8. 204 and 304

    def assert_bodiless(self, r, status):
        self.assertEqual(r.status, status, r)
        self.assertNotIn("Content-Length", r.headers, r)
        self.assertNotIn("Transfer-Encoding", r.headers, r)

    def test_delete_204_has_no_body(self):
        c = self.conn()
        key, path = self.value_path()
        self.assert_value(c.request(get(path)), key, cs=CS_STORED)
        self.assert_bodiless(c.request(req("DELETE", path)), 204)
        self.assertTrue(c.nothing_pending(), "204 followed by %r" % c.buf[:300])
        self.assert_value(c.request(get(path)), key, cs=CS_STORED)

    def test_not_modified_304_has_no_body(self):
        c = self.conn()
        key, path = self.value_path()
        g = c.request(get(path))
        self.assert_value(g, key, cs=CS_STORED)
        etag = g.headers.get("ETag")
        self.assertRegex(etag or "", r'^"[0-9]+"$', g)
        r = c.request(get(path, headers=[("If-None-Match", etag)]))
        self.assert_bodiless(r, 304)
        self.assertEqual(r.headers.get("ETag"), etag, r)
        self.assertTrue(c.nothing_pending(), "304 followed by %r" % c.buf[:300])
        self.assert_value(c.request(get(path)), key, cs=CS_HIT)

    # 9. Request bodies

    def test_post_body_with_content_length_is_ignored(self):
        c = self.conn()
        key, path = self.value_path()
        body = b"x" * 3000 + b"GET /nope HTTP/1.1\r\n\r\n"
        r = c.request(req("POST", path, headers=[("Content-Length", str(len(body)))],
                          body=body))
        self.assertIn(r.status, (200, 202), r)
        self.assertEqual(r.json().get("key"), key, r)
        self.assertEqual(c.request(get("/healthz")).status, 200)
        self.assertTrue(c.nothing_pending())

    def test_post_body_chunked_is_ignored(self):
        c = self.conn(nodelay=True)
        key, path = self.value_path()
        c.send(req("POST", path, headers=[("Transfer-Encoding", "chunked")]))
        for piece in (b"5\r\nhello\r\n", b"1a;ext=1\r\n", b"GET /nope HTTP/1.1\r\n\r\nabcd\r\n",
                      b"3\r\n!!!\r\n", b"0\r\n\r\n"):
            time.sleep(0.01)
            c.send(piece)
        r = c.read_response()
        self.assertIn(r.status, (200, 202), r)
        self.assertEqual(r.json().get("key"), key, r)
        self.assertEqual(c.request(get("/healthz")).status, 200)
        self.assertTrue(c.nothing_pending())

    # 10. Expect: 100-continue

    def test_expect_100_continue(self):
        c = self.conn()
        key, path = self.value_path()
        body = b"0123456789"
        c.send(req("POST", path, headers=[("Content-Length", str(len(body))),
                                          ("Expect", "100-continue")]))
        want = b"HTTP/1.1 100 Continue\r\n\r\n"
        while len(c.buf) < len(want):
            if not c._fill():
                break
        self.assertEqual(c.buf[:len(want)], want, "interim answer before the body")
        c.buf = c.buf[len(want):]
        self.assertTrue(c.nothing_pending(), "no final answer before the body")
        c.send(body)
        r = c.read_response()
        self.assertIn(r.status, (200, 202), r)
        self.assertEqual(r.json().get("key"), key, r)
        self.assertEqual(c.request(get("/healthz")).status, 200)

    # 11. Date

    def test_every_response_has_an_imf_fixdate(self):
        key, path = self.value_path()
        exchanges = [
            [get("/healthz"), get("/readyz"), get("/caches"), get("/metrics"), get(path),
             (req("HEAD", path), "HEAD"), get("/nope"), req("PUT", "/caches/c/x"),
             get(path + "?timeout_ms=abc"), req("POST", path), req("DELETE", path)],
            [b"GARBAGE\r\n\r\n"],
            [get("/caches/c/" + "a" * 20480)],
        ]
        seen = []
        for group in exchanges:
            c = self.conn()
            for item in group:
                data, method = item if isinstance(item, tuple) else (item, "GET")
                c.send(data)
                r = c.read_response(method)
                seen.append(r.status)
                date = r.headers.get("Date", "")
                self.assertRegex(date, IMF_FIXDATE, r)
                stamp = email.utils.parsedate_to_datetime(date).timestamp()
                self.assertLess(abs(stamp - time.time()), 5.0, r)
        self.assertEqual(seen, [200, 200, 200, 200, 200, 200, 404, 405, 400, 200, 204, 400, 414])

    def test_no_libevent_warnings_per_connection(self):
        """Connections come and go without a line on stderr each (libevent
        warns, e.g., on event_del of an event never assigned)."""
        before = self.jc.stderr_text().count("[warn]")
        for _ in range(5):
            with self.conn() as c:
                self.assertEqual(c.request(get("/healthz")).status, 200)
        time.sleep(0.05)
        text = self.jc.stderr_text()
        self.assertEqual(text.count("[warn]"), before,
                         "libevent warnings on stderr: %r" % text.splitlines()[-5:])

    # 12. A client that hangs up

    def hang_up_during_fetch(self, abortive):
        key, path = self.value_path("slow", "gone")
        c = Conn(self.jc.port)
        c.send(get(path))
        time.sleep(0.1)
        if abortive:
            c.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        c.close()
        harness.wait_until(lambda: self.origin.count("/slow/%s" % key) == 1, 3.0,
                           what="the fetch reached the origin")
        time.sleep(SLOW_MS / 1000.0 + 0.2)  # the answer is written to a closed socket
        self.assert_alive()
        with self.conn() as c2:
            self.assert_value(c2.request(get(path)), key, cache="slow", cs=CS_HIT)
        self.assertEqual(self.origin.count("/slow/%s" % key), 1)

    def test_hang_up_during_fetch(self):
        self.hang_up_during_fetch(abortive=False)

    def test_reset_during_fetch(self):
        self.hang_up_during_fetch(abortive=True)

    def test_hang_up_while_another_waits(self):
        key, path = self.value_path("slow", "gone2")
        c = Conn(self.jc.port)
        c.send(get(path))
        time.sleep(0.1)
        c2 = self.conn()
        c2.send(get(path))
        time.sleep(0.05)
        c.close()
        self.assert_value(c2.read_response(), key, cache="slow", cs=CS_COLLAPSED)
        self.assertEqual(self.origin.count("/slow/%s" % key), 1)

    def test_half_closed_client_gets_its_answer(self):
        c = self.conn()
        key, path = self.value_path("slow", "half")
        c.send(get(path) + get("/healthz"))
        c.sock.shutdown(socket.SHUT_WR)
        self.assert_value(c.read_response(), key, cache="slow", cs=CS_STORED)
        r = c.read_response()
        self.assertEqual((r.status, r.body), (200, b'{"status":"ok"}\n'), r)
        self.assert_closes(c)

    # 13. The query string

    def test_query_parameters(self):
        c = self.conn()
        key, path = self.value_path("slow", "q")
        r = c.request(get(path + "?timeout_ms=abc"))
        self.assert_json_error((r.status, r.headers, r.body), 400, "bad_request")
        t0 = time.monotonic()
        r = c.request(get(path + "?x=1&timeout_ms=50"))
        elapsed = time.monotonic() - t0
        self.assert_json_error((r.status, r.headers, r.body), 504, "wait_timeout")
        self.assertGreaterEqual(elapsed, 0.04)
        self.assertLess(elapsed, 0.45, "timeout_ms=50 after another parameter is honoured")
        r = c.request(get(path + "?timeout_ms=50&y=%20z"))
        self.assertIn(r.status, (200, 504), r)
        harness.wait_until(lambda: self.jc.status_of("slow", key)["status"] == "EXISTS", 3.0)
        self.assertEqual(self.origin.count("/slow/%s" % urllib.parse.quote(key)), 1)


if __name__ == "__main__":
    harness.main()
