#!/usr/bin/env bash
# tests/shim/test_family_failover.sh — SIGKILL the process that serves
# /metrics: another member serves again within 2 s, with no traffic to the
# server in between; the dead member leaves the family's figures. Twice:
# the master first, then whichever worker took over.
source "$(dirname "$0")/progs/fam_lib.sh"

P=$(free_port); M=$(free_port)
start "$WORK/srv.log" PROMSHIM_LISTEN=127.0.0.1:$M PROMSHIM_LOG=info -- serve "$P" 3 pidfile "$WORK/pid"
try_for 10 metrics_ok "$M" || fail "/metrics not served on $M"
master=$(cat "$WORK/pid")
# One request so that each worker that got it is known to be up.
[ "$(curl -s --max-time 2 "http://127.0.0.1:$P/")" = ok ] || fail "host request"
sleep 0.3

for round in 1 2; do
	s=$(listener_pid "$M")
	[ -n "$s" ] || fail "round $round: nobody listens on $M"
	before=$(scrape "$M" | sample promshim_family_processes)
	kill -KILL "$s"
	t0=$(now_ms)
	try_for 5 metrics_ok "$M" || fail "round $round: /metrics not back within 5 s after killing pid $s"
	took=$(( $(now_ms) - t0 ))
	echo "round $round: killed serving pid $s (master $master); /metrics back after ${took} ms"
	[ $took -lt 2000 ] || fail "round $round: failover took ${took} ms (limit 2000)"
	s2=$(listener_pid "$M")
	[ -n "$s2" ] && [ "$s2" != "$s" ] || fail "round $round: new server pid '$s2'"
	# The master respawns a killed worker: count only when the master died.
	after=$(scrape "$M" | sample promshim_family_processes)
	if [ "$s" = "$master" ]; then
		[ "$after" = $((before - 1)) ] || fail "round $round: family_processes $before -> $after, want $((before - 1))"
	fi
	ok "round $round: failover in ${took} ms, $before -> $after members"
done
exit 0
