#!/usr/bin/env bash
# tests/shim/test_procstat.sh — builds and runs tests/shim/progs/procstat_test.c
# against shim/procstat.c, plainly and under AddressSanitizer and UBSan.
set -uo pipefail
cd "$(dirname "$0")/../.."
T=build/shimtest
mkdir -p $T
SRC=(tests/shim/progs/procstat_test.c shim/procstat.c shim/real.c)
gcc -std=gnu11 -Wall -Wextra -Werror -g -O2 -D_GNU_SOURCE -Icore -Ishim -o $T/procstat_test "${SRC[@]}" -ldl ||
	{ echo "FAIL: build"; exit 1; }
$T/procstat_test || exit 1
if command -v clang >/dev/null; then
	clang -std=gnu11 -Wall -Wextra -Werror -g -O1 -D_GNU_SOURCE -Icore -Ishim \
		-fsanitize=address,undefined -fno-sanitize-recover=all -o $T/procstat_test_asan "${SRC[@]}" -ldl ||
		{ echo "FAIL: sanitizer build"; exit 1; }
	ASAN_OPTIONS=detect_leaks=1 $T/procstat_test_asan || exit 1
fi
exit 0
