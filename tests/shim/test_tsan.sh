#!/usr/bin/env bash
# tests/shim/test_tsan.sh — the reading and the writing side of one
# connection run in two threads at once (plus a third making aliases)
# without a data race: the library and a small server are built with
# clang -fsanitize=thread and ThreadSanitizer must report nothing.
# First with the recording stand-in for core (the interposition layer on
# its own), then the whole library with the real tracker and registry.
source "$(dirname "$0")/progs/common.sh"
command -v clang >/dev/null || { echo "clang missing"; exit 77; }
TS=(clang -std=gnu11 -g -O1 -fsanitize=thread -D_GNU_SOURCE -Wall -Wextra -Werror)

"${TS[@]}" -fPIC -fvisibility=hidden -Icore -Ishim -shared -Wl,--version-script=shim/exports.map \
	-o $T/librec_tsan.so "${LAYER[@]}" tests/shim/progs/core_rec.c -ldl -lpthread

# The server is linked against the library rather than given it through
# LD_PRELOAD, which the symbolizer TSan starts would inherit; the library
# still comes before libc, so its hooks interpose the same way.
# io_sync=0: by default TSan treats a write to an fd and a later read of it
# as synchronisation, which would hide a race between the two sides.
# check NAME LIB [ENV...]: runs the server linked with LIB; no report allowed.
check() {
	local name=$1 lib=$2; shift 2
	local err=$T/tsan_$name.err rc=0
	"${TS[@]}" -o $T/tsan_srv_$name tests/shim/progs/tsan_srv.c "$lib" \
		-Wl,-rpath,"$PWD/$(dirname "$lib")" -lpthread
	timeout 120 env "$@" TSAN_OPTIONS="halt_on_error=1 exitcode=66 io_sync=0" \
		$T/tsan_srv_$name >"$OUT" 2>"$err" || rc=$?
	if [ $rc -ne 0 ] || grep -q 'ThreadSanitizer' "$err"; then
		echo "FAIL: $name: exit $rc"; head -n 80 "$err"; exit 1
	fi
	grep -qx 'OK 800' "$OUT" || { echo "FAIL: $name: server did not finish"; cat "$OUT"; exit 1; }
	echo "ok: $name: 800 exchanges over 4 connections, two threads each, no race reported"
}

check layer $T/librec_tsan.so PROMSHIM_TEST_LOG="$LOG.raw"
n=$(grep -c ' E ' "$LOG.raw")
[ "$n" = 4 ] || { echo "FAIL: $n connections ended, want 4"; exit 1; }

if [ -e core/tracker.c ]; then
	make -s B=build/tsan CC=clang OPT=-O1 SAN=-fsanitize=thread build/tsan/libpromshim.so >&2
	check library build/tsan/libpromshim.so PROMSHIM_LISTEN=off
else
	echo "core/tracker.c not there yet: whole-library run skipped"
fi
