#!/usr/bin/env bash
# tests/shim/test_peek.sh — MSG_PEEK reads (recv, recvfrom, recvmsg,
# __recv_chk) are not parsed as consumed; MSG_TRUNC on TCP discards bytes
# the shim never sees, so the connection is ended and not followed further.
source "$(dirname "$0")/progs/common.sh"

run peek
expect_log "peeked bytes are fed once, when consumed" <<'X'
I 1
ACCEPTED
CONNS +1
R 1 28 GET /a HTTP/1.1\r\nHost: x\r\n\r\n
E 1
CONNS -1
X

run trunc
expect_log "MSG_TRUNC stops following the stream" <<'X'
I 1
ACCEPTED
CONNS +1
E 1
CONNS -1
X
