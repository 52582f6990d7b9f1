#!/usr/bin/env bash
# tests/shim/test_endpoint_tls.sh — HTTPS with PROMSHIM_TLS_CERT and
# PROMSHIM_TLS_KEY (SPEC 3), together with PROMSHIM_AUTH_FILE: curl
# verifies the certificate by its CA file for 127.0.0.1 and localhost, a
# certificate from another CA is not accepted, plain HTTP gets no answer
# and does not disturb the endpoint, credentials are still required over
# TLS, a group-readable key is refused with one line. Then a real
# Prometheus scrapes over HTTPS every second with basic_auth + ca_file and
# with an authorization bearer credential + insecure_skip_verify: both
# targets are up, while a job with a wrong password and a job speaking
# plain HTTP are down (and the wrong password's failures do not lock the
# good jobs out).
source "$(dirname "$0")/progs/fam_lib.sh"
command -v openssl >/dev/null || skip "openssl is missing"
command -v htpasswd >/dev/null || skip "htpasswd is missing (apache2-utils)"

mkcert() { # DIR: a self-signed EC certificate for 127.0.0.1 and localhost
	mkdir -p "$1"
	openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2 \
		-subj /CN=localhost -addext subjectAltName=IP:127.0.0.1,DNS:localhost \
		-keyout "$1/key.pem" -out "$1/cert.pem" 2>"$1/openssl.log" || fail "openssl: $(cat "$1/openssl.log")"
	chmod 600 "$1/key.pem"
}
mkcert "$WORK/tls"
mkcert "$WORK/other"
CERT=$WORK/tls/cert.pem KEY=$WORK/tls/key.pem
TOKEN=tok-$(head -c 18 /dev/urandom | base64 | tr '+/' '-_')
AUTH=$WORK/auth
printf 'basic prom %s\nbearer %s\n' "$(htpasswd -nbB prom 'pr0m pw' | cut -d: -f2-)" "$TOKEN" >"$AUTH"
chmod 600 "$AUTH"

P=$(free_port); M=$(free_port)
start "$WORK/srv.log" PROMSHIM_LISTEN=127.0.0.1:$M PROMSHIM_AUTH_FILE=$AUTH \
	PROMSHIM_TLS_CERT=$CERT PROMSHIM_TLS_KEY=$KEY -- serve "$P" 1
HOST_PID=$PID
try_for 10 port_open "$M" || fail "/metrics not served on $M"
code() { curl -s --max-time 5 -o /dev/null -w '%{http_code}' "$@"; }

[ "$(code --cacert "$CERT" -u 'prom:pr0m pw' "https://127.0.0.1:$M/metrics")" = 200 ] || fail "HTTPS 127.0.0.1"
[ "$(code --cacert "$CERT" -u 'prom:pr0m pw' "https://localhost:$M/metrics")" = 200 ] || fail "HTTPS localhost"
[ "$(code --cacert "$CERT" -H "Authorization: Bearer $TOKEN" "https://127.0.0.1:$M/metrics")" = 200 ] || fail "HTTPS bearer"
h=$(curl -s --max-time 5 --cacert "$CERT" -D - -o /dev/null "https://127.0.0.1:$M/metrics")
grep -q '^HTTP/1.1 401' <<<"$h" && grep -qi '^WWW-Authenticate: Basic realm="promshim"' <<<"$h" ||
	fail "HTTPS without a credential: $h"
curl -s --max-time 5 --cacert "$CERT" -u 'prom:pr0m pw' "https://127.0.0.1:$M/metrics" >"$WORK/s.txt"
grep -q '^promshim_scrapes_total 4$' "$WORK/s.txt" || fail "scrape body over HTTPS: $(grep scrapes "$WORK/s.txt")"
ok "HTTPS with the configured certificate, credentials still required"

c=$(code --cacert "$WORK/other/cert.pem" -u 'prom:pr0m pw' "https://127.0.0.1:$M/metrics")
[ "$c" = 000 ] || fail "a client trusting another CA got HTTP $c"
c=$(code -u 'prom:pr0m pw' "http://127.0.0.1:$M/metrics")
[ "$c" = 000 ] || fail "plain HTTP to the HTTPS endpoint got HTTP $c"
[ "$(code --cacert "$CERT" -u 'prom:pr0m pw' "https://127.0.0.1:$M/metrics")" = 200 ] || fail "HTTPS after a plain request"
k=$(curl -s --max-time 5 --cacert "$CERT" -u 'prom:pr0m pw' -o /dev/null -o /dev/null -w '%{num_connects} ' \
	"https://127.0.0.1:$M/metrics" "https://127.0.0.1:$M/metrics")
[ "$k" = "1 0 " ] || fail "keep-alive over TLS: connects per request '$k', want '1 0 '"
[ "$(curl -s --max-time 2 "http://127.0.0.1:$P/")" = ok ] || fail "the host's own traffic"
ok "wrong CA and plain HTTP refused; keep-alive over TLS"

# A key readable by group: one line, nothing served, host unaffected.
chmod 640 "$KEY"
P2=$(free_port); M2=$(free_port)
start "$WORK/badkey.log" PROMSHIM_LISTEN=127.0.0.1:$M2 PROMSHIM_TLS_CERT=$CERT PROMSHIM_TLS_KEY=$KEY -- serve "$P2" 1
try_for 10 port_open "$P2" || fail "bad key: the host does not listen"
[ "$(curl -s --max-time 2 "http://127.0.0.1:$P2/")" = ok ] || fail "bad key: the host does not answer"
sleep 1
port_open "$M2" 2>/dev/null && fail "/metrics served with a group-readable key"
[ "$(grep -c '^promshim\[' "$WORK/badkey.log")" = 1 ] || fail "bad key: $(cat "$WORK/badkey.log")"
grep -q 'PROMSHIM_TLS_KEY: .* is readable by group or others' "$WORK/badkey.log" || fail "bad key: $(cat "$WORK/badkey.log")"
grep -q 'PRIVATE KEY' "$WORK/badkey.log" && fail "the key was logged"
kill -KILL -- "-$PID"
chmod 600 "$KEY"
ok "group-readable key refused with one line"

command -v prometheus >/dev/null || skip "prometheus is missing (the HTTPS checks above passed)"
PP=$(free_port)
cat >"$WORK/prometheus.yml" <<CONF
global:
  scrape_interval: 1s
  scrape_timeout: 1s
  evaluation_interval: 1s
scrape_configs:
  - job_name: basic_ca
    scheme: https
    basic_auth: {username: prom, password: 'pr0m pw'}
    tls_config: {ca_file: '$CERT'}
    static_configs: [{targets: ['127.0.0.1:$M']}]
  - job_name: bearer_insecure
    scheme: https
    authorization: {type: Bearer, credentials: '$TOKEN'}
    tls_config: {insecure_skip_verify: true}
    static_configs: [{targets: ['127.0.0.1:$M']}]
  - job_name: wrong_password
    scheme: https
    basic_auth: {username: prom, password: 'wrong'}
    tls_config: {ca_file: '$CERT', server_name: localhost}
    static_configs: [{targets: ['127.0.0.1:$M']}]
  - job_name: plain_http
    scheme: http
    basic_auth: {username: prom, password: 'pr0m pw'}
    static_configs: [{targets: ['127.0.0.1:$M']}]
CONF
if command -v promtool >/dev/null; then
	promtool check config "$WORK/prometheus.yml" >"$WORK/promtool.log" 2>&1 || fail "promtool: $(cat "$WORK/promtool.log")"
fi
mkdir -p "$WORK/tsdb"
setsid prometheus --config.file="$WORK/prometheus.yml" --storage.tsdb.path="$WORK/tsdb" \
	--web.listen-address="127.0.0.1:$PP" >"$WORK/prometheus.log" 2>&1 </dev/null &
GROUPS_STARTED+=("$!")
disown "$!"
try_for 30 curl -sf --max-time 2 "http://127.0.0.1:$PP/-/ready" || fail "prometheus not ready on $PP"

# up per job, as "job=value ..." sorted
ups() {
	curl -s --max-time 2 "http://127.0.0.1:$PP/api/v1/query?query=up" | python3 -c '
import json, sys
r = json.load(sys.stdin)["data"]["result"]
print(" ".join(sorted("%s=%s" % (x["metric"]["job"], x["value"][1]) for x in r)))'
}
want="basic_ca=1 bearer_insecure=1 plain_http=0 wrong_password=0"
ups_ok() { [ "$(ups)" = "$want" ]; }
try_for 30 ups_ok || fail "up per job: '$(ups)', want '$want'"
# promql QUERY: the values of the result, sorted, space-separated
promql() {
	curl -s --max-time 2 --data-urlencode "query=$1" "http://127.0.0.1:$PP/api/v1/query" |
		python3 -c 'import json,sys; print(" ".join(sorted(x["value"][1] for x in json.load(sys.stdin)["data"]["result"])))'
}
# The wrong password fails once a second: after five in a window its
# address (127.0.0.1, the good jobs' too) is throttled. Wait until
# Prometheus has seen at least 12 refusals, so the last 10 s held a
# throttled stretch, and the good jobs must have stayed up all along.
fails_ge() { local f; f=$(promql 'promshim_scrape_auth_failures_total{job="basic_ca"}'); [ -n "$f" ] && [ "$f" -ge "$1" ]; }
try_for 40 fails_ge 12 || fail "Prometheus saw '$(promql 'promshim_scrape_auth_failures_total{job="basic_ca"}')' refusals"
m=$(promql 'min_over_time(up{job=~"basic_ca|bearer_insecure"}[10s])')
[ "$m" = "1 1" ] || fail "a good job was down in the last 10 s (throttled?): min up '$m'"
m=$(promql 'max_over_time(up{job=~"wrong_password|plain_http"}[10s])')
[ "$m" = "0 0" ] || fail "a bad job was up in the last 10 s: max up '$m'"
echo "up: $(ups); refusals seen by Prometheus: $(promql 'promshim_scrape_auth_failures_total{job="bearer_insecure"}')"
ok "Prometheus scrapes over HTTPS with basic_auth/ca_file and bearer/insecure_skip_verify"
exit 0
