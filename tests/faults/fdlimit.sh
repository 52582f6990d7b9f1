#!/usr/bin/env bash
# tests/faults/fdlimit.sh — nginx (1 worker) with RLIMIT_NOFILE 64, bare
# and under the shim: open connections, each answered and held, until the
# server stops accepting (fd exhaustion). The shimmed server must hold as
# many as the bare one, less at most the exporter's fds (its listening
# socket, its epoll fd and its wake-up eventfd, in the serving process
# only: the master, which accepts nothing); it must recover once they close,
# /metrics must answer during the exhaustion and stay valid, and the counts
# stay exact.
. "$(dirname "$0")/common.bash"
e2e_init
need_prog /usr/sbin/nginx
need_shim
EXPORTER_FDS=3
PORT=$(free_port)
MPORT=$(free_port)
make_docroot "$E2E_WORK/root"
WORKERS=1
declare -A held
for mode in bare shim; do
	pre=()
	if [ $mode = shim ]; then shim_env; pre=("${SHIM_ENV[@]}"); fi
	nginx_conf "$E2E_WORK/$mode" 1 "worker_rlimit_nofile 64;"
	(ulimit -n 64 && nginx_start "$E2E_WORK/$mode" "${pre[@]}" && echo "$SERVER_PID" >"$E2E_WORK/$mode.pid") ||
		fail "$mode nginx did not start under ulimit -n 64"
	SERVER_PID=$(cat "$E2E_WORK/$mode.pid")
	E2E_GROUPS+=("$SERVER_PID")
	[ $mode = shim ] && wait_for 10 "/metrics on $MPORT" port_open "$MPORT"
	mp=()
	[ $mode = shim ] && mp=(--mport "$MPORT")
	held[$mode]=$("${FP[@]}" fdprobe "$PORT" --path /fd "${mp[@]}") || fail "$mode probe"
	log "$mode nginx held ${held[$mode]} connections at RLIMIT_NOFILE 64"
	[ "${held[$mode]}" -ge 20 ] && [ "${held[$mode]}" -lt 64 ] || fail "$mode: ${held[$mode]} connections held"
	# It recovers once the connections are gone.
	try_for 10 "${FP[@]}" count "$PORT" 20 --path /fd || fail "$mode nginx does not serve after the exhaustion"
	if [ $mode = shim ]; then
		"${TRAFFIC[@]}" scrape "$MPORT" >"$E2E_WORK/scrape.txt" || fail "/metrics after the exhaustion"
		promtool_ok "$E2E_WORK/scrape.txt"
		python3 - "$E2E_WORK/scrape.txt" "${held[shim]}" <<'PY' || fail "counts after the exhaustion"
import sys
sys.path.insert(0, "tests/e2e")
import traffic
m = traffic.parse_metrics(open(sys.argv[1]).read())
held = int(sys.argv[2])
tot = sum(m.get("http_requests_total", {}).values())
ab = sum(m.get("http_requests_aborted_total", {}).values())
# held answered and kept, 20 after; the probe's last request waited in the
# backlog and may have been answered (or aborted) after its client left.
print("counted %d, aborted %d: %d held + 20 after (+1 from the backlog at most)" % (tot, ab, held))
if tot < held + 20 or tot + ab > held + 21:
    sys.exit("expected %d..%d requests, counted %d + %d aborted" % (held + 20, held + 21, tot, ab))
PY
	fi
	stop_group "$SERVER_PID"
	wait_for 10 "port $PORT to close" port_closed "$PORT"
done
d=$(( held[bare] - held[shim] ))
log "bare held ${held[bare]}, shimmed ${held[shim]}: the shim costs $d fds (at most $EXPORTER_FDS allowed)"
[ $d -ge 0 ] && [ $d -le $EXPORTER_FDS ] || fail "the shim changed fd exhaustion by $d connections"
log "ok"
