#!/usr/bin/env bash
# tests/shim/test_exporter_held.sh — uncompressed /metrics bodies are handed
# to libmicrohttpd without a copy, each held until its response is sent: six
# scrapes of a 5,000-series exposition (16 MB, several times what the socket
# buffers take) left in flight by clients that read only their first bytes,
# with traffic between them so that every render differs, each arrive whole
# and unmixed once read: the Content-Length, the last series' count that was
# current at its render, and the histogram _count equal to that counter.
# Six is more than the held buffers: the rest are copied, as before.
source "$(dirname "$0")/progs/fam_lib.sh"

P=$(free_port); M=$(free_port)
start "$WORK/srv.log" PROMSHIM_LISTEN=127.0.0.1:$M PROMSHIM_HEURISTIC=off PROMSHIM_MAX_SERIES=5000 PROMSHIM_LOG=error -- serve "$P" 1
try_for 10 metrics_ok "$M" || fail "/metrics not served on $M"

timeout 120 python3 - "$P" "$M" <<'EOF' || fail "held bodies: see above"
import re, socket, sys, time
port, mport = int(sys.argv[1]), int(sys.argv[2])

sys.path.insert(0, "tests/shim/progs")
from http_get import get as _get


def get(path):
    _get(port, path)

for i in range(4999):
    get("/s/%d" % i)
get("/last")  # the last series created, rendered last
def last_count():
    s = socket.create_connection(("127.0.0.1", mport), 5)
    s.sendall(b"GET /metrics HTTP/1.0\r\n\r\n")
    buf = b""
    while True:
        d = s.recv(1 << 20)
        if not d:
            break
        buf += d
    s.close()
    m = re.search(rb'^http_requests_total\{[^}]*route="/last"[^}]*\} (\d+)$', buf, re.M)
    return int(m.group(1)) if m else 0

def settle(want):
    # an exchange is counted just after the server's write returns
    end = time.time() + 10
    while last_count() != want:
        if time.time() > end:
            sys.exit("/last never counted %d" % want)
        time.sleep(0.05)

scrapes = []
for k in range(6):
    for _ in range(7):
        get("/last")
    settle(1 + 7 * (k + 1))
    s = socket.create_connection(("127.0.0.1", mport), 5)
    s.sendall(b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n")
    first = s.recv(1024)
    scrapes.append((s, first))
    time.sleep(0.2)  # the render is done before the next traffic

want_last = 1 + 7
for k, (s, buf) in enumerate(scrapes):
    s.settimeout(20)
    while b"\r\n\r\n" not in buf:
        buf += s.recv(65536)
    head, body = buf.split(b"\r\n\r\n", 1)
    m = re.search(rb"(?i)content-length: *(\d+)", head)
    if not m:
        sys.exit("scrape %d: no Content-Length: %r" % (k, head))
    n = int(m.group(1))
    while len(body) < n:
        d = s.recv(1 << 20)
        if not d:
            break
        body += d
    s.close()
    if len(body) != n or not body.endswith(b"\n"):
        sys.exit("scrape %d: %d bytes for Content-Length %d" % (k, len(body), n))
    text = body.decode()
    series = len(re.findall(r"^http_requests_total\{", text, re.M))
    last = re.findall(r'^http_requests_total\{[^}]*route="/last"[^}]*\} (\d+)$', text, re.M)
    cnt = re.findall(r'^http_request_duration_seconds_count\{[^}]*route="/last"[^}]*\} (\d+)$', text, re.M)
    if series < 4990 or last != [str(want_last)] or cnt != last:
        sys.exit("scrape %d: %d series, /last counted %s with _count %s, want %d"
                 % (k, series, last, cnt, want_last))
    print("scrape %d: %d bytes, %d series, /last %s" % (k, n, series, last[0]))
    want_last += 7
EOF
ok "six concurrent 5,000-series scrapes in flight, each whole and from its own render"
exit 0
