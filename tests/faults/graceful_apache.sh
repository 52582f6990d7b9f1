#!/usr/bin/env bash
# tests/faults/graceful_apache.sh — Apache httpd prefork under the shim and
# under load through graceful restarts (SIGUSR1 to the parent, what
# `apache2 -k graceful` sends): children replaced, one family, so /metrics
# never stops answering, counters never go down, the gauges return to 0
# and the totals match the client.
. "$(dirname "$0")/common.bash"
e2e_init
need_prog /usr/sbin/apache2 cc
need_shim
SECS=$(quick_or_soak 6 60)
PORT=$(free_port)
MPORT=$(free_port)
"${FP[@]}" seriesroot "$E2E_WORK/root" 5 || fail "docroot"
build_scrapecheck
shim_env
apache_conf "$E2E_WORK/a" 4
WORKERS=4 apache_start "$E2E_WORK/a" "${SHIM_ENV[@]}"
wait_for 10 "/metrics on $MPORT" port_open "$MPORT"

log "graceful restart every 1.5 s for ${SECS}s under load"
"$SCRAPECHECK" "$MPORT" $((SECS + 2)) 20 0 "$E2E_WORK/scrape.txt" >"$E2E_WORK/sc.out" 2>&1 &
sc=$!
"${FP[@]}" load "$PORT" "$SECS" "$E2E_WORK/load.json" --conns 3 --mport "$MPORT" &
ld=$!
n=0
end=$(( $(date +%s) + SECS - 1 ))
while [ "$(date +%s)" -lt $end ]; do
	sleep 1.5
	kill -USR1 "$SERVER_PID" && n=$((n + 1))
done
wait $ld || fail "load across graceful restarts"
wait $sc
rc=$?
cat "$E2E_WORK/sc.out"
[ $rc -eq 0 ] || fail "scrapes across $n graceful restarts"
grep -c 'resuming normal operations' "$E2E_WORK/a/error.log" >"$E2E_WORK/resumed"
[ "$(cat "$E2E_WORK/resumed")" -ge $((n + 1)) ] ||
	fail "Apache logged $(cat "$E2E_WORK/resumed") starts for $n graceful restarts"
promtool_ok "$E2E_WORK/scrape.txt"
# A child that accepts as SIGUSR1 arrives serves that connection with its
# listener already closed by the handler: still counted.
"${FP[@]}" settle "$E2E_WORK/load.json" "$MPORT" || fail "after $n graceful restarts"
pid_alive "$SERVER_PID" || fail "the Apache parent died"
log "$n graceful restarts: ok"
