#!/usr/bin/env bash
# tests/shim/test_aliases.sh — dup, dup2, dup3 and fcntl(F_DUPFD,
# F_DUPFD_CLOEXEC) make aliases of one connection: it ends when its last
# alias closes; dup2 over the only alias of a connection ends it. inetd
# style: the socket moves to fds 0 and 1, is read on one and written on
# the other, and the process exits (exit or _exit) without closing them.
# At exit the member's gauges go away with its slot: no CONNS -1 then.
source "$(dirname "$0")/progs/common.sh"

run dupfd
expect_log "aliases share one connection" <<'X'
I 1
ACCEPTED
CONNS +1
I 2
ACCEPTED
CONNS +1
R 2 2 c2
W 1 2 w3
R 1 2 r4
E 1
CONNS -1
I 3
ACCEPTED
CONNS +1
E 2
CONNS -1
W 3 2 w2
E 3
CONNS -1
X

for how in exit _exit; do
	run inetd-$how
	expect_log "inetd style, ended by $how" <<'X'
I 1
ACCEPTED
CONNS +1
R 1 28 GET /a HTTP/1.1\r\nHost: x\r\n\r\n
W 1 40 HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok
E 1
X
done
