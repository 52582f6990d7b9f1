# tests/shim/progs/common.sh — sourced by the interposition tests in
# tests/shim/: builds the interposition layer with the recording stand-in
# for core (core_rec.c) into build/shimtest/librec.so, builds the scenario
# driver hk_prog, and runs scenarios under LD_PRELOAD with a fresh log.
set -euo pipefail
cd "$(dirname "$0")/../.."
T=build/shimtest
mkdir -p "$T"
CFL=(-std=gnu11 -Wall -Wextra -Werror -g -O2 -D_GNU_SOURCE)
LAYER=(shim/real.c shim/fdtable.c shim/conn.c shim/hooks_io.c shim/hooks_fd.c shim/hooks_poll.c
	shim/hooks_idle.c)

# build OUT SOURCES... -- rebuilds OUT when any source or header is newer.
stale() {
	local out=$1; shift
	[ -e "$out" ] || return 0
	for f in "$@" shim/*.h core/*.h; do [ "$f" -nt "$out" ] && return 0; done
	return 1
}

if stale $T/librec.so "${LAYER[@]}" tests/shim/progs/core_rec.c shim/exports.map; then
	gcc "${CFL[@]}" -fPIC -fvisibility=hidden -Icore -Ishim -shared \
		-Wl,--version-script=shim/exports.map -Wl,-z,now -o $T/librec.so \
		"${LAYER[@]}" tests/shim/progs/core_rec.c -ldl -lpthread
fi
if stale $T/hk_prog tests/shim/progs/hk_prog.c; then
	gcc "${CFL[@]}" -o $T/hk_prog tests/shim/progs/hk_prog.c -ldl
fi

LOG=$(mktemp)
OUT=$(mktemp)
trap 'rm -f "$LOG" "$LOG.raw" "$LOG.pids" "$OUT"' EXIT

# run SCENARIO [ARGS...]: runs it under the library (env may be given with
# `env X=Y` semantics through RUN_ENV), leaves its stdout in $OUT and the
# recorded calls, without pids, in $LOG. Fails the test on a non-zero exit.
RUN_ENV=()
run() {
	: >"$LOG"
	local rc=0
	timeout 20 env "${RUN_ENV[@]}" PROMSHIM_TEST_LOG="$LOG.raw" LD_PRELOAD="$PWD/$T/librec.so" \
		"${PROG:-$T/hk_prog}" "$@" >"$OUT" || rc=$?
	if [ -e "$LOG.raw" ]; then
		cut -d' ' -f2- "$LOG.raw" | grep -v -e '^BINDS' -e '^LISTENING' >"$LOG" || true
		mv "$LOG.raw" "$LOG.pids"
	fi
	if [ $rc -ne 0 ]; then
		echo "scenario '$*' exited $rc"; cat "$OUT"; exit 1
	fi
}

# expect_log NAME < expected lines: the recorded calls must be exactly these.
expect_log() {
	local want
	want=$(cat)
	if ! diff -u <([ -z "$want" ] || echo "$want") "$LOG"; then
		echo "FAIL: $1: recorded calls differ (- expected, + recorded)"
		exit 1
	fi
	echo "ok: $1"
}
