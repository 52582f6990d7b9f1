#!/usr/bin/env bash
# tests/shim/test_sink.sh — the whole library, real core: what the
# connection layer's trk_sink records for an exchange, an aborted request,
# an excluded route, garbage answered with 400 and a TLS client, as seen on
# the family's /metrics. The scenario program stays alive (HK_HOLD) until
# it has been scraped.
source "$(dirname "$0")/progs/common.sh"
[ -e core/tracker.c ] || { echo "core/tracker.c not there yet"; exit 77; }
make -s build/libpromshim.so >&2
command -v curl >/dev/null || { echo "curl missing"; exit 77; }

METRICS=$(mktemp)
PID=
cleanup() { [ -z "$PID" ] || kill "$PID" 2>/dev/null || true; rm -f "$METRICS" "$LOG" "$OUT"; }
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# scrape SCENARIO [ENV...]: runs it under the library, scrapes /metrics
# into $METRICS once the scenario is done, then stops it.
scrape() {
	local sc=$1; shift
	local port; port=$(free_port)
	: >"$OUT"
	env "$@" PROMSHIM_LISTEN=127.0.0.1:$port HK_HOLD=30 LD_PRELOAD="$PWD/build/libpromshim.so" \
		"$T/hk_prog" "$sc" >"$OUT" 2>"$LOG" &
	PID=$!
	local i
	for i in $(seq 100); do grep -q READY "$OUT" && break; sleep 0.1; done
	grep -q READY "$OUT" || { echo "FAIL: $sc did not finish"; cat "$LOG"; exit 1; }
	for i in $(seq 50); do
		curl -sf --max-time 2 "http://127.0.0.1:$port/metrics" >"$METRICS" && break
		sleep 0.1
	done
	[ -s "$METRICS" ] || { echo "FAIL: $sc: no /metrics on $port"; cat "$LOG"; exit 1; }
	kill "$PID"; wait "$PID" 2>/dev/null || true; PID=
}

# has LINE: /metrics holds exactly this sample line.
has() { grep -qxF "$1" "$METRICS" || { echo "FAIL: missing: $1"; grep -v '^#' "$METRICS" | head -n 40; exit 1; }; }
# lacks PATTERN: no sample line matches.
lacks() { ! grep -v '^#' "$METRICS" | grep -q "$1" || { echo "FAIL: unexpected: $(grep "$1" "$METRICS")"; exit 1; }; }

scrape basic
has 'http_requests_total{method="GET",route="/a",status_code="200"} 1'
has 'http_connections_accepted_total 1'
has 'http_connections_open 0'
has 'http_requests_in_flight 0'
echo "ok: one exchange recorded, gauges back to zero"

scrape abort
has 'http_requests_aborted_total{method="GET",route="/a"} 1'
lacks '^http_requests_total{'
has 'http_requests_in_flight 0'
echo "ok: request without response counted as aborted"

scrape basic PROMSHIM_EXCLUDE=/a
lacks 'route="/a"'
has 'http_connections_accepted_total 1'
has 'http_requests_in_flight 0'
echo "ok: excluded route records nothing"

scrape garbage
grep -q '^http_requests_total{method="[A-Z_]*",route="_INVALID",status_code="400"} 1$' "$METRICS" ||
	{ echo "FAIL: no _INVALID 400 series"; grep -v '^#' "$METRICS" | head -n 40; exit 1; }
has 'promshim_parse_errors_total 1'
echo "ok: garbage answered with 400 is _INVALID and a parse error"

scrape tls
has 'promshim_unsupported_connections_total{reason="tls"} 1'
lacks '^http_requests_total{'
echo "ok: TLS counted as unsupported"
