# tests/check/common.bash — what the continuous-checking scripts share on
# top of tests/faults/common.bash (itself on tests/e2e/lib.sh): the
# AddressSanitizer+UBSan build of the library preloaded into uninstrumented
# servers, sanitizer reports collected as files (nginx workers have no
# stderr), and a canary proving that such a report would be seen.
# Sourced, never run (the .bash name keeps it out of the tests/check/*.sh list).

. "$(dirname "${BASH_SOURCE[0]}")/../faults/common.bash"

CHECK_DIR=$E2E_ROOT/tests/check
SAN_FLAGS="-fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer"

# asan_setup: builds the sanitizer library and points the e2e helpers at
# it. The host is not built with ASan, so the ASan runtime (which carries
# UBSan's) must be the first library loaded: it comes first in LD_PRELOAD.
# Leak detection is off: the leaks it would find at exit are the hosts'
# own (Python frees little at exit); valgrind_nginx.sh looks for ours.
# The compiler is clang 18 or later: an older ASan runtime takes no
# allocator lock around fork, so a forking server (nginx starting its
# workers while the shim's thread allocates) leaves children hung in malloc.
asan_setup() {
	local cc
	for cc in clang-19 clang-18 clang; do
		command -v $cc >/dev/null || continue
		[ "$($cc -dumpversion | cut -d. -f1)" -ge 18 ] && { ASAN_CC=$cc; break; }
	done
	[ -n "${ASAN_CC:-}" ] || skip "no clang >= 18 (ASan before LLVM 18 deadlocks forked children of threaded parents)"
	ASAN_RT=$($ASAN_CC -print-file-name=libclang_rt.asan-x86_64.so)
	[ -f "$ASAN_RT" ] || skip "no ASan runtime for $ASAN_CC ($ASAN_RT)"
	ASAN_LIB=$E2E_ROOT/build/asan-check/libpromshim.so
	make -s -C "$E2E_ROOT" B=build/asan-check CC="$ASAN_CC" OPT=-O1 SAN="$SAN_FLAGS" \
		build/asan-check/libpromshim.so >&2 || fail "the ASan+UBSan library does not build"
	[[ $(nm -D "$ASAN_LIB") == *" U __asan_init"* ]] || fail "$ASAN_LIB is not instrumented"
	SHIM_LIB="$ASAN_RT $ASAN_LIB"
	# lib.sh tests SHIM_LIB as one file; here it is two.
	need_shim() { [ -f "$ASAN_LIB" ] || skip "$ASAN_LIB is not built"; }
	# Workers run as nobody or www-data and must be able to write reports.
	SAN_DIR=$E2E_WORK/san
	mkdir -p "$SAN_DIR"
	chmod 1777 "$SAN_DIR"
	# symbolize=0: the symbolizer the runtime would start inherits
	# LD_PRELOAD and refuses to run; reports are symbolized here instead.
	export ASAN_OPTIONS="detect_leaks=0:halt_on_error=1:symbolize=0:log_path=$SAN_DIR/asan:log_exe_name=1"
	export UBSAN_OPTIONS="halt_on_error=1:print_stacktrace=1:symbolize=0:log_path=$SAN_DIR/ubsan:log_exe_name=1"
	log "$ASAN_CC $($ASAN_CC -dumpversion): $ASAN_RT $ASAN_LIB"
	asan_canary
}

# asan_canary: an instrumented library preloaded the same way into an
# uninstrumented program running as nobody with stderr closed makes a heap
# overflow, then a signed overflow; both reports must land in SAN_DIR.
# Without this, a report lost to a wrong log_path would pass every check.
asan_canary() {
	local so=$E2E_WORK/canary.so kind want
	cat >"$E2E_WORK/canary.c" <<'C'
#include <limits.h>
#include <stdlib.h>
#include <string.h>
__attribute__((constructor)) static void canary(void)
{
	const char *k = getenv("CHECK_CANARY");
	if (k && !strcmp(k, "heap")) {
		char *volatile p = malloc(8);
		p[8] = 1;
		free(p);
	} else if (k && !strcmp(k, "ub")) {
		volatile int i = INT_MAX;
		i = i + 1;
	}
}
C
	# shellcheck disable=SC2086
	"$ASAN_CC" -shared -fPIC -g $SAN_FLAGS -o "$so" "$E2E_WORK/canary.c" || fail "cannot build the canary"
	chmod 755 "$so"
	for kind in heap ub; do
		setpriv --reuid=nobody --regid=nogroup --clear-groups \
			env LD_PRELOAD="$ASAN_RT $so" CHECK_CANARY=$kind /bin/true 2>/dev/null &&
			fail "canary $kind: the instrumented code did not stop the program"
		case $kind in heap) want=heap-buffer-overflow ;; ub) want="runtime error: signed integer overflow" ;; esac
		grep -qs "$want" "$SAN_DIR"/* || fail "canary $kind: no report with '$want' in $SAN_DIR"
		rm -f "$SAN_DIR"/*
	done
	log "canary: heap and UB reports from a process without stderr reach $SAN_DIR"
}

# asan_loaded PID...: each process has the sanitizer build mapped (a wrong
# LD_PRELOAD would otherwise test the plain library, or nothing).
asan_loaded() {
	local p
	for p in "$@"; do
		grep -q " $ASAN_LIB\$" "/proc/$p/maps" || fail "pid $p does not run $ASAN_LIB"
		grep -q "/libclang_rt.asan-x86_64.so\$" "/proc/$p/maps" || fail "pid $p has no ASan runtime"
	done
}

# san_clean WHAT: fails when any sanitizer report was written.
san_clean() {
	local f n
	n=$(find "$SAN_DIR" -type f | wc -l)
	[ "$n" = 0 ] && { log "$1: no sanitizer report"; return 0; }
	for f in "$SAN_DIR"/*; do
		echo "--- $f" >&2
		san_symbolize <"$f" | head -n 80 >&2
	done
	fail "$1: $n sanitizer report(s)"
}

# san_symbolize: a report with frames "#N 0xPC (MODULE+0xOFF)" on stdin,
# the same with function and line after each such frame.
san_symbolize() {
	local sym ln obj off
	sym=$(command -v llvm-symbolizer-19 llvm-symbolizer-18 llvm-symbolizer-14 llvm-symbolizer addr2line | head -n 1)
	while IFS= read -r ln; do
		echo "$ln"
		[[ $ln =~ \(([^()+]+)\+(0x[0-9a-f]+)\) ]] || continue
		obj=${BASH_REMATCH[1]} off=${BASH_REMATCH[2]}
		[ -n "$sym" ] && [ -f "$obj" ] || continue
		case $sym in
		*addr2line) "$sym" -f -i -C -e "$obj" "$off" ;;
		*) "$sym" --obj="$obj" "$off" ;;
		esac 2>/dev/null | paste -sd' ' | sed 's/^/        /'
	done
}

# hostile_pair NAME START STOP [PROXY_PORT]: the hostile cases of
# tests/faults/faults.py against the server START starts (START bare|shim;
# it sets SERVER_PID and waits for PORT), bare then shimmed. Required here:
# the server survives, every response is byte-identical to the bare
# server's, the gauges are back to 0 after each case, each scrape passes
# promtool, and no sanitizer report (san_clean). Labels and counts per case
# are tests/faults/hostile.sh's to judge (with its list of known bugs):
# its verdict on this run is printed, not enforced.
hostile_pair() {
	local name=$1 start=$2 stop=$3 pp=() mode mp d
	[ -n "${4:-}" ] && pp=(--proxy-port "$4")
	for mode in bare shim; do
		d=$E2E_WORK/hostile-$name-$mode
		mkdir -p "$d/scrapes"
		mp=()
		[ $mode = shim ] && mp=(--mport "$MPORT" --save-dir "$d/scrapes")
		"$start" $mode
		[ $mode = shim ] && wait_for 10 "/metrics on $MPORT" port_open "$MPORT"
		"${FP[@]}" hostile "$PORT" "$d.json" "${pp[@]}" "${mp[@]}" >"$d.out" 2>&1 ||
			{ cat "$d.out" >&2; fail "$name $mode: a hostile case failed to run"; }
		pid_alive "$SERVER_PID" || fail "$name $mode died on hostile input"
		"$stop"
		wait_for 10 "port $PORT to close" port_closed "$PORT"
	done
	for f in "$E2E_WORK/hostile-$name-shim/scrapes"/*.txt; do promtool_ok "$f"; done
	python3 - "$E2E_WORK/hostile-$name-bare.json" "$E2E_WORK/hostile-$name-shim.json" <<'PY' ||
import json, sys
bare, shim = (json.load(open(p)) for p in sys.argv[1:3])
errs = []
if [c["name"] for c in bare] != [c["name"] for c in shim]:
    errs.append("cases differ: bare %d, shim %d" % (len(bare), len(shim)))
for b, s in zip(bare, shim):
    if b["out"] != s["out"]:
        errs.append("%s: the response differs from the bare server's: %r... vs %r..."
                    % (s["name"], b["out"][0][:120], s["out"][0][:120]))
    if s["quiet"] != [0, 0]:
        errs.append("%s: in flight / open connections %r after the case, not 0" % (s["name"], s["quiet"]))
if errs:
    sys.exit("\n  ".join(["hostile input:"] + errs))
print("%d hostile cases: responses identical, gauges back to 0" % len(shim))
PY
		fail "$name: hostile input under the sanitizers"
	"${FP[@]}" hcompare "$E2E_WORK/hostile-$name-bare.json" "$E2E_WORK/hostile-$name-shim.json" \
		>"$E2E_WORK/hostile-$name.cmp" 2>&1
	log "$name: labels and counts per case, as tests/faults/hostile.sh would judge them (rc $?, not enforced here):"
	sed 's/^/    /' "$E2E_WORK/hostile-$name.cmp" >&2
}
