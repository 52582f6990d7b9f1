#!/usr/bin/env bash
# tests/shim/test_asan.sh — the interposition layer under AddressSanitizer
# and UBSan: the scenarios of the other tests, with the library (recording
# core) and the driver built with clang -fsanitize=address,undefined. The
# driver is linked against the library, which still comes before libc, so
# its hooks interpose as under LD_PRELOAD. Any report fails the test.
source "$(dirname "$0")/progs/common.sh"
command -v clang >/dev/null || { echo "clang missing"; exit 77; }
SAN=(clang -std=gnu11 -g -O1 -D_GNU_SOURCE -Wall -Wextra -Werror
     -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer)
"${SAN[@]}" -fPIC -fvisibility=hidden -Icore -Ishim -shared -Wl,--version-script=shim/exports.map \
	-o $T/librec_asan.so "${LAYER[@]}" tests/shim/progs/core_rec.c -ldl -lpthread
"${SAN[@]}" -o $T/hk_prog_asan tests/shim/progs/hk_prog.c $T/librec_asan.so \
	-Wl,-rpath,"$PWD/$T" -ldl

for sc in basic peek partial vector errno errno-fail inetd-exit inetd-_exit dupfd sysclose \
	stale closerange nontcp ipv6 trunc trunc_big sendfile shutdown fork; do
	err=$T/asan_$sc.err rc=0
	timeout 60 env PROMSHIM_TEST_LOG="$LOG.raw" PROMSHIM_TEST_FAMILY_FD=900 \
		ASAN_OPTIONS=detect_leaks=0 UBSAN_OPTIONS=print_stacktrace=1 \
		$T/hk_prog_asan $sc >"$OUT" 2>"$err" || rc=$?
	if [ $rc -ne 0 ] || grep -q -e 'Sanitizer' -e 'runtime error' "$err"; then
		echo "FAIL: $sc: exit $rc"; head -n 60 "$err"; exit 1
	fi
	grep -q ' E 1$' "$LOG.raw" || [ $sc = nontcp ] || { echo "FAIL: $sc: no connection ended"; exit 1; }
	rm -f "$LOG.raw"
done
echo "ok: 18 scenarios clean under ASan and UBSan"
