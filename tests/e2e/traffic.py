#!/usr/bin/env python3
"""tests/e2e/traffic.py — the end-to-end traffic driver: the document root,
the traffic mix over raw sockets (knowing per request the method, route and
kind of outcome it expects), the bare-versus-shim byte comparison, and the
exact comparison of a /metrics scrape against what the traffic implies.
Standard library only.

  traffic.py docroot DIR
  traffic.py run PORT OUT.json [--slow PATH] [--no-abort]
  traffic.py compare BARE.json SHIM.json
  traffic.py check RUN.json METRICS_PORT [--access-log FILE --log-format F]
                   [--slow-route R] [--conns-before N] [--timeout S]
  traffic.py logcheck RUN.json ACCESS_LOG [--log-format F]
  traffic.py idleconns METRICS_PORT
  traffic.py failover METRICS_PORT PORT PID [--within S]
  traffic.py promquery RUN.json PROM_PORT [--query Q] [--timeout S]
  traffic.py scrape METRICS_PORT [PATH]
"""

import argparse
import hashlib
import json
import os
import re
import socket
import struct
import sys
import time
import urllib.request

UUID = "3f2504e0-4f89-11d3-9a0c-0305e82c3301"
BIG_SIZE = 5 * 1024 * 1024
INDEX = b"<html><body><h1>promshim e2e</h1></body></html>\n"
TIMEOUT = 10.0


def die(msg):
    print("traffic.py: " + msg, file=sys.stderr)
    sys.exit(1)


# ---------------------------------------------------------------- docroot

def make_docroot(d):
    os.makedirs(os.path.join(d, "users"), exist_ok=True)
    os.makedirs(os.path.join(d, "items"), exist_ok=True)
    files = {
        "index.html": INDEX,
        "users/17": b'{"id": 17, "name": "ada"}\n',
        "users/23": b'{"id": 23, "name": "grace"}\n',
        "items/" + UUID: b'{"item": "' + UUID.encode() + b'"}\n',
    }
    for name, body in files.items():
        with open(os.path.join(d, name), "wb") as f:
            f.write(body)
    # Deterministic content so a mismatch is reproducible.
    block = bytes(range(256)) * 4096
    with open(os.path.join(d, "big.bin"), "wb") as f:
        left = BIG_SIZE
        while left:
            n = min(left, len(block))
            f.write(block[:n])
            left -= n
    # Fixed mtime: Last-Modified and ETag then match between runs.
    stamp = 1700000000
    for root, dirs, names in os.walk(d):
        for n in names + dirs:
            os.utime(os.path.join(root, n), (stamp, stamp))
    for root, dirs, names in os.walk(d):
        os.chmod(root, 0o755)
        for n in names:
            os.chmod(os.path.join(root, n), 0o644)


# ---------------------------------------------------------------- the mix

class Req:
    """One request: bytes to send and the labels the shim must give it.
    kind: 'count' (in http_requests_total), 'abort' (in
    http_requests_aborted_total only), 'invalid' (counted with route
    _INVALID)."""

    def __init__(self, method, target, route, kind="count", headers=(), body=b"",
                 version="HTTP/1.1", raw=None, name=None, req_body=None):
        self.method = method
        self.route = route
        self.kind = kind
        self.name = name or "%s %s" % (method, target)
        if raw is not None:
            self.raw = raw
        else:
            h = "%s %s %s\r\nHost: 127.0.0.1\r\n" % (method, target, version)
            for k, v in headers:
                h += "%s: %s\r\n" % (k, v)
            self.raw = h.encode() + b"\r\n" + body
        self.head_only = method == "HEAD"
        self.req_body = req_body if req_body is not None else len(body)


def chunked(body, sizes):
    out, i = b"", 0
    for n in sizes:
        out += b"%x\r\n" % n + body[i:i + n] + b"\r\n"
        i += n
    return out + b"0\r\n\r\n"


def the_mix(slow):
    """Connections, each a list of steps. A step is ('send', [Req...]) for
    requests written together (pipelined when more than one) and answered
    in order."""
    u17, u23, item = "/users/17", "/users/23", "/items/" + UUID
    body = b"name=linus&lang=c"
    cbody = b"0123456789abcdefghijklmnopqrstuvwxyz"
    conns = []
    # Keep-alive: several routes, ID-like paths, a query string, HEAD, 301,
    # 404, and a conditional GET (If-Modified-Since filled in at run time).
    conns.append(("keepalive", [
        Req("GET", "/", "/"),
        Req("GET", "/index.html", "/index.html"),
        Req("GET", u17, "/users/{id}"),
        Req("GET", u23 + "?debug=1&x=2", "/users/{id}"),
        Req("GET", item, "/items/{id}"),
        Req("HEAD", u17, "/users/{id}"),
        Req("GET", "/users", "/users"),
        Req("GET", "/index.html", "/index.html", name="GET /index.html If-Modified-Since",
            headers=[("If-Modified-Since", "@LAST_MODIFIED")]),
        # Last: some servers close the connection after an error.
        Req("GET", "/missing/page.html", "/missing/page.html"),
    ]))
    conns.append(("post-length", [
        Req("POST", u17, "/users/{id}", headers=[
            ("Content-Type", "application/x-www-form-urlencoded"),
            ("Content-Length", str(len(body)))], body=body),
    ]))
    conns.append(("post-chunked", [
        Req("POST", u23, "/users/{id}", headers=[
            ("Content-Type", "application/octet-stream"),
            ("Transfer-Encoding", "chunked")], body=chunked(cbody, [10, 20, 6]), req_body=len(cbody)),
    ]))
    conns.append(("pipelined", [[
        Req("GET", u17, "/users/{id}"),
        Req("HEAD", "/index.html", "/index.html"),
        Req("GET", u23, "/users/{id}"),
    ]]))
    conns.append(("http10", [
        Req("GET", "/index.html", "/index.html", version="HTTP/1.0"),
    ]))
    conns.append(("big", [Req("GET", "/big.bin", "/big.bin")]))
    # The garbage comes second so the connection is already known as HTTP.
    conns.append(("malformed", [
        Req("GET", u17, "/users/{id}"),
        Req("_OTHER", "", "_INVALID", kind="invalid", raw=b"GARBAGE\r\n\r\n", name="malformed"),
    ]))
    conns.append(("abort", [Req("GET", "/big.bin", "/big.bin", kind="abort",
                                name="GET /big.bin aborted")]))
    if slow:
        # A server with the delayed route also has /chunked (both come from
        # pyserver.py, directly or proxied).
        conns.append(("slow", [Req("GET", slow, slow)]))
        conns.append(("chunked", [Req("GET", "/chunked?part=all", "/chunked")]))
        conns.append(("close-delimited", [Req("GET", "/chunked", "/chunked", version="HTTP/1.0")]))
    return conns


# ---------------------------------------------------------------- client

class Conn:
    def __init__(self, port, rcvbuf=0):
        self.s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        if rcvbuf:
            self.s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        self.s.settimeout(TIMEOUT)
        self.s.connect(("127.0.0.1", port))
        self.buf = b""
        self.eof = False

    def fill(self):
        d = self.s.recv(1 << 16)
        if not d:
            self.eof = True
            return False
        self.buf += d
        return True

    def take(self, n):
        while len(self.buf) < n:
            if not self.fill():
                raise EOFError("connection closed after %d of %d bytes" % (len(self.buf), n))
        out, self.buf = self.buf[:n], self.buf[n:]
        return out

    def line(self):
        while b"\r\n" not in self.buf and b"\n" not in self.buf:
            if not self.fill():
                raise EOFError("connection closed inside a line")
        i = self.buf.find(b"\n")
        out, self.buf = self.buf[:i + 1], self.buf[i + 1:]
        return out

    def response(self, head_only):
        """Read one response; returns (status, head bytes, body bytes as
        framed); self.decoded is the body's length without chunk framing."""
        head = b""
        self.decoded = None
        while True:
            ln = self.line()
            head += ln
            if ln in (b"\r\n", b"\n") and head.strip():
                break
        lines = head.decode("latin-1").split("\n")
        m = re.match(r"HTTP/\d\.\d (\d{3})", lines[0])
        if not m:
            raise ValueError("bad status line %r" % lines[0])
        status = int(m.group(1))
        hdrs = {}
        for ln in lines[1:]:
            if ":" in ln:
                k, v = ln.split(":", 1)
                hdrs[k.strip().lower()] = v.strip()
        if head_only or status in (204, 304) or status < 200:
            return status, head, b""
        self.decoded = 0
        if "chunked" in hdrs.get("transfer-encoding", "").lower():
            body = b""
            while True:
                szl = self.line()
                body += szl
                n = int(szl.split(b";")[0].strip(), 16)
                self.decoded += n
                if n == 0:
                    while True:
                        t = self.line()
                        body += t
                        if t in (b"\r\n", b"\n"):
                            return status, head, body
                body += self.take(n + 2)
        if "content-length" in hdrs:
            return status, head, self.take(int(hdrs["content-length"]))
        while self.fill():
            pass
        body, self.buf = self.buf, b""
        return status, head, body

    def wait_close(self):
        end = time.monotonic() + TIMEOUT
        while not self.eof and time.monotonic() < end:
            if not self.fill():
                break
        return self.eof

    def close(self):
        self.s.close()

    def reset(self):
        self.s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.s.close()


MASK = ("date", "last-modified", "etag", "expires", "age")


def masked(head):
    out = []
    for ln in head.decode("latin-1").split("\n"):
        k = ln.split(":", 1)[0].strip().lower()
        out.append(k + ": *" if ":" in ln and k in MASK else ln.rstrip("\r"))
    return "\n".join(out)


def run(port, slow, out, with_abort):
    results = []
    last_modified = None
    for cname, steps in the_mix(slow):
        if cname == "abort" and not with_abort:
            continue
        conn = Conn(port, rcvbuf=4096 if cname == "abort" else 0)
        try:
            for step in steps:
                reqs = step if isinstance(step, list) else [step]
                wire = b""
                for r in reqs:
                    raw = r.raw
                    if b"@LAST_MODIFIED" in raw:
                        if not last_modified:
                            die("no Last-Modified seen before the conditional GET")
                        raw = raw.replace(b"@LAST_MODIFIED", last_modified.encode())
                    wire += raw
                t0 = time.monotonic()
                conn.s.sendall(wire)
                for r in reqs:
                    rec = {"conn": cname, "name": r.name, "method": r.method,
                           "route": r.route, "kind": r.kind}
                    if r.kind == "abort":
                        # Read a little, let the server fill its buffers and
                        # block in a write, then reset: its write fails.
                        got = b""
                        while len(got) < 8192:
                            d = conn.s.recv(4096)
                            if not d:
                                die("abort: server closed early")
                            got += d
                        m = re.match(rb"HTTP/\d\.\d (\d{3})", got)
                        rec.update(status=int(m.group(1)) if m else 0, head="", body_sha="",
                                   body_len=-1, seconds=0.0)
                        time.sleep(0.3)
                        conn.reset()
                        conn = None
                        results.append(rec)
                        break
                    status, head, body = conn.response(r.head_only)
                    if r.name == "GET /index.html" and last_modified is None:
                        mm = re.search(r"(?im)^last-modified:\s*(.+?)\r?$", head.decode("latin-1"))
                        last_modified = mm.group(1) if mm else None
                    rec.update(status=status, head=masked(head),
                               body_sha=hashlib.sha256(body).hexdigest(), body_len=len(body),
                               resp_body=len(body) if not conn.decoded else conn.decoded,
                               req_body=r.req_body, seconds=time.monotonic() - t0)
                    results.append(rec)
                if conn is None:
                    break
            if conn is not None:
                # Let a server that closes (HTTP/1.0, errors) do so first.
                if re.search(r"(?im)^connection:\s*close", head.decode("latin-1")) or cname in ("http10", "close-delimited"):
                    conn.wait_close()
                conn.close()
        except (OSError, EOFError, ValueError) as e:
            die("connection %s: %s" % (cname, e))
    with open(out, "w") as f:
        json.dump(results, f, indent=1)
    for r in results:
        print("%-8s %-40s -> %d" % (r["conn"], r["name"], r["status"]))


def compare(a_path, b_path):
    a = json.load(open(a_path))
    b = json.load(open(b_path))
    bad = 0
    if len(a) != len(b):
        die("bare run has %d exchanges, shim run %d" % (len(a), len(b)))
    for x, y in zip(a, b):
        fields = ("status",) if x["kind"] == "abort" else ("status", "head", "body_sha", "body_len")
        for f in fields:
            if x[f] != y[f]:
                bad += 1
                print("DIFF %s %s: bare %r, shim %r" % (x["conn"], x["name"], x[f], y[f]))
    if bad:
        die("%d differences between the bare and the shimmed server" % bad)
    print("responses identical: %d exchanges" % len(a))


# ---------------------------------------------------------------- metrics

LINE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})?\s+(\S+)(\s+\S+)?$')
LABEL = re.compile(r'\s*([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"\s*,?')


def parse_metrics(text):
    """{name: {frozenset(labels.items()): float}}"""
    out = {}
    for ln in text.splitlines():
        if not ln or ln.startswith("#"):
            continue
        m = LINE.match(ln)
        if not m:
            raise ValueError("unparsable exposition line %r" % ln)
        labels = {}
        rest = m.group(3) or ""
        pos = 0
        while pos < len(rest):
            lm = LABEL.match(rest, pos)
            if not lm:
                raise ValueError("bad labels in %r" % ln)
            labels[lm.group(1)] = re.sub(r'\\(.)', lambda g: {"n": "\n"}.get(g.group(1), g.group(1)),
                                         lm.group(2))
            pos = lm.end()
        out.setdefault(m.group(1), {})[frozenset(labels.items())] = float(m.group(4))
    return out


def scrape(port, path="/metrics"):
    with urllib.request.urlopen("http://127.0.0.1:%d%s" % (port, path), timeout=5) as r:
        return r.read().decode()


def expected(results):
    counts, aborts, statuses = {}, {}, {}
    for r in results:
        statuses[r["status"]] = statuses.get(r["status"], 0) + 1
        if r["kind"] == "abort":
            k = (r["method"], r["route"])
            aborts[k] = aborts.get(k, 0) + 1
        else:
            k = (r["method"], r["route"], str(r["status"]))
            counts[k] = counts.get(k, 0) + 1
    return counts, aborts, statuses


def series(m, name, keys):
    got = {}
    for labels, v in m.get(name, {}).items():
        d = dict(labels)
        got[tuple(d.get(k, "<missing>") for k in keys)] = v
    return got


def gauge(m, name):
    v = m.get(name, {}).get(frozenset())
    return None if v is None else int(v)


def problems(results, m, slow_route, conns_before=None):
    counts, aborts, _ = expected(results)
    errs = []
    if conns_before is not None:
        # Every connection of the mix was accepted once and is closed now.
        want = conns_before + len({r["conn"] for r in results})
        acc = gauge(m, "http_connections_accepted_total")
        if acc != want:
            errs.append("http_connections_accepted_total: expected %d, scraped %s" % (want, acc))
        for g in ("http_connections_open", "http_requests_in_flight"):
            if gauge(m, g) != 0:
                errs.append("%s: expected 0 once the traffic is over, scraped %s" % (g, gauge(m, g)))
    got = series(m, "http_requests_total", ("method", "route", "status_code"))
    for k in sorted(set(counts) | set(got)):
        if counts.get(k, 0) != got.get(k, 0):
            errs.append("http_requests_total%s: expected %d, scraped %s"
                        % (k, counts.get(k, 0), got.get(k, "nothing")))
    if sum(got.values()) != sum(counts.values()):
        errs.append("sum(http_requests_total): expected %d, scraped %d"
                    % (sum(counts.values()), sum(got.values())))
    hc = series(m, "http_request_duration_seconds_count", ("method", "route", "status_code"))
    for k in sorted(set(got) | set(hc)):
        if hc.get(k) != got.get(k):
            errs.append("http_request_duration_seconds_count%s = %s but counter = %s"
                        % (k, hc.get(k), got.get(k)))
    buckets = {}
    for labels, v in m.get("http_request_duration_seconds_bucket", {}).items():
        d = dict(labels)
        # le compared as a number: "0.5", ".5" and "5e-1" are one bound.
        le = float(d.get("le", "nan").replace("+Inf", "inf"))
        buckets.setdefault((d.get("method"), d.get("route"), d.get("status_code")), {})[le] = v
    for k, c in got.items():
        inf = buckets.get(k, {}).get(float("inf"))
        if inf != c:
            errs.append("http_request_duration_seconds_bucket%s le=+Inf = %s but counter = %s" % (k, inf, c))
    ga = series(m, "http_requests_aborted_total", ("method", "route"))
    for k in sorted(set(aborts) | set(ga)):
        if aborts.get(k, 0) != ga.get(k, 0):
            errs.append("http_requests_aborted_total%s: expected %d, scraped %s"
                        % (k, aborts.get(k, 0), ga.get(k, "nothing")))
    # Body bytes each way, summed per series (chunked: decoded length).
    for hname, field in (("http_request_size_bytes", "req_body"), ("http_response_size_bytes", "resp_body")):
        want = {}
        for r in results:
            if r["kind"] != "abort":
                k = (r["method"], r["route"], str(r["status"]))
                want[k] = want.get(k, 0) + r[field]
        hs = series(m, hname + "_sum", ("method", "route", "status_code"))
        hn = series(m, hname + "_count", ("method", "route", "status_code"))
        for k in sorted(set(want) | set(hs)):
            if hs.get(k) != want.get(k):
                errs.append("%s_sum%s: expected %s, scraped %s" % (hname, k, want.get(k), hs.get(k)))
            if hn.get(k) != got.get(k):
                errs.append("%s_count%s = %s but counter = %s" % (hname, k, hn.get(k), got.get(k)))
    if slow_route:
        sums = series(m, "http_request_duration_seconds_sum", ("method", "route", "status_code"))
        for k, c in counts.items():
            if k[1] != slow_route:
                continue
            # The server sleeps 0.3 s between reading the request and
            # writing the response: no honest clock measures less.
            sm = sums.get(k)
            if sm is None or not 0.3 * c <= sm < 0.5 * c:
                errs.append("slow route %s: _sum %s outside [%.1f, %.1f)" % (k, sm, 0.3 * c, 0.5 * c))
            b = buckets.get(k, {})
            if b.get(0.25) != 0 or b.get(0.5) != c:
                errs.append("slow route %s: expected le=0.25 -> 0 and le=0.5 -> %d, scraped %s / %s"
                            % (k, c, b.get(0.25), b.get(0.5)))
    return errs


LOG_FORMATS = {
    # 127.0.0.1 - - [date] "GET / HTTP/1.1" 200 -
    "python": re.compile(r'^\S+ - - \[[^\]]*\] ".*" (\d{3}) \S+$'),
    # combined / common: ... "request" status bytes ...
    "common": re.compile(r'^\S+ \S+ \S+ \[[^\]]*\] ".*" (\d{3}) \S+'),
}


def access_log_problems(results, path, fmt):
    _, _, want = expected(results)
    have = {}
    rx = LOG_FORMATS[fmt]
    with open(path, errors="replace") as f:
        for ln in f:
            m = rx.match(ln.rstrip("\n"))
            if m:
                s = int(m.group(1))
                have[s] = have.get(s, 0) + 1
    errs = []
    for s in sorted(set(want) | set(have)):
        if want.get(s, 0) != have.get(s, 0):
            errs.append("access log: status %d: %d lines, traffic implies %d"
                        % (s, have.get(s, 0), want.get(s, 0)))
    return errs


def logcheck(results, path, fmt, timeout):
    # Servers log an exchange when they finalize it (an abort: when they
    # notice the reset), so poll until exact or the deadline.
    end = time.monotonic() + timeout
    while True:
        errs = access_log_problems(results, path, fmt)
        if not errs or time.monotonic() > end:
            break
        time.sleep(0.2)
    if errs:
        die("access log disagrees with the traffic:\n  " + "\n  ".join(errs))
    print("access log agrees: %d lines" % len(results))


def check(args):
    results = json.load(open(args.results))
    if args.access_log:
        logcheck(results, args.access_log, args.log_format, args.timeout)
    # Counts land right after the server's last write returns and aborts
    # when it notices the reset: poll until exact or the deadline.
    end = time.monotonic() + args.timeout
    while True:
        try:
            text = scrape(args.metrics_port)
            errs = problems(results, parse_metrics(text), args.slow_route, args.conns_before)
        except (OSError, ValueError) as e:
            text, errs = "", ["scrape failed: %s" % e]
        if not errs or time.monotonic() > end:
            break
        time.sleep(0.2)
    if args.save:
        with open(args.save, "w") as f:
            f.write(text)
    if errs:
        print("\n".join(ln for ln in text.splitlines()
                        if ln.startswith(("http_requests_total", "http_requests_aborted_total"))),
              file=sys.stderr)
        die("metrics disagree with the traffic:\n  " + "\n  ".join(errs))
    counts, aborts, _ = expected(results)
    print("metrics exact: %d series, %d requests, %d aborted"
          % (len(counts), sum(counts.values()), sum(aborts.values())))


def totals(port, timeout=0.5):
    """Counts of http_requests_total and http_requests_aborted_total."""
    with urllib.request.urlopen("http://127.0.0.1:%d/metrics" % port, timeout=timeout) as r:
        m = parse_metrics(r.read().decode())
    return (series(m, "http_requests_total", ("method", "route", "status_code")),
            series(m, "http_requests_aborted_total", ("method", "route")))


def dead(pid):
    try:
        with open("/proc/%d/stat" % pid) as f:
            return f.read().rsplit(")", 1)[1].split()[0] in ("Z", "X")
    except OSError:
        return True


def idle_conns(args):
    """http_connections_accepted_total once the server is idle (nothing open,
    nothing in flight, the value steady): the base the check adds the mix's
    connections to."""
    end = time.monotonic() + args.timeout
    last = None
    while time.monotonic() < end:
        try:
            m = parse_metrics(scrape(args.metrics_port))
        except (OSError, ValueError):
            m = {}
        acc = gauge(m, "http_connections_accepted_total")
        if (acc is not None and acc == last and gauge(m, "http_connections_open") == 0
                and gauge(m, "http_requests_in_flight") == 0):
            print(acc)
            return
        last = acc
        time.sleep(0.2)
    die("the server never went idle: http_connections_accepted_total %s" % last)


def failover(args):
    """Kill the process serving /metrics; another member must serve within
    2 s with every count intact, and keep counting."""
    before = totals(args.metrics_port, 5)
    if not before[0]:
        die("failover: nothing counted before the kill")
    os.kill(args.pid, 9)
    t0 = time.monotonic()
    after, err = None, None
    while time.monotonic() - t0 < args.within:
        if dead(args.pid):
            try:
                after = totals(args.metrics_port)
                break
            except (OSError, ValueError) as e:
                err = e
        time.sleep(0.05)
    took = time.monotonic() - t0
    if after is None:
        die("failover: /metrics not back %.1f s after killing pid %d (last error: %s)"
            % (args.within, args.pid, err))
    print("failover: /metrics back %.3f s after killing pid %d" % (took, args.pid))
    if after != before:
        die("failover: counts changed across the kill:\n  before %r\n  after  %r" % (before, after))
    # The survivors still count, into the same registry.
    c = Conn(args.port)
    c.s.sendall(b"GET /users/17 HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
    status = c.response(False)[0]
    c.close()
    key = ("GET", "/users/{id}", str(status))
    want = dict(before[0])
    want[key] = want.get(key, 0) + 1
    end = time.monotonic() + 5
    while True:
        now = totals(args.metrics_port, 5)
        if now[0] == want or time.monotonic() > end:
            break
        time.sleep(0.1)
    if now[0] != want:
        die("failover: after one more request expected %r, scraped %r" % (want, now[0]))
    print("failover: counts intact, the next request counted")


def prom_query(args):
    """Ask a Prometheus server, through its HTTP API, for a query until it
    returns the total the traffic implies (or the deadline passes)."""
    results = json.load(open(args.results))
    counts, _, _ = expected(results)
    want = sum(counts.values())
    base = "http://127.0.0.1:%d" % args.prom_port
    url = base + "/api/v1/query?query=" + urllib.request.quote(args.query)
    end = time.monotonic() + args.timeout
    last = None
    while time.monotonic() < end:
        try:
            with urllib.request.urlopen(url, timeout=2) as r:
                doc = json.load(r)
            res = doc["data"]["result"]
            last = float(res[0]["value"][1]) if res else None
            if last == want:
                print("prometheus: %s = %d" % (args.query, want))
                return
        except (OSError, ValueError, KeyError) as e:
            last = "error: %s" % e
        time.sleep(0.5)
    health = ""
    try:
        with urllib.request.urlopen(base + "/api/v1/targets", timeout=2) as r:
            for t in json.load(r)["data"]["activeTargets"]:
                health += " target %s: health %s, lastError %r" % (
                    t["scrapeUrl"], t["health"], t["lastError"])
    except (OSError, ValueError, KeyError) as e:
        health = " targets unavailable: %s" % e
    die("prometheus: %s expected %d, last answer %r;%s" % (args.query, want, last, health))


def main():
    p = argparse.ArgumentParser()
    sub = p.add_subparsers(dest="cmd", required=True)
    d = sub.add_parser("docroot")
    d.add_argument("dir")
    r = sub.add_parser("run")
    r.add_argument("port", type=int)
    r.add_argument("out")
    r.add_argument("--slow")
    r.add_argument("--no-abort", action="store_true")
    c = sub.add_parser("compare")
    c.add_argument("bare")
    c.add_argument("shim")
    k = sub.add_parser("check")
    k.add_argument("results")
    k.add_argument("metrics_port", type=int)
    k.add_argument("--access-log")
    k.add_argument("--log-format", default="common", choices=sorted(LOG_FORMATS))
    k.add_argument("--slow-route")
    k.add_argument("--timeout", type=float, default=5.0)
    k.add_argument("--save")
    g = sub.add_parser("logcheck")
    g.add_argument("results")
    g.add_argument("access_log")
    g.add_argument("--log-format", default="common", choices=sorted(LOG_FORMATS))
    g.add_argument("--timeout", type=float, default=5.0)
    k.add_argument("--conns-before", type=int)
    i = sub.add_parser("idleconns")
    i.add_argument("metrics_port", type=int)
    i.add_argument("--timeout", type=float, default=5.0)
    f = sub.add_parser("failover")
    f.add_argument("metrics_port", type=int)
    f.add_argument("port", type=int)
    f.add_argument("pid", type=int)
    f.add_argument("--within", type=float, default=2.0)
    q = sub.add_parser("promquery")
    q.add_argument("results")
    q.add_argument("prom_port", type=int)
    q.add_argument("--query", default="sum(http_requests_total)")
    q.add_argument("--timeout", type=float, default=30.0)
    s = sub.add_parser("scrape")
    s.add_argument("metrics_port", type=int)
    s.add_argument("path", nargs="?", default="/metrics")
    a = p.parse_args()
    if a.cmd == "docroot":
        make_docroot(a.dir)
    elif a.cmd == "run":
        run(a.port, a.slow, a.out, not a.no_abort)
    elif a.cmd == "compare":
        compare(a.bare, a.shim)
    elif a.cmd == "check":
        check(a)
    elif a.cmd == "logcheck":
        logcheck(json.load(open(a.results)), a.access_log, a.log_format, a.timeout)
    elif a.cmd == "idleconns":
        idle_conns(a)
    elif a.cmd == "failover":
        failover(a)
    elif a.cmd == "promquery":
        prom_query(a)
    elif a.cmd == "scrape":
        sys.stdout.write(scrape(a.metrics_port, a.path))


if __name__ == "__main__":
    main()
