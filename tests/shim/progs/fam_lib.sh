# tests/shim/progs/fam_lib.sh — sourced by the family and exporter tests
# (tests/shim/test_family_*.sh, test_exporter_*.sh): builds fam_srv, finds
# free loopback ports, starts servers under the shim in their own sessions,
# waits with deadlines, and kills everything it started on exit.
# Exit codes: 0 pass, 1 fail, 77 skip.
set -uo pipefail
cd "$(dirname "$0")/../.."
LIB=${PROMSHIM_LIB:-$PWD/build/libpromshim.so}
# A sanitizer-built library needs its runtime preloaded first.
PRELOAD=${PROMSHIM_SAN_RT:+$PROMSHIM_SAN_RT:}$LIB
T=build/shimtest
SRV=$T/fam_srv
GROUPS_STARTED=()
WORK=$(mktemp -d "${TMPDIR:-/tmp}/promshim-fam.XXXXXX")

fail() { echo "FAIL: $*"; exit 1; }
skip() { echo "SKIP: $*"; exit 77; }
ok() { echo "ok: $*"; }

fam_cleanup() {
	local rc=$? g
	for g in "${GROUPS_STARTED[@]}"; do kill -KILL -- "-$g" 2>/dev/null; done
	if [ $rc -ne 0 ] && [ $rc -ne 77 ]; then
		for g in "$WORK"/*.log; do [ -s "$g" ] && { echo "--- $g"; tail -n 20 "$g"; }; done
	fi
	rm -rf "$WORK"
	exit $rc
}
trap fam_cleanup EXIT
trap 'exit 1' INT TERM

[ -f "$LIB" ] || skip "$LIB is not built (run make)"
command -v curl >/dev/null || skip "curl is missing"
mkdir -p "$T"
if [ ! -x "$SRV" ] || [ tests/shim/progs/fam_srv.c -nt "$SRV" ]; then
	gcc -std=gnu11 -Wall -Wextra -Werror -O2 -D_GNU_SOURCE -o "$SRV" tests/shim/progs/fam_srv.c -lpthread ||
		fail "cannot build fam_srv"
fi

free_port() {
	python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

now_ms() { echo $(( $(date +%s%N) / 1000000 )); }

# try_for SECONDS CMD...: run CMD every 50 ms until it succeeds; 1 on timeout.
try_for() {
	local end=$(( $(now_ms) + $1 * 1000 ))
	shift
	until "$@" >/dev/null 2>&1; do
		[ "$(now_ms)" -lt $end ] || return 1
		sleep 0.05
	done
}

# start LOG VAR=VALUE... -- ARGS...: run fam_srv ARGS under the shim in a new
# session, stdout and stderr to LOG; sets PID (the session leader).
start() {
	local logf=$1 envs=()
	shift
	while [ $# -gt 0 ] && [ "$1" != -- ]; do envs+=("$1"); shift; done
	shift
	setsid env LD_PRELOAD="$PRELOAD" "${envs[@]}" "$SRV" "$@" >"$logf" 2>&1 </dev/null &
	PID=$!
	disown "$PID"
	GROUPS_STARTED+=("$PID")
}

# Remember a session started by a daemon (its own setsid) for cleanup.
track_session() {
	local sid
	sid=$(ps -o sid= -p "$1" | tr -d ' ')
	[ -n "$sid" ] && GROUPS_STARTED+=("$sid")
}

port_open() { python3 -c 'import socket,sys; socket.create_connection(("127.0.0.1",int(sys.argv[1])),1).close()' "$1"; }
metrics_ok() { curl -sf --max-time 2 -o /dev/null "http://127.0.0.1:$1/metrics"; }
scrape() { local p=$1; shift; curl -s --max-time 3 "$@" "http://127.0.0.1:$p/metrics"; }
# The value of a sample line NAME (exact name and labels) in a scrape.
sample() { awk -v n="$1" '$1 == n {print $2; f=1} END {exit !f}'; }
# Pid of the process listening on a loopback port.
listener_pid() { ss -Hltnp "sport = :$1" | grep -o 'pid=[0-9]*' | head -n 1 | cut -d= -f2; }
alive() { kill -0 "$1" 2>/dev/null && [ "$(ps -o stat= -p "$1" | cut -c1)" != Z ]; }
# Threads of PID named promshim (the exporter's).
shim_threads() { grep -l '^promshim$' /proc/"$1"/task/*/comm 2>/dev/null | awk -F/ '{print $5}'; }
