# tests/pitfalls/lib.sh — sourced by the tests in tests/pitfalls/: the
# family test helpers (free ports, deadlines, servers in their own
# sessions, everything killed on exit) plus building and starting pit_srv
# under the shim, and reading single samples from a scrape.
# Exit codes: 0 pass, 1 fail, 77 skip.
source "$(dirname "${BASH_SOURCE[0]}")/../shim/progs/fam_lib.sh"

PIT=build/pitfalls/pit_srv
mkdir -p build/pitfalls
if [ ! -x "$PIT" ] || [ tests/pitfalls/progs/pit_srv.c -nt "$PIT" ]; then
	gcc -std=gnu11 -Wall -Wextra -Werror -O2 -D_GNU_SOURCE -o "$PIT" tests/pitfalls/progs/pit_srv.c ||
		fail "cannot build pit_srv"
fi

# pstart LOG VAR=VALUE... -- ARGS...: pit_srv ARGS under the shim in a new
# session, stdout and stderr to LOG; sets PID.
pstart() {
	local logf=$1 envs=()
	shift
	while [ $# -gt 0 ] && [ "$1" != -- ]; do envs+=("$1"); shift; done
	shift
	setsid env LD_PRELOAD="$PRELOAD" "${envs[@]}" "$PIT" "$@" >"$logf" 2>&1 </dev/null &
	PID=$!
	disown "$PID"
	GROUPS_STARTED+=("$PID")
}

# reqs PORT PATH...: one keep-alive connection, one GET per path; bodies
# to stdout. Fails the test on any transfer error.
reqs() {
	local p=$1 u=() x
	shift
	for x in "$@"; do u+=("http://127.0.0.1:$p$x"); done
	curl -sS --max-time 10 "${u[@]}" || fail "curl to port $p failed"
}

# val SCRAPE NAME: the value of one sample (exact name and labels); empty
# when absent.
val() { awk -v n="$2" '$1 == n {print $2}' <<<"$1"; }
req_total() { val "$1" "http_requests_total{method=\"GET\",route=\"$2\",status_code=\"$3\"}"; }

# expect_eq WHAT GOT WANT
expect_eq() { [ "$2" = "$3" ] || fail "$1: got '$2', want '$3'"; }

# The traffic mix: two connections, the first kept alive over four
# requests (the last one close-delimited), the second a single request.
mix() {
	reqs "$1" /a /a /missing/x /close/y >/dev/null
	reqs "$1" /a >/dev/null
}

# mix_ok METRICS_PORT K [EXTRA_ACCEPTS]: the scrape shows exactly K mixes
# (and EXTRA_ACCEPTS more connections): exact counts, nothing aborted, no
# parse error, no connection left open. Sets WHY on a mismatch.
mix_ok() {
	local s k=$2 x=${3:-0} got want
	s=$(scrape "$1") || { WHY="scrape failed"; return 1; }
	got="$(req_total "$s" /a 200) $(req_total "$s" /missing/x 404) $(req_total "$s" /close/y 200)"
	got+=" $(val "$s" http_connections_accepted_total) $(val "$s" http_connections_open)"
	got+=" $(val "$s" promshim_parse_errors_total)"
	got+=" $(awk '/^http_requests_aborted_total\{/ {n += $2} END {print n + 0}' <<<"$s")"
	want="$((3 * k)) $k $k $((2 * k + x)) 0 0 0"
	[ "$got" = "$want" ] && return 0
	WHY="/a, /missing/x, /close/y, accepted, open, parse errors, aborted: got '$got', want '$want'"
	return 1
}

# expect_mix METRICS_PORT K [EXTRA_ACCEPTS]: mix_ok within 3 s (the server
# may still be closing the last connection), else fail.
expect_mix() {
	local end=$(( $(now_ms) + 3000 ))
	until mix_ok "$@"; do
		[ "$(now_ms)" -lt $end ] || fail "counts after $2 mixes: $WHY"
		sleep 0.1
	done
	ok "counts exact after $2 mixes"
}
