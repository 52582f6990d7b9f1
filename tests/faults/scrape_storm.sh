#!/usr/bin/env bash
# tests/faults/scrape_storm.sh — nginx (2 workers) under the shim at full
# load over a few hundred series (heuristic off: 100 files and 100 missing
# paths, GET and HEAD) while /metrics is scraped every 10 ms (10 s here,
# 60 s in the soak): no scrape fails, every snapshot is consistent
# (cumulative buckets, +Inf == _count == the request counter), no counter
# ever goes down, the last scrape passes promtool, and once the load stops
# the totals are exact and promshim_scrapes_total counted every scrape.
. "$(dirname "$0")/common.bash"
e2e_init
need_prog /usr/sbin/nginx cc
need_shim
SECS=$(quick_or_soak 10 60)
PORT=$(free_port)
MPORT=$(free_port)
"${FP[@]}" seriesroot "$E2E_WORK/root" 100 || fail "docroot"
build_scrapecheck
shim_env PROMSHIM_HEURISTIC=off
nginx_conf "$E2E_WORK/n" 2
nginx_start "$E2E_WORK/n" "${SHIM_ENV[@]}"
wait_for 10 "/metrics on $MPORT" port_open "$MPORT"

log "scrapes every 10 ms for ${SECS}s under full load"
scrapes_total() {
	"${TRAFFIC[@]}" scrape "$MPORT" | awk '$1 == "promshim_scrapes_total" { print $2 }'
}
s0=$(scrapes_total)
"${FP[@]}" load "$PORT" $((SECS + 1)) "$E2E_WORK/load.json" --conns 4 --paths 100 --mport "$MPORT" &
ld=$!
sleep 0.5
"$SCRAPECHECK" "$MPORT" "$SECS" 10 0 "$E2E_WORK/scrape.txt" >"$E2E_WORK/sc.out" 2>&1
rc=$?
cat "$E2E_WORK/sc.out"
wait $ld || fail "load"
[ $rc -eq 0 ] || fail "scrapes under load"
promtool_ok "$E2E_WORK/scrape.txt"
n=$(sed -n 's/^scrapes \([0-9]*\) ok.*/\1/p' "$E2E_WORK/sc.out")
series=$(sed -n 's/.* \([0-9]*\) request series.*/\1/p' "$E2E_WORK/sc.out")
[ "$series" -ge 300 ] || fail "only $series request series under load (expected a few hundred)"
[ "$n" -ge $((SECS * 20)) ] || fail "only $n scrapes in ${SECS}s"
s1=$(scrapes_total)
# Between the two readings: the load's baseline scrape, the checker's n,
# and the one that reads s1 (it counts itself).
[ $((${s1%.*} - ${s0%.*})) -eq $((n + 2)) ] ||
	fail "promshim_scrapes_total went from $s0 to $s1 over $n scrapes"
"${FP[@]}" settle "$E2E_WORK/load.json" "$MPORT" --exact || fail "totals after the storm"
log "ok"
