#!/usr/bin/env bash
# tests/shim/test_family_closeall.sh — the host closes "all fds" after the
# exporter started (close_range, as daemons do): the close is done as asked
# (the exporter's fds really are closed), and /metrics is served again
# within a second on fresh high fds.
source "$(dirname "$0")/progs/fam_lib.sh"

P=$(free_port); M=$(free_port)
start "$WORK/srv.log" PROMSHIM_LISTEN=127.0.0.1:$M -- serve "$P" 1 closeall 1500
try_for 10 metrics_ok "$M" || fail "/metrics not served before the close"
before=$(ls -l "/proc/$PID/fd" | awk '$9 >= 900 {print $9, $11}' | sort)
[ -n "$before" ] || fail "no exporter fd at or above 900"
try_for 5 grep -q '^closed all above 3: 0' "$WORK/srv.log" || { cat "$WORK/srv.log"; fail "the host's close_range failed"; }
t0=$(now_ms)
try_for 5 metrics_ok "$M" || fail "/metrics not back after the host closed every fd"
took=$(( $(now_ms) - t0 ))
echo "fds before: $before"
echo "served again ${took} ms after close_range"
[ $took -lt 1500 ] || fail "took ${took} ms"
after=$(ls -l "/proc/$PID/fd" | awk '$9 >= 900 {print $9, $11}' | sort)
[ -n "$after" ] || fail "no exporter fd at or above 900 after the rebuild"
# The sockets are new ones: the host's close really happened.
[ "$(echo "$before" | awk '{print $2}')" != "$(echo "$after" | awk '{print $2}')" ] ||
	fail "the exporter's fds were not closed by the host's close_range"
low=$(ls "/proc/$PID/fd" | awk '$1 > 3 && $1 < 900' | tr '\n' ' ')
[ -z "$low" ] || fail "fds above the listener and below 900 after the rebuild: $low"
ok "exporter rebuilt after close_range, host's close honoured"
exit 0
