#!/usr/bin/env bash
# tests/pitfalls/fdlimit.sh — servers change their fd limit after
# start-up (Node raises the soft limit to the hard one, nginx's
# worker_rlimit_nofile). Started with a soft limit of 256 under a
# higher hard limit, the server raises the soft limit once it listens and
# fills its fd table past 300: connections accepted on fds above the old
# soft limit are tracked and counted exactly. (Beyond the hard limit the
# shim started with: fdbeyond.sh.)
source "$(dirname "$0")/lib.sh"

hard=$(ulimit -Hn)
[ "$hard" = unlimited ] || [ "$hard" -ge 1024 ] || skip "hard fd limit $hard is below 1024"

P=$(free_port); M=$(free_port)
(ulimit -Sn 256 && pstart "$WORK/raise.log" PROMSHIM_LISTEN=127.0.0.1:$M -- "$P" --raise-nofile --fill 300 &&
	echo "$PID" >"$WORK/raise.pid")
PID=$(cat "$WORK/raise.pid")
GROUPS_STARTED+=("$PID")
try_for 5 metrics_ok "$M" || fail "/metrics not served"
try_for 3 grep -q '^filled up to fd 300' "$WORK/raise.log" || fail "the server did not fill its fd table"
grep -q '^fd limit 256 -> ' "$WORK/raise.log" || fail "the soft limit was not raised: $(cat "$WORK/raise.log")"
mix "$P"
mix "$P"
expect_mix "$M" 2
fds=$(awk '$1 == "accepted" {print $3}' "$WORK/raise.log" | sort -u | paste -sd' ')
for fd in $fds; do [ "$fd" -ge 256 ] || fail "accepted on fd $fd, within the old soft limit 256"; done
[ -n "$fds" ] || fail "no accept logged"
ok "raised soft limit: connections on fds $fds tracked and counted"
exit 0
