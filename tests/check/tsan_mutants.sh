#!/usr/bin/env bash
# tests/check/tsan_mutants.sh — proves that tests/shim/test_tsan.sh, which
# make test runs with the other tests/shim/*.sh, would fail on a race: its
# server (two threads per connection and a third making aliases, built with
# -fsanitize=thread, run with the same TSAN_OPTIONS) is run against copies
# of the library with one race planted each, and ThreadSanitizer must stop
# each with a data-race report in the planted file:
#  - layer: an unsynchronised counter bumped by every read and write hook
#    (shim/conn.c, the interposition layer with the recording core);
#  - library: the write side reads the request ring's head without acquire
#    (core/tracker.c, the whole library), so it can read a request slot the
#    read side is still filling.
. "$(dirname "$0")/../e2e/lib.sh"
e2e_init
command -v clang >/dev/null || skip "clang missing"
cd "$E2E_ROOT"
grep -q 'tests/shim/\*\.sh' scripts/run-tests || fail "scripts/run-tests no longer runs tests/shim/*.sh"
[ -f tests/shim/test_tsan.sh ] || fail "tests/shim/test_tsan.sh is gone"
grep -q 'io_sync=0' tests/shim/test_tsan.sh || fail "test_tsan.sh changed its TSAN_OPTIONS; update this test"

TS=(clang -std=gnu11 -g -O1 -fsanitize=thread -D_GNU_SOURCE -Wall -Wextra -Werror)
W=$E2E_WORK

# mutate SRC NAME FROM TO: a copy of SRC in $W/NAME/ with FROM replaced by TO
# (a fixed string that must occur); prints the copy's path.
mutate() {
	local src=$1 name=$2 from=$3 to=$4 out
	mkdir -p "$W/$name"
	out=$W/$name/$(basename "$src")
	python3 - "$src" "$out" "$from" "$to" <<'PY' || fail "$name: the mutation no longer applies to $src; update this test"
import sys
src, out, a, b = sys.argv[1:5]
t = open(src).read()
if a not in t:
    sys.exit(1)
open(out, "w").write(t.replace(a, b))
PY
	echo "$out"
}

# expect_race NAME LIB PLANTED_FILE [ENV...]: the server linked with LIB must
# be stopped by TSan with a data race involving PLANTED_FILE.
expect_race() {
	local name=$1 lib=$2 planted=$3 rc=0
	shift 3
	"${TS[@]}" -o "$W/srv_$name" tests/shim/progs/tsan_srv.c "$lib" -Wl,-rpath,"$(dirname "$lib")" -lpthread ||
		fail "$name: cannot build the server"
	timeout 120 env "$@" TSAN_OPTIONS="halt_on_error=1 exitcode=66 io_sync=0" \
		"$W/srv_$name" >"$W/$name.out" 2>"$W/$name.err" || rc=$?
	if [ $rc -ne 66 ] || ! grep -q 'WARNING: ThreadSanitizer: data race' "$W/$name.err"; then
		head -n 40 "$W/$name.err" >&2
		fail "$name: the planted race went unreported (exit $rc)"
	fi
	grep -q "$planted" "$W/$name.err" || { head -n 40 "$W/$name.err" >&2; fail "$name: the race reported is not the planted one"; }
	log "$name: planted race in $planted reported: $(grep -m1 -A2 'WARNING: ThreadSanitizer' "$W/$name.err" | tail -n 2 | tr -s ' \n' ' ')"
}

# 1. The interposition layer with the recording core, as test_tsan.sh builds it.
LAYER=(shim/real.c shim/fdtable.c shim/conn.c shim/hooks_io.c shim/hooks_fd.c)
m=$(mutate shim/conn.c layer 'static inline void conn_touch(struct shim_conn *c)
{' 'static unsigned long conn_race_probe;
static inline void conn_touch(struct shim_conn *c)
{
	conn_race_probe++;') || exit 1
src=()
for f in "${LAYER[@]}"; do [ "$f" = shim/conn.c ] && src+=("$m") || src+=("$f"); done
"${TS[@]}" -fPIC -fvisibility=hidden -Icore -Ishim -shared -Wl,--version-script=shim/exports.map \
	-o "$W/layer/librec_tsan.so" "${src[@]}" tests/shim/progs/core_rec.c -ldl -lpthread ||
	fail "layer: cannot build the mutant"
expect_race layer "$W/layer/librec_tsan.so" conn.c PROMSHIM_TEST_LOG="$W/layer.log"

# 2. The whole library, as make builds it, with the tracker's ring unordered.
m=$(mutate core/tracker.c library 'atomic_load_explicit(&c->rd.head, memory_order_acquire)' \
	'atomic_load_explicit(&c->rd.head, memory_order_relaxed)') || exit 1
src=()
for f in core/*.c shim/*.c; do [ "$f" = core/tracker.c ] && src+=("$m") || src+=("$f"); done
"${TS[@]}" -fPIC -fvisibility=hidden -fno-plt -Icore -Ishim -shared -Wl,--version-script=shim/exports.map \
	-Wl,-z,now -o "$W/library/libpromshim.so" "${src[@]}" -ldl -lpthread -lz ||
	fail "library: cannot build the mutant"
expect_race library "$W/library/libpromshim.so" tracker.c PROMSHIM_LISTEN=off
log "ok"
