#!/usr/bin/env bash
# tests/shim/test_exporter_sndbuf.sh — an exposition larger than TCP's own
# send-buffer tuning reaches (net.ipv4.tcp_wmem's maximum) is queued whole
# in one send where net.core.wmem_max allows it: after one keep-alive
# scrape of 1,700 series the exporter's socket has a send buffer that holds
# the body and its head (ss's tb), and the next scrape over the same
# connection arrives whole and right. Where wmem_max does not allow it, the
# buffer is left to TCP's tuning, never made smaller.
source "$(dirname "$0")/progs/fam_lib.sh"
command -v ss >/dev/null || skip "ss is missing"

P=$(free_port); M=$(free_port)
start "$WORK/srv.log" PROMSHIM_LISTEN=127.0.0.1:$M PROMSHIM_HEURISTIC=off PROMSHIM_MAX_SERIES=2000 PROMSHIM_LOG=error -- serve "$P" 1
try_for 10 metrics_ok "$M" || fail "/metrics not served on $M"

timeout 120 python3 - "$P" "$M" <<'EOF' || fail "send buffer: see above"
import re, socket, subprocess, sys
port, mport = int(sys.argv[1]), int(sys.argv[2])

sys.path.insert(0, "tests/shim/progs")
from http_get import get as _get


def get(path):
    _get(port, path)

for i in range(1700):
    get("/s/%d" % i)

def scrape(s):
    s.sendall(b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n")
    buf = b""
    while b"\r\n\r\n" not in buf:
        d = s.recv(65536)
        if not d:
            sys.exit("connection closed in the head")
        buf += d
    head, body = buf.split(b"\r\n\r\n", 1)
    n = int(re.search(rb"(?im)^content-length: *(\d+)", head).group(1))
    while len(body) < n:
        d = s.recv(1 << 20)
        if not d:
            sys.exit("connection closed after %d of %d bytes" % (len(body), n))
        body += d
    if len(body) != n:
        sys.exit("%d bytes after a body of %d" % (len(body), n))
    series = len(re.findall(rb"(?m)^http_requests_total\{", body))
    if series < 1700:
        sys.exit("%d series in the body" % series)
    return len(head) + 4 + n

def tb():
    out = subprocess.run(["ss", "-tmnH", "state", "established", "( sport = :%d )" % mport],
                         capture_output=True, text=True).stdout
    m = re.findall(r"tb(\d+)", out)
    if len(m) != 1:
        sys.exit("ss shows %d exporter connections: %r" % (len(m), out))
    return int(m[0])

wmem_max = int(open("/proc/sys/net/core/wmem_max").read())
tcp_wmem_max = int(open("/proc/sys/net/ipv4/tcp_wmem").read().split()[2])
s = socket.create_connection(("127.0.0.1", mport), 5)
size = scrape(s)
if size <= tcp_wmem_max:
    sys.exit("a scrape of %d bytes is no larger than tcp_wmem's %d: the test needs more" % (size, tcp_wmem_max))
have = tb()
if 2 * wmem_max >= size + 65536:
    if have < size:
        sys.exit("send buffer %d for a scrape of %d bytes (wmem_max %d)" % (have, size, wmem_max))
    print("ok: the send buffer holds the scrape: %d for %d bytes (wmem_max %d, tcp_wmem max %d)"
          % (have, size, wmem_max, tcp_wmem_max))
else:
    if have < min(2 * wmem_max, tcp_wmem_max) // 2:
        sys.exit("send buffer %d made small (wmem_max %d)" % (have, wmem_max))
    print("ok: wmem_max %d is too small to hold %d bytes: buffer %d left to TCP" % (wmem_max, size, have))
again = scrape(s)
if abs(again - size) > 4096:
    sys.exit("second scrape %d bytes, first %d" % (again, size))
s.close()
EOF
ok "an exposition past TCP's send-buffer tuning is queued in one buffer"
