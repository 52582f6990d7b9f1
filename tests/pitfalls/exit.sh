#!/usr/bin/env bash
# tests/pitfalls/exit.sh — the ends of a serving process. While the
# exporter serves, the server forks a child per connection that calls
# exit() at once (destructors and atexit run in a child whose exporter
# thread did not survive the fork): each child exits at once, the server
# never finds a child it did not start (the shim forks no helper its
# waitpid(-1) could reap), and counts stay exact. Then the serving process
# itself calls exit() with its exporter thread running: it exits at once
# with its own status (nothing joins a thread or waits in a destructor).
source "$(dirname "$0")/lib.sh"

P=$(free_port); M=$(free_port)
setsid env LD_PRELOAD="$PRELOAD" PROMSHIM_LISTEN=127.0.0.1:$M "$PIT" "$P" --log "$WORK/srv.log" \
	--fork-exit --exit-after 5 >"$WORK/srv.out" 2>&1 </dev/null &
PID=$!
GROUPS_STARTED+=("$PID")
try_for 5 metrics_ok "$M" || fail "/metrics not served"
mix "$P"
mix "$P"
expect_mix "$M" 2
expect_eq "children that exited 0" "$(grep -c '^forked child exited: 0$' "$WORK/srv.log")" 4
! grep -q '^STRAY CHILD' "$WORK/srv.log" || fail "$(grep '^STRAY CHILD' "$WORK/srv.log" | head -n 3)"
metrics_ok "$M" || fail "/metrics stopped"
t0=$(now_ms)
reqs "$P" /a >/dev/null
( sleep 5; kill -KILL "$PID" 2>/dev/null ) &
killer=$!
wait "$PID"
rc=$?
took=$(( $(now_ms) - t0 ))
kill "$killer" 2>/dev/null
expect_eq "exit status of the serving process" "$rc" 3
[ $took -lt 1000 ] || fail "the serving process took ${took} ms to exit"
grep -q '^exiting' "$WORK/srv.log" || fail "the server did not reach exit()"
ok "forked children and the serving process exit at once (${took} ms)"
exit 0
