#!/usr/bin/env bash
# tests/faults/urlscan.sh — a scan of random URLs (20,000 here, 100,000 in
# the soak; after a 2,000-URL warm-up), pipelined over keep-alive
# connections, against nginx (2 workers) and lighttpd under the shim with
# PROMSHIM_HEURISTIC=off (every path its own route) and
# PROMSHIM_MAX_SERIES=100: every request answered and counted exactly once,
# promshim_series never above the cap, promshim_series_overflow_total equal
# to the requests recorded under route _OTHER, and no server process's RSS
# growing by more than 4 MiB over the scan.
. "$(dirname "$0")/common.bash"
e2e_init
need_shim
N=$(quick_or_soak 20000 100000)
CAP=100
make_docroot "$E2E_WORK/root"
for server in ${SCAN_SERVERS:-nginx lighttpd}; do
	PORT=$(free_port)
	MPORT=$(free_port)
	shim_env PROMSHIM_HEURISTIC=off PROMSHIM_MAX_SERIES=$CAP
	d=$E2E_WORK/$server
	mkdir -p "$d"
	if [ $server = nginx ]; then
		need_prog /usr/sbin/nginx
		nginx_conf "$d" 2
		nginx_start "$d" "${SHIM_ENV[@]}"
	else
		need_prog /usr/sbin/lighttpd
		cat >"$d/lighttpd.conf" <<CONF
server.document-root = "$E2E_WORK/root"
server.bind = "127.0.0.1"
server.port = $PORT
server.errorlog = "$d/error.log"
server.username = "www-data"
server.groupname = "www-data"
server.max-keep-alive-requests = 65535
CONF
		chown www-data:www-data "$d"
		start_group "$d/stderr.log" "${SHIM_ENV[@]}" /usr/sbin/lighttpd -D -f "$d/lighttpd.conf"
		SERVER_PID=$STARTED_PID
		wait_listen 10 "$PORT" "$SERVER_PID" lighttpd
	fi
	wait_for 10 "/metrics on $MPORT" port_open "$MPORT"
	pids=$( (echo "$SERVER_PID"; ps -o pid= --ppid "$SERVER_PID") | tr -d ' ' | paste -sd,)
	log "$server: $N random URLs, series cap $CAP, pids $pids"
	"${FP[@]}" scan "$PORT" "$MPORT" "$N" --max-series $CAP --pids "$pids" || fail "$server scan"
	"${TRAFFIC[@]}" scrape "$MPORT" >"$E2E_WORK/$server.scrape" || fail "$server: scrape"
	promtool_ok "$E2E_WORK/$server.scrape"
	stop_group "$SERVER_PID"
done
log "ok"
