#!/usr/bin/env bash
# tests/shim/test_untracked.sh — only connections accepted on a listening
# TCP socket (IPv4 or IPv6) are tracked: not UNIX sockets, not socketpairs,
# not accept on a socket that is not listening, not the exporter's own
# listener; PROMSHIM_PORTS narrows tracking to the listed local ports. The
# family hears of every TCP listen() and of every bind(), and of a dup2
# onto one of its fds (CLOSING) before it happens.
source "$(dirname "$0")/progs/common.sh"

RUN_ENV=(PROMSHIM_TEST_FAMILY_FD=900)
run nontcp
expect_log "UNIX sockets, socketpairs, non-listening and exporter sockets" <<'X'
CLOSING 900 900
X
listening=$(grep -c ' LISTENING$' "$LOG.pids" || true)
[ "$listening" = 1 ] || { echo "FAIL: family told of $listening TCP listens, want 1 (UNIX listen is not one)"; exit 1; }
echo "ok: only TCP listen() reaches the family"

run ipv6
expect_log "IPv6 listener" <<'X'
I 1
ACCEPTED
CONNS +1
R 1 2 v6
E 1
CONNS -1
X

# Two free ports; only the first is listed. A port found free may be taken
# by the time the scenario binds it: try again with new ones.
free_pair() {
	python3 -c '
import socket
s = [socket.socket() for _ in range(2)]
for x in s: x.bind(("127.0.0.1", 0))
print(*[x.getsockname()[1] for x in s])'
}
for attempt in 1 2 3 4 5; do
	read -r pa pb < <(free_pair)
	RUN_ENV=(PROMSHIM_PORTS=$pa)
	if (run ports "$pa" "$pb") >"$OUT.try" 2>&1; then break; fi
	grep -q 'errno 98' "$OUT.try" || { cat "$OUT.try"; rm -f "$OUT.try"; exit 1; }
done
rm -f "$OUT.try"
expect_log "PROMSHIM_PORTS=$pa" <<'X'
I 1
ACCEPTED
CONNS +1
R 1 4 on-a
E 1
CONNS -1
X
binds=$(awk '$2 == "BINDS" {print $3}' "$LOG.pids" | tr '\n' ' ')
[ "$binds" = "$pa $pb " ] || { echo "FAIL: family heard binds '$binds', want '$pa $pb '"; exit 1; }
echo "ok: bind() reaches the family with its address"

RUN_ENV=(PROMSHIM_PORTS=$pb)
for attempt in 1 2 3 4 5; do
	if (run ports "$pa" "$pb") >"$OUT.try" 2>&1; then break; fi
	grep -q 'errno 98' "$OUT.try" || { cat "$OUT.try"; rm -f "$OUT.try"; exit 1; }
	read -r pa pb < <(free_pair)
	RUN_ENV=(PROMSHIM_PORTS=$pb)
done
rm -f "$OUT.try"
expect_log "PROMSHIM_PORTS=$pb" <<'X'
I 1
ACCEPTED
CONNS +1
R 1 4 on-b
E 1
CONNS -1
X

# Accepts beyond the fd table (sized from the hard limit at start; the
# server raises it later) are not tracked and are logged once, at info.
# Raising the hard limit needs CAP_SYS_RESOURCE; without it this part is
# skipped (the rest of the script still counts).
RUN_ENV=()
rc=0
( ulimit -Sn 128 && ulimit -Hn 128 && run beyond ) >"$OUT.sub" 2>&1 || rc=$?
if grep -q "scenario 'beyond' exited 77" "$OUT.sub"; then
	echo "skipped: accepts beyond the fd table (cannot raise the hard fd limit here)"
	rm -f "$OUT.sub"
	exit 0
fi
cat "$OUT.sub"; rm -f "$OUT.sub"
[ $rc -eq 0 ] || exit $rc
expect_log "accepts beyond the fd table" <<'X'
I 1
ACCEPTED
CONNS +1
R 1 2 in
LOG 3 fd 128 is beyond the 128 fds the shim follows: connection not tracked
E 1
CONNS -1
X
