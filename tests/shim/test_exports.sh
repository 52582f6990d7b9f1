#!/usr/bin/env bash
# tests/shim/test_exports.sh — libpromshim.so exports exactly the hooked
# libc entry points, nothing of core/ or of the shim's own helpers.
set -euo pipefail
cd "$(dirname "$0")/../.."
lib=build/libpromshim.so
make -s $lib >&2
want="_Exit _exit __poll_chk __ppoll_chk __read_chk __recv_chk __recvfrom_chk accept accept4
bind clock_nanosleep close close_range closefrom dup dup2 dup3 epoll_create epoll_create1
epoll_pwait epoll_pwait2 epoll_wait fcntl fcntl64 listen nanosleep pause poll ppoll pselect
read readv recv recvfrom recvmmsg recvmsg select send sendfile sendfile64 sendmmsg sendmsg
sendto shutdown sigsuspend sigtimedwait sigwait sigwaitinfo sleep splice syscall usleep wait
wait3 wait4 waitid waitpid write writev"
got=$(nm -D --defined-only $lib | awk '{print $3}' | sed 's/@.*//' | sort)
want=$(echo $want | tr ' ' '\n' | sort)
if [ "$got" != "$want" ]; then
	echo "exports differ (- wanted, + exported):"
	diff <(echo "$want") <(echo "$got") || true
	exit 1
fi
# Each export is a function defined here (T), not a data symbol or alias.
bad=$(nm -D --defined-only $lib | awk '$2 != "T"' || true)
[ -z "$bad" ] || { echo "non-function exports: $bad"; exit 1; }
echo "ok: $(echo "$got" | wc -l) exports, all hooks"
