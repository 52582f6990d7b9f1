#!/usr/bin/env bash
# tests/faults/reload_nginx.sh — nginx under the shim and under load:
#  1. reloads (SIGHUP to the master): workers replaced, one family, so the
#     counters never go down, /metrics never stops answering, the gauges
#     return to 0 and the totals match the client;
#  2. a binary upgrade (USR2, then QUIT to the old master) with
#     `env LD_PRELOAD;` and the PROMSHIM_* variables in nginx.conf: the new
#     master keeps the shim, and its family serves /metrics within 2 s of
#     the old master's exit (SPEC 6), counting from zero, exactly.
. "$(dirname "$0")/common.bash"
e2e_init
need_prog /usr/sbin/nginx cc
need_shim
SECS=$(quick_or_soak 6 60)
PORT=$(free_port)
MPORT=$(free_port)
"${FP[@]}" seriesroot "$E2E_WORK/root" 5 || fail "docroot"
build_scrapecheck
shim_env
D=$E2E_WORK/n
NGINX_DAEMON=on
nginx_conf "$D" 2
nginx_start "$D" "${SHIM_ENV[@]}"
MASTER=$SERVER_PID
wait_for 10 "/metrics on $MPORT" port_open "$MPORT"

# --- reloads
log "SIGHUP every 1.5 s for ${SECS}s under load"
"$SCRAPECHECK" "$MPORT" $((SECS + 2)) 20 0 "$E2E_WORK/scrape-hup.txt" >"$E2E_WORK/sc-hup.out" 2>&1 &
sc=$!
"${FP[@]}" load "$PORT" "$SECS" "$E2E_WORK/load-hup.json" --conns 6 --mport "$MPORT" &
ld=$!
hups=0
end=$(( $(date +%s) + SECS - 1 ))
while [ "$(date +%s)" -lt $end ]; do
	sleep 1.5
	kill -HUP "$MASTER" && hups=$((hups + 1))
done
wait $ld || fail "load across reloads"
wait $sc
rc=$?
cat "$E2E_WORK/sc-hup.out"
[ $rc -eq 0 ] || fail "scrapes across $hups reloads"
"${FP[@]}" settle "$E2E_WORK/load-hup.json" "$MPORT" || fail "after $hups reloads"
promtool_ok "$E2E_WORK/scrape-hup.txt"
log "$hups reloads: ok"

# --- binary upgrade
old_family_serves() {
	local p
	p=$(listener_pid "$MPORT")
	[ -n "$p" ] && { [ "$p" = "$1" ] || [ "$(ps -o ppid= -p "$p" | tr -d ' ')" = "$1" ]; }
}
log "binary upgrade under load"
"${FP[@]}" load "$PORT" 6 "$E2E_WORK/load-up.json" --conns 4 &
ld=$!
sleep 1
kill -USR2 "$MASTER"
wait_for 10 "the old master's pid file to move" file_nonempty "$D/nginx.pid.oldbin"
wait_for 10 "a new master's pid file" file_nonempty "$D/nginx.pid"
NEW=$(cat "$D/nginx.pid")
[ "$NEW" != "$MASTER" ] || fail "nginx.pid still names the old master"
track_pid "$NEW"
wait_for 10 "the new master's workers" has_children "$NEW" 2
# nginx writes its process title over the environment block, so
# /proc/PID/environ tells nothing: the mapping shows the shim kept.
grep -q promshim "/proc/$NEW/maps" ||
	fail "the new master runs without the shim (env LD_PRELOAD; is in nginx.conf)"
old_family_serves "$MASTER" || fail "the old family should still serve /metrics"
sleep 1
kill -QUIT "$MASTER"
wait_for 15 "the old master to exit" pid_gone "$MASTER"
t_exit=$(date +%s%N)
serves_new() { old_family_serves "$NEW" && "${TRAFFIC[@]}" scrape "$MPORT" >/dev/null; }
try_for 5 serves_new || fail "the new family does not serve /metrics 5 s after the old master's exit"
ms=$(( ($(date +%s%N) - t_exit) / 1000000 ))
log "the new family serves /metrics ${ms} ms after the old master exited"
[ $ms -le 2000 ] || fail "the new family took ${ms} ms to serve /metrics (SPEC 6: within 2 s)"
wait $ld || fail "load across the binary upgrade"
# The new family counts from zero, exactly.
base=$(python3 -c 'import sys; sys.path.insert(0, sys.argv[1]); import traffic
m = traffic.parse_metrics(traffic.scrape(int(sys.argv[2])))
print(int(sum(m.get("http_requests_total", {}).values())))' "$E2E_DIR" "$MPORT") || fail "scrape"
up=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["completed"])' "$E2E_WORK/load-up.json")
[ "$base" -le "$up" ] || fail "the new family counted $base requests, more than the $up of the whole upgrade load"
"${FP[@]}" count "$PORT" 100 --path /index.html || fail "requests after the upgrade"
python3 - "$E2E_WORK/load-up.json" "$E2E_WORK/exact.json" "$base" <<'PY' || fail "exact.json"
import json, sys
up = json.load(open(sys.argv[1]))
st = dict(up["statuses"])
st["200"] = st.get("200", 0) + 100
json.dump({"sent": 100, "completed": 100, "errors": 0, "statuses": st, "signals": 0, "signal": None,
           "base": {"total": int(sys.argv[3]), "aborted": 0}}, open(sys.argv[2], "w"))
PY
"${FP[@]}" settle "$E2E_WORK/exact.json" "$MPORT" --exact || fail "counts after the upgrade"
log "ok"
