#!/usr/bin/env bash
# tests/pitfalls/fdbeyond.sh — a server started with a hard fd limit of 512
# (the shim's fd table is sized from it) raises the hard limit (which needs
# CAP_SYS_RESOURCE) and accepts on fds above 600: those connections are not
# tracked, one line says so once, the host's responses are unchanged and
# /metrics keeps answering. Without the capability nothing can open an fd
# beyond the table, and the test is skipped.
source "$(dirname "$0")/lib.sh"

P=$(free_port); M=$(free_port)
(ulimit -n 512 && pstart "$WORK/beyond.log" PROMSHIM_LISTEN=127.0.0.1:$M PROMSHIM_LOG=info -- "$P" \
	--hard 4096 --fill 600 && echo "$PID" >"$WORK/beyond.pid")
PID=$(cat "$WORK/beyond.pid")
GROUPS_STARTED+=("$PID")
try_for 5 grep -q -e '^filled up to' -e '^SETRLIMIT' "$WORK/beyond.log" || fail "the server did not start"
if grep -q '^SETRLIMIT' "$WORK/beyond.log"; then
	skip "raising the hard fd limit needs CAP_SYS_RESOURCE: $(grep '^SETRLIMIT' "$WORK/beyond.log")"
fi
try_for 5 metrics_ok "$M" || fail "/metrics not served"
body=$(reqs "$P" /a /missing/x /a; reqs "$P" /close/y)
expect_eq "bodies from the untracked connections" "$(echo $body)" "ok no ok closed"
s=$(scrape "$M")
expect_eq "accepted" "$(val "$s" http_connections_accepted_total)" 0
expect_eq "requests counted" "$(grep -c '^http_requests_total{' <<<"$s")" 0
expect_eq "open" "$(val "$s" http_connections_open)" 0
lines=$(grep -c 'beyond the 512 fds the shim follows' "$WORK/beyond.log")
expect_eq "log lines about untracked fds" "$lines" 1
grep -q "promshim\[$PID\]: fd 6[0-9][0-9] is beyond the 512 fds the shim follows: connection not tracked" \
	"$WORK/beyond.log" || fail "log line: $(grep beyond "$WORK/beyond.log")"
alive "$PID" || fail "the server died"
ok "beyond the table: untracked, logged once, host unaffected"
exit 0
