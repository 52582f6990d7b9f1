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
# sent; parse errors grow on malformed input and only there; unsupported
# connections counted by reason (tls, h2c, other) with nothing counted on
# them; the gauges back to 0.
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

# Shim bugs this test found; a case listed here turns a failure into a
# skip (77, "KNOWN BUG: ...") as long as every other case passes.
#  - pipelined-*: the tracker queues at most 16 requests read ahead of their
#    responses. Past that: 500 GETs in one write are counted as method
#    _OTHER, route _INVALID with a parse error each (totals still exact);
#    bursts of 17 and 40 on one kept-alive connection the same; 40 GETs and
#    HEADs (404s) in one write lose the response boundaries: nginx 19
#    counted + 3 aborted of 40 answered, lighttpd 19 + 21. 16 of them pass.
#  - header-*: a head that outgrows the tracker (a 64 KiB or 1 MiB header
#    line, 5,000 headers) answered 400/431 by the server is counted under
#    _OTHER/_INVALID and reported as aborted too: one request, two records.
# (lighttpd's PROXY support, which peeks the header and drops it with
# recv(MSG_TRUNC), was one too: the shim now peeks what MSG_TRUNC discards.)
PIPE="requests pipelined beyond 16 go to _OTHER/_INVALID with parse errors, or are lost or aborted once HEADs mix in"
HEAD="an oversized head answered 400/431 is counted under _INVALID and also as aborted"
known_nginx=(--known "pipelined-flood=$PIPE" --known "pipelined-bursts=$PIPE" --known "pipelined-head-mix=$PIPE"
	--known "header-64k=$HEAD" --known "header-1m=$HEAD" --known "headers-5000=$HEAD")
known_lighttpd=(--known "pipelined-flood=$PIPE" --known "pipelined-bursts=$PIPE" --known "pipelined-head-mix=$PIPE"
	--known "header-1m=$HEAD")

fails=0 known=()
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
		stop_group "$SERVER_PID"
		wait_for 10 "port $PORT to close" port_closed "$PORT"
	done
	cat "$E2E_WORK/$server-shim.out"
	for f in "$E2E_WORK/$server-shim/scrapes"/*.txt; do promtool_ok "$f"; done
	kv="known_${server}[@]"
	"${FP[@]}" hcompare "$E2E_WORK/$server-bare.json" "$E2E_WORK/$server-shim.json" "${!kv}" \
		>"$E2E_WORK/$server.cmp"
	rc=$?
	cat "$E2E_WORK/$server.cmp"
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
