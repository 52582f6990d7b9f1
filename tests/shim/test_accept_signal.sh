#!/usr/bin/env bash
# tests/shim/test_accept_signal.sh — a signal handler that closes the
# listener runs as accept/accept4 returns a connection (Apache prefork's
# graceful restart: the kernel runs the SIGUSR1 handler, which closes the
# listeners, before the caller sees the new fd). The connection is still
# tracked and its exchange handed to core: the hook must not look the
# listener up again after the real call.
source "$(dirname "$0")/progs/common.sh"

if stale $T/libsigbelow.so tests/shim/progs/sig_below.c; then
	gcc "${CFL[@]}" -fPIC -shared -o $T/libsigbelow.so tests/shim/progs/sig_below.c -ldl
fi
if stale $T/sig_srv tests/shim/progs/sig_srv.c; then
	gcc "${CFL[@]}" -o $T/sig_srv tests/shim/progs/sig_srv.c
fi

# The shim first: its dlsym(RTLD_NEXT) finds sig_below's accept.
: >"$LOG"
rc=0
timeout 20 env PROMSHIM_TEST_LOG="$LOG.raw" SIG_BELOW_SIGNAL="$(kill -l USR1)" \
	LD_PRELOAD="$PWD/$T/librec.so $PWD/$T/libsigbelow.so" $T/sig_srv accept accept4 >"$OUT" || rc=$?
[ $rc -eq 0 ] || { echo "FAIL: sig_srv exited $rc"; cat "$OUT"; exit 1; }
cut -d' ' -f2- "$LOG.raw" | grep -v -e '^BINDS' -e '^LISTENING' -e '^CLOSING' >"$LOG" || true
expect_log "listener closed by a handler as accept and accept4 return" <<'X'
I 1
ACCEPTED
CONNS +1
R 1 28 GET /a HTTP/1.1\r\nHost: x\r\n\r\n
W 1 40 HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok
E 1
CONNS -1
I 2
ACCEPTED
CONNS +1
R 2 28 GET /a HTTP/1.1\r\nHost: x\r\n\r\n
W 2 40 HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok
E 2
CONNS -1
X

# Again with the layer, the driver and the library below built with
# AddressSanitizer and UBSan (the driver links the layer before the library
# below, so the lookup order is the same as under LD_PRELOAD).
command -v clang >/dev/null || { echo "clang missing: sanitizer pass skipped"; exit 0; }
SAN=(clang -std=gnu11 -g -O1 -D_GNU_SOURCE -Wall -Wextra -Werror
     -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer)
if stale $T/librec_sig_asan.so "${LAYER[@]}" tests/shim/progs/core_rec.c shim/exports.map; then
	"${SAN[@]}" -fPIC -fvisibility=hidden -Icore -Ishim -shared -Wl,--version-script=shim/exports.map \
		-o $T/librec_sig_asan.so "${LAYER[@]}" tests/shim/progs/core_rec.c -ldl -lpthread
fi
"${SAN[@]}" -fPIC -shared -o $T/libsigbelow_asan.so tests/shim/progs/sig_below.c -ldl
"${SAN[@]}" -o $T/sig_srv_asan tests/shim/progs/sig_srv.c $T/librec_sig_asan.so $T/libsigbelow_asan.so \
	-Wl,-rpath,"$PWD/$T" -Wl,--no-as-needed
rm -f "$LOG.raw"
rc=0
timeout 60 env PROMSHIM_TEST_LOG="$LOG.raw" SIG_BELOW_SIGNAL="$(kill -l USR1)" \
	ASAN_OPTIONS=detect_leaks=0 UBSAN_OPTIONS=print_stacktrace=1 \
	$T/sig_srv_asan accept accept4 >"$OUT" 2>"$T/sig_srv_asan.err" || rc=$?
if [ $rc -ne 0 ] || grep -q -e 'Sanitizer' -e 'runtime error' "$T/sig_srv_asan.err"; then
	echo "FAIL: sig_srv under ASan/UBSan: exit $rc"; head -n 60 "$T/sig_srv_asan.err"; exit 1
fi
cut -d' ' -f2- "$LOG.raw" | grep -v -e '^BINDS' -e '^LISTENING' -e '^CLOSING' >"$LOG" || true
expect_log "the same under ASan and UBSan" <<'X'
I 1
ACCEPTED
CONNS +1
R 1 28 GET /a HTTP/1.1\r\nHost: x\r\n\r\n
W 1 40 HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok
E 1
CONNS -1
I 2
ACCEPTED
CONNS +1
R 2 28 GET /a HTTP/1.1\r\nHost: x\r\n\r\n
W 2 40 HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok
E 2
CONNS -1
X
