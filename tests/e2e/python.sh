#!/usr/bin/env bash
# tests/e2e/python.sh — Python's threaded http.server (tests/e2e/pyserver.py:
# SimpleHTTPRequestHandler with HTTP/1.1, POST and a /slow route sleeping
# 0.3 s) under the shim: exact counts, byte-identical responses, the access
# log (stderr) as second witness, the slow request in the right bucket.
. "$(dirname "$0")/lib.sh"
e2e_init
need_prog /usr/bin/python3

PORT=$(free_port)
MPORT=$(free_port)
make_docroot "$E2E_WORK/root"
ACCESS_LOG="$E2E_WORK/%s/server.log"
LOG_FORMAT=python
SLOW_PATH=/slow

server_start() {
	local mode=$1 pre=()
	[ "$mode" = shim ] && pre=("${SHIM_ENV[@]}")
	start_group "$E2E_WORK/$mode/server.log" "${pre[@]}" \
		/usr/bin/python3 "$E2E_DIR/pyserver.py" "$PORT" "$E2E_WORK/root" 0.3
	SERVER_PID=$STARTED_PID
}
server_stop() { stop_group "$SERVER_PID"; }

e2e_flow
log "ok"
