#!/usr/bin/env bash
# tests/pitfalls/fdhigh.sh — a single-process server that holds more than
# 1024 fds (lighttpd or a Node server with a thousand clients): it raises
# its soft fd limit and fills its fd table up to fd 1100 after the exporter
# started. The host's traffic is answered and /metrics must keep
# answering with exact counts. (PITFALLS: select() breaks above fd 1024;
# the exporter's scrape sockets must work at any fd number, here above
# 1100, where a busy host leaves the only free numbers.)
source "$(dirname "$0")/lib.sh"

hard=$(ulimit -Hn)
[ "$hard" = unlimited ] || [ "$hard" -ge 2048 ] || skip "hard fd limit $hard is below 2048"
P=$(free_port); M=$(free_port)
pstart "$WORK/srv.out" PROMSHIM_LISTEN=127.0.0.1:$M -- "$P" --log "$WORK/srv.log" --raise-nofile --fill 1100
try_for 5 grep -q '^filled up to fd 1100' "$WORK/srv.log" || fail "the server did not fill its fd table"
# the traffic mix, by hand, to see the bodies
body=$(reqs "$P" /a /a /missing/x /close/y; reqs "$P" /a)
expect_eq "host's bodies" "$(echo $body)" "ok ok no closed ok"
fds=$(awk '$1 == "accepted" {print $3}' "$WORK/srv.log" | sort -u | paste -sd' ')
for fd in $fds; do [ "$fd" -gt 1100 ] || fail "accepted on fd $fd, not above 1100"; done
alive "$PID" || fail "the server died"
try_for 3 metrics_ok "$M" || fail "/metrics does not answer with the host holding every fd from 900 to 1100"
mix "$P"
expect_mix "$M" 2
alive "$PID" || fail "the server died"
ok "/metrics answers with the host above fd 1100"
exit 0
