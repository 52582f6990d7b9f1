#!/usr/bin/env bash
# tests/pitfalls/daemon.sh — a server that daemonises with glibc daemon(),
# whose fork, setsid and _exit are glibc-internal calls that skip the PLT
# (no hook sees them; only the atfork handlers run). Twice: daemon() after
# listen() (the exporter started in the parent, which then exits at once)
# and before it. Each time /metrics is served by the daemon within 2 s with
# no traffic at all (the daemon only waits in poll()), the counts are exact,
# and the family holds one live process.
source "$(dirname "$0")/lib.sh"

for order in --daemon --daemon-first; do
	P=$(free_port); M=$(free_port)
	t0=$(now_ms)
	pstart "$WORK/launch$order.log" PROMSHIM_LISTEN=127.0.0.1:$M -- "$P" $order \
		--log "$WORK/srv$order.log" --pidfile "$WORK/pid$order"
	try_for 5 test -s "$WORK/pid$order" || fail "$order: no pidfile"
	d=$(cat "$WORK/pid$order")
	track_session "$d"
	[ "$d" != "$PID" ] || fail "$order: daemon() did not fork"
	try_for 3 bash -c "! kill -0 $PID 2>/dev/null" || fail "$order: the parent did not exit"
	try_for 3 metrics_ok "$M" && [ $(( $(now_ms) - t0 )) -le 2500 ] ||
		fail "$order: /metrics not served within 2.5 s without traffic"
	echo "$order: served by the daemon $(( $(now_ms) - t0 )) ms after start, no traffic"
	mix "$P"
	[ "$(listener_pid "$M")" = "$d" ] || fail "$order: /metrics served by pid $(listener_pid "$M"), not the daemon $d"
	mix "$P"
	expect_mix "$M" 2
	s=$(scrape "$M")
	expect_eq "$order: promshim_family_processes" "$(val "$s" promshim_family_processes)" 1
	[ "$(shim_threads "$d" | wc -l)" = 1 ] || fail "$order: the daemon runs $(shim_threads "$d" | wc -l) shim threads"
	kill -KILL "$d"
	ok "$order"
done
exit 0
