#!/usr/bin/env bash
# tests/shim/test_family_daemon_single.sh — a single-process daemon
# (lighttpd without -D): fork, setsid, fork, and the last process neither
# forks nor listens again; it only accepts. The process that listened exits
# once the daemon is up; /metrics is served by the daemon within 2 s with no
# traffic at all. Then the same with lighttpd itself, when installed.
source "$(dirname "$0")/progs/fam_lib.sh"

P=$(free_port); M=$(free_port)
start "$WORK/srv.log" PROMSHIM_LISTEN=127.0.0.1:$M -- serve "$P" 0 daemon pidfile "$WORK/pid"
first=$PID
try_for 5 test -s "$WORK/pid" || fail "the daemon wrote no pid file"
d=$(cat "$WORK/pid")
track_session "$d"
t0=$(now_ms)
try_for 5 metrics_ok "$M" || fail "/metrics not served by the single-process daemon"
took=$(( $(now_ms) - t0 ))
[ $took -lt 2000 ] || fail "took ${took} ms"
[ "$(listener_pid "$M")" = "$d" ] || fail "the daemon ($d) does not serve; $(listener_pid "$M") does"
! kill -0 "$first" 2>/dev/null || fail "the first process is still there"
ok "single-process daemon serves without traffic (${took} ms after its pid file)"

[ -x /usr/sbin/lighttpd ] || { echo "lighttpd not installed: its part skipped"; exit 0; }
L=$(free_port); M2=$(free_port)
mkdir -p "$WORK/www" && echo hi >"$WORK/www/index.html" && chmod -R a+rX "$WORK"
cat >"$WORK/lighttpd.conf" <<CONF
server.document-root = "$WORK/www"
server.port = $L
server.bind = "127.0.0.1"
server.pid-file = "$WORK/lighttpd.pid"
server.errorlog = "$WORK/lighttpd-error.log"
CONF
env LD_PRELOAD="$PRELOAD" PROMSHIM_LISTEN=127.0.0.1:$M2 /usr/sbin/lighttpd -f "$WORK/lighttpd.conf" \
	>"$WORK/lighttpd.log" 2>&1 </dev/null || fail "lighttpd did not start"
try_for 5 test -s "$WORK/lighttpd.pid" || fail "lighttpd wrote no pid file"
lp=$(cat "$WORK/lighttpd.pid")
track_session "$lp"
try_for 3 metrics_ok "$M2" || fail "/metrics not served by daemonised lighttpd without traffic"
[ "$(listener_pid "$M2")" = "$lp" ] || fail "lighttpd ($lp) does not serve /metrics"
ok "lighttpd without -D serves /metrics without traffic"
exit 0
