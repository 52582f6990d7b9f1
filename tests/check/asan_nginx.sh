#!/usr/bin/env bash
# tests/check/asan_nginx.sh — the AddressSanitizer+UBSan build of the
# library preloaded into nginx (a master and 2 workers, which run as nobody
# without stderr: reports go to files): the end-to-end traffic mix with
# exact counts, byte-identical responses, the access log as second witness
# and a proxied 0.3 s route in the right bucket; /metrics surviving the
# death of the process serving it; then the hostile inputs (garbage, 64 KiB
# and 1 MiB header lines, 5,000 headers, smuggling shapes, a 500-request
# pipelined flood, random binary, a TLS ClientHello, the HTTP/2 preface,
# PROXY v1/v2 headers) compared with the bare server. Any sanitizer report
# fails the test.
. "$(dirname "$0")/common.bash"
e2e_init
need_prog /usr/sbin/nginx /usr/bin/python3
asan_setup

PORT=$(free_port)
MPORT=$(free_port)
UPPORT=$(free_port)
make_docroot "$E2E_WORK/root"
LOG_FORMAT=common
SLOW_PATH=/slow

start_group "$E2E_WORK/upstream.log" /usr/bin/python3 "$E2E_DIR/pyserver.py" "$UPPORT" "$E2E_WORK/root" 0.3
wait_listen 10 "$UPPORT" "$STARTED_PID" "python upstream"

# The e2e layout of tests/e2e/nginx.sh on the shared configuration of the
# fault tests: an access log and the proxied routes on the upstream.
e2e_start() {
	local mode=$1 d=$E2E_WORK/$1 pre=()
	[ "$mode" = shim ] && pre=("${SHIM_ENV[@]}")
	nginx_conf "$d" 2 "" "access_log $d/access.log combined;
		location = /slow { proxy_pass http://127.0.0.1:$UPPORT; }
		location = /chunked { proxy_pass http://127.0.0.1:$UPPORT; }"
	nginx_start "$d" "${pre[@]}"
	MASTER=$SERVER_PID
}
nginx_stop() { stop_group "$MASTER"; }

ACCESS_LOG="$E2E_WORK/%s/access.log"
CRASH_LOG="$E2E_WORK/shim/error.log"
CRASH_PATTERN="exited on signal|exited with code"
server_start() { e2e_start "$1"; }
server_stop() { nginx_stop; }
# Kill whichever process serves /metrics; the survivors must take over
# within 2 s with every count intact (family failover under the sanitizers).
after_check() {
	local spid
	asan_loaded "$MASTER" $(ps -o pid= --ppid "$MASTER")
	spid=$(listener_pid "$MPORT")
	[ -n "$spid" ] || fail "no process holds the metrics port $MPORT"
	"${TRAFFIC[@]}" failover "$MPORT" "$PORT" "$spid" >&2 || fail "failover after killing pid $spid"
}
e2e_flow
san_clean "nginx traffic mix"

PPORT=$(free_port)
hostile_start() {
	local pre=()
	if [ "$1" = shim ]; then
		shim_env
		pre=("${SHIM_ENV[@]}")
	fi
	nginx_conf "$E2E_WORK/hostile-$1" 2 "" "client_header_timeout 10s;"
	nginx_start "$E2E_WORK/hostile-$1" "${pre[@]}"
	MASTER=$SERVER_PID
}
hostile_pair nginx hostile_start nginx_stop "$PPORT"
grep -E "exited on signal|exited with code" "$E2E_WORK/hostile-shim/error.log" >&2 &&
	fail "an nginx process died on hostile input"
san_clean "nginx hostile input"
log "ok"
