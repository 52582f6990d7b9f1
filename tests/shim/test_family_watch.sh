#!/usr/bin/env bash
# tests/shim/test_family_watch.sh — single-threaded workers watch their
# parent instead of running a shim thread (shim/family.c), and that costs
# the host nothing it can see:
#  - tests/shim/progs/watch_waits.c: a watching child's sliced waits end
#    on time, with the late event, or with EINTR, exactly as asked;
#  - a prefork server whose master sleeps in sigsuspend (as nginx's does)
#    and whose workers wait in epoll_wait, epoll_pwait2, poll or ppoll
#    (no limit, or 5 s at a time) on a non-blocking listener: the master
#    has the shim thread, the workers have none before or after serving,
#    the requests are counted exactly, and after the master is SIGKILLed
#    with no traffic a worker serves /metrics within 2 s, with a thread
#    it started then;
#  - the same when the master execs another program instead of dying;
#  - a master that never settles where a hook sees it: a worker serves.
source "$(dirname "$0")/progs/fam_lib.sh"

WW=$T/watch_waits
if [ ! -x "$WW" ] || [ tests/shim/progs/watch_waits.c -nt "$WW" ]; then
	gcc -std=gnu11 -Wall -Wextra -Werror -O2 -D_GNU_SOURCE -o "$WW" tests/shim/progs/watch_waits.c ||
		fail "cannot build watch_waits"
fi
M=$(free_port)
timeout 30 env LD_PRELOAD="$PRELOAD" PROMSHIM_LISTEN=127.0.0.1:$M "$WW" >"$WORK/ww.log" 2>&1
rc=$?
cat "$WORK/ww.log"
[ $rc -eq 0 ] || fail "watch_waits (rc $rc)"
ok "sliced waits keep their meaning"

threads() { ls "/proc/$1/task" | wc -l; }

for kind in "epoll -1" "pwait2 -1" "poll 5000" "ppoll -1"; do
	P=$(free_port); M=$(free_port)
	start "$WORK/srv.log" PROMSHIM_LISTEN=127.0.0.1:$M -- serve "$P" 2 waitin $kind sigsuspend
	try_for 10 metrics_ok "$M" || fail "$kind: /metrics not served on $M"
	master=$PID
	try_for 5 test "$(pgrep -P "$master" | wc -l)" = 2 || fail "$kind: want 2 workers"
	workers=$(pgrep -P "$master" | tr '\n' ' ')
	[ "$(shim_threads "$master" | wc -l)" = 1 ] || fail "$kind: the master has no shim thread"
	for w in $workers; do
		[ "$(threads "$w")" = 1 ] || fail "$kind: worker $w has $(threads "$w") threads before serving"
	done
	for i in 1 2 3 4 5 6; do
		[ "$(curl -s --max-time 2 "http://127.0.0.1:$P/r$i")" = ok ] || fail "$kind: request $i"
	done
	for w in $workers; do
		[ "$(threads "$w")" = 1 ] || fail "$kind: worker $w has $(threads "$w") threads after serving"
	done
	n=$(scrape "$M" | awk '/^http_requests_total\{/ {s += $2} END {print s + 0}')
	[ "$n" = 6 ] || fail "$kind: http_requests_total sums to $n, want 6"
	sleep 0.6 # the workers are back in their waits, between slices
	kill -KILL "$master"
	t0=$(now_ms)
	try_for 5 metrics_ok "$M" || fail "$kind: /metrics not back within 5 s after killing the master"
	took=$(( $(now_ms) - t0 ))
	s=$(listener_pid "$M")
	[ $took -lt 2000 ] || fail "$kind: failover took $took ms (limit 2000)"
	case " $workers " in *" $s "*) ;; *) fail "$kind: /metrics served by '$s', not a worker ($workers)" ;; esac
	[ "$(shim_threads "$s" | wc -l)" = 1 ] || fail "$kind: the new server $s has no shim thread"
	n=$(scrape "$M" | awk '/^http_requests_total\{/ {s += $2} END {print s + 0}')
	[ "$n" = 6 ] || fail "$kind: after failover http_requests_total sums to $n, want 6"
	ok "$kind: workers without a thread; failover to worker $s in $took ms"
	kill -KILL $workers 2>/dev/null
	try_for 5 sh -c "! ss -Hltn 'sport = :$M' | grep -q ."
done
# The master execs: its pid lives on, but the shim's thread (and the
# family's registry, for the new image) do not. The kernel clears the
# owner of the robust mutexes its thread held, and a watching worker
# serves within 2 s, with the counts kept.
P=$(free_port); M=$(free_port)
start "$WORK/srv.log" PROMSHIM_LISTEN=127.0.0.1:$M -- serve "$P" 2 waitin epoll -1 exec 1500
try_for 10 metrics_ok "$M" || fail "exec: /metrics not served on $M"
master=$PID
workers=$(pgrep -P "$master" | tr '\n' ' ')
for i in 1 2 3; do
	[ "$(curl -s --max-time 2 "http://127.0.0.1:$P/e$i")" = ok ] || fail "exec: request $i"
done
for w in $workers; do
	[ "$(threads "$w")" = 1 ] || fail "exec: worker $w has $(threads "$w") threads before the exec"
done
try_for 5 sh -c "grep -qx sleep /proc/$master/comm" || fail "exec: the master did not exec"
t0=$(now_ms)
try_for 5 sh -c "ss -Hltnp 'sport = :$M' | grep -qv 'pid=$master,'" ||
	fail "exec: no worker serves /metrics within 5 s of the exec"
try_for 2 metrics_ok "$M" || fail "exec: /metrics not answering"
took=$(( $(now_ms) - t0 ))
s=$(listener_pid "$M")
case " $workers " in *" $s "*) ;; *) fail "exec: /metrics served by '$s', not a worker ($workers)" ;; esac
[ $took -lt 2000 ] || fail "exec: takeover took $took ms after the exec was seen (limit 2000)"
n=$(scrape "$M" | awk '/^http_requests_total\{/ {s += $2} END {print s + 0}')
[ "$n" = 3 ] || fail "exec: after the takeover http_requests_total sums to $n, want 3"
ok "exec: worker $s serves /metrics $took ms after the master's exec"
kill -KILL $workers 2>/dev/null

# A master that never settles where a hook sees it (it sleeps in a read)
# never starts its thread: its workers stop waiting for it after a second
# and one of them serves.
P=$(free_port); M=$(free_port)
start "$WORK/srv.log" PROMSHIM_LISTEN=127.0.0.1:$M -- serve "$P" 2 waitin epoll -1 stuck
t0=$(now_ms)
try_for 10 metrics_ok "$M" || fail "stuck: /metrics not served within 10 s"
took=$(( $(now_ms) - t0 ))
master=$PID
s=$(listener_pid "$M")
[ "$s" != "$master" ] && [ "$(ps -o ppid= -p "$s" | tr -d ' ')" = "$master" ] ||
	fail "stuck: /metrics served by '$s', not a worker of $master"
[ "$(threads "$master")" = 1 ] || fail "stuck: the master has $(threads "$master") threads"
[ $took -lt 2500 ] || fail "stuck: /metrics came after $took ms (a worker waits 1 s for its parent, once)"
ok "stuck: worker $s serves /metrics after $took ms, the master has no thread"
exit 0
