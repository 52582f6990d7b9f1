#!/usr/bin/env bash
# tests/shim/test_close.sh — the ways a connection ends besides close():
# syscall(SYS_close) and syscall(SYS_close_range) as libuv makes them; a
# close the shim never saw, found by the next accept returning the same fd;
# close_range (CLOSE_RANGE_CLOEXEC closes nothing yet) and closefrom;
# shutdown(SHUT_WR) ends it (SHUT_RD does not), and the close that follows
# does not end it twice. The family hears of every range closed (CLOSING),
# before it is closed.
source "$(dirname "$0")/progs/common.sh"

run sysclose
expect_log "syscall(SYS_close), syscall(SYS_close_range)" <<'X'
I 1
ACCEPTED
CONNS +1
R 1 3 one
E 1
CONNS -1
I 2
ACCEPTED
CONNS +1
R 2 3 two
E 2
CONNS -1
CLOSING 6 6
X

run stale
expect_log "accept over a live entry ends the old connection first" <<'X'
I 1
ACCEPTED
CONNS +1
R 1 3 old
E 1
CONNS -1
I 2
ACCEPTED
CONNS +1
R 2 3 new
E 2
CONNS -1
X

run closerange
expect_log "close_range and closefrom" <<'X'
I 1
ACCEPTED
CONNS +1
I 2
ACCEPTED
CONNS +1
I 3
ACCEPTED
CONNS +1
R 1 2 s1
R 2 2 s2
R 3 2 s3
R 1 8 s1-again
E 1
CONNS -1
E 2
CONNS -1
CLOSING 5 7
E 3
CONNS -1
CLOSING 9 4294967295
X

run shutdown
expect_log "shutdown" <<'X'
I 1
ACCEPTED
CONNS +1
R 1 28 GET /a HTTP/1.1\r\nHost: x\r\n\r\n
W 1 40 HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok
E 1
CONNS -1
X

# A forked member with a standby thread pending hears of accepts (before
# the real call) and of closes.
RUN_ENV=(PROMSHIM_TEST_PENDING=1)
run basic
expect_log "family checks on accept and close" <<'X'
CHECK 1
I 1
ACCEPTED
CONNS +1
R 1 28 GET /a HTTP/1.1\r\nHost: x\r\n\r\n
W 1 40 HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok
E 1
CONNS -1
CHECK 0
CHECK 0
CHECK 0
X
