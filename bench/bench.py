#!/usr/bin/env python3
"""bench/bench.py — promshim's cost against bare servers and against the
proxy (haproxy + its Prometheus exporter) and log-tailing (mtail) approaches.

Run by `make bench` (scripts/bench). wrk is pinned to CPU 0, every server
(and every proxy or tailer competing with it) to CPU 1. Bare and
instrumented runs alternate (ABBA) over many short rounds; the table gives
medians and ratios. Deterministic figures come from callgrind: user-space
instructions added per request, as the slope between two request counts so
that start-up costs cancel. Parts: micro nginx others callgrind startup rss
(the default), and split (bare / library loaded, nothing tracked /
promshim, on nginx's 10 KiB file).

Environment: BENCH_ROUNDS (default 16), BENCH_SECONDS (default 3),
BENCH_SCRAPES (default 200: /metrics cycles of about 1 s, each with one
fresh and one cached gzip scrape and IDENTITY_PER_CYCLE identity ones).
Writes build/bench.md.
"""
import os
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
LIB = os.environ.get("BENCH_LIB", os.path.join(ROOT, "build", "libpromshim.so"))
ROUNDS = int(os.environ.get("BENCH_ROUNDS", "16"))
SECONDS = int(os.environ.get("BENCH_SECONDS", "3"))
SERVER_CPU = "1"
CLIENT_CPU = "0"
PYTHON = "/usr/bin/python3"

procs = []
rows = []


def log(msg):
    print(msg, flush=True)


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


def wait_port(port, deadline=15.0):
    end = time.time() + deadline
    while time.time() < end:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return True
        except OSError:
            time.sleep(0.05)
    raise RuntimeError("port %d did not open within %.0fs" % (port, deadline))


def start(cmd, env_extra=None, cpu=SERVER_CPU, cwd=None, stdout=subprocess.DEVNULL):
    env = dict(os.environ)
    env.pop("LD_PRELOAD", None)
    if env_extra:
        env.update(env_extra)
    p = subprocess.Popen(["taskset", "-c", cpu] + cmd, env=env, cwd=cwd,
                         stdout=stdout, stderr=subprocess.DEVNULL,
                         start_new_session=True)
    procs.append(p)
    return p


def stop_all():
    for p in procs:
        try:
            os.killpg(p.pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
    end = time.time() + 5
    for p in procs:
        try:
            p.wait(timeout=max(0.1, end - time.time()))
        except subprocess.TimeoutExpired:
            try:
                os.killpg(p.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
    procs.clear()


def shim_env(metrics_port, extra=None):
    env = {"LD_PRELOAD": LIB, "PROMSHIM_LISTEN": "127.0.0.1:%d" % metrics_port,
           "PROMSHIM_LOG": "error"}
    if extra:
        env.update(extra)
    return env


def nginx_conf(d, port, access_log="off", master="on", extra=""):
    os.makedirs(os.path.join(d, "html", "static"), exist_ok=True)
    with open(os.path.join(d, "html", "static", "10k.bin"), "wb") as f:
        f.write(b"x" * 10240)
    conf = os.path.join(d, "nginx.conf")
    with open(conf, "w") as f:
        f.write("""
worker_processes 1;
daemon off;
master_process %s;
pid %s/nginx.pid;
error_log %s/error.log error;
events { worker_connections 1024; }
http {
  access_log %s;
  client_body_temp_path %s/tmp;
  proxy_temp_path %s/tmp;
  fastcgi_temp_path %s/tmp;
  uwsgi_temp_path %s/tmp;
  scgi_temp_path %s/tmp;
  keepalive_requests 1000000;
  sendfile on;
  server {
    listen 127.0.0.1:%d;
    root %s/html;
    location = /tiny { return 200 "ok\\n"; }
    %s
  }
}
""" % (master, d, d, access_log, d, d, d, d, d, port, d, extra))
    os.makedirs(os.path.join(d, "tmp"), exist_ok=True)
    return conf


def wrk(port, path, seconds=SECONDS, conns=32):
    out = subprocess.run(["taskset", "-c", CLIENT_CPU, "wrk", "-t1", "-c%d" % conns,
                          "-d%ds" % seconds, "http://127.0.0.1:%d%s" % (port, path)],
                         capture_output=True, text=True, timeout=seconds + 30).stdout
    m = re.search(r"Requests/sec:\s+([0-9.]+)", out)
    if not m:
        raise RuntimeError("wrk output without Requests/sec:\n" + out)
    if "Non-2xx" in out:
        raise RuntimeError("wrk saw non-2xx responses:\n" + out)
    return float(m.group(1))


def stop_one(p):
    """Stops one process group that start() started."""
    try:
        os.killpg(p.pid, signal.SIGTERM)
    except ProcessLookupError:
        pass
    try:
        p.wait(timeout=5)
    except subprocess.TimeoutExpired:
        os.killpg(p.pid, signal.SIGKILL)
        p.wait()
    procs.remove(p)


def abba(variants, path, fresh=None):
    """variants: list of (name, port). Alternates their order each round.
    fresh: {name: callable} for variants whose server is started anew
    before each of their rounds (then warmed up 1 s): each round then
    meets another placement of the server's memory, whose luck would
    otherwise weigh on every round of a run alike."""
    fresh = fresh or {}
    results = {name: [] for name, _ in variants}
    for name, port in variants:  # warm up
        wrk(port, path, seconds=1)
    for r in range(ROUNDS):
        order = variants if r % 2 == 0 else list(reversed(variants))
        for name, port in order:
            if name in fresh:
                fresh[name]()
                wrk(port, path, seconds=1)
            results[name].append(wrk(port, path))
    abba.rounds = results  # per-round figures, for the spread in the log
    return {name: statistics.median(v) for name, v in results.items()}


def bench_nginx(tmp):
    log("== nginx, 1 worker, keep-alive (%d rounds of %ds; bare and promshim started anew each round)"
        % (ROUNDS, SECONDS))
    ports = {}
    running = {}

    def launch(name, conf, env):
        """(Re)starts a variant's nginx and waits for its port."""
        if name in running:
            stop_one(running[name])
        running[name] = start(["nginx", "-c", conf], env)
        wait_port(ports[name])

    fresh = {}
    for name in ("bare", "promshim", "haproxy", "mtail"):
        d = os.path.join(tmp, "nginx-" + name)
        os.makedirs(d)
        ports[name] = free_port()
        env = None
        alog = "off"
        backend = ports[name]
        if name == "promshim":
            env = shim_env(free_port())
        if name == "haproxy":
            backend = free_port()
        if name == "mtail":
            alog = "%s/access.log" % d
        conf = nginx_conf(d, backend, access_log=alog)
        if name in ("bare", "promshim"):
            # started anew for each round (see abba)
            fresh[name] = (lambda n=name, c=conf, e=env: launch(n, c, e))
            launch(name, conf, env)
        else:
            start(["nginx", "-c", conf], env)
        if name == "haproxy":
            hcfg = os.path.join(d, "haproxy.cfg")
            with open(hcfg, "w") as f:
                f.write("""
global
  nbthread 1
  maxconn 4096
defaults
  mode http
  timeout connect 5s
  timeout client 30s
  timeout server 30s
  option http-keep-alive
frontend fe
  bind 127.0.0.1:%d
  http-request use-service prometheus-exporter if { path /metrics }
  default_backend be
backend be
  http-reuse always
  server s1 127.0.0.1:%d
""" % (ports[name], backend))
            wait_port(backend)
            start(["haproxy", "-f", hcfg, "-db"])
        if name == "mtail":
            prog = os.path.join(d, "progs")
            os.makedirs(prog)
            with open(os.path.join(prog, "nginx.mtail"), "w") as f:
                f.write('counter http_requests_total by method, status\n'
                        '/"(?P<method>[A-Z]+) \\S+ HTTP\\/1\\.[01]" (?P<status>\\d{3}) / {\n'
                        '  http_requests_total[$method][$status]++\n}\n')
            open(alog, "w").close()
            start(["mtail", "--progs", prog, "--logs", alog, "--port", str(free_port()),
                   "--address", "127.0.0.1", "--poll_interval", "250ms"])
    for p in ports.values():
        wait_port(p)
    for label, path in (("tiny `return 200`", "/tiny"), ("10 KiB static", "/static/10k.bin")):
        med = abba(list(ports.items()), path, fresh)
        base = med["bare"]
        for name in ("bare", "promshim", "haproxy", "mtail"):
            rows.append(("nginx %s" % label, name, "%.0f req/s" % med[name], "%.3f" % (med[name] / base)))
            log("  %-22s %-9s %9.0f req/s  %.3f" % (label, name, med[name], med[name] / base))
        # each round's promshim figure against the bare one of the same round
        pair = sorted(a / b for a, b in zip(abba.rounds["promshim"], abba.rounds["bare"]))
        log("  %-22s promshim/bare round by round: %s (median %.3f)"
            % (label, " ".join("%.3f" % x for x in pair), statistics.median(pair)))
    stop_all()


def bench_split(tmp):
    """Where the cost lies (not in the default run): nginx's 10 KiB file
    bare, with the library loaded but no connection tracked (PROMSHIM_PORTS
    names a port nginx does not serve, so every hook only looks at its fd
    and calls through), and with promshim as usual. The first gap is the
    interposition, the second the tracking (tracker, clock, registry)."""
    log("== split: nginx 10 KiB, bare / hooks only / promshim (%d rounds of %ds, each started anew)"
        % (ROUNDS, SECONDS))
    ports, running, fresh = {}, {}, {}

    def launch(name, conf, env):
        if name in running:
            stop_one(running[name])
        running[name] = start(["nginx", "-c", conf], env)
        wait_port(ports[name])

    envs = {"bare": None, "hooks only": shim_env(free_port(), {"PROMSHIM_PORTS": "1"}),
            "promshim": shim_env(free_port())}
    for name, env in envs.items():
        d = os.path.join(tmp, "split-" + name.replace(" ", "-"))
        ports[name] = free_port()
        conf = nginx_conf(d, ports[name])
        fresh[name] = (lambda n=name, c=conf, e=env: launch(n, c, e))
        launch(name, conf, env)
    med = abba(list(ports.items()), "/static/10k.bin", fresh)
    for name in envs:
        pair = sorted(a / b for a, b in zip(abba.rounds[name], abba.rounds["bare"]))
        rows.append(("nginx 10 KiB static, split", name, "%.0f req/s" % med[name],
                     "%.3f" % (med[name] / med["bare"])))
        log("  %-10s %9.0f req/s  %.3f  (round by round: median %.3f, %.3f to %.3f)"
            % (name, med[name], med[name] / med["bare"], statistics.median(pair), pair[0], pair[-1]))
    stop_all()


def bench_simple(tmp, label, make_cmd, path):
    log("== %s (%d rounds)" % (label, ROUNDS))
    variants = []
    for name in ("bare", "promshim"):
        d = os.path.join(tmp, label.split()[0] + "-" + name)
        os.makedirs(d, exist_ok=True)
        port = free_port()
        cmd, cwd = make_cmd(d, port)
        start(cmd, shim_env(free_port()) if name == "promshim" else None, cwd=cwd)
        variants.append((name, port))
    for _, p in variants:
        wait_port(p)
    med = abba(variants, path)
    for name in ("bare", "promshim"):
        rows.append((label, name, "%.0f req/s" % med[name], "%.3f" % (med[name] / med["bare"])))
        log("  %-9s %9.0f req/s  %.3f" % (name, med[name], med[name] / med["bare"]))
    stop_all()


def lighttpd_cmd(d, port):
    os.makedirs(os.path.join(d, "html"), exist_ok=True)
    with open(os.path.join(d, "html", "index.html"), "w") as f:
        f.write("ok\n")
    conf = os.path.join(d, "lighttpd.conf")
    with open(conf, "w") as f:
        f.write('server.document-root = "%s/html"\nserver.port = %d\n'
                'server.bind = "127.0.0.1"\nserver.max-keep-alive-requests = 1000000\n'
                'server.errorlog = "%s/error.log"\n' % (d, port, d))
    return ["lighttpd", "-D", "-f", conf], None


def python_cmd(d, port):
    with open(os.path.join(d, "index.html"), "w") as f:
        f.write("ok\n")
    return [PYTHON, "-m", "http.server", "--bind", "127.0.0.1", str(port)], d


def keepalive_client(port, paths, status=None, deadline=60.0):
    """One sequential keep-alive GET per path, on one connection, each read
    whole before the next; with status, every response must have it."""
    s = socket.create_connection(("127.0.0.1", port))
    s.settimeout(5)
    end = time.time() + deadline
    buf = b""
    for path in paths:
        s.sendall(("GET %s HTTP/1.1\r\nHost: localhost\r\nUser-Agent: bench\r\n"
                   "Accept: */*\r\n\r\n" % path).encode())
        while True:
            i = buf.find(b"\r\n\r\n")
            if i >= 0:
                m = re.search(rb"Content-Length: (\d+)", buf[:i], re.I)
                need = i + 4 + int(m.group(1))
                if len(buf) >= need:
                    if status and not buf.startswith(b"HTTP/1.1 %d" % status):
                        raise RuntimeError("%s: %r" % (path, buf[:40]))
                    buf = buf[need:]
                    break
            if time.time() > end:
                raise RuntimeError("%d requests took over %.0f s" % (len(paths), deadline))
            chunk = s.recv(65536)
            if not chunk:
                raise RuntimeError("server closed")
            buf += chunk
    s.close()


def callgrind_total(tmp, preload, n, path, master):
    """User-space instructions of one nginx serving process under callgrind
    after n keep-alive requests on one connection: the worker (master on,
    one worker) or the single process (master off), from the counts it
    writes when it exits gracefully (nginx -s quit)."""
    d = tempfile.mkdtemp(dir=tmp)
    os.chmod(d, 0o777)  # the worker runs as an unprivileged user
    port = free_port()
    conf = nginx_conf(d, port, master=master)
    out = os.path.join(d, "cg.out")
    env = dict(os.environ)
    env.pop("LD_PRELOAD", None)
    if preload:
        env.update(shim_env(free_port()))
    p = subprocess.Popen(["valgrind", "--tool=callgrind", "--callgrind-out-file=" + out + ".%p",
                          "nginx", "-c", conf], env=env, stdout=subprocess.DEVNULL,
                         stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        wait_port(port, 60)
        keepalive_client(port, [path % i if "%d" in path else path for i in range(n)])
        subprocess.run(["nginx", "-c", conf, "-s", "quit"], capture_output=True, timeout=30)
        p.wait(timeout=120)
    finally:
        if p.poll() is None:
            os.killpg(p.pid, signal.SIGKILL)
            p.wait()
    files = [f for f in os.listdir(d) if f.startswith("cg.out.")]
    # the worker is the process that is not the master (valgrind's pid)
    serving = [f for f in files if master == "off" or f != "cg.out.%d" % p.pid]
    if len(serving) != 1:
        raise RuntimeError("callgrind: want one serving process, have %s" % files)
    with open(os.path.join(d, serving[0])) as fh:
        for line in fh:
            if line.startswith("summary:") or line.startswith("totals:"):
                return int(line.split()[1])
    raise RuntimeError("callgrind wrote no summary")


def callgrind_per_request(tmp, preload, path, master):
    """The slope between 500 and 2,500 requests: start-up, the first
    requests and the exit cancel out."""
    a = callgrind_total(tmp, preload, 500, path, master)
    b = callgrind_total(tmp, preload, 2500, path, master)
    return (b - a) / 2000.0


def bench_callgrind(tmp):
    """The budgeted rows repeat one request, as the throughput runs do;
    a third row gives each request its own line (a query string that
    counts up), which the tracker's line memo cannot take."""
    log("== callgrind: user-space instructions added per request (nginx keep-alive GET)")
    for master, what in (("on", "worker of master + 1 worker"), ("off", "single process")):
        cases = [("tiny", "/tiny"), ("10 KiB", "/static/10k.bin")]
        if master == "on":
            cases.append(("tiny, a new line each", "/tiny?n=%d"))
        for label, path in cases:
            bare = callgrind_per_request(tmp, False, path, master)
            shim = callgrind_per_request(tmp, True, path, master)
            rows.append(("callgrind nginx %s (%s)" % (label, what), "added instr/request",
                         "%.0f" % (shim - bare), "bare %.0f/request" % bare))
            log("  %-7s %-28s bare %.0f instr/request, promshim adds %.0f" %
                (label, what, bare, shim - bare))


def bench_startup():
    log("== start-up cost of a process that never serves (sh -c true)")
    def run(env, n=400):
        e = dict(os.environ)
        e.pop("LD_PRELOAD", None)
        e.update(env)
        t = []
        for _ in range(n):
            t0 = time.perf_counter()
            subprocess.run(["/bin/sh", "-c", "true"], env=e)
            t.append(time.perf_counter() - t0)
        return statistics.median(t)
    bare, shim = [], []
    for r in range(4):
        bare.append(run({}))
        shim.append(run({"LD_PRELOAD": LIB}))
    added = (statistics.median(shim) - statistics.median(bare)) * 1e3
    rows.append(("start-up, sh -c true", "added", "%.3f ms" % added,
                 "bare %.3f ms" % (statistics.median(bare) * 1e3)))
    log("  bare %.3f ms, promshim adds %.3f ms" % (statistics.median(bare) * 1e3, added))


def rss_kib(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def nginx_worker_pids(master_pid):
    out = subprocess.run(["pgrep", "-P", str(master_pid)], capture_output=True, text=True).stdout
    return [int(x) for x in out.split()]


SCRAPES = int(os.environ.get("BENCH_SCRAPES", "200"))
GZIP_REUSE = 1.0  # the exporter serves the same gzip body for 1 s
# Identity scrapes need no wait for the gzip cache to expire: five fit in
# each cycle, so that their 99th percentile rests on 1,000 samples (the
# 10th slowest), not on the 2nd slowest of 200.
IDENTITY_PER_CYCLE = 5


def scrape_once(conn, enc):
    """One GET /metrics on a keep-alive http.client connection. Returns the
    seconds from the request being sent to the response head and to the
    last body byte, the response and the body."""
    conn.putrequest("GET", "/metrics", skip_accept_encoding=True)
    if enc.startswith("gzip"):
        conn.putheader("Accept-Encoding", "gzip")
    reconnected = conn.sock is None
    if reconnected:
        conn.connect()  # outside the timed span, but counted
    t0 = time.perf_counter()
    conn.endheaders()
    r = conn.getresponse()
    t1 = time.perf_counter()
    body = r.read()
    t2 = time.perf_counter()
    ce = r.getheader("Content-Encoding")
    if r.status != 200 or (ce == "gzip") != enc.startswith("gzip"):
        raise RuntimeError("/metrics %s: status %d, Content-Encoding %s" % (enc, r.status, ce))
    if r.will_close:
        conn.close()
    return t1 - t0, t2 - t0, body, reconnected


def scrape_latency(mport, n, gap=(0.020, 0.050)):
    """In-process /metrics latency, measured in a forked child pinned to
    CLIENT_CPU (with wrk). One keep-alive connection per variant, as
    Prometheus keeps its scrape connections alive. n cycles of
    IDENTITY_PER_CYCLE identity scrapes, a gzip scrape sent more than
    GZIP_REUSE after the previous fresh gzip response ended (so a fresh
    render, as every Prometheus scrape is) and a gzip scrape that the
    exporter answers from its 1 s gzip cache, 20-50 ms apart; fresh and cached gzip bodies are told
    apart by their bytes. Timed with perf_counter from the request being
    sent to its last body byte (and to the response head).
    Returns {variant: [p50, p99, max, p50 to head, p99 to head (ms),
    body bytes, reconnects]}."""
    import http.client
    import json
    import random
    import select
    variants = ("identity", "gzip", "gzip-cached")
    rfd, wfd = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(rfd)
        out = {}
        try:
            os.sched_setaffinity(0, {int(CLIENT_CPU)})
            conns = {v: http.client.HTTPConnection("127.0.0.1", mport, timeout=10)
                     for v in variants}
            lat = {v: [] for v in variants}
            head = {v: [] for v in variants}
            size = {}
            reconn = dict.fromkeys(variants, 0)
            last_gz = None
            cycle = ["identity"] * IDENTITY_PER_CYCLE + ["gzip", "gzip-cached"]
            for i in range(n + 2):  # the first 2 cycles warm up, untimed
                for k, v in enumerate(cycle):
                    th, dt, body, rc = scrape_once(conns[v], v)
                    if v == "gzip" and body == last_gz:
                        raise RuntimeError("gzip scrape %d was not a fresh render" % i)
                    if v == "gzip-cached" and body != last_gz:
                        raise RuntimeError("gzip scrape %d was not from the cache" % i)
                    if v.startswith("gzip"):
                        last_gz = body
                    if v == "gzip":  # the render started before its last byte came
                        rendered_by = time.perf_counter()
                    if i >= 2:
                        lat[v].append(dt)
                        head[v].append(th)
                        size[v] = len(body)
                        reconn[v] += rc
                    if k + 1 < len(cycle):
                        time.sleep(random.uniform(*gap))
                wait = rendered_by + GZIP_REUSE + random.uniform(*gap) - time.perf_counter()
                if wait > 0:
                    time.sleep(wait)

            def pct(t, q):  # nearest rank
                return t[-(-len(t) * q // 100) - 1] * 1e3
            for v in variants:
                t, h = sorted(lat[v]), sorted(head[v])
                out[v] = [pct(t, 50), pct(t, 99), t[-1] * 1e3, pct(h, 50), pct(h, 99),
                          size[v], reconn[v]]
        except BaseException as e:  # reported by the parent
            out = {"error": "%s: %s" % (type(e).__name__, e)}
        finally:
            try:
                os.write(wfd, json.dumps(out).encode())
            finally:
                os._exit(0)
    os.close(wfd)
    data = b""
    end = time.time() + 60 + n * (GZIP_REUSE + 0.5)
    try:
        while time.time() < end:
            ready, _, _ = select.select([rfd], [], [], max(0.1, end - time.time()))
            if not ready:
                continue
            chunk = os.read(rfd, 1 << 16)
            if not chunk:
                break
            data += chunk
        else:
            raise RuntimeError("scrape client did not finish in time")
    finally:
        os.close(rfd)
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        os.waitpid(pid, 0)
    out = json.loads(data)
    if "error" in out:
        raise RuntimeError("scrape client: " + out["error"])
    return out


def bench_rss_and_scrape(tmp):
    import http.client
    log("== RSS added per process; /metrics latency with 2,000 series under full load")
    res = {}
    for name in ("bare", "promshim"):
        d = os.path.join(tmp, "rss-" + name)
        os.makedirs(d)
        port = free_port()
        mport = free_port()
        env = shim_env(mport, {"PROMSHIM_HEURISTIC": "off"}) if name == "promshim" else None
        p = start(["nginx", "-c", nginx_conf(d, port)], env)
        wait_port(port)
        wrk(port, "/tiny", seconds=1)
        time.sleep(0.3)
        kids = nginx_worker_pids(p.pid)
        master = int(open(os.path.join(d, "nginx.pid")).read())
        res[name] = (rss_kib(master), sum(rss_kib(k) for k in nginx_worker_pids(master)))
        if name == "promshim":
            # 2,000 series: GET /s/0 .. /s/1999 (404s), one at a time on a
            # keep-alive connection. Pipelining all 2,000 at once leaves most
            # of them past the tracker's ring, recorded as _INVALID.
            keepalive_client(port, ["/s/%d" % i for i in range(2000)], status=404)
            # The registry must really hold ~2,000 series before timing.
            wait_port(mport)
            c = http.client.HTTPConnection("127.0.0.1", mport, timeout=10)
            c.request("GET", "/metrics")
            r = c.getresponse()
            text = r.read().decode()
            c.close()
            series = sum(1 for line in text.splitlines() if line.startswith("http_requests_total{"))
            gauge = re.search(r"^promshim_series(?:\{[^}]*\})? (\S+)$", text, re.M)
            log("  registry: %d http_requests_total series (promshim_series %s), scrape %d bytes"
                % (series, gauge.group(1) if gauge else "?", len(text)))
            if series < 1900:
                raise RuntimeError("/metrics holds %d series, not ~2,000" % series)
            wrk_out = os.path.join(d, "wrk.out")
            wrk_secs = int(60 + SCRAPES * (GZIP_REUSE + 0.5))  # stopped when the scrapes end
            with open(wrk_out, "w") as f:
                load = start(["wrk", "-t1", "-c32", "-d%ds" % wrk_secs,
                              "http://127.0.0.1:%d/tiny" % port], cpu=CLIENT_CPU, stdout=f)
            time.sleep(1)
            lat = scrape_latency(mport, SCRAPES)
            if load.poll() is not None:
                raise RuntimeError("wrk ended before the scrapes did")
            load.send_signal(signal.SIGINT)  # wrk stops and prints its totals
            try:
                load.wait(timeout=10)
            except subprocess.TimeoutExpired:
                load.kill()
                load.wait(timeout=5)
            m = re.search(r"Requests/sec:\s+([\d.]+)", open(wrk_out).read())
            rps = float(m.group(1)) if m else float("nan")
            log("  nginx under wrk throughout: %.0f req/s; scrape client: http.client, one "
                "keep-alive connection per variant, %d gzip scrapes each, %d identity"
                % (rps, SCRAPES, SCRAPES * IDENTITY_PER_CYCLE))
            notes = {"identity": "keep-alive client",
                     "gzip": "keep-alive client, fresh render (>1 s apart)",
                     "gzip-cached": "keep-alive client, within 1 s: exporter's gzip cache"}
            for v in ("identity", "gzip", "gzip-cached"):
                p50, p99, mx, h50, h99, size, reconn = lat[v]
                rows.append(("/metrics, %s series, nginx loaded (%.0f req/s)"
                             % (format(series, ","), rps), v, "p99 %.2f ms" % p99,
                             "p50 %.2f ms, %d bytes, %s" % (p50, size, notes[v])))
                log("  /metrics %-11s to last byte p50 %.2f p99 %.2f max %.2f ms; to head p50 %.2f "
                    "p99 %.2f ms; %d bytes; %d reconnects"
                    % (v, p50, p99, mx, h50, h99, size, reconn))
        stop_all()
    for i, who in enumerate(("master", "worker")):
        added = (res["promshim"][i] - res["bare"][i]) / 1024.0
        rows.append(("RSS added, nginx %s" % who, "promshim", "%.1f MiB" % added,
                     "bare %.1f MiB" % (res["bare"][i] / 1024.0)))
        log("  RSS %s: bare %.1f MiB, added %.1f MiB" % (who, res["bare"][i] / 1024.0, added))


def bench_micro():
    log("== core micro-benchmarks")
    for src in sorted(os.listdir(os.path.join(ROOT, "bench"))):
        if not (src.startswith("bench_") and src.endswith(".c")):
            continue
        exe = os.path.join(ROOT, "build", src[:-2])
        core = [os.path.join(ROOT, "core", c) for c in os.listdir(os.path.join(ROOT, "core"))
                if c.endswith(".c")]
        subprocess.run(["gcc", "-O2", "-g", "-D_GNU_SOURCE", "-I" + os.path.join(ROOT, "core"),
                        "-o", exe, os.path.join(ROOT, "bench", src)] + core + ["-lz", "-lpthread"],
                       check=True)
        out = subprocess.run(["taskset", "-c", SERVER_CPU, exe], capture_output=True,
                             text=True, timeout=300).stdout
        for line in out.splitlines():
            log("  " + line)
            rows.append(("micro: " + src[:-2], "", line.strip(), ""))


def main():
    which = sys.argv[1:] or ["micro", "nginx", "others", "callgrind", "startup", "rss"]
    if not os.path.exists(LIB):
        sys.exit("bench: build/libpromshim.so missing (run make)")
    tmp = tempfile.mkdtemp(prefix="promshim-bench-")
    os.chmod(tmp, 0o755)  # nginx workers run as an unprivileged user
    try:
        if "micro" in which:
            bench_micro()
        if "nginx" in which:
            bench_nginx(tmp)
        if "others" in which:
            bench_simple(tmp, "lighttpd keep-alive", lighttpd_cmd, "/index.html")
            bench_simple(tmp, "python http.server", python_cmd, "/index.html")
        if "callgrind" in which:
            bench_callgrind(tmp)
        if "startup" in which:
            bench_startup()
        if "rss" in which:
            bench_rss_and_scrape(tmp)
        if "split" in which:
            bench_split(tmp)
    finally:
        stop_all()
        shutil.rmtree(tmp, ignore_errors=True)
    lines = ["| workload | variant | figure | ratio / note |", "|---|---|---|---|"]
    lines += ["| %s | %s | %s | %s |" % r for r in rows]
    table = "\n".join(lines)
    os.makedirs(os.path.join(ROOT, "build"), exist_ok=True)
    with open(os.path.join(ROOT, "build", "bench.md"), "w") as f:
        f.write(table + "\n")
    print("\n" + table)


if __name__ == "__main__":
    main()
