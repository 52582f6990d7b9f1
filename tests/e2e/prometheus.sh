#!/usr/bin/env bash
# tests/e2e/prometheus.sh — a real Prometheus server (default scrape
# settings: it asks for OpenMetrics and gzip) scrapes the shimmed Python
# http.server every second; its query API must return the request total
# the traffic implies, and the target must be healthy.
. "$(dirname "$0")/lib.sh"
e2e_init
need_prog /usr/bin/python3 prometheus
need_shim

PORT=$(free_port)
MPORT=$(free_port)
PPORT=$(free_port)
make_docroot "$E2E_WORK/root"

start_group "$E2E_WORK/server.log" env "LD_PRELOAD=$SHIM_LIB" "PROMSHIM_LISTEN=127.0.0.1:$MPORT" \
	/usr/bin/python3 "$E2E_DIR/pyserver.py" "$PORT" "$E2E_WORK/root" 0.3
SERVER_PID=$STARTED_PID
wait_listen 15 "$PORT" "$SERVER_PID" "shimmed python server"
wait_for 10 "/metrics on port $MPORT" port_open "$MPORT"

"${TRAFFIC[@]}" run "$PORT" "$E2E_WORK/run.json" --slow /slow >"$E2E_WORK/traffic.out" || fail "traffic"
# The endpoint itself must agree before Prometheus is asked.
"${TRAFFIC[@]}" check "$E2E_WORK/run.json" "$MPORT" --slow-route /slow || fail "metrics"

cat >"$E2E_WORK/prometheus.yml" <<CONF
global:
  scrape_interval: 1s
  evaluation_interval: 1s
scrape_configs:
  - job_name: promshim
    static_configs:
      - targets: ['127.0.0.1:$MPORT']
CONF
mkdir -p "$E2E_WORK/tsdb"
start_group "$E2E_WORK/prometheus.log" prometheus --config.file="$E2E_WORK/prometheus.yml" \
	--storage.tsdb.path="$E2E_WORK/tsdb" --web.listen-address="127.0.0.1:$PPORT"
wait_listen 30 "$PPORT" "$STARTED_PID" "prometheus"
"${TRAFFIC[@]}" promquery "$E2E_WORK/run.json" "$PPORT" --timeout 30 || fail "prometheus query"
"${TRAFFIC[@]}" promquery "$E2E_WORK/run.json" "$PPORT" --timeout 10 \
	--query 'sum(http_request_duration_seconds_count)' || fail "prometheus query of the histogram count"
log "ok"
