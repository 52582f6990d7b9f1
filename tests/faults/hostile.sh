#!/usr/bin/env bash
# tests/faults/hostile.sh — hostile input against nginx (2 workers, plus a
# proxy_protocol listener) and lighttpd (plus a PROXY-protocol socket),
# each bare and then under the shim, the same bytes sent both times:
# slowloris heads (dripped and held), 64 KiB and 1 MiB header lines, 5,000
# headers, NUL and invalid UTF-8 in paths, garbage and unknown methods,
# negative, overflowing and duplicate Content-Length, conflicting
# Transfer-Encoding, smuggling shapes, a 500-request pipelined flood,
# random binary, a TLS ClientHello, the HTTP/2 preface, PROXY v1 and v2
# headers. Each case: responses byte-identical to the bare server's (Date
# masked); the scrape after it passes promtool; requests counted == responses
# sent; parse errors grow on malformed input and only there, but for the
# requests pipelined past the tracker's ring, which give the exact numbers of
# its design (below); unsupported connections counted by reason (tls, h2c,
# other) with nothing counted on them; the gauges back to 0. Then the cases
# run a second time on each server: its RSS may grow by no more under the
# shim than bare (memory stays flat).
. "$(dirname "$0")/common.bash"
e2e_init
need_shim
SERVERS=${HOSTILE_SERVERS:-nginx lighttpd}
make_docroot "$E2E_WORK/root"

lighttpd_conf() {
	local d=$1
	mkdir -p "$d"
	cat >"$d/lighttpd.conf" <<CONF
server.modules = ("mod_access", "mod_extforward")
server.document-root = "$E2E_WORK/root"
server.bind = "127.0.0.1"
server.port = $PORT
server.pid-file = "$d/lighttpd.pid"
server.errorlog = "$d/error.log"
server.username = "www-data"
server.groupname = "www-data"
server.max-keep-alive-requests = 65535
index-file.names = ("index.html")
mimetype.assign = (".html" => "text/html", "" => "application/octet-stream")
extforward.forwarder = ("127.0.0.1" => "trust")
\$SERVER["socket"] == "127.0.0.1:$PPORT" {
	extforward.hap-PROXY = "enable"
}
CONF
	chown www-data:www-data "$d"
}

# Shim bugs this test found; a case listed here (--known CASE=REASON in
# known_SERVER) turns a failure into a skip (77, "KNOWN BUG: ...") as long as
# every other case passes. None at present. Fixed since: an oversized head
# answered 400/431 before it was complete (header-64k, header-1m,
# headers-5000) counted twice, under _INVALID and as aborted; a HEAD among
# requests pipelined past the ring threw the response framing off and lost
# counts (pipelined-head-mix); lighttpd's PROXY support dropping the header
# with recv(MSG_TRUNC) hid it from the tracker.
known_nginx=()
known_lighttpd=()

# Past the ring. The tracker keeps 16 requests read ahead of their
# responses; a request read while the ring is full, or behind one that was,
# keeps only its method (a queue of 64), is counted under route _INVALID and
# adds a parse error. Past those 64 the read side gives up on the connection
# (one more parse error) and every later response on it counts as
# _OTHER/_INVALID with a parse error. Totals and responses stay exact, so
# these cases are checked against those numbers, which follow from how much
# each server reads before it answers, and then by hcompare with the common
# checks only (kind "ring" instead of "valid"):
#  - nginx reads 1 KiB, then the rest of a head into 8 KiB, and answers what
#    it read. flood: 29 (13 past the ring), 234 (64 queued, the reader gives
#    up, 154 more), 234 and 3 more: 468 _INVALID, 391 of them _OTHER, 469
#    parse errors. bursts: 17 (1 past), then 29 (13 past) and 11 twice: 27.
#    head-mix: 22 (6 past) and the line of the 23rd, which queues with the
#    17 read after it: 24, 8 of them HEADs.
#  - lighttpd reads each burst whole. flood: 16, 64 queued, the reader gives
#    up, 420 more: 484 _INVALID, 420 _OTHER, 485 parse errors. bursts:
#    1 + 24 + 24 = 49. head-mix: 24, 8 of them HEADs.
# head-flood: 200 requests, every third a HEAD. Once the reader has given
# up, the responses are framed blind (a response that announces a body ends
# with its head, a body after it is passed over), so none is lost: nginx
# 22 (6 past the ring; the 23rd's line queues), then the rest in one read:
# 64 queued in all, give-up, 114 more: 184 _INVALID, 114 _OTHER, 185 parse
# errors, 23 HEADs kept (every third of requests 16..85). lighttpd: 16,
# 64 queued (21 HEADs), give-up, 120 more.
# Each entry: CASE _INVALID _OTHER PARSE-ERRORS HEAD-under-_INVALID.
ring_nginx=("pipelined-flood 468 391 469 0" "pipelined-bursts 27 0 27 0" "pipelined-head-mix 24 0 24 8"
	"pipelined-head-flood 184 114 185 23")
ring_lighttpd=("pipelined-flood 484 420 485 0" "pipelined-bursts 49 0 49 0" "pipelined-head-mix 24 0 24 8"
	"pipelined-head-flood 184 120 185 21")

# ring_check SHIM.json SCRAPES OUT.json ENTRY...: the cases of the entries
# against their numbers (deltas from SHIM.json, HEADs from the scrapes
# before and after each); writes OUT.json: SHIM.json with their kind "ring".
ring_check() {
	python3 - "$FAULTS_DIR" "$@" <<'PY'
import glob, json, os, sys
sys.path.insert(0, sys.argv[1])
from faults import total, traffic
shim, scrapes, out = sys.argv[2:5]
want = {e.split()[0]: [int(v) for v in e.split()[1:]] for e in sys.argv[5:]}
cases = json.load(open(shim))
bad = 0
for i, c in enumerate(cases):
    if c["name"] not in want:
        continue
    m = [traffic.parse_metrics(open(glob.glob(os.path.join(scrapes, "%02d-*.txt" % j))[0]).read())
         for j in (i - 1, i)]
    heads = (total(m[1], "http_requests_total", method="HEAD", route="_INVALID")
             - total(m[0], "http_requests_total", method="HEAD", route="_INVALID"))
    d = c["delta"]
    got = [int(v) for v in (d["invalid"], d["other_method"], d["parse_errors"], heads)]
    ok = got == want[c["name"]]
    bad += not ok
    print("%s: past the ring: %d _INVALID, %d _OTHER, %d parse errors, %d HEADs under _INVALID%s"
          % (c["name"], *got, "" if ok else "; expected %d, %d, %d, %d" % tuple(want[c["name"]])))
    c["kind"] = "ring"
    del want[c["name"]]
for n in want:
    print("%s: no such case" % n)
    bad += 1
json.dump(cases, open(out, "w"))
sys.exit(1 if bad else 0)
PY
}

# RSS summed over the process group of $1, in KiB.
group_rss_kib() { ps -o rss= -g "$1" | awk '{ s += $1 } END { print s + 0 }'; }
# What the shim may add to the servers' RSS growth over the second pass:
# the servers' own heaps grow in steps of about 128 KiB whose timing moves
# with or without the shim (seen: -132 to +200 KiB). A shim that kept 1 KiB
# per request would add over 1 MiB here.
RSS_SLACK_KIB=512

fails=0 known=()
declare -A grew
for server in $SERVERS; do
	case $server in
	nginx) need_prog /usr/sbin/nginx ;;
	lighttpd) need_prog /usr/sbin/lighttpd ;;
	esac
	PORT=$(free_port)
	PPORT=$(free_port)
	MPORT=$(free_port)
	for mode in bare shim; do
		d=$E2E_WORK/$server-$mode
		mkdir -p "$d/scrapes"
		pre=() mp=()
		if [ $mode = shim ]; then
			shim_env
			pre=("${SHIM_ENV[@]}")
			mp=(--mport "$MPORT" --save-dir "$d/scrapes")
		fi
		if [ $server = nginx ]; then
			nginx_conf "$d" 2 "" "client_header_timeout 10s;"
			nginx_start "$d" "${pre[@]}"
		else
			lighttpd_conf "$d"
			start_group "$d/stderr.log" "${pre[@]}" /usr/sbin/lighttpd -D -f "$d/lighttpd.conf"
			SERVER_PID=$STARTED_PID
			wait_listen 10 "$PORT" "$SERVER_PID" lighttpd
		fi
		[ $mode = shim ] && wait_for 10 "/metrics on $MPORT" port_open "$MPORT"
		log "$server $mode: hostile cases"
		"${FP[@]}" hostile "$PORT" "$d.json" --proxy-port "$PPORT" "${mp[@]}" >"$d.out" 2>&1 ||
			{ cat "$d.out" >&2; fail "$server $mode: a hostile case failed to run"; }
		pid_alive "$SERVER_PID" || fail "$server $mode died"
		# Memory stays flat: the same cases again, RSS before and after.
		rss0=$(group_rss_kib "$SERVER_PID")
		"${FP[@]}" hostile "$PORT" "$d-again.json" --proxy-port "$PPORT" >"$d-again.out" 2>&1 ||
			{ cat "$d-again.out" >&2; fail "$server $mode: a hostile case failed to run twice"; }
		pid_alive "$SERVER_PID" || fail "$server $mode died"
		grew[$mode]=$(($(group_rss_kib "$SERVER_PID") - rss0))
		stop_group "$SERVER_PID"
		wait_for 10 "port $PORT to close" port_closed "$PORT"
	done
	cat "$E2E_WORK/$server-shim.out"
	# The second pass: whatever it costs the server itself shows in the bare
	# run too; the shim allocates nothing per request or per byte, and what
	# it touches lazily (series, connection slots) was touched by the first.
	extra=$((grew[shim] - grew[bare]))
	log "$server: the cases run again grew the server's RSS by ${grew[bare]} KiB bare, ${grew[shim]} KiB under the shim"
	[ $extra -le $RSS_SLACK_KIB ] || { log "$server: the shim added $extra KiB (> $RSS_SLACK_KIB)"; fails=$((fails + 1)); }
	for f in "$E2E_WORK/$server-shim/scrapes"/*.txt; do promtool_ok "$f"; done
	rv="ring_${server}[@]" kv="known_${server}[@]"
	ring_check "$E2E_WORK/$server-shim.json" "$E2E_WORK/$server-shim/scrapes" "$E2E_WORK/$server-ring.json" \
		"${!rv}"
	ring=$?
	"${FP[@]}" hcompare "$E2E_WORK/$server-bare.json" "$E2E_WORK/$server-ring.json" "${!kv}" \
		>"$E2E_WORK/$server.cmp"
	rc=$?
	cat "$E2E_WORK/$server.cmp"
	[ $ring -eq 0 ] || rc=1
	case $rc in
	0) log "$server: ok" ;;
	77) log "$server: known bugs only"
		known+=("$server: $(sed -n 's/^KNOWN BUG: //p' "$E2E_WORK/$server.cmp")") ;;
	*) log "$server: FAILED"; fails=$((fails + 1)) ;;
	esac
done
[ $fails -eq 0 ] || fail "$fails servers failed"
if [ ${#known[@]} -gt 0 ]; then
	log "every other case passed"
	( IFS='|'; echo "KNOWN BUG: ${known[*]}" )
	exit 77
fi
log "ok"
