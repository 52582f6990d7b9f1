# tests/e2e/lib.sh — what every end-to-end script shares: a work directory,
# free loopback ports, deadline-bounded waits, starting servers in their own
# process group and stopping everything that was started, even on failure.
# Sourced, never run. Exit codes: 0 pass, 1 fail, 77 skip.

set -uo pipefail

E2E_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
E2E_DIR=$E2E_ROOT/tests/e2e
SHIM_LIB=${PROMSHIM_LIB:-$E2E_ROOT/build/libpromshim.so}
TRAFFIC=(python3 "$E2E_DIR/traffic.py")

# The caller's shim configuration would change the labels the tests expect.
for v in $(compgen -e | grep '^PROMSHIM_'); do
	case $v in PROMSHIM_LIB | PROMSHIM_LOG) ;; *) unset "$v" ;; esac
done

E2E_GROUPS=()   # process-group leaders started by start_group
E2E_PIDS=()     # single pids to stop (daemons found by pid file)
E2E_WORK=""

log() { printf '%s: %s\n' "$(basename "$0")" "$*" >&2; }
fail() { log "FAIL: $*"; exit 1; }
skip() { log "SKIP: $*"; echo "$*"; exit 77; }

# Every script calls this first: a private work dir and the cleanup trap.
e2e_init() {
	E2E_WORK=$(mktemp -d "${TMPDIR:-/tmp}/promshim-e2e.XXXXXX")
	chmod 755 "$E2E_WORK"
	trap e2e_cleanup EXIT
	trap 'exit 1' INT TERM
}

e2e_cleanup() {
	local rc=$?
	local g p
	for g in "${E2E_GROUPS[@]}"; do stop_group "$g"; done
	for p in "${E2E_PIDS[@]}"; do stop_pid "$p"; done
	if [ $rc -ne 0 ] && [ $rc -ne 77 ] && [ -n "$E2E_WORK" ]; then
		local f
		for f in "$E2E_WORK"/*.log "$E2E_WORK"/*/*.log; do
			[ -s "$f" ] || continue
			echo "--- tail of ${f#"$E2E_WORK"/}" >&2
			tail -n 6 "$f" >&2
		done
	fi
	[ -n "$E2E_WORK" ] && [ -z "${E2E_KEEP:-}" ] && rm -rf "$E2E_WORK"
	exit $rc
}

# A loopback TCP port nobody listens on now.
free_port() {
	python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

# wait_for SECONDS DESCRIPTION CMD...: poll CMD every 0.1 s until it succeeds;
# fail with DESCRIPTION when the deadline passes.
wait_for() {
	local secs=$1 what=$2
	shift 2
	local end=$(( $(date +%s%N) + secs * 1000000000 ))
	while ! "$@" >/dev/null 2>&1; do
		[ "$(date +%s%N)" -lt $end ] || fail "timed out after ${secs}s waiting for $what"
		sleep 0.1
	done
}

# try_for: same as wait_for but returns 1 instead of failing.
try_for() {
	local secs=$1
	shift
	local end=$(( $(date +%s%N) + secs * 1000000000 ))
	while ! "$@" >/dev/null 2>&1; do
		[ "$(date +%s%N)" -lt $end ] || return 1
		sleep 0.1
	done
}

# wait_listen SECONDS PORT PID WHAT: wait for a listener on PORT, failing
# at once if PID (the process started) died without one.
wait_listen() {
	local secs=$1 port=$2 pid=$3 what=$4
	local end=$(( $(date +%s%N) + secs * 1000000000 ))
	while ! port_open "$port" 2>/dev/null; do
		pid_alive "$pid" || [ "${SERVER_DAEMON:-0}" = 1 ] || fail "$what (pid $pid) exited before listening on $port"
		[ "$(date +%s%N)" -lt $end ] || fail "timed out after ${secs}s waiting for $what on port $port"
		sleep 0.1
	done
}

port_open() { python3 -c 'import socket,sys; socket.create_connection(("127.0.0.1",int(sys.argv[1])),1).close()' "$1" 2>/dev/null; }
port_closed() { ! port_open "$1"; }
pid_alive() { kill -0 "$1" 2>/dev/null && [ "$(ps -o stat= -p "$1" 2>/dev/null | cut -c1)" != Z ]; }
pid_gone() { ! pid_alive "$1"; }
file_nonempty() { [ -s "$1" ]; }

# start_group LOGFILE CMD...: runs CMD in a new session (its own process
# group) with output to LOGFILE; sets STARTED_PID.
start_group() {
	local logf=$1
	shift
	setsid "$@" >"$logf" 2>&1 </dev/null &
	STARTED_PID=$!
	E2E_GROUPS+=("$STARTED_PID")
}

# Stop a process group: TERM, up to 5 s, then KILL.
stop_group() {
	local g=$1
	kill -TERM -- "-$g" 2>/dev/null || return 0
	try_for 5 group_gone "$g" || kill -KILL -- "-$g" 2>/dev/null
	try_for 2 group_gone "$g"
	wait "$g" 2>/dev/null
	return 0
}
group_gone() { ! kill -0 -- "-$1" 2>/dev/null; }

# Remember a pid (a daemon's master) for cleanup.
track_pid() { E2E_PIDS+=("$1"); }

stop_pid() {
	local p=$1
	pid_alive "$p" || return 0
	kill -TERM "$p" 2>/dev/null
	try_for 5 pid_gone "$p" || kill -KILL "$p" 2>/dev/null
	return 0
}

# Skip unless the shim is built and the named programs exist.
need_shim() {
	[ -f "$SHIM_LIB" ] || skip "$SHIM_LIB is not built (run make)"
}
need_prog() {
	local p
	for p in "$@"; do
		command -v "$p" >/dev/null 2>&1 || [ -x "$p" ] || skip "$p is not installed"
	done
}

# The pid listening on a loopback TCP port (first one ss reports).
listener_pid() {
	ss -Hltnp "sport = :$1" 2>/dev/null | grep -o 'pid=[0-9]*' | head -n 1 | cut -d= -f2
}

# Lay out the shared document root (index, ID-like paths, a 5 MiB file).
make_docroot() {
	"${TRAFFIC[@]}" docroot "$1" || fail "cannot create document root $1"
}

# The common flow of a server test. The script sets PORT and MPORT and
# defines server_start MODE (sets SERVER_PID; SERVER_DAEMON=1 when that
# process exits after forking) (MODE is bare or shim; the shim run must prefix
# its command with "${SHIM_ENV[@]}"; each mode keeps its files under
# $E2E_WORK/MODE) and server_stop. Optional: ACCESS_LOG (a path with MODE in
# it, e.g. '$E2E_WORK/%s/access.log'), LOG_FORMAT, SLOW_PATH (a route that
# takes a known 0.3 s), CRASH_LOG and CRASH_PATTERN (a log of the shim run
# and what a process dying on a signal writes there), and a function
# after_check run while the shimmed server is still up.
#  1. bare server: the traffic mix, recording every response; its access log
#     must agree with the statuses seen;
#  2. shimmed server: the same traffic; responses byte-identical to the bare
#     run; the access log agrees again; /metrics exactly as the traffic
#     implies; the scrape passes promtool.
e2e_flow() {
	local slow=() mode conns
	[ -n "${SLOW_PATH:-}" ] && slow=(--slow "$SLOW_PATH")
	for mode in bare shim; do
		mkdir -p "$E2E_WORK/$mode"
		if [ $mode = shim ]; then
			need_shim
			SHIM_ENV=(env "LD_PRELOAD=$SHIM_LIB" "PROMSHIM_LISTEN=127.0.0.1:$MPORT"
				"PROMSHIM_LOG=${PROMSHIM_LOG:-warn}")
		fi
		server_start $mode
		wait_listen 15 "$PORT" "$SERVER_PID" "$mode server"
		if [ $mode = shim ]; then
			wait_for 10 "/metrics on port $MPORT" port_open "$MPORT"
			conns=$("${TRAFFIC[@]}" idleconns "$MPORT") || fail "no idle connection count"
		fi
		"${TRAFFIC[@]}" run "$PORT" "$E2E_WORK/$mode.json" "${slow[@]}" >"$E2E_WORK/$mode.traffic" ||
			fail "$mode run: traffic failed"
		if [ -n "${ACCESS_LOG:-}" ]; then
			# shellcheck disable=SC2059
			"${TRAFFIC[@]}" logcheck "$E2E_WORK/$mode.json" "$(printf "$ACCESS_LOG" $mode)" \
				--log-format "${LOG_FORMAT:-common}" || fail "$mode run: access log"
		fi
		if [ $mode = bare ]; then
			server_stop
			wait_for 10 "bare server to release port $PORT" port_closed "$PORT"
			log "bare run: $(wc -l <"$E2E_WORK/bare.traffic") exchanges recorded"
		fi
	done
	"${TRAFFIC[@]}" compare "$E2E_WORK/bare.json" "$E2E_WORK/shim.json" || fail "responses differ"
	# Expectations come from the bare run (identical responses, just checked).
	"${TRAFFIC[@]}" check "$E2E_WORK/bare.json" "$MPORT" ${SLOW_PATH:+--slow-route "$SLOW_PATH"} \
		--conns-before "$conns" \
		--save "$E2E_WORK/scrape.txt" || fail "metrics"
	if command -v promtool >/dev/null; then
		promtool check metrics <"$E2E_WORK/scrape.txt" >"$E2E_WORK/promtool.out" 2>&1 ||
			{ cat "$E2E_WORK/promtool.out" >&2; fail "promtool check metrics rejects the scrape"; }
	fi
	# The host must have survived the shim: no process died on a signal.
	if [ "${SERVER_DAEMON:-0}" != 1 ]; then
		pid_alive "$SERVER_PID" || fail "the shimmed server (pid $SERVER_PID) died"
	fi
	if [ -n "${CRASH_LOG:-}" ] && grep -E "$CRASH_PATTERN" "$CRASH_LOG" >&2; then
		fail "a shimmed server process died on a signal (see $CRASH_LOG above)"
	fi
	if declare -F after_check >/dev/null; then after_check; fi
	server_stop
}

# Run directly (scripts/run-script-tests runs every tests/e2e/*.sh), this
# file tests its own helpers: the deadlines expire, groups are stopped.
if [ "${BASH_SOURCE[0]}" = "$0" ]; then
	e2e_init
	p=$(free_port)
	[[ $p =~ ^[0-9]+$ ]] && [ "$p" -gt 1023 ] || fail "free_port gave '$p'"
	port_closed "$p" || fail "free port $p is open"
	t0=$(date +%s%N)
	(wait_for 1 "false" false) 2>/dev/null && fail "wait_for succeeded on false"
	ms=$(( ($(date +%s%N) - t0) / 1000000 ))
	[ $ms -ge 1000 ] && [ $ms -lt 3000 ] || fail "wait_for 1 took ${ms} ms"
	start_group "$E2E_WORK/l.log" /usr/bin/python3 -m http.server --bind 127.0.0.1 "$p"
	g=$STARTED_PID
	wait_listen 10 "$p" "$g" "http.server"
	stop_group "$g"
	pid_gone "$g" || fail "stop_group left $g running"
	try_for 5 port_closed "$p" || fail "port $p still open after stop_group"
	log "helpers ok"
	exit 0
fi
