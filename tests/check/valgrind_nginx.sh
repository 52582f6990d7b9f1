#!/usr/bin/env bash
# tests/check/valgrind_nginx.sh — valgrind memcheck over nginx in one
# process (master_process off, daemon off) with the shim preloaded: the
# end-to-end traffic mix (keep-alive, pipelining, bodies, a 5 MiB sendfile,
# an aborted download, garbage, a proxied slow route), exact counts and
# responses byte-identical to the bare nginx, then SIGTERM and the leak
# check. No memcheck error may involve the shim: an error counts as ours
# when any frame of its stack (for a leak, the allocation's) is in
# libpromshim.so or in libmicrohttpd, which only the shim loads
# (memcheck_verdict.py). nginx's
# own reports are not ours: the known one is suppressed
# (valgrind-nginx.supp), any other is listed and ignored. First, a copy of
# the library with a planted leak and a planted use of uninitialised memory
# must be caught, so that a broken attribution cannot pass.
. "$(dirname "$0")/../faults/common.bash"
e2e_init
need_prog /usr/sbin/nginx /usr/bin/python3 valgrind
need_shim

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
	mkdir -p "$d"
	nginx_conf "$d" 1 "master_process off;" "access_log $d/access.log combined;
		location = /slow { proxy_pass http://127.0.0.1:$UPPORT; }
		location = /chunked { proxy_pass http://127.0.0.1:$UPPORT; }"
	if [ "$mode" != bare ]; then
		# valgrind passes LD_PRELOAD on to the program it runs.
		pre=("${SHIM_ENV[@]}" valgrind --tool=memcheck --error-exitcode=99
			--errors-for-leak-kinds=definite --leak-check=full --show-leak-kinds=definite
			--track-fds=no --num-callers=40 --suppressions="$CHECK_SUPP"
			--log-file="$d/memcheck.log" --xml=yes --xml-file="$d/memcheck.xml")
	fi
	start_group "$d/stderr.log" "${pre[@]}" /usr/sbin/nginx -p "$d" -e "$d/error.log" -c "$d/nginx.conf"
	SERVER_PID=$STARTED_PID
	# Start-up under valgrind takes seconds: wait longer than e2e_flow does.
	wait_listen 90 "$PORT" "$SERVER_PID" "nginx ($mode)"
	[ "$mode" != bare ] && wait_for 60 "/metrics on $MPORT" port_open "$MPORT"
	return 0
}
server_stop() {
	kill -TERM "$SERVER_PID" 2>/dev/null
	try_for 120 pid_gone "$SERVER_PID" || fail "nginx (pid $SERVER_PID) did not stop within 120 s of SIGTERM"
	wait "$SERVER_PID"
	SERVER_RC=$?
}
CHECK_DIR=$(cd "$(dirname "$0")" && pwd)
CHECK_SUPP=$CHECK_DIR/valgrind-nginx.supp

# memcheck_verdict MODE: the report of the MODE run, judged as above.
memcheck_verdict() {
	local x=$E2E_WORK/$1/memcheck.xml
	[ -s "$x" ] || fail "memcheck wrote no report ($x)"
	grep -q '<state>FINISHED</state>' "$x" || fail "memcheck did not finish ($x)"
	log "$1: valgrind exit status $SERVER_RC"
	python3 "$CHECK_DIR/memcheck_verdict.py" "$x" "$SERVER_RC"
}

# The planted errors: a constructor linked into a copy of the library.
mkdir -p "$E2E_WORK/planted"
cat >"$E2E_WORK/planted/planted.c" <<'C'
#include <stdlib.h>
#include <unistd.h>
__attribute__((constructor)) static void planted(void)
{
	char *volatile lost = malloc(64);
	char *u = malloc(4);
	if (u[1] == 'x') /* never initialised */
		(void)!write(2, "x", 1);
	free(u);
	lost = NULL;
}
C
gcc -std=gnu11 -g -O1 -D_GNU_SOURCE -fPIC -fvisibility=hidden -shared \
	-Wl,--version-script="$E2E_ROOT/shim/exports.map" -o "$E2E_WORK/planted/libpromshim.so" \
	-I"$E2E_ROOT/core" -I"$E2E_ROOT/shim" "$E2E_ROOT"/core/*.c "$E2E_ROOT"/shim/*.c "$E2E_WORK/planted/planted.c" \
	-ldl -lpthread -lz || fail "cannot build the planted library"
SHIM_ENV=(env "LD_PRELOAD=$E2E_WORK/planted/libpromshim.so" "PROMSHIM_LISTEN=127.0.0.1:$MPORT" PROMSHIM_LOG=warn)
server_start planted
"${TRAFFIC[@]}" scrape "$MPORT" >/dev/null || fail "planted: no scrape"
server_stop
if (memcheck_verdict planted) >"$E2E_WORK/planted.verdict" 2>&1; then
	cat "$E2E_WORK/planted.verdict" >&2
	fail "the planted errors in the library were not attributed to it"
fi
grep -c "THE SHIM'S" "$E2E_WORK/planted.verdict" | grep -qx 2 ||
	{ cat "$E2E_WORK/planted.verdict" >&2; fail "planted: expected exactly the 2 planted errors"; }
log "planted leak and uninitialised read: both attributed to the library"
wait_for 10 "port $PORT to close" port_closed "$PORT"

e2e_flow
memcheck_verdict shim || fail "memcheck: errors in the shim, or valgrind and its report disagree"
log "ok"
