#!/usr/bin/env bash
# tests/shim/test_family_port_held.sh — the metrics port is held by another
# process (an old family after an nginx binary upgrade): one log line, quiet
# retries, and /metrics served by our family within ~2 s once it is freed.
source "$(dirname "$0")/progs/fam_lib.sh"

P=$(free_port); M=$(free_port)
setsid python3 -c 'import socket,sys,time
s=socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", int(sys.argv[1]))); s.listen(5); print("held", flush=True); time.sleep(60)' "$M" >"$WORK/holder.log" 2>&1 &
holder=$!
disown $holder
GROUPS_STARTED+=("$holder")
try_for 5 grep -q held "$WORK/holder.log" || fail "the holder did not bind $M"

start "$WORK/srv.log" PROMSHIM_LISTEN=127.0.0.1:$M -- serve "$P" 2
try_for 10 port_open "$P" || fail "the server does not listen"
try_for 5 grep -q 'in use' "$WORK/srv.log" || fail "no log line about the port in use"
sleep 2 # four retries
n=$(grep -c '^promshim\[' "$WORK/srv.log")
[ "$n" = 1 ] || { cat "$WORK/srv.log"; fail "$n promshim lines while retrying, want 1"; }
grep '^promshim\[' "$WORK/srv.log" | grep -q "127.0.0.1:$M" || fail "the line does not name the address"
[ "$(curl -s --max-time 2 "http://127.0.0.1:$P/")" = ok ] || fail "the server does not answer while the port is held"
ok "port held: one line, host fine"

kill -KILL "$holder"
t0=$(now_ms)
try_for 5 metrics_ok "$M" || fail "/metrics not served after the port was freed"
took=$(( $(now_ms) - t0 ))
echo "served ${took} ms after the holder died"
[ $took -lt 2500 ] || fail "took ${took} ms"
[ "$(listener_pid "$M")" = "$PID" ] || fail "the listener on $M is not our master"
ok "served once the port was freed"
exit 0
