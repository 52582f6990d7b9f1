#!/usr/bin/env bash
# tests/shim/test_io.sh — every read and write entry point hands core
# exactly the bytes the kernel reported: read, recv, recvfrom, readv,
# recvmsg, recvmmsg, the _FORTIFY_SOURCE variants, write, send, sendto,
# writev, sendmsg, sendmmsg; sendfile, sendfile64 and splice as unseen
# bytes; connections end at close with the open-connections gauge back.
source "$(dirname "$0")/progs/common.sh"

run basic
expect_log "read/write/close" <<'X'
I 1
ACCEPTED
CONNS +1
R 1 28 GET /a HTTP/1.1\r\nHost: x\r\n\r\n
W 1 40 HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok
E 1
CONNS -1
X

run vector
expect_log "vectors and _chk variants" <<'X'
I 1
ACCEPTED
CONNS +1
RV 1 12 0123456789ab
RV 1 6 mm-one
R 1 4 chk-
R 1 2 re
R 1 3 ad!
WV 1 19 HTTP/1.1 200 OK\r\n\r\n
WV 1 17 HTTP/1.1 200 OK\r\n
WV 1 9 HTTP/1.1 
WV 1 2 \r\n
W 1 2 to
E 1
CONNS -1
X

# splice out of the socket consumes bytes the shim never sees: the
# connection is ended there and not followed further (no second E).
run sendfile
expect_log "sendfile, sendfile64, splice" <<'X'
I 1
ACCEPTED
CONNS +1
WO 1 1000
WO 1 300
WO 1 10
E 1
CONNS -1
X

# A _FORTIFY_SOURCE build (as Debian builds servers) reads through
# __read_chk and __recv_chk where the length is not a constant.
gcc "${CFL[@]}" -D_FORTIFY_SOURCE=2 -o $T/hk_prog_fortify tests/shim/progs/hk_prog.c -ldl
nm -D $T/hk_prog_fortify | grep -q ' U __recv_chk' || { echo "FAIL: fortified build does not call __recv_chk"; exit 1; }
nm -D $T/hk_prog_fortify | grep -q ' U __read_chk' || { echo "FAIL: fortified build does not call __read_chk"; exit 1; }
PROG=$T/hk_prog_fortify run sysclose
expect_log "fortified recv (__recv_chk) and syscall close" <<'X'
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
