#!/usr/bin/env bash
# tests/shim/test_exporter_lazy.sh — a process that never listens (an
# exec'd helper) pays almost nothing: no extra thread, no libmicrohttpd
# mapped, no metrics port; the same program that listens gets both.
source "$(dirname "$0")/progs/fam_lib.sh"

M=$(free_port)
start "$WORK/idle.log" PROMSHIM_LISTEN=127.0.0.1:$M -- idle 30
idle=$PID
try_for 5 grep -q libpromshim "/proc/$idle/maps" || fail "the shim is not loaded in the idle process"
sleep 0.3
n=$(ls "/proc/$idle/task" | wc -l)
[ "$n" = 1 ] || fail "idle process has $n threads, want 1"
! grep -q microhttpd "/proc/$idle/maps" || fail "libmicrohttpd is mapped in a process that never listened"
! port_open "$M" 2>/dev/null || fail "the metrics port is open although nothing listens"
ok "never listening: 1 thread, no libmicrohttpd, no port"

P=$(free_port)
start "$WORK/srv.log" PROMSHIM_LISTEN=127.0.0.1:$M -- serve "$P" 0
try_for 10 metrics_ok "$M" || fail "/metrics not served by the listening process"
grep -q microhttpd "/proc/$PID/maps" || fail "libmicrohttpd not mapped in the serving process"
[ "$(ls "/proc/$PID/task" | wc -l)" = 2 ] || fail "serving process does not have exactly 2 threads"
# libmicrohttpd starts no thread and no fd of its own below the shim's floor.
low=$(ls "/proc/$PID/fd" | awk '$1 < 900' | sort -n | tr '\n' ' ')
idlefds=$(ls "/proc/$idle/fd" | awk '$1 < 900' | sort -n | tr '\n' ' ')
# fam_srv's listener is fd 3, the first free one.
want=$(printf '%s\n' $idlefds 3 | sort -n | tr '\n' ' ')
[ "$low" = "$want" ] || fail "serving process low fds '$low', want '$want' (the idle process's plus the listener)"
ok "listening: libmicrohttpd loaded, one shim thread"

# PROMSHIM_LISTEN=off: the same listening server, no exporter at all.
P2=$(free_port)
start "$WORK/off.log" PROMSHIM_LISTEN=off -- serve "$P2" 0
try_for 10 port_open "$P2" || fail "the server with PROMSHIM_LISTEN=off does not listen"
sleep 0.3
[ "$(ls "/proc/$PID/task" | wc -l)" = 1 ] || fail "PROMSHIM_LISTEN=off: more than one thread"
! grep -q microhttpd "/proc/$PID/maps" || fail "PROMSHIM_LISTEN=off: libmicrohttpd mapped"
ok "PROMSHIM_LISTEN=off: no thread, no libmicrohttpd"
exit 0
