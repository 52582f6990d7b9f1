#!/usr/bin/env bash
# tests/e2e/nginx.sh — nginx (a master and 2 workers) under the shim: exact
# counts, byte-identical responses, the access log as second witness, a
# proxied route that answers after a known 0.3 s (an un-instrumented Python
# upstream) in the right bucket, and /metrics surviving the death of the
# process that serves it. Variants through the environment (the
# nginx-*.sh wrappers): NGINX_DAEMON=on|off, NGINX_SENDFILE=on|off.
. "$(dirname "$0")/lib.sh"
e2e_init
need_prog /usr/sbin/nginx /usr/bin/python3

DAEMON=${NGINX_DAEMON:-off}
SENDFILE=${NGINX_SENDFILE:-on}
log "daemon $DAEMON, sendfile $SENDFILE"
PORT=$(free_port)
MPORT=$(free_port)
UPPORT=$(free_port)
make_docroot "$E2E_WORK/root"
ACCESS_LOG="$E2E_WORK/%s/access.log"
LOG_FORMAT=common
SLOW_PATH=/slow
CRASH_LOG="$E2E_WORK/shim/error.log"
CRASH_PATTERN="exited on signal"
[ $DAEMON = on ] && SERVER_DAEMON=1

# The delayed upstream runs without the shim: only nginx is measured.
start_group "$E2E_WORK/upstream.log" /usr/bin/python3 "$E2E_DIR/pyserver.py" "$UPPORT" "$E2E_WORK/root" 0.3
wait_listen 10 "$UPPORT" "$STARTED_PID" "python upstream"

nginx_conf() {
	local d=$1
	mkdir -p "$d/tmp"
	cat >"$d/nginx.conf" <<CONF
worker_processes 2;
daemon $DAEMON;
pid $d/nginx.pid;
error_log $d/error.log info;
events { worker_connections 256; }
http {
	include /etc/nginx/mime.types;
	default_type application/octet-stream;
	access_log $d/access.log combined;
	client_body_temp_path $d/tmp/body;
	proxy_temp_path $d/tmp/proxy;
	fastcgi_temp_path $d/tmp/fastcgi;
	uwsgi_temp_path $d/tmp/uwsgi;
	scgi_temp_path $d/tmp/scgi;
	sendfile $SENDFILE;
	keepalive_timeout 30;
	server {
		listen 127.0.0.1:$PORT;
		root $E2E_WORK/root;
		location = /slow { proxy_pass http://127.0.0.1:$UPPORT; }
		location = /chunked { proxy_pass http://127.0.0.1:$UPPORT; }
	}
}
CONF
}

# Every pid of the instance: the master (from its pid file) and its workers.
nginx_pids() {
	local m
	m=$(cat "$E2E_WORK/$MODE/nginx.pid" 2>/dev/null) || return 0
	echo "$m"
	ps -o pid= --ppid "$m" 2>/dev/null
}

server_start() {
	MODE=$1
	local pre=()
	[ "$MODE" = shim ] && pre=("${SHIM_ENV[@]}")
	nginx_conf "$E2E_WORK/$MODE"
	start_group "$E2E_WORK/$MODE/stderr.log" "${pre[@]}" \
		/usr/sbin/nginx -p "$E2E_WORK/$MODE" -e "$E2E_WORK/$MODE/error.log" -c "$E2E_WORK/$MODE/nginx.conf"
	SERVER_PID=$STARTED_PID
	if [ $DAEMON = off ]; then
		wait_listen 10 "$PORT" "$SERVER_PID" "nginx ($MODE)"
	else
		wait_for 10 "nginx ($MODE) to start: no pid file" file_nonempty "$E2E_WORK/$MODE/nginx.pid"
	fi
	wait_for 10 "2 nginx workers" nginx_has_workers
	local p
	for p in $(nginx_pids); do track_pid "$p"; done
}
nginx_has_workers() { [ "$(nginx_pids | wc -l)" -ge 3 ]; }

server_stop() {
	local pids p
	pids=$(nginx_pids)
	[ -n "$pids" ] && kill -TERM "$(head -n 1 <<<"$pids")" 2>/dev/null
	for p in $pids; do try_for 5 pid_gone "$p" || kill -KILL "$p" 2>/dev/null; done
	stop_group "$SERVER_PID"
}

# Kill whoever serves /metrics (the master or a worker, whichever the
# family chose); the survivors must serve again within 2 s, lose nothing
# and keep counting.
after_check() {
	local spid master role
	spid=$(listener_pid "$MPORT")
	[ -n "$spid" ] || fail "no process holds the metrics port $MPORT ($(ss -Hltnp "sport = :$MPORT"))"
	master=$(cat "$E2E_WORK/shim/nginx.pid")
	role=worker
	[ "$spid" = "$master" ] && role=master
	# The master has the shim's thread; the workers, single-threaded and
	# forked before it started, have none even after serving: they watch
	# the master (shim/family.c), and glibc keeps its single-threaded
	# paths in them.
	local w n
	[ "$(grep -lx promshim /proc/"$master"/task/*/comm 2>/dev/null | wc -l)" = 1 ] ||
		fail "the nginx master $master has no promshim thread"
	for w in $(pgrep -P "$master"); do
		n=$(ls "/proc/$w/task" | wc -l)
		[ "$n" = 1 ] || fail "nginx worker $w has $n threads, want 1"
	done
	log "pid $spid ($role) serves /metrics; killing it"
	"${TRAFFIC[@]}" failover "$MPORT" "$PORT" "$spid" || fail "failover after killing the $role"
	local newpid
	newpid=$(listener_pid "$MPORT")
	log "pid $newpid serves /metrics now"
}

e2e_flow
log "ok"
