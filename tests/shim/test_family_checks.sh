#!/usr/bin/env bash
# tests/shim/test_family_checks.sh — which hooks ask the family about its
# thread, and why (shim_family_check, enum SHIM_CHECK_*: 0 a close or dup,
# 1 an accept, 2 a wait that can be cut into slices, 3 any other sleep),
# before the real call: every event wait, sleep and wait for a child, but
# not the calls that cannot sleep (WNOHANG, a zero sigtimedwait: what a
# SIGCHLD handler does). A process that watches its parent is asked at
# each wait, sleep and accept, never at a close.
source "$(dirname "$0")/progs/common.sh"

RUN_ENV=(PROMSHIM_TEST_PENDING=1)
run waits
expect_log "a member with its thread pending is checked at every sleep" <<'X'
CHECK 2
CHECK 2
CHECK 2
CHECK 2
CHECK 2
CHECK 3
CHECK 3
CHECK 3
CHECK 3
CHECK 3
CHECK 3
CHECK 3
CHECK 3
CHECK 1
I 1
ACCEPTED
CONNS +1
CONNS -1
CHECK 0
CHECK 0
CHECK 0
CHECK 0
X

RUN_ENV=(PROMSHIM_TEST_WATCH=1)
run waits
expect_log "a watching member is checked at every sleep and accept, not at closes" <<'X'
WATCH 2 -1
WATCH 2 -1
WATCH 2 -1
WATCH 2 -1
WATCH 2 -1
WATCH 3 -1
WATCH 3 -1
WATCH 3 -1
WATCH 3 -1
WATCH 3 -1
WATCH 3 -1
WATCH 3 -1
WATCH 3 -1
WATCH 1 3
I 1
ACCEPTED
CONNS +1
CONNS -1
X

RUN_ENV=()
run waits
expect_log "nothing pending, nobody watched: no checks" <<'X'
I 1
ACCEPTED
CONNS +1
CONNS -1
X
exit 0
