#!/usr/bin/env bash
# tests/shim/test_errno.sh — errno is preserved across every hook on a
# tracked connection (the recording core clobbers errno in every call it
# receives), and failing calls report the kernel's errno. hk_prog checks
# errno after each call itself; here we also check what was recorded.
source "$(dirname "$0")/progs/common.sh"

run errno
expect_log "successful calls keep errno" <<'X'
I 1
ACCEPTED
CONNS +1
R 1 4 GET 
R 1 4 /a H
RV 1 4 TTP/
RV 1 4 1.1\r
R 1 4 \nHos
W 1 2 ab
W 1 2 cd
WV 1 4 \nHos
WV 1 4 \nHos
E 1
CONNS -1
X

# EAGAIN is not data; a read of 0 is the client's half-close; a failed
# write records nothing.
run errno-fail
expect_log "failures report the kernel's errno" <<'X'
I 1
ACCEPTED
CONNS +1
R 1 0 
W 1 1 x
E 1
CONNS -1
X
