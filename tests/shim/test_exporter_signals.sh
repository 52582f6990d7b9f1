#!/usr/bin/env bash
# tests/shim/test_exporter_signals.sh — the shim's threads block every
# signal pthread_sigmask can block (the mask a thread shows after
# pthread_sigmask(SIG_SETMASK, all)), in the serving master and in standby
# workers alike, and the host's own threads keep the mask they set.
source "$(dirname "$0")/progs/fam_lib.sh"

full=$("$SRV" fullmask)
[ -n "$full" ] || fail "no reference mask"
P=$(free_port); M=$(free_port)
# block-usr1: the host blocks SIGUSR1 before it listens (and so before the
# shim starts its thread from the listen hook).
start "$WORK/srv.log" PROMSHIM_LISTEN=127.0.0.1:$M -- serve "$P" 2 pidfile "$WORK/pid" block-usr1
try_for 10 metrics_ok "$M" || fail "/metrics not served"
master=$(cat "$WORK/pid")
# Workers start their standby thread on their first accept.
sleep 0.5
checked=0
for pid in $master $(pgrep -P "$master"); do
	tids=$(shim_threads "$pid")
	[ -n "$tids" ] || fail "pid $pid has no promshim thread"
	[ "$(echo "$tids" | wc -l)" = 1 ] || fail "pid $pid has more than one promshim thread: $tids"
	for t in $tids; do
		m=$(awk '/^SigBlk:/ {print $2}' "/proc/$pid/task/$t/status")
		[ "$m" = "$full" ] || fail "pid $pid thread $t SigBlk $m, want $full"
		checked=$((checked + 1))
	done
	m=$(awk '/^SigBlk:/ {print $2}' "/proc/$pid/task/$pid/status")
	[ "$m" = 0000000000000200 ] || fail "pid $pid main thread SigBlk $m, want 0000000000000200 (SIGUSR1 only)"
	n=$(ls "/proc/$pid/task" | wc -l)
	[ "$n" = 2 ] || fail "pid $pid has $n threads, want 2 (its own and the shim's)"
done
[ $checked = 3 ] || fail "checked $checked shim threads, want 3"
ok "all signals blocked in $checked shim threads ($full); host masks unchanged"
exit 0
