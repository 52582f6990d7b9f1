#!/usr/bin/env bash
# tests/shim/test_family_exec_inherit.sh — a process started by exec with
# an inherited listening TCP socket (nginx's binary upgrade, socket
# activation) serves /metrics from the start, without listening itself;
# one that inherits only a non-listening socket does not.
source "$(dirname "$0")/progs/fam_lib.sh"

P=$(free_port); M=$(free_port)
# execs fam_srv idle (which never calls listen) with a listening socket on
# fd 5 (inheritable) or a plain connected socket pair.
exec_with() {
	local kind=$1 logf=$2
	setsid python3 -c 'import os,socket,sys
kind,port,lib,srv,metrics=sys.argv[1],int(sys.argv[2]),sys.argv[3],sys.argv[4],sys.argv[5]
if kind == "listener":
    s=socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("127.0.0.1", port)); s.listen(8)
else:
    s, t = socket.socketpair()
os.dup2(s.fileno(), 5); os.set_inheritable(5, True)
env=dict(os.environ, LD_PRELOAD=lib, PROMSHIM_LISTEN="127.0.0.1:"+metrics)
os.execve(srv, [srv, "idle", "30"], env)' "$kind" "$P" "$PRELOAD" "$SRV" "$M" >"$logf" 2>&1 </dev/null &
	PID=$!
	disown "$PID"
	GROUPS_STARTED+=("$PID")
}

exec_with pair "$WORK/pair.log"
try_for 5 grep -q libpromshim "/proc/$PID/maps" || fail "the shim is not loaded after exec"
sleep 0.5
[ "$(ls "/proc/$PID/task" | wc -l)" = 1 ] || fail "a process without a listener started a thread"
! port_open "$M" 2>/dev/null || fail "/metrics served without a listener"
ok "no listener inherited: nothing served"
kill -KILL "$PID"

exec_with listener "$WORK/listener.log"
try_for 5 metrics_ok "$M" || fail "/metrics not served by a process that inherited a listener"
[ "$(listener_pid "$M")" = "$PID" ] || fail "pid $PID does not serve"
[ "$(listener_pid "$P")" = "$PID" ] || fail "pid $PID does not hold the inherited listener"
ok "inherited listener across exec: served"
exit 0
