#!/usr/bin/env bash
# tests/pitfalls/host_calls.sh — host habits that broke other interposers,
# each on a server under the real library, each ending in exact counts:
#  - a SIGALRM every 0.5 ms whose handler write()s to a pipe (libuv's signal
#    pipe) while the main loop serves; no SA_RESTART, so reads and writes
#    see EINTR: no deadlock, every request answered and counted;
#  - connections closed with syscall(SYS_close) (libuv) and the same fd
#    number accepted again: a close-delimited response on the last
#    connection is counted without any later accept;
#  - protocol sniffing: recv(MSG_PEEK) before every read: peeked bytes
#    parsed once (no parse error), and a TLS ClientHello and an HTTP/2
#    preface sent to the sniffing server counted as unsupported by reason
#    with nothing else counted on them;
#  - send() on a connection already closed: -1 with EBADF, no crash.
source "$(dirname "$0")/lib.sh"

# serve_with NAME OPTION...: start pit_srv with OPTION, run 10 mixes.
serve_with() {
	local name=$1 i
	shift
	P=$(free_port); M=$(free_port)
	pstart "$WORK/$name.out" PROMSHIM_LISTEN=127.0.0.1:$M -- "$P" --log "$WORK/$name.log" "$@"
	try_for 5 metrics_ok "$M" || fail "$name: /metrics not served"
	for i in $(seq 10); do mix "$P"; done
	expect_mix "$M" 10
}

serve_with sigalrm --sigalrm
fired=$(awk '$1 == "signals" {f = $3} END {print f + 0}' "$WORK/sigalrm.log")
[ "$fired" -ge 100 ] || fail "sigalrm: only $fired signals fired while serving"
alive "$PID" || fail "sigalrm: the server died"
ok "sigalrm: $fired signal-handler writes while serving 50 requests"
kill -KILL "$PID"

serve_with sysclose --sysclose
fds=$(awk '$1 == "accepted" {print $3}' "$WORK/sysclose.log" | sort -u | paste -sd' ')
[ -n "$fds" ] && [ "$(wc -w <<<"$fds")" = 1 ] || fail "sysclose: accepted on fds '$fds', want one number again and again"
reqs "$P" /close/z >/dev/null
lastok() {
	s=$(scrape "$M") && [ "$(req_total "$s" /close/z 200)/$(val "$s" http_connections_open)" = 1/0 ]
}
try_for 3 lastok || fail "sysclose: last close-delimited response counted '$(req_total "$s" /close/z 200)', open '$(val "$s" http_connections_open)', want 1 and 0"
ok "sysclose: connections ended by syscall(SYS_close), fd $fds accepted again each time"
kill -KILL "$PID"

serve_with peek --peek
python3 - "$P" <<'PY' || fail "peek: sending TLS and h2 prefaces failed"
import socket, sys
hello = bytes.fromhex("16030100a5010000a10303") + bytes(32) + bytes.fromhex("000004130113020100")
for data in (hello, b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"):
    s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), 5)
    s.settimeout(5)
    s.sendall(data)
    s.shutdown(socket.SHUT_WR)
    while s.recv(4096):
        pass
    s.close()
PY
unsup() {
	s=$(scrape "$M") &&
		[ "$(val "$s" 'promshim_unsupported_connections_total{reason="tls"}')" = 1 ] &&
		[ "$(val "$s" 'promshim_unsupported_connections_total{reason="h2c"}')" = 1 ] &&
		[ "$(val "$s" http_connections_open)" = 0 ]
}
try_for 3 unsup || fail "peek: unsupported counts: $(grep '^promshim_unsupported' <<<"$s" | tr '\n' ' ')"
expect_eq "peek: other unsupported" "$(val "$s" 'promshim_unsupported_connections_total{reason="other"}')" 0
expect_eq "peek: request series" "$(grep -c '^http_requests_total{' <<<"$s")" 3
expect_eq "peek: parse errors" "$(val "$s" promshim_parse_errors_total)" 0
ok "peek: sniffed reads counted once; TLS and h2c counted as unsupported"
kill -KILL "$PID"

serve_with sendclosed --send-after-close
n=$(grep -c '^send after close: EBADF' "$WORK/sendclosed.log")
expect_eq "send after close: EBADF results" "$n" 20
! grep -q '^send after close on fd' "$WORK/sendclosed.log" || fail "$(grep '^send after close on fd' "$WORK/sendclosed.log")"
alive "$PID" || fail "send after close: the server died"
ok "send after close: EBADF each time"
exit 0
