#!/usr/bin/env bash
# tests/shim/test_install.sh — `make install` puts the library, the checker
# and a launcher that finds them under PREFIX; the installed launcher runs a
# server under the shim and /metrics counts its one request.
set -euo pipefail
cd "$(dirname "$0")/../.."
dest=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$dest"; }
trap cleanup EXIT
fail() { echo "test_install: FAIL: $*"; exit 1; }
port() { python3 -c 'import socket;s=socket.socket();s.bind(("127.0.0.1",0));print(s.getsockname()[1])'; }

make -s install DESTDIR="$dest" PREFIX=/opt/promshim >/dev/null
root=$dest/opt/promshim
for f in lib/promshim/libpromshim.so lib/promshim/promshim-check bin/promshim; do
	[ -x "$root/$f" ] || fail "$f not installed"
done
grep -qx 'PROMSHIM_LIB_DEFAULT=/opt/promshim/lib/promshim/libpromshim.so' "$root/bin/promshim" ||
	fail "launcher does not name the installed library"

# The installed launcher, pointed at the staged tree with --lib.
lib=$root/lib/promshim/libpromshim.so
out=$("$root/bin/promshim" --lib "$lib" --check -- /bin/sh 2>&1) || fail "--check: $out"

sp=$(port); mp=$(port)
www=$(mktemp -d -p "$dest"); echo hello >"$www/index.html"
"$root/bin/promshim" --lib "$lib" --listen "127.0.0.1:$mp" --log error -- \
	/usr/bin/python3 -m http.server --bind 127.0.0.1 --directory "$www" "$sp" >/dev/null 2>&1 &
pids+=($!)
for _ in $(seq 100); do curl -sf "http://127.0.0.1:$sp/index.html" >/dev/null && break; sleep 0.1; done
got=""
for _ in $(seq 50); do
	got=$(curl -s "http://127.0.0.1:$mp/metrics" | grep -E '^http_requests_total\{method="GET",route="/index.html",status_code="200"\}' || true)
	[ -n "$got" ] && break
	sleep 0.1
done
[ "${got##* }" = 1 ] || fail "expected one GET /index.html 200, scraped '${got}'"
echo "test_install: ok"
