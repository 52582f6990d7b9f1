#!/usr/bin/env bash
# tests/shim/test_exporter_endpoint.sh — SPEC 6 endpoint: GET and HEAD
# /metrics in text 0.0.4 (promtool-valid), OpenMetrics when asked, gzip
# when allowed (the gzip body reused within a second), 404 elsewhere, 405
# for other methods, keep-alive, scrapes counted, the exporter's own traffic never
# counted as the host's, the family's process figures summed.
source "$(dirname "$0")/progs/fam_lib.sh"

P=$(free_port); M=$(free_port)
start "$WORK/srv.log" PROMSHIM_LISTEN=127.0.0.1:$M -- serve "$P" 2
try_for 10 metrics_ok "$M" || fail "/metrics not served on $M"

# Two host requests, then many scrapes: accepted connections stay at 2.
for i in 1 2; do [ "$(curl -s --max-time 2 "http://127.0.0.1:$P/x")" = ok ] || fail "host request $i"; done
scrape "$M" >"$WORK/s1.txt"
scrape "$M" >"$WORK/s2.txt"
v=$(sample http_connections_accepted_total <"$WORK/s2.txt") || fail "no http_connections_accepted_total"
[ "$v" = 2 ] || fail "http_connections_accepted_total is $v, want 2 (scrapes must not count)"
ok "exporter traffic not counted"

a=$(sample promshim_scrapes_total <"$WORK/s1.txt"); b=$(sample promshim_scrapes_total <"$WORK/s2.txt")
[ $((b - a)) = 1 ] || fail "promshim_scrapes_total went $a -> $b, want +1"
ok "scrapes counted"

n=$(sample promshim_family_processes <"$WORK/s2.txt")
[ "$n" = 3 ] || fail "promshim_family_processes is $n, want 3 (master + 2 workers)"
fds=$(sample process_open_fds <"$WORK/s2.txt")
[ "$fds" -ge 9 ] || fail "process_open_fds $fds is less than 3 members x stdio"
ok "family figures"

if command -v promtool >/dev/null; then
	promtool check metrics <"$WORK/s2.txt" || fail "promtool rejects the text exposition"
	ok "promtool accepts text 0.0.4"
fi

h=$(curl -s --max-time 2 -D - -o "$WORK/s3.txt" "http://127.0.0.1:$M/metrics")
grep -qi '^content-type: text/plain; version=0.0.4; charset=utf-8' <<<"$h" || fail "text content type: $h"
ok "text content type"

h=$(curl -s --max-time 2 -I "http://127.0.0.1:$M/metrics")
grep -q '^HTTP/1.1 200' <<<"$h" || fail "HEAD: $h"
body=$(curl -s --max-time 2 -X HEAD "http://127.0.0.1:$M/metrics" 2>/dev/null | wc -c)
[ "$body" = 0 ] || fail "HEAD sent a body of $body bytes"
ok "HEAD"

for path in / /metric /metrics/x /favicon.ico; do
	c=$(curl -s --max-time 2 -o /dev/null -w '%{http_code}' "http://127.0.0.1:$M$path")
	[ "$c" = 404 ] || fail "GET $path answered $c, want 404"
done
ok "404 elsewhere"
for m in POST PUT DELETE OPTIONS; do
	c=$(curl -s --max-time 2 -o /dev/null -D "$WORK/h" -w '%{http_code}' -X $m "http://127.0.0.1:$M/metrics")
	[ "$c" = 405 ] || fail "$m /metrics answered $c, want 405"
	grep -qi '^allow: GET, HEAD' "$WORK/h" || fail "$m /metrics: no Allow header"
done
c=$(curl -s --max-time 2 -o /dev/null -w '%{http_code}' -X POST --data 'a=1&b=2' "http://127.0.0.1:$M/metrics")
[ "$c" = 405 ] || fail "POST with a body answered $c, want 405"
ok "405 for other methods"

# Scrapers keep their connection: the second request reuses the first's.
k=$(curl -s --max-time 2 -o /dev/null -o /dev/null -w '%{num_connects} ' "http://127.0.0.1:$M/metrics" "http://127.0.0.1:$M/metrics")
[ "$k" = "1 0 " ] || fail "keep-alive: connects per request '$k', want '1 0 '"
ok "keep-alive"

# A fork while a scrape connection stays open: the child closes its copy of
# every exporter fd (else the connection would outlive the server's close).
python3 -c 'import socket,sys,time
s=socket.create_connection(("127.0.0.1",int(sys.argv[1])),2)
s.sendall(b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n"); s.recv(100); time.sleep(4)' "$M" &
holder=$!
sleep 0.3
master=$PID
old=$(pgrep -P "$master" | head -n 1)
kill -KILL "$old"
try_for 5 bash -c "[ \$(pgrep -P $master | grep -vx $old | wc -l) = 2 ]" || fail "the master did not respawn a worker"
for w in $(pgrep -P "$master"); do
	high=$(ls "/proc/$w/fd" | awk '$1 >= 900' | tr '\n' ' ')
	[ -z "$high" ] || fail "worker $w forked during an open scrape holds exporter fds: $high"
done
kill "$holder" 2>/dev/null; wait "$holder" 2>/dev/null
ok "a fork during an open scrape connection leaves the child no exporter fd"

PROM_ACCEPT='application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1'
curl -s --max-time 2 -D "$WORK/h" -H "Accept: $PROM_ACCEPT" -o "$WORK/om.txt" "http://127.0.0.1:$M/metrics"
grep -qi '^content-type: application/openmetrics-text; version=1.0.0' "$WORK/h" || fail "OpenMetrics content type: $(cat "$WORK/h")"
[ "$(tail -n 1 "$WORK/om.txt")" = "# EOF" ] || fail "OpenMetrics body does not end with # EOF"
[ "$(grep -c '^# EOF$' "$WORK/om.txt")" = 1 ] || fail "more than one # EOF"
ok "OpenMetrics on Prometheus's Accept"

curl -s --max-time 2 -D "$WORK/h" -H 'Accept-Encoding: gzip' -o "$WORK/g1.gz" "http://127.0.0.1:$M/metrics"
curl -s --max-time 2 -H 'Accept-Encoding: gzip' -o "$WORK/g2.gz" "http://127.0.0.1:$M/metrics"
grep -qi '^content-encoding: gzip' "$WORK/h" || fail "no Content-Encoding: gzip"
gunzip -c "$WORK/g1.gz" >"$WORK/g1.txt" || fail "gzip body does not inflate"
grep -q '^promshim_scrapes_total ' "$WORK/g1.txt" || fail "gzip body lacks promshim_scrapes_total"
cmp -s "$WORK/g1.gz" "$WORK/g2.gz" || fail "two gzip scrapes within a second differ (no cache)"
sleep 1.2
curl -s --max-time 2 -H 'Accept-Encoding: gzip' -o "$WORK/g3.gz" "http://127.0.0.1:$M/metrics"
g1=$(gunzip -c "$WORK/g1.gz" | sample promshim_scrapes_total)
g3=$(gunzip -c "$WORK/g3.gz" | sample promshim_scrapes_total)
[ "$g3" -gt "$g1" ] || fail "gzip body older than a second reused ($g1 -> $g3)"
c=$(curl -s --max-time 2 -o /dev/null -D "$WORK/h" -w '%{http_code}' -H 'Accept-Encoding: identity' "http://127.0.0.1:$M/metrics")
[ "$c" = 200 ] && ! grep -qi '^content-encoding' "$WORK/h" || fail "identity: $c $(cat "$WORK/h")"
ok "gzip, cached for a second"
exit 0
