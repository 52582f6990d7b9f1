#!/usr/bin/env bash
# tests/faults/kill_nginx.sh — nginx (2 workers) under the shim and under
# load while its workers are SIGKILLed at random moments, then while they
# are SIGSTOPped and SIGCONTed: the server keeps serving, /metrics keeps
# answering (a gap of at most 2.5 s: the failover allowance), counters
# never go down, every snapshot is consistent, the gauges return to 0 and
# the total lies between what the client fully received and what it sent.
. "$(dirname "$0")/common.bash"
e2e_init
need_prog /usr/sbin/nginx cc
need_shim
SECS=$(quick_or_soak 8 60)
PORT=$(free_port)
MPORT=$(free_port)
"${FP[@]}" seriesroot "$E2E_WORK/root" 5 || fail "docroot"
build_scrapecheck
shim_env
nginx_conf "$E2E_WORK/n" 2
nginx_start "$E2E_WORK/n" "${SHIM_ENV[@]}"
wait_for 10 "/metrics on $MPORT" port_open "$MPORT"

for sig in KILL STOP; do
	log "SIG$sig of random workers for ${SECS}s under load"
	"$SCRAPECHECK" "$MPORT" $((SECS + 2)) 50 2500 "$E2E_WORK/scrape-$sig.txt" >"$E2E_WORK/sc-$sig.out" 2>&1 &
	sc=$!
	"${FP[@]}" load "$PORT" "$SECS" "$E2E_WORK/load-$sig.json" --conns 6 --mport "$MPORT" \
		--chaos "$SERVER_PID" --signal $sig --every 0.4 || fail "load under SIG$sig"
	wait $sc
	rc=$?
	cat "$E2E_WORK/sc-$sig.out"
	[ $rc -eq 0 ] || fail "scrapes during SIG$sig chaos"
	"${FP[@]}" settle "$E2E_WORK/load-$sig.json" "$MPORT" || fail "after SIG$sig chaos"
	promtool_ok "$E2E_WORK/scrape-$sig.txt"
done
pid_alive "$SERVER_PID" || fail "the nginx master died"
log "ok"
