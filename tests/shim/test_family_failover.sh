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
# Forked members hold none of the exporter's fds (closed in the fork child):
# scrapes cannot queue on a socket nobody serves.
for w in $(pgrep -P "$master"); do
	high=$(ls "/proc/$w/fd" | awk '$1 >= 900' | tr '\n' ' ')
	[ -z "$high" ] || fail "worker $w holds exporter fds: $high"
done
[ "$(ss -Hltn "sport = :$M" | wc -l)" = 1 ] || fail "more than one listener on $M"
ok "workers hold no exporter fd"

for round in 1 2; do
	s=$(listener_pid "$M")
	[ -n "$s" ] || fail "round $round: nobody listens on $M"
	scrape "$M" >"$WORK/before.txt"
	before=$(sample promshim_family_processes <"$WORK/before.txt")
	cpu0=$(sample process_cpu_seconds_total <"$WORK/before.txt")
	kill -KILL "$s"
	t0=$(now_ms)
	try_for 5 metrics_ok "$M" || fail "round $round: /metrics not back within 5 s after killing pid $s"
	took=$(( $(now_ms) - t0 ))
	echo "round $round: killed serving pid $s (master $master); /metrics back after ${took} ms"
	[ $took -lt 2000 ] || fail "round $round: failover took ${took} ms (limit 2000)"
	s2=$(listener_pid "$M")
	[ -n "$s2" ] && [ "$s2" != "$s" ] || fail "round $round: new server pid '$s2'"
	# The master respawns a killed worker: count only when the master died.
	scrape "$M" >"$WORK/after.txt"
	after=$(sample promshim_family_processes <"$WORK/after.txt")
	cpu1=$(sample process_cpu_seconds_total <"$WORK/after.txt")
	python3 -c 'import sys; sys.exit(not float(sys.argv[2]) >= float(sys.argv[1]))' "$cpu0" "$cpu1" ||
		fail "round $round: process_cpu_seconds_total decreased $cpu0 -> $cpu1"
	if [ "$s" = "$master" ]; then
		[ "$after" = $((before - 1)) ] || fail "round $round: family_processes $before -> $after, want $((before - 1))"
	fi
	ok "round $round: failover in ${took} ms, $before -> $after members"
done
exit 0
