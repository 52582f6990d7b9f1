#!/usr/bin/env bash
# tests/shim/test_early.sh — hooked calls made before the shim's
# constructor ran (another preloaded library's constructor, an allocator's
# start-up) work through raw system calls: right results, right errno, no
# dlsym. The early library comes after the shim in LD_PRELOAD, so its
# constructor runs first; the order of the two lines proves it.
source "$(dirname "$0")/progs/common.sh"
gcc "${CFL[@]}" -fPIC -shared -o $T/libearly.so tests/shim/progs/early.c
got=$(timeout 20 env PROMSHIM_TEST_SAY_INIT=1 LD_PRELOAD="$PWD/$T/librec.so $PWD/$T/libearly.so" /bin/true)
want=$'EARLY ok\nINIT'
if [ "$got" != "$want" ]; then
	printf 'FAIL: got:\n%s\nwant:\n%s\n' "$got" "$want"; exit 1
fi
echo "ok: calls before the constructor work"

# The same with the whole library: its constructor, family and exporter
# hooks must be just as safe before they are set up.
make -s build/libpromshim.so >&2
got=$(timeout 20 env LD_PRELOAD="$PWD/build/libpromshim.so $PWD/$T/libearly.so" /bin/true)
[ "$got" = "EARLY ok" ] || { printf 'FAIL: whole library: got:\n%s\n' "$got"; exit 1; }
echo "ok: the same before the whole library's constructor"
