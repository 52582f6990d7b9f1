#!/usr/bin/env bash
# tests/faults/kill_apache.sh — Apache httpd prefork (8 children, running as
# www-data) under the shim and under load while children are SIGKILLed at
# random moments, then SIGSTOPped and SIGCONTed: the same checks as
# kill_nginx.sh (serving, /metrics answering, monotonic and consistent
# snapshots, gauges back to 0, totals within what the client saw).
. "$(dirname "$0")/common.bash"
e2e_init
need_prog /usr/sbin/apache2 cc
need_shim
SECS=$(quick_or_soak 8 60)
PORT=$(free_port)
MPORT=$(free_port)
"${FP[@]}" seriesroot "$E2E_WORK/root" 5 || fail "docroot"
build_scrapecheck
shim_env
apache_conf "$E2E_WORK/a" 8
WORKERS=8 apache_start "$E2E_WORK/a" "${SHIM_ENV[@]}"
wait_for 10 "/metrics on $MPORT" port_open "$MPORT"

for sig in KILL STOP; do
	log "SIG$sig of random children for ${SECS}s under load"
	"$SCRAPECHECK" "$MPORT" $((SECS + 2)) 50 2500 "$E2E_WORK/scrape-$sig.txt" >"$E2E_WORK/sc-$sig.out" 2>&1 &
	sc=$!
	"${FP[@]}" load "$PORT" "$SECS" "$E2E_WORK/load-$sig.json" --conns 4 --mport "$MPORT" \
		--chaos "$SERVER_PID" --signal $sig --every 0.5 || fail "load under SIG$sig"
	wait $sc
	rc=$?
	cat "$E2E_WORK/sc-$sig.out"
	[ $rc -eq 0 ] || fail "scrapes during SIG$sig chaos"
	"${FP[@]}" settle "$E2E_WORK/load-$sig.json" "$MPORT" || fail "after SIG$sig chaos"
	promtool_ok "$E2E_WORK/scrape-$sig.txt"
done
pid_alive "$SERVER_PID" || fail "the Apache parent died"
log "ok"
