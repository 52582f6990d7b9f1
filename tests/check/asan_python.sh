#!/usr/bin/env bash
# tests/check/asan_python.sh — the AddressSanitizer+UBSan build of the
# library preloaded into Python's threaded http.server (tests/e2e/pyserver.py):
# the end-to-end traffic mix with exact counts and byte-identical responses
# (the e2e flow), then the hostile inputs (garbage, 64 KiB and 1 MiB header
# lines, 5,000 headers, smuggling shapes, random binary, a TLS ClientHello,
# the HTTP/2 preface, a pipelined flood) compared with the bare server.
# Any sanitizer report fails the test.
. "$(dirname "$0")/common.bash"
e2e_init
need_prog /usr/bin/python3
asan_setup

PORT=$(free_port)
MPORT=$(free_port)
make_docroot "$E2E_WORK/root"
ACCESS_LOG="$E2E_WORK/%s/server.log"
LOG_FORMAT=python
SLOW_PATH=/slow

server_start() {
	local mode=$1 pre=()
	mkdir -p "$E2E_WORK/$mode"
	[ "$mode" = shim ] && pre=("${SHIM_ENV[@]}")
	start_group "$E2E_WORK/$mode/server.log" "${pre[@]}" \
		/usr/bin/python3 "$E2E_DIR/pyserver.py" "$PORT" "$E2E_WORK/root" 0.3
	SERVER_PID=$STARTED_PID
}
server_stop() { stop_group "$SERVER_PID"; }
after_check() { asan_loaded "$SERVER_PID"; }

e2e_flow
san_clean "python traffic mix"

hostile_start() {
	[ "$1" = shim ] && shim_env
	server_start "$1"
	wait_listen 15 "$PORT" "$SERVER_PID" "python ($1)"
}
hostile_pair python hostile_start server_stop
san_clean "python hostile input"
log "ok"
