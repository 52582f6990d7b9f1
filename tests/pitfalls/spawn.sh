#!/usr/bin/env bash
# tests/pitfalls/spawn.sh — a tracked server runs a CGI-like helper
# (/bin/sh -c) for requests, reads its output from a pipe and answers with
# it. Started with posix_spawn (glibc's CLONE_VFORK child, whose file
# actions are glibc-internal) and with vfork, whose child moves the pipe to
# stdout and closes its inherited sockets through the hooked dup2 and close
# while it shares its parent's memory; also a vfork child whose exec fails
# and that calls _exit. In every case: counts exact (the server's
# connection and its request belong to the server), nothing aborted, the
# family holds one process; and the exec'd helper, which loads the shim
# again, pays almost nothing: one thread, no libmicrohttpd mapped, no fd in
# the exporter's high window. Then Python's http.server running a
# subprocess per request (vfork, close_range over every fd in the child):
# /metrics keeps answering from the same exporter socket and counts exact.
source "$(dirname "$0")/lib.sh"

for how in posix_spawn vfork; do
	P=$(free_port); M=$(free_port)
	pstart "$WORK/$how.log" PROMSHIM_LISTEN=127.0.0.1:$M -- "$P" --cgi "$how"
	try_for 5 metrics_ok "$M" || fail "$how: /metrics not served"
	mix "$P"
	body=$(reqs "$P" /cgi /cgi)
	helper=$(grep '^helper' <<<"$body" | sort -u)
	expect_eq "$how: what the helper saw" "$helper" "helper threads=1 microhttpd=0 promshim=1 highfds=0"
	[ "$(grep -c '^helper' <<<"$body")" = 2 ] || fail "$how: helper output missing: $body"
	nocgi=$(reqs "$P" /nocgi)
	want="helper status 32512"
	[ "$how" = vfork ] || want="spawn error 2"
	expect_eq "$how: failed exec" "$nocgi" "$want"
	mix "$P"
	alive "$PID" || fail "$how: the server died"
	s=""
	good() {
		s=$(scrape "$M")
		[ "$(req_total "$s" /cgi 200)/$(req_total "$s" /nocgi 500)/$(req_total "$s" /a 200)" = 2/1/6 ] &&
			[ "$(val "$s" http_connections_open)" = 0 ]
	}
	if ! try_for 3 good; then
		got="/cgi 200: '$(req_total "$s" /cgi 200)', /nocgi 500: '$(req_total "$s" /nocgi 500)', /a 200: '$(req_total "$s" /a 200)'"
		got+=", aborted: $(grep '^http_requests_aborted_total{' <<<"$s" | tr '\n' ' ')"
		got+=", open: $(val "$s" http_connections_open)"
		fail "$how: $got (want 2, 1, 6, no abort, open 0)"
	else
		# The mixes plus the two helper connections.
		expect_mix "$M" 2 2
		! grep -q '^http_requests_aborted_total{' <<<"$s" || fail "$how: aborted requests: $(grep '^http_requests_aborted_total{' <<<"$s")"
	fi
	expect_eq "$how: promshim_family_processes" "$(val "$s" promshim_family_processes)" 1
	ok "$how"
done
command -v python3 >/dev/null || skip "python3 is missing"
P=$(free_port); M=$(free_port)
setsid env LD_PRELOAD="$PRELOAD" PROMSHIM_LISTEN=127.0.0.1:$M python3 tests/pitfalls/progs/pysub.py "$P" \
	>"$WORK/python.log" 2>&1 </dev/null &
PID=$!
disown "$PID"
GROUPS_STARTED+=("$PID")
try_for 10 metrics_ok "$M" || fail "python: /metrics not served"
before=$(ls -l "/proc/$PID/fd" | awk '$9 >= 900 {print $9, $11}' | sort)
body=$(reqs "$P" /a /sub /sub /a)
expect_eq "python: bodies" "$(echo $body)" "ok sub sub ok"
reqs "$P" /sub >/dev/null
pyok() {
	s=$(scrape "$M") &&
		[ "$(req_total "$s" /sub 200)/$(req_total "$s" /a 200)/$(val "$s" http_connections_open)" = 3/2/0 ]
}
try_for 3 pyok || fail "python: /sub, /a, open: got $(req_total "$s" /sub 200)/$(req_total "$s" /a 200)/$(val "$s" http_connections_open), want 3/2/0"
! grep -q '^http_requests_aborted_total{' <<<"$s" || fail "python: aborted requests"
after=$(ls -l "/proc/$PID/fd" | awk '$9 >= 900 {print $9, $11}' | sort)
expect_eq "python: exporter fds after three subprocesses" "$after" "$before"
! grep -q promshim "$WORK/python.log" || fail "python: the shim logged: $(cat "$WORK/python.log")"
ok "python subprocess"
exit 0
