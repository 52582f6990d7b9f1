#!/usr/bin/env bash
# tests/shim/test_family_perconn.sh — a fork-per-connection server: the
# listening master serves /metrics from its one shim thread; the children,
# one per connection, start no thread at all (they neither accept, listen,
# nor fork, and their parent lives).
source "$(dirname "$0")/progs/fam_lib.sh"

P=$(free_port); M=$(free_port)
start "$WORK/srv.log" PROMSHIM_LISTEN=127.0.0.1:$M -- perconn "$P"
try_for 10 metrics_ok "$M" || fail "/metrics not served"
for i in 1 2 3 4 5; do
	[ "$(curl -s --max-time 2 "http://127.0.0.1:$P/r$i")" = ok ] || fail "request $i"
done
kids=$(pgrep -P "$PID" | tr '\n' ' ')
[ "$(echo $kids | wc -w)" = 5 ] || fail "want 5 lingering children, have '$kids'"
for k in $kids; do
	n=$(ls "/proc/$k/task" | wc -l)
	[ "$n" = 1 ] || fail "per-connection child $k has $n threads, want 1"
done
[ "$(ls "/proc/$PID/task" | wc -l)" = 2 ] || fail "the master does not have exactly 2 threads"
[ "$(shim_threads "$PID" | wc -l)" = 1 ] || fail "the master has no shim thread"
v=$(scrape "$M" | sample http_connections_accepted_total)
[ "$v" = 5 ] || fail "http_connections_accepted_total $v, want 5"
ok "no thread per connection: children have 1 thread each"
exit 0
