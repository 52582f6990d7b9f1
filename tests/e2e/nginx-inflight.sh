#!/usr/bin/env bash
# tests/e2e/nginx-inflight.sh — http_requests_in_flight while requests
# wait: three requests that a slow upstream holds behind nginx read exactly
# 3 on /metrics, then 0 once answered, with the three counted. Twice: with
# a master and one worker, whose single thread adds to its own gauge word
# without a lock, and as a single process, where the exporter's thread
# lives too and the adds are locked.
. "$(dirname "$0")/lib.sh"
e2e_init
need_shim
need_prog /usr/sbin/nginx /usr/bin/python3

HOLD=3 # seconds the upstream holds each request
UPPORT=$(free_port)
mkdir -p "$E2E_WORK/root"
# The upstream runs without the shim: only nginx is measured.
start_group "$E2E_WORK/upstream.log" /usr/bin/python3 "$E2E_DIR/pyserver.py" "$UPPORT" "$E2E_WORK/root" $HOLD
wait_listen 10 "$UPPORT" "$STARTED_PID" "python upstream"

# run_case on|off: nginx with master_process on (one worker) or off.
run_case() {
	local master=$1 d="$E2E_WORK/nginx-$1" port mport
	port=$(free_port)
	mport=$(free_port)
	mkdir -p "$d/tmp"
	cat >"$d/nginx.conf" <<CONF
worker_processes 1;
master_process $master;
daemon off;
pid $d/nginx.pid;
error_log $d/error.log error;
events { worker_connections 64; }
http {
	access_log off;
	client_body_temp_path $d/tmp;
	proxy_temp_path $d/tmp;
	fastcgi_temp_path $d/tmp;
	uwsgi_temp_path $d/tmp;
	scgi_temp_path $d/tmp;
	server {
		listen 127.0.0.1:$port;
		location = /slow { proxy_pass http://127.0.0.1:$UPPORT; }
	}
}
CONF
	start_group "$d/nginx.log" env "LD_PRELOAD=$SHIM_LIB" "PROMSHIM_LISTEN=127.0.0.1:$mport" \
		/usr/sbin/nginx -c "$d/nginx.conf"
	local pid=$STARTED_PID
	wait_listen 10 "$port" "$pid" "nginx (master_process $master)"
	wait_listen 10 "$mport" "$pid" "/metrics of nginx (master_process $master)"
	python3 - "$port" "$mport" "$HOLD" <<'PY' || fail "master_process $master: see above"
import re, socket, sys, time, urllib.request

port, mport, hold = int(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3])


def metrics():
    with urllib.request.urlopen("http://127.0.0.1:%d/metrics" % mport, timeout=5) as r:
        return r.read().decode()


def value(text, name, labels=""):
    """Sum of the samples of name whose labels contain every one given."""
    total, seen = 0, False
    for m in re.finditer(r"^%s(?:\{([^}]*)\})? (\S+)$" % re.escape(name), text, re.M):
        if all(l in (m.group(1) or "") for l in labels.split(",") if l):
            total += float(m.group(2))
            seen = True
    return int(total) if seen else None


def die(msg):
    print(msg, file=sys.stderr)
    sys.exit(1)


if value(metrics(), "http_requests_in_flight") != 0:
    die("in flight before any request: %s" % value(metrics(), "http_requests_in_flight"))
socks = []
t0 = time.monotonic()
for _ in range(3):
    s = socket.create_connection(("127.0.0.1", port), timeout=hold + 10)
    s.sendall(b"GET /slow HTTP/1.1\r\nHost: test\r\n\r\n")
    socks.append(s)
# While the upstream holds them, the gauge reaches 3 and never passes it.
seen = []
while time.monotonic() - t0 < hold - 0.5:
    v = value(metrics(), "http_requests_in_flight")
    seen.append(v)
    if v is None or v > 3:
        die("in flight while 3 requests wait: %s" % seen)
    if v == 3:
        break
    time.sleep(0.05)
if not seen or seen[-1] != 3:
    die("in flight never read 3 while 3 requests waited: %s" % seen)
for s in socks:
    data = b""
    while not data.endswith(b"slept\n"):
        chunk = s.recv(4096)
        if not chunk:
            die("connection closed before the response ended: %r" % data)
        data += chunk
    if not data.startswith(b"HTTP/1.1 200 "):
        die("unexpected response: %r" % data)
end = time.monotonic() + 5
while True:
    text = metrics()
    inflight = value(text, "http_requests_in_flight")
    done = value(text, "http_requests_total", 'status_code="200"')
    if inflight == 0 and done == 3:
        break
    if time.monotonic() > end:
        die("after the answers: in flight %s, answered %s (want 0 and 3)" % (inflight, done))
    time.sleep(0.05)
for s in socks:
    s.close()
print("in flight read 3 while held (after %d scrapes), then 0 with 3 answered" % len(seen))
PY
	log "ok: master_process $master: in flight 3 while held, then 0 with 3 counted"
	stop_group "$pid"
}

run_case on
run_case off
echo "passed"
