# tests/faults/common.bash — what the fault scripts share on top of
# tests/e2e/lib.sh: quick or soak durations, the scrape checker build,
# nginx and Apache prefork configurations in the work dir, and their
# process lists. Sourced, never run (the .bash name keeps it out of the
# tests/faults/*.sh list).

. "$(dirname "${BASH_SOURCE[0]}")/../e2e/lib.sh"

# Work dirs one level down: a sweep of stale top-level temp dirs by a
# concurrent job cannot pull one from under a running test.
TMPDIR=${TMPDIR:-/tmp}/promshim-faults
mkdir -p "$TMPDIR" && chmod 755 "$TMPDIR"
export TMPDIR

FAULTS_DIR=$E2E_ROOT/tests/faults
FP=(python3 "$FAULTS_DIR/faults.py")
SOAK=${FAULTS_SOAK:-0}
MODS=/usr/lib/apache2/modules

# quick_or_soak QUICK SOAK: the value for this run.
quick_or_soak() { if [ "$SOAK" = 1 ]; then echo "$2"; else echo "$1"; fi; }

# Build the scrape checker (C: Python is too slow at 100 scrapes a second)
# into the work dir; sets SCRAPECHECK.
build_scrapecheck() {
	SCRAPECHECK=$E2E_WORK/scrapecheck
	# SCRAPECHECK_CC="clang -fsanitize=address,undefined" checks the checker.
	${SCRAPECHECK_CC:-cc} -std=gnu11 -Wall -Wextra -Werror -O2 -o "$SCRAPECHECK" "$FAULTS_DIR/scrapecheck.c" ||
		fail "cannot build scrapecheck"
}

# The environment of a shimmed server; extra PROMSHIM_* settings as args.
shim_env() {
	need_shim
	SHIM_ENV=(env "LD_PRELOAD=$SHIM_LIB" "PROMSHIM_LISTEN=127.0.0.1:$MPORT"
		"PROMSHIM_LOG=${PROMSHIM_LOG:-warn}" "$@")
}

# nginx_conf DIR WORKERS [EXTRA_MAIN [EXTRA_SERVER]]: a configuration with
# the shim's variables kept across a binary upgrade (env lines), a
# proxy_protocol listener on PPORT when set, and long keep-alive.
nginx_conf() {
	local d=$1 workers=$2 main=${3:-} extra=${4:-} v envs=""
	mkdir -p "$d/tmp"
	for v in LD_PRELOAD PROMSHIM_LISTEN PROMSHIM_LOG PROMSHIM_MAX_SERIES PROMSHIM_HEURISTIC; do
		envs+="env $v;"$'\n'
	done
	cat >"$d/nginx.conf" <<CONF
worker_processes $workers;
daemon ${NGINX_DAEMON:-off};
pid $d/nginx.pid;
error_log $d/error.log warn;
$envs
$main
events { worker_connections 1024; }
http {
	include /etc/nginx/mime.types;
	default_type application/octet-stream;
	access_log off;
	client_body_temp_path $d/tmp/body;
	proxy_temp_path $d/tmp/proxy;
	fastcgi_temp_path $d/tmp/fastcgi;
	uwsgi_temp_path $d/tmp/uwsgi;
	scgi_temp_path $d/tmp/scgi;
	keepalive_timeout 30;
	keepalive_requests 1000000;
	server {
		listen 127.0.0.1:$PORT;
		${PPORT:+listen 127.0.0.1:$PPORT proxy_protocol;}
		root $E2E_WORK/root;
		log_not_found off;
		location = /fd { return 200 "ok\n"; }
		$extra
	}
}
CONF
}

# nginx_start DIR [PREFIX...]: start nginx in its own group (NGINX_DAEMON=on:
# as a daemon); sets SERVER_PID (the master) and waits for the port and WORKERS workers.
nginx_start() {
	local d=$1
	shift
	start_group "$d/stderr.log" "$@" /usr/sbin/nginx -p "$d" -e "$d/error.log" -c "$d/nginx.conf"
	SERVER_PID=$STARTED_PID
	if [ "${NGINX_DAEMON:-off}" = on ]; then
		# The master is the daemon's grandchild, in a session of its own.
		wait_for 10 "nginx's pid file" file_nonempty "$d/nginx.pid"
		SERVER_PID=$(cat "$d/nginx.pid")
		track_pid "$SERVER_PID"
	fi
	SERVER_DAEMON=1 wait_listen 10 "$PORT" "$SERVER_PID" "nginx"
	wait_for 10 "nginx workers" has_children "$SERVER_PID" "${WORKERS:-2}"
}

# has_children PID N: PID has at least N live children.
has_children() { [ "$(ps -o pid= --ppid "$1" 2>/dev/null | wc -l)" -ge "$2" ]; }

# apache_conf DIR CHILDREN: Apache prefork with CHILDREN children kept.
apache_conf() {
	local d=$1 n=$2 m
	mkdir -p "$d"
	{
		for m in mpm_prefork authz_core mime dir; do
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
StartServers $n
MinSpareServers $n
MaxSpareServers $((n * 2))
ServerLimit $((n * 2))
MaxRequestWorkers $((n * 2))
MaxConnectionsPerChild 0
KeepAlive On
MaxKeepAliveRequests 0
KeepAliveTimeout 30
GracefulShutdownTimeout 5
TypesConfig /etc/mime.types
DocumentRoot $E2E_WORK/root
<Directory />
	Require all denied
</Directory>
<Directory $E2E_WORK/root>
	Require all granted
</Directory>
DirectoryIndex index.html
CONF
	} >"$d/httpd.conf"
}

apache_start() {
	local d=$1
	shift
	start_group "$d/stderr.log" "$@" /usr/sbin/apache2 -f "$d/httpd.conf" -DFOREGROUND
	SERVER_PID=$STARTED_PID
	wait_listen 15 "$PORT" "$SERVER_PID" "apache2"
	wait_for 10 "apache2 children" has_children "$SERVER_PID" "${WORKERS:-2}"
}

# promtool_ok FILE: the scrape passes promtool check metrics.
promtool_ok() {
	command -v promtool >/dev/null || return 0
	promtool check metrics <"$1" >"$E2E_WORK/promtool.out" 2>&1 ||
		{ cat "$E2E_WORK/promtool.out" >&2; fail "promtool check metrics rejects $1"; }
}
