#!/usr/bin/env bash
# tests/shim/test_partial.sh — partial reads and writes are followed
# exactly as the kernel reported them: short reads, EAGAIN (nothing
# recorded), an empty read (not end of file), the half-close (a read of 0),
# and short writes and writevs on a full socket buffer.
source "$(dirname "$0")/progs/common.sh"

run partial
sent=$(awk '$1 == "SENT" {print $2}' "$OUT")
[ -n "$sent" ] && [ "$sent" -gt 0 ] || { echo "no bytes sent"; exit 1; }
seen=$(awk '$1 == "W" || $1 == "WV" {s += $3} END {print s + 0}' "$LOG")
if [ "$seen" != "$sent" ]; then
	echo "FAIL: kernel took $sent bytes, shim recorded $seen"; cat "$LOG"; exit 1
fi
echo "ok: partial writes add up ($sent bytes)"
grep -v -e '^W ' -e '^WV ' "$LOG" >"$LOG.r"
mv "$LOG.r" "$LOG"
expect_log "short reads, EAGAIN, empty read, half-close" <<'X'
I 1
ACCEPTED
CONNS +1
R 1 4 abcd
R 1 4 efgh
R 1 2 ij
R 1 0 
E 1
CONNS -1
X
