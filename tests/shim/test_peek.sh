#!/usr/bin/env bash
# tests/shim/test_peek.sh — MSG_PEEK reads (recv, recvfrom, recvmsg,
# __recv_chk) are not parsed as consumed; MSG_TRUNC on TCP discards bytes
# without copying them: the shim peeks them first and feeds them, and only
# when the discard took more than it could peek is the stream given up.
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
expect_log "bytes discarded by MSG_TRUNC are peeked and fed" <<'X'
I 1
ACCEPTED
CONNS +1
R 1 4 disc
R 1 11 arded!later
E 1
CONNS -1
X

run trunc_big
expect_log "a MSG_TRUNC discard larger than the peek stops following the stream" <<'X'
I 1
ACCEPTED
CONNS +1
E 1
CONNS -1
X
