#!/usr/bin/env bash
# tests/shim/test_launcher.sh — the promshim launcher: --check on good and
# bad configurations (exit 2, the line naming the variable), --check -- CMD
# on static, Go, setuid, setgid, file-capability and dynamic programs and on
# scripts, and the run mode (LD_PRELOAD, options, exit status). The run mode
# preloads a stand-in library, so only the launcher itself is under test.
# Exit 0 pass, 1 fail, 77 skip.
set -uo pipefail
cd "$(dirname "$0")/../.." || exit 1
repo=$PWD

command -v gcc >/dev/null || { echo "skip: gcc missing"; exit 77; }
make -s build/promshim-check >&2 || { echo "FAIL: cannot build build/promshim-check"; exit 1; }

T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
chmod 755 "$T"

for v in $(compgen -e); do
	case $v in PROMSHIM_*) unset "$v" ;; esac
done
unset LD_PRELOAD

fails=0 passes=0
ok() { passes=$((passes + 1)); }
bad() { echo "FAIL: $*"; fails=$((fails + 1)); }

# launch ARGS...: runs the launcher with a deadline, with the variables in
# ENVV added to the environment; sets rc, out, err.
ENVV=()
launch() {
	env "${ENVV[@]}" timeout -k 2 20 "$repo/scripts/promshim" "$@" >"$T/out" 2>"$T/err"
	rc=$?
	out=$(cat "$T/out")
	err=$(cat "$T/err")
}

# expect RC LINE ARGS...: the launcher exits RC and prints exactly LINE
# (one whole line, on stdout or stderr).
expect() {
	local want_rc=$1 line=$2
	shift 2
	launch "$@"
	if [ "$rc" != "$want_rc" ]; then
		bad "promshim $* (with ${ENVV[*]}): exit $rc, want $want_rc; stdout: $out; stderr: $err"
	elif ! cat "$T/out" "$T/err" | grep -qxF -- "$line"; then
		bad "promshim $*: no line '$line'; stdout: $out; stderr: $err"
	else
		ok
	fi
}

# A stand-in library: its constructor says it was loaded.
cat >"$T/fake.c" <<'EOF'
#include <stdlib.h>
#include <unistd.h>
__attribute__((constructor)) static void fake_loaded(void)
{
	if (getenv("FAKE_LIB_MARK"))
		(void)!write(2, "fake library loaded\n", 20);
}
EOF
gcc -shared -fPIC -o "$T/fake.so" "$T/fake.c" && gcc -shared -fPIC -o "$T/other.so" "$T/fake.c" ||
	{ echo "FAIL: cannot build the stand-in library"; exit 1; }
LIB=(--lib "$T/fake.so")

# ---- help and usage ----
launch --help
[ $rc = 0 ] && grep -q '^usage: promshim' "$T/out" && ok || bad "--help: exit $rc, out: $out"
launch
[ $rc = 2 ] && grep -q '^usage: promshim' "$T/err" && ok || bad "no arguments: exit $rc, want 2 and usage"
expect 2 "promshim: unknown option '--frobnicate' (see --help)" --frobnicate -- true
expect 2 "promshim: option --listen needs a value (see --help)" --listen

# ---- configuration ----
expect 0 "promshim: configuration OK" "${LIB[@]}" --check

# check_env LINE VAR=VALUE...: --check under these variables exits 2 with LINE.
check_env() {
	local line=$1
	shift
	ENVV=("$@")
	expect 2 "$line" "${LIB[@]}" --check
	ENVV=()
}

# with VAR=VALUE... -- FUNCTION ARGS...: runs FUNCTION with ENVV set.
with() {
	ENVV=()
	while [ "$1" != -- ]; do ENVV+=("$1"); shift; done
	shift
	"$@"
	ENVV=()
}

check_env "promshim: PROMSHIM_LISTEN: bad address '1.2.3:80' (want IPv4:port, [IPv6]:port, :port or off)" \
	PROMSHIM_LISTEN=1.2.3:80
check_env "promshim: PROMSHIM_LISTEN: bad port '70000' in '127.0.0.1:70000' (want 1..65535)" \
	PROMSHIM_LISTEN=127.0.0.1:70000
check_env "promshim: PROMSHIM_ROUTES: cannot read $T/nope: No such file or directory" \
	PROMSHIM_ROUTES=@$T/nope
check_env "promshim: PROMSHIM_EXCLUDE: '@' needs a file name" PROMSHIM_EXCLUDE=@
check_env "promshim: PROMSHIM_HEURISTIC: bad value 'maybe' (want on or off)" PROMSHIM_HEURISTIC=maybe
check_env "promshim: PROMSHIM_COLLAPSE_AFTER: bad value '0' (want an integer from 1 to 1000000)" \
	PROMSHIM_COLLAPSE_AFTER=0
check_env "promshim: PROMSHIM_MAX_SERIES: bad value '2000000' (want an integer from 1 to 1000000)" \
	PROMSHIM_MAX_SERIES=2000000
check_env "promshim: PROMSHIM_BUCKETS: bounds must increase ('0.5' follows '1')" PROMSHIM_BUCKETS=1,0.5
check_env "promshim: PROMSHIM_BUCKETS: bad bound '1s' (want a positive number of seconds)" PROMSHIM_BUCKETS=.5,1s
check_env "promshim: PROMSHIM_LABELS: label name 'route' is reserved (promshim sets it)" PROMSHIM_LABELS=route=x
check_env "promshim: PROMSHIM_PORTS: bad port '0' (want 1..65535)" PROMSHIM_PORTS=80,0
check_env "promshim: PROMSHIM_NAMING: bad value 'statsd' (want prometheus or otel)" PROMSHIM_NAMING=statsd
check_env "promshim: PROMSHIM_LOG: bad value 'loud' (want off, error, warn, info or debug)" PROMSHIM_LOG=loud

# A bad template: the line names the variable; route.c words the rest.
with 'PROMSHIM_ROUTES=/users/{id' -- launch "${LIB[@]}" --check
[ $rc = 2 ] && grep -q '^promshim: PROMSHIM_ROUTES: .' "$T/err" && ok || bad "bad template: exit $rc, stderr: $err"

# Options set the variables --check reads.
expect 2 "promshim: PROMSHIM_LISTEN: bad address 'nowhere' (want IPv4:port, [IPv6]:port, :port or off)" \
	"${LIB[@]}" --listen nowhere --check
expect 2 "promshim: PROMSHIM_MAX_SERIES: bad value 'x' (want an integer from 1 to 1000000)" \
	"${LIB[@]}" --max-series=x --check
expect 2 "promshim: PROMSHIM_LOG: bad value 'all' (want off, error, warn, info or debug)" "${LIB[@]}" --check --log all
expect 0 "promshim: configuration OK" "${LIB[@]}" --listen '[::1]:9100' --routes '/u/{id}' --exclude /healthz \
	--labels service=api --ports 80,8080 --max-series 10 --naming otel --log debug --check

# Files named by the configuration, read as the library reads them.
printf '/users/{id}\n# comment\n/orders/{order}/items\n' >"$T/routes"
with PROMSHIM_ROUTES=@$T/routes -- expect 0 "promshim: configuration OK" "${LIB[@]}" --check

printf 'basic alice %s\nbearer 0123456789abcdef-token\n' \
	'$2y$05$Jft9c12Du5/37NTMuQab4eRlJDkTHyQi/2DRhoXVsyZl86Nt0QMPm' >"$T/auth"
chmod 640 "$T/auth"
check_env "promshim: PROMSHIM_AUTH_FILE: $T/auth is readable by group or others (chmod 600)" \
	PROMSHIM_AUTH_FILE=$T/auth
chmod 600 "$T/auth"
with PROMSHIM_AUTH_FILE=$T/auth -- expect 0 "promshim: configuration OK" "${LIB[@]}" --check
printf 'basic bob plaintext-password\n' >"$T/auth2"
chmod 600 "$T/auth2"
check_env "promshim: PROMSHIM_AUTH_FILE: $T/auth2 line 1: password of 'bob' is not a crypt(3) hash (want bcrypt, yescrypt, sha512crypt or sha256crypt)" \
	PROMSHIM_AUTH_FILE=$T/auth2
grep -q plaintext-password "$T/err" && bad "the auth file's secret reached the error line"

printf -- '-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n' >"$T/cert.pem"
printf -- '-----BEGIN PRIVATE KEY-----\nMIIE\n-----END PRIVATE KEY-----\n' >"$T/key.pem"
chmod 644 "$T/cert.pem" "$T/key.pem"
check_env "promshim: PROMSHIM_TLS_KEY: not set, but PROMSHIM_TLS_CERT is (set both or neither)" \
	PROMSHIM_TLS_CERT=$T/cert.pem
check_env "promshim: PROMSHIM_TLS_CERT: not set, but PROMSHIM_TLS_KEY is (set both or neither)" \
	PROMSHIM_TLS_KEY=$T/key.pem
check_env "promshim: PROMSHIM_TLS_KEY: $T/key.pem is readable by group or others (chmod 600)" \
	PROMSHIM_TLS_CERT=$T/cert.pem PROMSHIM_TLS_KEY=$T/key.pem
chmod 600 "$T/key.pem"
with PROMSHIM_TLS_CERT=$T/cert.pem PROMSHIM_TLS_KEY=$T/key.pem -- \
	expect 0 "promshim: configuration OK" "${LIB[@]}" --check

expect 2 "promshim: library not found: $T/none.so (build it with make)" --lib "$T/none.so" --check

# ---- programs ----
printf 'int main(void) { return 0; }\n' >"$T/main.c"
gcc -o "$T/dynamic" "$T/main.c" || { echo "FAIL: gcc"; exit 1; }
expect 0 "promshim: $T/dynamic can be instrumented" "${LIB[@]}" --check -- "$T/dynamic"
expect 0 "promshim: $(type -P sh) can be instrumented" "${LIB[@]}" --check -- sh

if gcc -static -o "$T/static" "$T/main.c" 2>/dev/null; then
	expect 2 "promshim: $T/static is statically linked: LD_PRELOAD cannot instrument it" \
		"${LIB[@]}" --check -- "$T/static"
	gcc -static-pie -o "$T/static-pie" "$T/main.c" 2>/dev/null &&
		expect 2 "promshim: $T/static-pie is statically linked: LD_PRELOAD cannot instrument it" \
			"${LIB[@]}" --check -- "$T/static-pie"
	printf '#!%s -x\n' "$T/static" >"$T/script-static"
	chmod 755 "$T/script-static"
	expect 2 "promshim: $T/static (interpreter of $T/script-static) is statically linked: LD_PRELOAD cannot instrument it" \
		"${LIB[@]}" --check -- "$T/script-static"
else
	bad "gcc -static failed (libc6-dev provides libc.a)"
fi

cat >"$T/go.c" <<'EOF'
__attribute__((section(".go.buildinfo"), used)) static const char buildinfo[32] = "\xff Go buildinf:";
int main(void) { return 0; }
EOF
gcc -o "$T/fakego" "$T/go.c" || { echo "FAIL: gcc"; exit 1; }
expect 2 "promshim: $T/fakego is a Go program: Go makes its socket calls without libc, so LD_PRELOAD cannot instrument it" \
	"${LIB[@]}" --check -- "$T/fakego"

cp "$T/dynamic" "$T/suid" && chmod 4755 "$T/suid"
expect 2 "promshim: $T/suid is setuid: the loader ignores LD_PRELOAD for it (secure-execution mode)" \
	"${LIB[@]}" --check -- "$T/suid"
cp "$T/dynamic" "$T/sgid" && chmod 2755 "$T/sgid"
expect 2 "promshim: $T/sgid is setgid: the loader ignores LD_PRELOAD for it (secure-execution mode)" \
	"${LIB[@]}" --check -- "$T/sgid"

cp "$T/dynamic" "$T/capped"
if command -v setcap >/dev/null && setcap cap_net_bind_service+ep "$T/capped" 2>/dev/null; then
	expect 2 "promshim: $T/capped has file capabilities: the loader ignores LD_PRELOAD for it (secure-execution mode)" \
		"${LIB[@]}" --check -- "$T/capped"
else
	echo "note: setcap unavailable or refused here; file-capability case not run"
fi

printf '#!/usr/bin/env sh\necho hi\n' >"$T/script-env"
chmod 755 "$T/script-env"
expect 0 "promshim: $T/script-env can be instrumented" "${LIB[@]}" --check -- "$T/script-env"
printf '#!/usr/bin/env no-such-interpreter-here\n' >"$T/script-missing"
chmod 755 "$T/script-missing"
expect 2 "promshim: $T/script-missing runs 'no-such-interpreter-here' through env, which is not in PATH" \
	"${LIB[@]}" --check -- "$T/script-missing"
expect 2 "promshim: no-such-command-here: command not found" "${LIB[@]}" --check -- no-such-command-here

# Configuration and program problems are both reported, exit 2.
with PROMSHIM_LOG=loud -- launch "${LIB[@]}" --check -- "$T/suid"
[ $rc = 2 ] && grep -qF "PROMSHIM_LOG: bad value" "$T/err" && grep -qF "$T/suid is setuid" "$T/err" && ok ||
	bad "config and program problems together: exit $rc, stderr: $err"

# ---- running a command ----
launch "${LIB[@]}" -- sh -c 'echo "$LD_PRELOAD"'
[ $rc = 0 ] && [ "$out" = "$T/fake.so" ] && ok || bad "LD_PRELOAD: exit $rc, got '$out', want '$T/fake.so'"

with FAKE_LIB_MARK=1 -- launch "${LIB[@]}" -- sh -c 'exit 0'
[ $rc = 0 ] && grep -qx "fake library loaded" "$T/err" && ok || bad "the library was not loaded into the command"

with LD_PRELOAD=$T/other.so -- launch "${LIB[@]}" -- sh -c 'echo "$LD_PRELOAD"'
[ $rc = 0 ] && [ "$out" = "$T/fake.so $T/other.so" ] && ok || bad "prepend to LD_PRELOAD: got '$out'"
with LD_PRELOAD=$T/fake.so -- launch "${LIB[@]}" -- sh -c 'echo "$LD_PRELOAD"'
[ "$out" = "$T/fake.so" ] && ok || bad "library preloaded twice: '$out'"

launch "${LIB[@]}" --listen off --labels service=api --routes '/a/{x},/b' --log=debug -- \
	sh -c 'echo "$PROMSHIM_LISTEN|$PROMSHIM_LABELS|$PROMSHIM_ROUTES|$PROMSHIM_LOG"'
[ "$out" = "off|service=api|/a/{x},/b|debug" ] && ok || bad "options to variables: '$out'"

launch "${LIB[@]}" -- sh -c 'printf "%s|" "$@"; exit 7' sh 'a b' '' '--check'
[ $rc = 7 ] && [ "$out" = "a b||--check|" ] && ok || bad "arguments and exit status: rc $rc, '$out'"

launch "${LIB[@]}" printf '%s\n' no-dashes
[ $rc = 0 ] && [ "$out" = "no-dashes" ] && ok || bad "command without --: rc $rc, '$out'"

expect 2 "promshim: library not found: $T/none.so (build it with make)" --lib "$T/none.so" -- true

if [ -x "$T/static" ]; then
	launch "${LIB[@]}" -- "$T/static"
	[ $rc = 0 ] && grep -qxF "promshim: $T/static is statically linked: LD_PRELOAD cannot instrument it" "$T/err" &&
		grep -qxF "promshim: running it without instrumentation" "$T/err" && ok ||
		bad "static program in run mode: rc $rc, stderr: $err"
fi

# Default library: build/libpromshim.so of the launcher's own tree, as an
# absolute path; `make install` rewrites PROMSHIM_LIB_DEFAULT instead.
mkdir -p "$T/tree/scripts" "$T/tree/build"
cp scripts/promshim "$T/tree/scripts/"
cp "$T/fake.so" "$T/tree/build/libpromshim.so"
out=$(cd "$T" && timeout 20 tree/scripts/promshim -- sh -c 'echo "$LD_PRELOAD"')
[ "$out" = "$T/tree/build/libpromshim.so" ] && ok || bad "default library: '$out'"
[ "$(grep -c '^PROMSHIM_LIB_DEFAULT=' scripts/promshim)" = 1 ] && ok || bad "want one PROMSHIM_LIB_DEFAULT= line"
sed "s|^PROMSHIM_LIB_DEFAULT=.*|PROMSHIM_LIB_DEFAULT=$T/other.so|" scripts/promshim >"$T/installed"
out=$(timeout 20 bash "$T/installed" -- sh -c 'echo "$LD_PRELOAD"')
[ "$out" = "$T/other.so" ] && ok || bad "installed default library: '$out'"

echo "$passes checks passed, $fails failed"
[ $fails = 0 ]
