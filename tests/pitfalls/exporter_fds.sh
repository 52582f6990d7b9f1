#!/usr/bin/env bash
# tests/pitfalls/exporter_fds.sh — hosts that close or replace fds they
# do not know about. 1: a daemon closes every fd at start-up, before it
# listens (a close() loop up to the soft limit, closefrom, close_range):
# /metrics is served and counts exact. 2: the host close()s every fd but
# its own, one by one, after the exporter started: the closes are done, and
# /metrics is served again within 1.5 s. 3: the host dup2()s /dev/null onto
# each of the exporter's fds: every dup2 does what was asked and its fd
# stays /dev/null (the exporter never closes it afterwards), /metrics is
# served again within 1.5 s from new fds, counts exact.
source "$(dirname "$0")/lib.sh"

for how in loop closefrom close_range; do
	P=$(free_port); M=$(free_port)
	pstart "$WORK/start-$how.out" PROMSHIM_LISTEN=127.0.0.1:$M -- "$P" --closeall "$how" --log "$WORK/start-$how.log"
	try_for 5 metrics_ok "$M" || fail "$how at start-up: /metrics not served"
	grep -q "^closed all from 3 with $how" "$WORK/start-$how.log" || fail "$how at start-up: the server did not close"
	mix "$P"
	expect_mix "$M" 1
	ok "$how at start-up"
	kill -KILL "$PID"
done

# exporter_fds PID: "fd target" lines for fds >= 900.
exporter_fds() { ls -l "/proc/$1/fd" | awk '$9 >= 900 {print $9, $11}' | sort -n; }

P=$(free_port); M=$(free_port)
pstart "$WORK/late.out" PROMSHIM_LISTEN=127.0.0.1:$M -- "$P" --closeall-late 1500 --log "$WORK/late.log"
try_for 5 metrics_ok "$M" || fail "late close loop: /metrics not served"
mix "$P"
before=$(exporter_fds "$PID")
[ -n "$before" ] || fail "late close loop: no exporter fd at or above 900"
try_for 5 grep -q '^closed all late' "$WORK/late.log" || fail "late close loop: the server did not close"
t0=$(now_ms)
try_for 3 metrics_ok "$M" || fail "late close loop: /metrics not back"
took=$(( $(now_ms) - t0 ))
[ $took -le 1500 ] || fail "late close loop: /metrics back after ${took} ms"
after=$(exporter_fds "$PID")
[ "$(awk '{print $2}' <<<"$before")" != "$(awk '{print $2}' <<<"$after")" ] ||
	fail "late close loop: the exporter's fds were not closed: $after"
mix "$P"
expect_mix "$M" 2
ok "close() loop after start: served again ${took} ms later"
kill -KILL "$PID"

P=$(free_port); M=$(free_port)
pstart "$WORK/dup2.out" PROMSHIM_LISTEN=127.0.0.1:$M -- "$P" --dup2-exporter 1500 --log "$WORK/dup2.log"
try_for 5 metrics_ok "$M" || fail "dup2: /metrics not served"
mix "$P"
before=$(exporter_fds "$PID")
[ -n "$before" ] || fail "dup2: no exporter fd at or above 900"
try_for 5 grep -q '^dup2 done' "$WORK/dup2.log" || fail "dup2: the server did not dup2"
t0=$(now_ms)
n=$(awk '/^dup2 done/ {print $3}' "$WORK/dup2.log")
expect_eq "dup2 calls" "$n" "$(wc -l <<<"$before")"
while read -r fd _; do
	grep -qx "dup2 onto $fd: $fd" "$WORK/dup2.log" || fail "dup2 onto $fd: $(grep "onto $fd:" "$WORK/dup2.log")"
done <<<"$before"
try_for 3 metrics_ok "$M" || fail "dup2: /metrics not back"
took=$(( $(now_ms) - t0 ))
[ $took -le 1500 ] || fail "dup2: /metrics back after ${took} ms"
sleep 2
now=$(exporter_fds "$PID")
while read -r fd _; do
	grep -qx "$fd /dev/null" <<<"$now" || fail "dup2: fd $fd is no longer the host's /dev/null: $(grep "^$fd " <<<"$now")"
done <<<"$before"
metrics_ok "$M" || fail "dup2: /metrics stopped"
mix "$P"
expect_mix "$M" 2
ok "dup2 onto the exporter's fds: host's fds kept, served again ${took} ms later"
exit 0
