#!/usr/bin/env bash
# tests/e2e/apache.sh — Apache httpd with the prefork MPM (a parent and
# StartServers 2 children, running as www-data) under the shim: exact
# counts across processes, byte-identical responses, the access log as
# second witness (mod_log_config is built in), a proxied route that answers after a known 0.3 s (an
# un-instrumented Python upstream) in the right bucket.
. "$(dirname "$0")/lib.sh"
e2e_init
[ "$(id -u)" = 0 ] || skip "needs root: the server drops privileges to www-data"
need_prog /usr/sbin/apache2 /usr/bin/python3
MODS=/usr/lib/apache2/modules

PORT=$(free_port)
MPORT=$(free_port)
UPPORT=$(free_port)
make_docroot "$E2E_WORK/root"
ACCESS_LOG="$E2E_WORK/%s/access.log"
LOG_FORMAT=common
SLOW_PATH=/slow
CRASH_LOG="$E2E_WORK/shim/error.log"
CRASH_PATTERN="exit signal|Segmentation|Aborted"

start_group "$E2E_WORK/upstream.log" /usr/bin/python3 "$E2E_DIR/pyserver.py" "$UPPORT" "$E2E_WORK/root" 0.3
wait_listen 10 "$UPPORT" "$STARTED_PID" "python upstream"

server_start() {
	local mode=$1 d=$E2E_WORK/$1 pre=() m
	[ "$mode" = shim ] && pre=("${SHIM_ENV[@]}")
	{
		for m in mpm_prefork authz_core mime dir proxy proxy_http; do
			echo "LoadModule ${m}_module $MODS/mod_$m.so"
		done
		cat <<CONF
ServerName 127.0.0.1
Listen 127.0.0.1:$PORT
PidFile $d/httpd.pid
ErrorLog $d/error.log
LogLevel warn
DefaultRuntimeDir $d
Mutex file:$d default
User www-data
Group www-data
StartServers 2
MinSpareServers 2
MaxSpareServers 4
MaxRequestWorkers 8
KeepAlive On
TypesConfig /etc/mime.types
DocumentRoot $E2E_WORK/root
<Directory />
	Require all denied
</Directory>
<Directory $E2E_WORK/root>
	Require all granted
</Directory>
DirectoryIndex index.html
LogFormat "%h %l %u %t \"%r\" %>s %b" common
CustomLog $d/access.log common
ProxyPass /slow http://127.0.0.1:$UPPORT/slow
ProxyPass /chunked http://127.0.0.1:$UPPORT/chunked
CONF
	} >"$d/httpd.conf"
	start_group "$d/stderr.log" "${pre[@]}" /usr/sbin/apache2 -f "$d/httpd.conf" -DFOREGROUND
	SERVER_PID=$STARTED_PID
}
server_stop() { stop_group "$SERVER_PID"; }

e2e_flow
log "ok"
