#!/usr/bin/env bash
# tests/e2e/lighttpd.sh — lighttpd (-D, one process, event loop) under the
# shim: exact counts, byte-identical responses, the access log as second
# witness, a proxied route that answers after a known 0.3 s (an
# un-instrumented Python upstream) in the right bucket.
. "$(dirname "$0")/lib.sh"
e2e_init
[ "$(id -u)" = 0 ] || skip "needs root: the server drops privileges to www-data"
need_prog /usr/sbin/lighttpd /usr/bin/python3

PORT=$(free_port)
MPORT=$(free_port)
UPPORT=$(free_port)
make_docroot "$E2E_WORK/root"
ACCESS_LOG="$E2E_WORK/%s/access.log"
LOG_FORMAT=common
SLOW_PATH=/slow

start_group "$E2E_WORK/upstream.log" /usr/bin/python3 "$E2E_DIR/pyserver.py" "$UPPORT" "$E2E_WORK/root" 0.3
wait_listen 10 "$UPPORT" "$STARTED_PID" "python upstream"

server_start() {
	local mode=$1 d=$E2E_WORK/$1 pre=()
	[ "$mode" = shim ] && pre=("${SHIM_ENV[@]}")
	cat >"$d/lighttpd.conf" <<CONF
server.modules = ("mod_access", "mod_accesslog", "mod_proxy")
server.document-root = "$E2E_WORK/root"
server.bind = "127.0.0.1"
server.port = $PORT
server.pid-file = "$d/lighttpd.pid"
server.errorlog = "$d/error.log"
server.username = "www-data"
server.groupname = "www-data"
accesslog.filename = "$d/access.log"
index-file.names = ("index.html")
mimetype.assign = (".html" => "text/html", ".bin" => "application/octet-stream", "" => "application/octet-stream")
\$HTTP["url"] =~ "^/(slow|chunked)(\\?|\$)" {
	proxy.server = ("" => (("host" => "127.0.0.1", "port" => $UPPORT)))
}
CONF
	# lighttpd opens its logs after dropping to www-data.
	chown www-data:www-data "$d"
	start_group "$d/stderr.log" "${pre[@]}" /usr/sbin/lighttpd -D -f "$d/lighttpd.conf"
	SERVER_PID=$STARTED_PID
}
server_stop() { stop_group "$SERVER_PID"; }

e2e_flow
log "ok"
