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

# Threads started by an earlier constructor keep making hooked calls for
# 300 ms while the shim's constructor publishes the real functions (the
# pointers go from the raw fallbacks to libc's under them): every result
# and errno stays right, and nothing waits on a lock. INIT between the two
# lines shows the constructor ran while they did.
gcc "${CFL[@]}" -fPIC -shared -o $T/libearly_threads.so tests/shim/progs/early_threads.c -lpthread
got=$(timeout 20 env PROMSHIM_TEST_SAY_INIT=1 LD_PRELOAD="$PWD/$T/librec.so $PWD/$T/libearly_threads.so" /bin/true 2>&1 | head -20 || true)
re=$'^EARLY-THREADS started\nINIT\nEARLY-THREADS ok ([0-9]+)$'
if ! [[ $got =~ $re ]]; then
	printf 'FAIL: threads racing the constructor: got:\n%s\n' "$got"; exit 1
fi
n=${BASH_REMATCH[1]}
[ "$n" -ge 1000 ] || { echo "FAIL: only $n calls were made while the constructor ran"; exit 1; }
echo "ok: $n hooked calls from 4 threads racing the constructor"
got=$(timeout 20 env LD_PRELOAD="$PWD/build/libpromshim.so $PWD/$T/libearly_threads.so" /bin/true 2>&1 | head -20 || true)
re=$'^EARLY-THREADS started\nEARLY-THREADS ok ([0-9]+)$'
if ! [[ $got =~ $re ]]; then
	printf 'FAIL: threads racing the whole library: got:\n%s\n' "$got"; exit 1
fi
echo "ok: ${BASH_REMATCH[1]} hooked calls racing the whole library's constructor"
