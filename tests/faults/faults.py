#!/usr/bin/env python3
"""tests/faults/faults.py — clients for the fault and hostile-input tests:
keep-alive load that counts what it sent and what it fully received (with
optional chaos: SIGKILL or SIGSTOP/SIGCONT of a parent's children), the
settle check (gauges back to zero, totals within what the client saw), the
hostile inputs (raw bytes, bare versus shim, metric deltas per case), the
random-URL scan with the series cap and RSS, and the fd-limit probe.
Reuses tests/e2e/traffic.py for scraping and parsing. Standard library only.

  faults.py seriesroot DIR N
  faults.py load PORT SECONDS OUT.json [--conns C] [--paths N] [--mport M]
                [--chaos PID --signal KILL|STOP --every S]
  faults.py settle OUT.json MPORT [--exact] [--timeout S]   (exit 3: responses uncounted)
  faults.py hostile PORT OUT.json [--mport M --save-dir DIR] [--proxy-port P]
  faults.py hcompare BARE.json SHIM.json [--known CASE=REASON ...]   (exit 77: known bugs only)
  faults.py scan PORT MPORT N --max-series K --pids PID,PID... [--rss-kib K]
  faults.py fdprobe PORT [--path P] [--max N] [--mport M]
  faults.py count PORT N [--path P]
"""

import argparse
import json
import os
import random
import re
import signal
import socket
import sys
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "e2e"))
import traffic  # noqa: E402  (the e2e driver: scrape, parse_metrics, series)


def die(msg):
    print("faults.py: " + msg, file=sys.stderr)
    sys.exit(1)


def scrape(mport, timeout=5.0):
    import urllib.request
    with urllib.request.urlopen("http://127.0.0.1:%d/metrics" % mport, timeout=timeout) as r:
        return r.read().decode()


def total(m, name, **match):
    s = 0.0
    for labels, v in m.get(name, {}).items():
        d = dict(labels)
        if all(d.get(k) == want for k, want in match.items()):
            s += v
    return s


def gauge(m, name):
    return sum(m.get(name, {}).values())


# ---------------------------------------------------------------- docroot

def series_root(d, n):
    traffic.make_docroot(d)
    os.makedirs(os.path.join(d, "s"), exist_ok=True)
    for i in range(n):
        with open(os.path.join(d, "s", "f%d.html" % i), "wb") as f:
            f.write(b"<p>file %d</p>\n" % i)
        os.utime(os.path.join(d, "s", "f%d.html" % i), (1700000000, 1700000000))
    os.chmod(os.path.join(d, "s"), 0o755)


# ---------------------------------------------------------------- client

class Client:
    """One keep-alive connection that reads whole responses."""

    def __init__(self, port, timeout=5.0):
        self.s = socket.create_connection(("127.0.0.1", port), timeout)
        self.s.settimeout(timeout)
        self.buf = b""

    def fill(self):
        d = self.s.recv(65536)
        if not d:
            raise EOFError("closed")
        self.buf += d

    def response(self, head_only):
        while b"\r\n\r\n" not in self.buf:
            self.fill()
        i = self.buf.index(b"\r\n\r\n") + 4
        head, self.buf = self.buf[:i], self.buf[i:]
        m = re.match(rb"HTTP/1\.[01] (\d{3})", head)
        if not m:
            raise ValueError("bad status line %r" % head[:40])
        status = int(m.group(1))
        cl = re.search(rb"(?im)^content-length:\s*(\d+)", head)
        n = 0 if head_only or status in (204, 304) or status < 200 else int(cl.group(1)) if cl else None
        if n is None:
            raise ValueError("response without Content-Length")
        while len(self.buf) < n:
            self.fill()
        self.buf = self.buf[n:]
        close = re.search(rb"(?im)^connection:\s*close", head) is not None
        return status, close

    def close(self):
        try:
            self.s.close()
        except OSError:
            pass


def children(pid):
    out = []
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % d) as f:
                st = f.read().rsplit(")", 1)[1].split()
            if int(st[1]) == pid and st[0] not in "ZX":
                out.append(int(d))
        except (OSError, IndexError, ValueError):
            pass
    return out


class Load:
    def __init__(self, port, paths, conns, seed):
        self.port = port
        self.paths = paths
        self.conns = conns
        self.lock = threading.Lock()
        self.sent = self.completed = self.errors = 0
        self.statuses = {}
        self.keys = {}
        self.stop = threading.Event()
        self.rng = random.Random(seed)

    def worker(self, k):
        rng = random.Random(k)
        c = None
        sent = completed = errors = 0
        statuses = {}
        keys = {}
        while not self.stop.is_set():
            try:
                if c is None:
                    c = Client(self.port)
                method, path = rng.choice(self.paths)
                sent += 1
                c.s.sendall(b"%s %s HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n" % (method.encode(), path.encode()))
                status, close = c.response(method == "HEAD")
                completed += 1
                statuses[status] = statuses.get(status, 0) + 1
                k = "%s %s %d" % (method, path, status)
                keys[k] = keys.get(k, 0) + 1
                if close:
                    c.close()
                    c = None
            except (OSError, EOFError, ValueError):
                errors += 1
                if c:
                    c.close()
                c = None
                time.sleep(0.01)
        if c:
            c.close()
        with self.lock:
            self.sent += sent
            self.completed += completed
            self.errors += errors
            for s, n in statuses.items():
                self.statuses[s] = self.statuses.get(s, 0) + n
            for s, n in keys.items():
                self.keys[s] = self.keys.get(s, 0) + n


def chaos(stop, pid, sig, every, rng, record):
    while not stop.wait(every * (0.5 + rng.random())):
        kids = children(pid)
        if not kids:
            continue
        victim = rng.choice(kids)
        try:
            if sig == "KILL":
                os.kill(victim, signal.SIGKILL)
            else:
                os.kill(victim, signal.SIGSTOP)
                time.sleep(0.05 + 0.35 * rng.random())
                os.kill(victim, signal.SIGCONT)
            record.append(victim)
        except ProcessLookupError:
            pass


def load_paths(n):
    paths = []
    for i in range(n):
        for m in ("GET", "HEAD"):
            paths.append((m, "/s/f%d.html" % i))
            paths.append((m, "/s/m%d.html" % i))
    return paths or [("GET", "/index.html")]


def load(a):
    base = {"total": 0.0, "aborted": 0.0}
    if a.mport:
        m = traffic.parse_metrics(scrape(a.mport))
        base = {"total": total(m, "http_requests_total"),
                "aborted": total(m, "http_requests_aborted_total")}
    ld = Load(a.port, load_paths(a.paths), a.conns, 1)
    ts = [threading.Thread(target=ld.worker, args=(k,)) for k in range(a.conns)]
    for t in ts:
        t.start()
    record = []
    ct = None
    if a.chaos:
        ct = threading.Thread(target=chaos, args=(ld.stop, a.chaos, a.signal, a.every,
                                                  random.Random(7), record))
        ct.start()
    time.sleep(a.seconds)
    ld.stop.set()
    for t in ts + ([ct] if ct else []):
        t.join(30)
    if a.chaos and a.signal == "STOP":
        for p in children(a.chaos):
            try:
                os.kill(p, signal.SIGCONT)
            except OSError:
                pass
    # The server must still serve once the chaos stops (the master
    # respawns killed workers): a few requests on fresh connections.
    after = 0
    end = time.monotonic() + 10
    while after < 20 and time.monotonic() < end:
        try:
            c = Client(a.port)
            ld.sent += 1
            c.s.sendall(b"GET /index.html HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
            st, _ = c.response(False)
            c.close()
            ld.completed += 1
            ld.statuses[st] = ld.statuses.get(st, 0) + 1
            after += 1 if st == 200 else 0
        except (OSError, EOFError, ValueError):
            ld.errors += 1
            time.sleep(0.1)
    if after < 20:
        die("the server stopped serving: %d of 20 requests after the load" % after)
    out = {"sent": ld.sent, "completed": ld.completed, "errors": ld.errors,
           "statuses": ld.statuses, "keys": ld.keys, "signals": len(record), "signal": a.signal if a.chaos else None, "base": base}
    with open(a.out, "w") as f:
        json.dump(out, f)
    print("load: %d sent, %d completed, %d connection errors, %d signals (%s), %.0f req/s"
          % (ld.sent, ld.completed, ld.errors, len(record), a.signal if a.chaos else "none",
             ld.completed / a.seconds))


def shortfall(r, m):
    """Series the client completed more often than the scrape (or base)
    shows: where counts went missing."""
    got = traffic.series(m, "http_requests_total", ("method", "route", "status_code"))
    out = []
    for k, n in sorted(r.get("keys", {}).items()):
        method, path, status = k.split(" ")
        have = got.get((method, path, status), 0)
        if have < n:
            out.append("%s: client completed %d, scraped %d" % (k, n, have))
    ab = traffic.series(m, "http_requests_aborted_total", ("method", "route"))
    out += ["aborted %s %s: %d" % (k[0], k[1], v) for k, v in sorted(ab.items()) if v]
    return out


def settle(a):
    r = json.load(open(a.out))
    end = time.monotonic() + a.timeout
    last = None
    while True:
        try:
            m = traffic.parse_metrics(scrape(a.mport))
            infl = gauge(m, "http_requests_in_flight")
            conns = gauge(m, "http_connections_open")
            last = (infl, conns)
            if infl == 0 and conns == 0:
                break
        except (OSError, ValueError) as e:
            last = "scrape failed: %s" % e
        if time.monotonic() > end:
            die("gauges did not settle within %.0f s: in flight, open connections = %s" % (a.timeout, last))
        time.sleep(0.2)
    tot = total(m, "http_requests_total") - r["base"]["total"]
    ab = total(m, "http_requests_aborted_total") - r["base"]["aborted"]
    print("settled: in flight 0, open connections 0; counted %d, aborted %d; client sent %d, completed %d"
          "; %d SIG%s" % (tot, ab, r["sent"], r["completed"], r["signals"], r.get("signal")))
    if a.exact:
        if tot != r["completed"] or r["sent"] != r["completed"]:
            die("expected exactly %d requests counted (sent %d), scraped %d" % (r["completed"], r["sent"], tot))
    else:
        # A SIGKILL that arrives while a worker is inside the write that
        # completes a response takes effect on the return to user space:
        # the client gets every byte, the hook never runs. At most one
        # such exchange per kill (nginx and prefork workers write from one
        # thread); nothing else may go missing.
        lost = r["signals"] if r.get("signal") == "KILL" else 0
        if tot < r["completed"] - lost:
            # Exit status 3: responses went uncounted (nothing else wrong).
            print("faults.py: counted %d < %d responses the client fully received (less %d kills)\n  %s"
                  % (tot, r["completed"], lost, "\n  ".join(shortfall(r, m))), file=sys.stderr)
            sys.exit(3)
        if tot + ab > r["sent"]:
            die("counted %d + aborted %d > %d requests sent" % (tot, ab, r["sent"]))
    for labels, v in m.get("http_requests_total", {}).items():
        d = dict(labels)
        want = r["statuses"].get(d.get("status_code"), r["statuses"].get(int(d.get("status_code", 0)), None))
        if want is None:
            die("a series with a status the client never saw: %r = %d" % (d, v))


# ---------------------------------------------------------------- hostile

H = b"Host: 127.0.0.1\r\n"


def tls_hello():
    body = (b"\x03\x03" + bytes(range(32)) + b"\x00" + b"\x00\x04\x13\x01\x00\xff" + b"\x01\x00"
            + b"\x00\x00")
    hs = b"\x01" + len(body).to_bytes(3, "big") + body
    return b"\x16\x03\x01" + len(hs).to_bytes(2, "big") + hs


def proxy_v2():
    sig = b"\r\n\r\n\x00\r\nQUIT\n"
    addr = socket.inet_aton("127.0.0.1") * 2 + (5555).to_bytes(2, "big") + (80).to_bytes(2, "big")
    return sig + b"\x21\x11" + len(addr).to_bytes(2, "big") + addr


def mix(n):
    """n pipelined requests, every third a HEAD, all 404s."""
    return b"".join(b"%s /nothing/%d HTTP/1.1\r\n" % (b"HEAD" if i % 3 == 0 else b"GET", i) + H + b"\r\n"
                    for i in range(n))


def hostile_cases(proxy):
    rng = random.Random(1234)
    binary = bytes([1]) + bytes(rng.getrandbits(8) for _ in range(4095))
    get = b"GET / HTTP/1.1\r\n" + H + b"\r\n"
    post = b"POST / HTTP/1.1\r\n" + H
    # kind: valid (no parse error), malformed (parse errors grow), invalid
    # (malformed request line: also counted under route _INVALID),
    # any (the server decides; only the common checks), tls/h2c/other
    # (one unsupported connection of that reason, nothing counted).
    cases = [
        ("plain", "valid", [get]),
        ("empty-lines-first", "valid", [b"\r\n\r\n" + get]),
        ("bare-lf", "valid", [b"GET / HTTP/1.1\nHost: 127.0.0.1\n\n"]),
        ("slowloris", "valid", ("drip", get, 0.02)),
        ("slowloris-held", "valid", ("held", 20), {"sent": 21}),
        ("header-64k", "any", [b"GET / HTTP/1.1\r\n" + H + b"X-Long: " + b"a" * 65536 + b"\r\n\r\n"]),
        ("header-1m", "any", [b"GET / HTTP/1.1\r\n" + H + b"X-Long: " + b"b" * (1 << 20) + b"\r\n\r\n"]),
        ("headers-5000", "any", [b"GET / HTTP/1.1\r\n" + H
                                  + b"".join(b"X-H%d: v\r\n" % i for i in range(5000)) + b"\r\n"]),
        ("nul-in-path", "any", [b"GET /a\x00b HTTP/1.1\r\n" + H + b"\r\n"]),
        ("invalid-utf8-path", "valid", [b"GET /caf\xc3\xa9/\xff\xfe HTTP/1.1\r\n" + H + b"\r\n"]),
        ("garbage-method", "invalid", [b"G@T / HTTP/1.1\r\n" + H + b"\r\n"]),
        ("unknown-method", "valid", [b"FROB / HTTP/1.1\r\n" + H + b"\r\n"]),
        ("garbage-line", "invalid", [b"this is not http\r\n\r\n"]),
        ("cl-negative", "malformed", [post + b"Content-Length: -1\r\n\r\n"]),
        ("cl-overflow", "malformed", [post + b"Content-Length: 99999999999999999999999\r\n\r\nabc"]),
        ("cl-duplicate", "malformed", [post + b"Content-Length: 5\r\nContent-Length: 6\r\n\r\nhello!"]),
        ("cl-duplicate-same", "any", [post + b"Content-Length: 5\r\nContent-Length: 5\r\n\r\nhello"]),
        ("te-and-cl", "any", [post + b"Transfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n0\r\n\r\n"]),
        ("te-conflict", "any", [post + b"Transfer-Encoding: chunked\r\nTransfer-Encoding: identity\r\n\r\n"
                                + b"5\r\nhello\r\n0\r\n\r\n"]),
        ("te-gzip-chunked", "any", [post + b"Transfer-Encoding: gzip, chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n"]),
        ("te-space-colon", "any", [post + b"Transfer-Encoding : chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n"]),
        ("te-bad-chunk", "malformed", [post + b"Transfer-Encoding: chunked\r\n\r\nzz\r\nhello\r\n0\r\n\r\n"]),
        ("smuggle-cl-te", "any", [post + b"Content-Length: 6\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\nG"
                                  + get], {"sent": None}),
        ("smuggle-te-cl", "any", [post + b"Transfer-Encoding: chunked\r\nContent-Length: 4\r\n\r\n"
                                  + b"%x\r\n" % len(get) + get + b"\r\n0\r\n\r\n"], {"sent": None}),
        ("get-with-body", "valid", [b"GET / HTTP/1.1\r\n" + H + b"Content-Length: %d\r\n\r\n" % len(get)
                                    + get]),
        ("pipelined-flood", "valid", [get * 500], {"sent": 500}),
        # Bursts on a kept-alive connection: 17 (one past a 16-deep queue)
        # answered before 40 more, then 40 more.
        ("pipelined-bursts", "valid", ("bursts", get, [17, 40, 40]), {"sent": 97}),
        # HEAD among them: a tracker that loses which request was a HEAD
        # loses the response boundaries too.
        ("pipelined-16-head-mix", "valid", [mix(16)], {"sent": 16}),
        ("pipelined-head-mix", "valid", [mix(40)], {"sent": 40}),
        # Past 16 + 64: the tracker stops reading and frames the rest blind.
        ("pipelined-head-flood", "valid", [mix(200)], {"sent": 200}),
        ("binary", "other", [binary]),
        ("tls-hello", "tls", [tls_hello()]),
        ("h2-preface", "h2c", [b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n" + b"\x00\x00\x00\x04\x00\x00\x00\x00\x00"]),
        ("http09", "valid", [b"GET /\r\n"]),
    ]
    if proxy:
        cases += [
            ("proxy-v1", "valid", [b"PROXY TCP4 127.0.0.1 127.0.0.1 5555 80\r\n" + get], {"proxy": True}),
            ("proxy-v2", "valid", [proxy_v2() + get], {"proxy": True}),
        ]
    return cases


def read_all(s, deadline):
    out = b""
    s.settimeout(0.5)
    while time.monotonic() < deadline:
        try:
            d = s.recv(65536)
        except socket.timeout:
            continue
        except ConnectionResetError:
            out += b"<RESET>"
            break
        if not d:
            break
        out += d
    else:
        out += b"<TIMEOUT>"
    return out


def send_read(port, chunks, drip=0.0):
    s = socket.create_connection(("127.0.0.1", port), 5)
    try:
        for ch in chunks:
            if drip:
                for i in range(len(ch)):
                    s.sendall(ch[i:i + 1])
                    time.sleep(drip)
            else:
                try:
                    s.sendall(ch)
                except (BrokenPipeError, ConnectionResetError):
                    break
        try:
            s.shutdown(socket.SHUT_WR)
        except OSError:
            pass
        return read_all(s, time.monotonic() + 15)
    finally:
        s.close()


def read_responses(s, n, deadline):
    """Read until n status lines arrived (the bodies are small and end
    each response before the next status line)."""
    out = b""
    s.settimeout(1.0)
    while len(STATUS.findall(out)) < n and time.monotonic() < deadline:
        try:
            d = s.recv(65536)
        except socket.timeout:
            continue
        if not d:
            break
        out += d
    return out


def run_case(port, spec):
    if isinstance(spec, tuple) and spec[0] == "bursts":
        s = socket.create_connection(("127.0.0.1", port), 5)
        out = b""
        for n in spec[2][:-1]:
            s.sendall(spec[1] * n)
            out += read_responses(s, n, time.monotonic() + 15)
        s.sendall(spec[1] * spec[2][-1])
        s.shutdown(socket.SHUT_WR)
        out += read_all(s, time.monotonic() + 15)
        s.close()
        return [out]
    if isinstance(spec, tuple) and spec[0] == "drip":
        return [send_read(port, [spec[1]], spec[2])]
    if isinstance(spec, tuple) and spec[0] == "held":
        held = []
        for _ in range(spec[1]):
            s = socket.create_connection(("127.0.0.1", port), 5)
            s.sendall(b"GET / HTTP/1.1\r\n" + H + b"X-Slow: ")
            held.append(s)
        # A normal request is served while the slow heads are held.
        outs = [send_read(port, [b"GET / HTTP/1.1\r\n" + H + b"\r\n"])]
        time.sleep(1.0)
        for s in held:
            s.sendall(b"done\r\n\r\n")
            s.shutdown(socket.SHUT_WR)
        deadline = time.monotonic() + 15  # one deadline for them all
        for s in held:
            outs.append(read_all(s, deadline))
            s.close()
        return outs
    return [send_read(port, spec)]


DATE = re.compile(rb"(?im)^(date|last-modified):[^\r\n]*")
STATUS = re.compile(rb"(?m)^HTTP/1\.[01] \d{3} ")


def wait_quiet(mport, timeout=10.0):
    end = time.monotonic() + timeout
    while True:
        m = traffic.parse_metrics(scrape(mport))
        if gauge(m, "http_requests_in_flight") == 0 and gauge(m, "http_connections_open") == 0:
            return m
        if time.monotonic() > end:
            return m
        time.sleep(0.05)


def hostile(a):
    results = []
    for case in hostile_cases(a.proxy_port):
        name, kind, spec = case[:3]
        opts = case[3] if len(case) > 3 else {}
        port = a.proxy_port if opts.get("proxy") else a.port
        before = wait_quiet(a.mport) if a.mport else None
        outs = run_case(port, spec)
        rec = {"name": name, "kind": kind, "sent": opts.get("sent", 1),
               "out": [DATE.sub(rb"\1: X", o).decode("latin-1") for o in outs],
               "responses": sum(len(STATUS.findall(o)) for o in outs)}
        if name == "http09" and outs[0]:
            rec["responses"] = 1  # an HTTP/0.9 response has no status line
        if a.mport:
            after = wait_quiet(a.mport)
            text = scrape(a.mport)
            if a.save_dir:
                with open(os.path.join(a.save_dir, "%02d-%s.txt" % (len(results), name)), "w") as f:
                    f.write(text)
            after = traffic.parse_metrics(text)
            rec["quiet"] = [gauge(after, "http_requests_in_flight"), gauge(after, "http_connections_open")]
            d = {}
            for key, name2, match in (
                    ("requests", "http_requests_total", {}),
                    ("invalid", "http_requests_total", {"route": "_INVALID"}),
                    ("aborted", "http_requests_aborted_total", {}),
                    ("other_method", "http_requests_total", {"method": "_OTHER"}),
                    ("parse_errors", "promshim_parse_errors_total", {}),
                    ("tls", "promshim_unsupported_connections_total", {"reason": "tls"}),
                    ("h2c", "promshim_unsupported_connections_total", {"reason": "h2c"}),
                    ("other", "promshim_unsupported_connections_total", {"reason": "other"})):
                d[key] = total(after, name2, **match) - total(before, name2, **match)
            rec["delta"] = d
            rec["routes"] = sorted({dict(l).get("route") for l in after.get("http_requests_total", {})} -
                                   {dict(l).get("route") for l in before.get("http_requests_total", {})})
        results.append(rec)
        print("%-20s %-9s %3d responses %s" % (name, kind, rec["responses"],
                                                json.dumps(rec.get("delta", {}))))
    with open(a.out, "w") as f:
        json.dump(results, f)


def hcompare(a):
    bare = json.load(open(a.bare))
    shim = json.load(open(a.shim))
    known = dict(k.split("=", 1) for k in a.known)
    errs = []
    for b, s in zip(bare, shim):
        n, kind, d = s["name"], s["kind"], s["delta"]
        if b["out"] != s["out"]:
            errs.append("%s: responses differ: bare %r... shim %r..." % (n, b["out"][0][:200], s["out"][0][:200]))
        if s["quiet"] != [0, 0]:
            errs.append("%s: in flight / open connections %r after the case, not 0" % (n, s["quiet"]))
        unsup = {k: d[k] for k in ("tls", "h2c", "other")}
        if kind in ("tls", "h2c", "other"):
            want = {k: (1 if k == kind else 0) for k in unsup}
            if unsup != want:
                errs.append("%s: unsupported connections %r, expected %r" % (n, unsup, want))
            if d["requests"] != 0:
                errs.append("%s: %d requests counted on an unsupported connection" % (n, d["requests"]))
            continue
        if any(unsup.values()):
            errs.append("%s: counted as unsupported %r" % (n, unsup))
        if d["requests"] != s["responses"]:
            errs.append("%s: %d requests counted, the server sent %d responses" % (n, d["requests"], s["responses"]))
        # Every request sent is either answered (counted) or aborted, once.
        if s["sent"] is not None and d["requests"] + d["aborted"] != s["sent"]:
            errs.append("%s: %d requests sent, %d counted + %d aborted"
                        % (n, s["sent"], d["requests"], d["aborted"]))
        if kind == "valid" and d["parse_errors"] != 0:
            errs.append("%s: well-formed input gave %d parse errors" % (n, d["parse_errors"]))
        if kind == "valid" and d["invalid"] != 0:
            errs.append("%s: well-formed input counted %d times under _INVALID" % (n, d["invalid"]))
        if kind in ("malformed", "invalid") and d["parse_errors"] < 1:
            errs.append("%s: malformed input, parse errors did not grow" % n)
        if kind == "invalid" and d["invalid"] != s["responses"]:
            errs.append("%s: %d responses to malformed input, %d counted under _INVALID"
                        % (n, s["responses"], d["invalid"]))
        if n == "unknown-method" and d["other_method"] != 1:
            errs.append("%s: method label _OTHER counted %d times, expected 1" % (n, d["other_method"]))
        if n == "invalid-utf8-path":
            want = "/caf\u00e9/\ufffd\ufffd"
            if s["routes"] != [want]:
                errs.append("%s: new routes %r, expected [%r]" % (n, s["routes"], want))
    if len(bare) != len(shim):
        errs.append("bare ran %d cases, shim %d" % (len(bare), len(shim)))
    # A case listed as a known bug fails the run only as a skip (77), and
    # only when nothing else failed.
    mine = [e for e in errs if e.split(":", 1)[0] not in known]
    hit = sorted({e.split(":", 1)[0] for e in errs} & set(known))
    if mine:
        die("hostile input:\n  " + "\n  ".join(errs))
    for k in sorted(set(known) - set(hit)):
        print("hostile input: %s passes now; known bug fixed? (%s)" % (k, known[k]))
    if hit:
        print("hostile input: known bugs:\n  " + "\n  ".join(errs), file=sys.stderr)
        reasons = {}
        for k in hit:
            reasons.setdefault(known[k], []).append(k)
        print("KNOWN BUG: " + "; ".join("%s (%s)" % (r, " ".join(ks)) for r, ks in reasons.items()))
        sys.exit(77)
    print("hostile input: %d cases, responses identical, metrics as expected" % len(shim))


# ---------------------------------------------------------------- scan

def rss_kib(pid):
    with open("/proc/%d/status" % pid) as f:
        for ln in f:
            if ln.startswith("VmRSS:"):
                return int(ln.split()[1])
    return 0


def rand_url(rng):
    # Well-formed paths only (valid %XX escapes, no dot segments): every
    # request must reach a 404 on a kept-alive connection.
    alpha = "abcdefghijklmnopqrstuvwxyz0123456789-_~"
    segs = []
    for _ in range(rng.randint(1, 4)):
        seg = "".join(rng.choice(alpha) if rng.random() < 0.95 else "%%%02X" % rng.randint(0x21, 0x7e)
                      for _ in range(rng.randint(1, 12)))
        segs.append(seg)
    q = "?q=%d" % rng.getrandbits(32) if rng.random() < 0.2 else ""
    return "/" + "/".join(segs) + q


def scan_batch(port, n, rng, conns=4, batch=8):
    """Send n random requests pipelined over conns connections; returns the
    number of responses (each request gets exactly one). Batches stay
    within the tracker's 16-deep pending queue: floods deeper than that are
    hostile.sh's business, the scan is about cardinality and memory."""
    got = 0
    conns = max(conns, (n + 9999) // 10000)  # servers cap requests per connection
    per = [n // conns + (1 if i < n % conns else 0) for i in range(conns)]
    for k in per:
        c = Client(port, 15)
        left = k
        while left:
            b = min(batch, left)
            reqs = []
            for _ in range(b):
                m = "HEAD" if rng.random() < 0.1 else "GET"
                reqs.append((m, rand_url(rng)))
            c.s.sendall(b"".join(b"%s %s HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n" % (m.encode(), u.encode())
                                 for m, u in reqs))
            for m, _ in reqs:
                c.response(m == "HEAD")
                got += 1
            left -= b
        c.close()
    return got


def scan(a):
    pids = [int(p) for p in a.pids.split(",") if p]
    rng = random.Random(99)
    m0 = traffic.parse_metrics(scrape(a.mport))
    warm = scan_batch(a.port, 2000, rng)
    time.sleep(0.5)
    rss0 = {p: rss_kib(p) for p in pids}
    t0 = time.monotonic()
    got = scan_batch(a.port, a.n, rng)
    took = time.monotonic() - t0
    m = wait_quiet(a.mport)
    rss1 = {p: rss_kib(p) for p in pids}
    sent = warm + a.n
    tot = total(m, "http_requests_total") - total(m0, "http_requests_total")
    over = total(m, "promshim_series_overflow_total") - total(m0, "promshim_series_overflow_total")
    other = total(m, "http_requests_total", route="_OTHER") - total(m0, "http_requests_total", route="_OTHER")
    series = gauge(m, "promshim_series")
    limit = gauge(m, "promshim_series_limit")
    rows = len(m.get("http_requests_total", {}))
    print("scan: %d random URLs in %.1f s (%.0f/s); counted %d of %d; %d series (limit %d), %d rows; "
          "overflow %d, under _OTHER %d" % (a.n, took, a.n / took, tot, sent, series, limit, rows, over, other))
    for p in pids:
        print("scan: pid %d RSS %d KiB -> %d KiB (%+d KiB)" % (p, rss0[p], rss1[p], rss1[p] - rss0[p]))
    errs = []
    if got != a.n:
        errs.append("%d responses to %d requests" % (got, a.n))
    if tot != sent:
        errs.append("sum(http_requests_total) grew by %d, %d requests sent" % (tot, sent))
    if limit != a.max_series:
        errs.append("promshim_series_limit %d, configured %d" % (limit, a.max_series))
    if series > a.max_series:
        errs.append("promshim_series %d > limit %d" % (series, a.max_series))
    if over != other or over <= 0:
        errs.append("overflow counter %d, requests under route _OTHER %d (want equal and > 0)" % (over, other))
    if rows > a.max_series + 64 + 1:
        errs.append("%d http_requests_total rows exceed the cap + overflow area" % rows)
    for p in pids:
        if rss1[p] - rss0[p] > a.rss_kib:
            errs.append("pid %d RSS grew by %d KiB (> %d)" % (p, rss1[p] - rss0[p], a.rss_kib))
    if errs:
        die("scan:\n  " + "\n  ".join(errs))


# ---------------------------------------------------------------- fd limit

def fdprobe(a):
    """Open connections one at a time, each answered and kept open, until
    the server stops answering new ones. Prints how many it served."""
    held = []
    req = b"GET %s HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n" % a.path.encode()
    try:
        while len(held) < a.max:
            try:
                c = Client(a.port, 1.5)
                c.s.sendall(req)
                st, _ = c.response(False)
                if st != 200:
                    c.close()
                    break
                held.append(c)
            except (OSError, EOFError, ValueError):
                break
        if a.mport:
            # The serving process (the master) still has fds to spare.
            try:
                m = traffic.parse_metrics(scrape(a.mport))
            except (OSError, ValueError) as e:
                die("/metrics during the exhaustion: %s" % e)
            print("fdprobe: /metrics answers with %d connections held, %d open by its count"
                  % (len(held), gauge(m, "http_connections_open")), file=sys.stderr)
            if gauge(m, "http_connections_open") != len(held):
                die("http_connections_open %d with %d connections accepted and held"
                    % (gauge(m, "http_connections_open"), len(held)))
        print(len(held))
    finally:
        for c in held:
            c.close()


def count(a):
    """N sequential requests; all must be answered 200."""
    req = b"GET %s HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n" % a.path.encode()
    c = Client(a.port)
    for _ in range(a.n):
        c.s.sendall(req)
        st, close = c.response(False)
        if st != 200:
            die("status %d for %s" % (st, a.path))
        if close:
            c.close()
            c = Client(a.port)
    c.close()


def main():
    p = argparse.ArgumentParser()
    sub = p.add_subparsers(dest="cmd", required=True)
    x = sub.add_parser("seriesroot")
    x.add_argument("dir")
    x.add_argument("n", type=int)
    x = sub.add_parser("load")
    x.add_argument("port", type=int)
    x.add_argument("seconds", type=float)
    x.add_argument("out")
    x.add_argument("--conns", type=int, default=6)
    x.add_argument("--paths", type=int, default=5)
    x.add_argument("--mport", type=int)
    x.add_argument("--chaos", type=int)
    x.add_argument("--signal", choices=("KILL", "STOP"), default="KILL")
    x.add_argument("--every", type=float, default=0.5)
    x = sub.add_parser("settle")
    x.add_argument("out")
    x.add_argument("mport", type=int)
    x.add_argument("--exact", action="store_true")
    x.add_argument("--timeout", type=float, default=15.0)
    x = sub.add_parser("hostile")
    x.add_argument("port", type=int)
    x.add_argument("out")
    x.add_argument("--mport", type=int)
    x.add_argument("--proxy-port", type=int)
    x.add_argument("--save-dir")
    x = sub.add_parser("hcompare")
    x.add_argument("bare")
    x.add_argument("shim")
    x.add_argument("--known", action="append", default=[], metavar="CASE=REASON")
    x = sub.add_parser("scan")
    x.add_argument("port", type=int)
    x.add_argument("mport", type=int)
    x.add_argument("n", type=int)
    x.add_argument("--max-series", type=int, required=True)
    x.add_argument("--pids", required=True)
    x.add_argument("--rss-kib", type=int, default=4096)
    x = sub.add_parser("fdprobe")
    x.add_argument("port", type=int)
    x.add_argument("--path", default="/")
    x.add_argument("--max", type=int, default=400)
    x.add_argument("--mport", type=int)
    x = sub.add_parser("count")
    x.add_argument("port", type=int)
    x.add_argument("n", type=int)
    x.add_argument("--path", default="/")
    a = p.parse_args()
    {"seriesroot": lambda a: series_root(a.dir, a.n), "load": load, "settle": settle, "hostile": hostile,
     "hcompare": hcompare, "scan": scan, "fdprobe": fdprobe, "count": count}[a.cmd](a)


if __name__ == "__main__":
    main()
