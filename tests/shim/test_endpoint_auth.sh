#!/usr/bin/env bash
# tests/shim/test_endpoint_auth.sh — PROMSHIM_AUTH_FILE (SPEC 3): 401 with
# a Basic challenge without a matching credential; bcrypt ($2y$ from
# htpasswd), sha512crypt and yescrypt (mkpasswd) and bearer tokens accepted;
# refusals counted exactly in promshim_scrape_auth_failures_total; a
# verified credential cached (no hash computed again); a client failing
# too often gets 429 unverified while a cached credential still passes;
# libcrypt loaded only where an auth file has basic entries; a group- or
# world-readable file refused with one line and nothing served; secrets
# and query strings absent from the log at info level.
source "$(dirname "$0")/progs/fam_lib.sh"
command -v htpasswd >/dev/null || skip "htpasswd is missing (apache2-utils)"
command -v mkpasswd >/dev/null || skip "mkpasswd is missing (whois)"

TOKEN=tok-$(head -c 18 /dev/urandom | base64 | tr '+/' '-_')
BCRYPT=$(htpasswd -nbB alice 'al1ce pw' | cut -d: -f2-)
SHA512=$(mkpasswd -m sha-512 'b0b-pw')
YESCRYPT=$(mkpasswd -m yescrypt 'car0l-pw')
SLOW=$(htpasswd -nbB -C 12 dave 'dave-pw' | cut -d: -f2-)
case $BCRYPT in '$2y$'*) ;; *) fail "htpasswd -B made '$BCRYPT'" ;; esac
case $YESCRYPT in '$y$'*) ;; *) fail "mkpasswd -m yescrypt made '$YESCRYPT'" ;; esac
AUTH=$WORK/auth
cat >"$AUTH" <<EOF
# scrapers
basic alice $BCRYPT
basic bob $SHA512
basic carol $YESCRYPT
basic dave $SLOW
bearer $TOKEN
EOF
chmod 600 "$AUTH"

P=$(free_port); M=$(free_port)
start "$WORK/srv.log" PROMSHIM_LISTEN=127.0.0.1:$M PROMSHIM_AUTH_FILE=$AUTH PROMSHIM_LOG=info -- serve "$P" 1
try_for 10 port_open "$M" || fail "/metrics not served on $M"
U=http://127.0.0.1:$M/metrics
code() { curl -s --max-time 5 -o /dev/null -w '%{http_code}' "$@"; }
refused=0

# No credential: 401 and the challenge, no metrics.
h=$(curl -s --max-time 3 -D - -o "$WORK/body" "$U")
grep -q '^HTTP/1.1 401' <<<"$h" || fail "no credential: $h"
grep -qi '^WWW-Authenticate: Basic realm="promshim"' <<<"$h" || fail "no challenge: $h"
grep -q promshim_ "$WORK/body" && fail "a 401 carried metrics"
refused=$((refused + 1))
[ "$(code -H 'Authorization: Digest username="alice"' "$U")" = 401 ] || fail "Digest accepted"
refused=$((refused + 1))
ok "401 with a Basic challenge"

# Every kind of credential; a wrong one between right ones (a success
# clears the client's failures, so none of this is throttled).
for cred in "alice:al1ce pw" "bob:b0b-pw" "carol:car0l-pw"; do
	[ "$(code -u "$cred" "$U")" = 200 ] || fail "basic ${cred%%:*} refused"
	[ "$(code -u "${cred}x" "$U")" = 401 ] || fail "basic ${cred%%:*} with a wrong password accepted"
	[ "$(code -u "${cred%%:*}X:${cred#*:}" "$U")" = 401 ] || fail "unknown user accepted"
	refused=$((refused + 2))
done
[ "$(code -H "Authorization: Bearer $TOKEN" "$U")" = 200 ] || fail "bearer refused"
[ "$(code -H "Authorization: Bearer ${TOKEN%?}" "$U")" = 401 ] || fail "truncated bearer accepted"
[ "$(code -H "Authorization: Bearer ${TOKEN}x" "$U")" = 401 ] || fail "extended bearer accepted"
[ "$(code -u "alice:$TOKEN" "$U")" = 401 ] || fail "token accepted as a password"
refused=$((refused + 3))
[ "$(code -H "Authorization: Bearer $TOKEN" "$U")" = 200 ] || fail "bearer refused"
scrape "$M" -u "bob:b0b-pw" >"$WORK/s1.txt"
v=$(sample promshim_scrape_auth_failures_total <"$WORK/s1.txt") || fail "no promshim_scrape_auth_failures_total"
[ "$v" = "$refused" ] || fail "promshim_scrape_auth_failures_total is $v, want $refused"
ok "bcrypt, sha512crypt, yescrypt and bearer; $refused refusals counted"

# HEAD and 404 still work as before; 404 needs no credential.
[ "$(code -I -u 'bob:b0b-pw' "$U")" = 200 ] || fail "HEAD with a credential"
[ "$(code "http://127.0.0.1:$M/other")" = 404 ] || fail "other path"

# The cache: dave's bcrypt cost 12 takes a fifth of a second or more;
# once verified, 20 scrapes cost less than 5 verifications.
t0=$(now_ms)
[ "$(code -u dave:dave-pw "$U")" = 200 ] || fail "dave refused"
t1=$(now_ms)
for i in $(seq 20); do [ "$(code -u dave:dave-pw "$U")" = 200 ] || fail "dave refused on scrape $i"; done
t2=$(now_ms)
first=$((t1 - t0)) cached=$((t2 - t1))
echo "first scrape as dave (bcrypt cost 12): ${first} ms; 20 cached scrapes: ${cached} ms"
[ "$first" -ge 100 ] || fail "the first scrape took $first ms: was the hash computed?"
[ "$cached" -lt $((5 * first)) ] || fail "20 cached scrapes took $cached ms, first $first ms: no cache"
ok "verified credential cached"

# libcrypt: loaded by the serving process here, not in a process without
# an auth file.
sp=$(listener_pid "$M")
[ -n "$sp" ] || fail "no listener pid for $M"
grep -q 'libcrypt\.so' "/proc/$sp/maps" || fail "the serving process did not load libcrypt"
P2=$(free_port); M2=$(free_port)
start "$WORK/noauth.log" PROMSHIM_LISTEN=127.0.0.1:$M2 -- serve "$P2" 1
try_for 10 metrics_ok "$M2" || fail "/metrics not served on $M2"
sp2=$(listener_pid "$M2")
grep -q 'libcrypt\.so' "/proc/$sp2/maps" && fail "a process without an auth file loaded libcrypt"
[ "$(code "http://127.0.0.1:$M2/metrics")" = 200 ] || fail "no auth file: scrape refused"
kill -KILL -- "-$PID"
ok "libcrypt only with an auth file"

# Throttling: the 5th failure in a row makes the client wait; it is then
# refused unverified (429 Retry-After), even with a right credential not
# yet cached, while a cached one passes.
for i in 1 2 3 4 5; do [ "$(code -u 'alice:nope' "$U")" = 401 ] || fail "failure $i"; done
h=$(curl -s --max-time 3 -D - -o /dev/null -u 'alice:nope' "$U")
grep -q '^HTTP/1.1 429' <<<"$h" || fail "6th failure: $h"
grep -qi '^Retry-After: 10' <<<"$h" || fail "429 without Retry-After: $h"
t0=$(now_ms)
[ "$(code -u 'alice:al1ce pwx' "$U")" = 429 ] || fail "throttled client verified"
[ "$(code -H "Authorization: Bearer ${TOKEN}y" "$U")" = 429 ] || fail "throttled bearer verified"
[ "$(code -u dave:dave-pw "$U")" = 200 ] || fail "cached credential refused while throttled"
refused=$((refused + 5 + 3))
scrape "$M" -u dave:dave-pw >"$WORK/s2.txt"
v=$(sample promshim_scrape_auth_failures_total <"$WORK/s2.txt")
[ "$v" = "$refused" ] || fail "promshim_scrape_auth_failures_total is $v, want $refused"
ok "throttled after 5 failures: 429 without verifying, cached credential passes"

# Logs at info: no credential, token, password or query string.
curl -s --max-time 3 -o /dev/null "$U?secret=xyz-query"
curl -s --max-time 3 -o /dev/null -u 'dave:dave-pw' "$U?secret=xyz-query2"
sleep 0.3
for s in xyz-query "$TOKEN" 'al1ce' 'dave-pw' 'nope' 'Authorization' "$(printf 'alice:nope' | base64)"; do
	grep -qF -- "$s" "$WORK/srv.log" && fail "the log at info shows '$s': $(cat "$WORK/srv.log")"
done
grep -q '^promshim\[.*serving /metrics' "$WORK/srv.log" || fail "no info line at all: is PROMSHIM_LOG=info in effect?"
ok "no secret or query string in the log at info"

# An auth file readable by group or others: one line, nothing served, the
# host unaffected.
for mode in 640 604; do
	chmod "$mode" "$AUTH"
	P3=$(free_port); M3=$(free_port)
	start "$WORK/bad$mode.log" PROMSHIM_LISTEN=127.0.0.1:$M3 PROMSHIM_AUTH_FILE=$AUTH -- serve "$P3" 1
	try_for 10 port_open "$P3" || fail "mode $mode: the host does not listen"
	[ "$(curl -s --max-time 2 "http://127.0.0.1:$P3/")" = ok ] || fail "mode $mode: the host does not answer"
	sleep 1
	port_open "$M3" 2>/dev/null && fail "mode $mode: /metrics served from an unsafe auth file"
	lines=$(grep -c '^promshim\[' "$WORK/bad$mode.log")
	[ "$lines" = 1 ] || fail "mode $mode: $lines promshim lines, want 1: $(cat "$WORK/bad$mode.log")"
	grep -q 'PROMSHIM_AUTH_FILE: .* is readable by group or others' "$WORK/bad$mode.log" ||
		fail "mode $mode: $(cat "$WORK/bad$mode.log")"
	grep -qF -- "$BCRYPT" "$WORK/bad$mode.log" && fail "mode $mode: a hash was logged"
	kill -KILL -- "-$PID"
done
chmod 600 "$AUTH"
ok "group- or world-readable auth file refused with one line"
exit 0
