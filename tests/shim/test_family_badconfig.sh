#!/usr/bin/env bash
# tests/shim/test_family_badconfig.sh — a bad configuration (SPEC 3) never
# takes the host down: exactly one promshim line on stderr naming the
# variable, the server serves its own traffic, and the process stays
# uninstrumented (no shim thread, no metrics port).
source "$(dirname "$0")/progs/fam_lib.sh"

for bad in "PROMSHIM_LISTEN=bogus" "PROMSHIM_LISTEN=127.0.0.1:99999" "PROMSHIM_MAX_SERIES=lots" "PROMSHIM_BUCKETS=1,0.5"; do
	var=${bad%%=*}
	P=$(free_port)
	start "$WORK/bad.log" "$bad" -- serve "$P" 1 pidfile "$WORK/pid.$P"
	try_for 10 port_open "$P" || fail "$bad: the server does not listen"
	[ "$(curl -s --max-time 2 "http://127.0.0.1:$P/")" = ok ] || fail "$bad: the server does not answer"
	[ "$(curl -s --max-time 2 "http://127.0.0.1:$P/again")" = ok ] || fail "$bad: second request"
	sleep 0.2
	lines=$(grep -c '^promshim\[' "$WORK/bad.log")
	[ "$lines" = 1 ] || { cat "$WORK/bad.log"; fail "$bad: $lines promshim lines, want 1"; }
	grep '^promshim\[' "$WORK/bad.log" | grep -q "$var" || fail "$bad: the line does not name $var: $(cat "$WORK/bad.log")"
	master=$(cat "$WORK/pid.$P")
	grep -q "^promshim\[$master\]: " "$WORK/bad.log" || fail "$bad: the line is not prefixed promshim[$master]: "
	[ -z "$(shim_threads "$master")" ] || fail "$bad: a shim thread runs although the configuration is bad"
	echo "$bad -> $(grep '^promshim\[' "$WORK/bad.log")"
	kill -KILL -- "-$PID"
done
ok "bad configuration: one line naming the variable, host unaffected"
exit 0
