#!/usr/bin/env bash
# tests/shim/test_endpoint_limits.sh — the endpoint cannot be used to
# exhaust the host: 24 idle connections to /metrics get at most 16 scrape
# sockets in the serving process (the rest wait in the backlog), the idle
# ones are closed after the 10 s connection timeout and the waiting ones
# taken in turn, the host's own traffic is served all along, and a scrape
# succeeds once the idle clients are gone.
source "$(dirname "$0")/progs/fam_lib.sh"

P=$(free_port); M=$(free_port)
start "$WORK/srv.log" PROMSHIM_LISTEN=127.0.0.1:$M -- serve "$P" 1
try_for 10 metrics_ok "$M" || fail "/metrics not served on $M"
sp=$(listener_pid "$M")
[ -n "$sp" ] || fail "no listener pid for $M"
high() { ls "/proc/$sp/fd" | awk '$1 >= 900' | wc -l; }
base=$(high)   # the listening socket and the wake-up fd

# 24 idle clients; each reports when the endpoint closes it.
python3 - "$M" >"$WORK/idle.txt" 2>&1 <<'EOF' &
import select, socket, sys, time
port = int(sys.argv[1])
t0 = time.monotonic()
socks = [socket.create_connection(("127.0.0.1", port), 2) for _ in range(24)]
print("connected", flush=True)
closed = {}
while time.monotonic() - t0 < 15 and len(closed) < len(socks):
    r, _, _ = select.select([s for s in socks if s not in closed], [], [], 0.2)
    for s in r:
        try:
            d = s.recv(100)
        except OSError:
            d = b""
        if not d:
            closed[s] = time.monotonic() - t0
early = sum(1 for t in closed.values() if t < 9)
ontime = sum(1 for t in closed.values() if 9 <= t < 14)
print("early=%d ontime=%d open=%d" % (early, ontime, len(socks) - len(closed)), flush=True)
EOF
holder=$!
try_for 5 grep -q connected "$WORK/idle.txt" || fail "idle clients: $(cat "$WORK/idle.txt")"
sleep 1.5
n=$(( $(high) - base ))
[ "$n" = 16 ] || fail "$n scrape sockets for 24 idle clients, want the limit 16"
for i in 1 2 3 4 5; do
	[ "$(curl -s --max-time 2 "http://127.0.0.1:$P/x$i")" = ok ] || fail "host request $i while the endpoint is full"
done
ok "16 scrape connections at most; the host serves meanwhile"

wait "$holder"
r=$(tail -n 1 "$WORK/idle.txt")
[ "$r" = "early=0 ontime=16 open=8" ] || fail "idle clients closed: '$r', want 'early=0 ontime=16 open=8'"
ok "idle connections closed after the timeout, the waiting ones taken in turn"

try_for 5 metrics_ok "$M" || fail "no scrape after the idle clients left"
try_for 5 bash -c "[ \$(ls /proc/$sp/fd | awk '\$1 >= 900' | wc -l) = $base ]" || fail "scrape sockets left: $(( $(high) - base ))"
ok "scrapes served again, no socket left behind"
exit 0
