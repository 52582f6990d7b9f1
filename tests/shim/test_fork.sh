#!/usr/bin/env bash
# tests/shim/test_fork.sh — fork per connection: the parent accepts, forks
# and closes its copy at once; the child reads and answers. The parent's
# close only forgets its copy (no end, no abort), the child adopts the
# connection on its first read and ends it: one connection, counted once,
# and each process's open-connections gauge returns to zero.
source "$(dirname "$0")/progs/common.sh"

run fork
child=$(awk '$1 == "CHILD" {print $2}' "$OUT")
parent=$(awk -v c="$child" '$1 != c {print $1; exit}' "$LOG.pids")
[ -n "$child" ] && [ -n "$parent" ] || { echo "no child or parent pid"; exit 1; }
awk -v p="$parent" '$1 == p' "$LOG.pids" | cut -d' ' -f2- | grep -v -e '^BINDS' -e '^LISTENING' >"$LOG"
expect_log "parent: accepts, forgets its copy" <<'X'
I 1
ACCEPTED
CONNS +1
CONNS -1
X
awk -v c="$child" '$1 == c' "$LOG.pids" | cut -d' ' -f2- >"$LOG"
expect_log "child: adopts, serves, ends" <<'X'
CONNS +1
R 1 28 GET /a HTTP/1.1\r\nHost: x\r\n\r\n
W 1 40 HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok
E 1
CONNS -1
X
