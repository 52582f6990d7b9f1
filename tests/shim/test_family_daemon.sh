#!/usr/bin/env bash
# tests/shim/test_family_daemon.sh — nginx `daemon on` style start: the
# process that listened (and started serving) exits right after forking, the
# session leader forks the master and exits too. The master family keeps
# serving /metrics within 2 s with no traffic at all, from the master;
# killing that server hands over again within 2 s.
source "$(dirname "$0")/progs/fam_lib.sh"

P=$(free_port); M=$(free_port)
start "$WORK/srv.log" PROMSHIM_LISTEN=127.0.0.1:$M PROMSHIM_LOG=info -- serve "$P" 2 daemon pidfile "$WORK/pid"
first=$PID
try_for 5 test -s "$WORK/pid" || fail "the daemon wrote no pid file"
master=$(cat "$WORK/pid")
track_session "$master"
try_for 5 bash -c "! kill -0 $first 2>/dev/null" || fail "the first process did not exit"
t0=$(now_ms)
try_for 5 metrics_ok "$M" || fail "/metrics not served after daemonising"
s=$(listener_pid "$M")
echo "first process $first gone; master $master; serving pid $s after $(( $(now_ms) - t0 )) ms more"
[ -n "$s" ] && [ "$s" != "$first" ] && alive "$s" || fail "serving pid '$s' is not a live member"
# The longest-lived member is preferred: the master, not a worker.
[ "$s" = "$master" ] || fail "a worker ($s) serves instead of the master ($master)"
# Serving stays up: the first process's exit is long past.
sleep 1
metrics_ok "$M" || fail "/metrics went away"
n=$(scrape "$M" | sample promshim_family_processes)
[ "$n" = 3 ] || fail "promshim_family_processes is $n, want 3 (master + 2 workers)"
ok "daemonised family serves, $n members"

kill -KILL "$s"
t0=$(now_ms)
try_for 5 metrics_ok "$M" || fail "/metrics not back after killing pid $s"
took=$(( $(now_ms) - t0 ))
[ $took -lt 2000 ] || fail "failover took ${took} ms"
ok "failover after the daemon's server was killed: ${took} ms"
exit 0
