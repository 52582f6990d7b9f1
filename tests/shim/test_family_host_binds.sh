#!/usr/bin/env bash
# tests/shim/test_family_host_binds.sh — the host binds the metrics address
# itself while the family serves there: the host wins. Its bind succeeds,
# the shim logs why it stops, and the port answers with the host's own
# response from then on, also after a failover would have been possible.
source "$(dirname "$0")/progs/fam_lib.sh"

P=$(free_port); M=$(free_port)
start "$WORK/srv.log" PROMSHIM_LISTEN=127.0.0.1:$M -- serve "$P" 1 also "$M" 1500
try_for 10 metrics_ok "$M" || fail "/metrics not served before the host binds"
grep -q '^promshim_scrapes_total ' <(scrape "$M") || fail "not the exposition before the host binds"
try_for 5 grep -q "^bound $M" "$WORK/srv.log" || { cat "$WORK/srv.log"; fail "the host's bind of $M failed"; }
[ "$(curl -s --max-time 2 "http://127.0.0.1:$M/metrics")" = ok ] || fail "port $M does not answer with the host's response"
n=$(grep -c '^promshim\[.*PROMSHIM_LISTEN' "$WORK/srv.log")
[ "$n" = 1 ] || fail "$n log lines about giving up the address, want 1"
ok "host bound the metrics address; the shim gave it up and said so"
# A worker has a standby thread; serving does not come back on another port
# or by a takeover: the address belongs to the host now.
sleep 1
[ "$(curl -s --max-time 2 "http://127.0.0.1:$M/metrics")" = ok ] || fail "port $M changed hands again"
exit 0
