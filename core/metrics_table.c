/* core/metrics_table.c — every metric family promshim exposes, in the order
 * it is rendered: names in both namings, type, unit, labels, help text.
 *
 * Under PROMSHIM_NAMING=otel the four request families take the OpenTelemetry
 * semantic-convention names; http_requests_total is then left out because the
 * conventions define no request counter: http_server_request_duration_seconds
 * _count is the same number (one count serves counter, _count and +Inf).
 * Everything else keeps its default name.
 */
#include "metrics_table.h"

#include <stddef.h>

#define CONST MT_F_CONST
#define SCHEME MT_F_SCHEME

const struct mt_family mt_families[MT_COUNT] = {
	{MT_HTTP_REQUESTS, "http_requests_total", NULL, MT_COUNTER, NULL, MT_L_EXCHANGE, CONST,
	 "Total number of HTTP requests completed by the server."},
	{MT_HTTP_DURATION, "http_request_duration_seconds", "http_server_request_duration_seconds",
	 MT_HISTOGRAM, "seconds", MT_L_EXCHANGE, CONST | SCHEME,
	 "Duration of HTTP requests, from the first byte read to the last byte of the response written."},
	{MT_HTTP_REQ_SIZE, "http_request_size_bytes", "http_server_request_body_size_bytes", MT_HISTOGRAM,
	 "bytes", MT_L_EXCHANGE, CONST | SCHEME, "Size of HTTP request bodies."},
	{MT_HTTP_RESP_SIZE, "http_response_size_bytes", "http_server_response_body_size_bytes",
	 MT_HISTOGRAM, "bytes", MT_L_EXCHANGE, CONST | SCHEME, "Size of HTTP response bodies."},
	{MT_HTTP_IN_FLIGHT, "http_requests_in_flight", "http_server_active_requests", MT_GAUGE, NULL,
	 MT_L_NONE, CONST | SCHEME, "Number of HTTP requests received and not yet answered."},
	{MT_HTTP_ABORTED, "http_requests_aborted_total", "http_requests_aborted_total", MT_COUNTER, NULL,
	 MT_L_ABORT, CONST | SCHEME,
	 "Total number of HTTP requests whose connection ended before the response completed."},
	{MT_HTTP_CONN_ACCEPTED, "http_connections_accepted_total", "http_connections_accepted_total",
	 MT_COUNTER, NULL, MT_L_NONE, CONST, "Total number of connections accepted by the server."},
	{MT_HTTP_CONN_OPEN, "http_connections_open", "http_connections_open", MT_GAUGE, NULL, MT_L_NONE,
	 CONST, "Number of accepted connections currently open."},
	{MT_PROC_CPU, "process_cpu_seconds_total", "process_cpu_seconds_total", MT_COUNTER, "seconds",
	 MT_L_NONE, 0, "Total user and system CPU time spent in seconds."},
	{MT_PROC_RSS, "process_resident_memory_bytes", "process_resident_memory_bytes", MT_GAUGE, "bytes",
	 MT_L_NONE, 0, "Resident memory size in bytes."},
	{MT_PROC_VSZ, "process_virtual_memory_bytes", "process_virtual_memory_bytes", MT_GAUGE, "bytes",
	 MT_L_NONE, 0, "Virtual memory size in bytes."},
	{MT_PROC_OPEN_FDS, "process_open_fds", "process_open_fds", MT_GAUGE, NULL, MT_L_NONE, 0,
	 "Number of open file descriptors."},
	{MT_PROC_MAX_FDS, "process_max_fds", "process_max_fds", MT_GAUGE, NULL, MT_L_NONE, 0,
	 "Maximum number of open file descriptors."},
	{MT_PROC_START, "process_start_time_seconds", "process_start_time_seconds", MT_GAUGE, "seconds",
	 MT_L_NONE, 0, "Start time of the process since unix epoch in seconds."},
	{MT_BUILD_INFO, "promshim_build_info", "promshim_build_info", MT_INFO, NULL, MT_L_VERSION, 0,
	 "promshim build information."},
	{MT_FAMILY_PROCESSES, "promshim_family_processes", "promshim_family_processes", MT_GAUGE, NULL,
	 MT_L_NONE, 0, "Number of live processes sharing this registry."},
	{MT_SERIES, "promshim_series", "promshim_series", MT_GAUGE, NULL, MT_L_NONE, 0,
	 "Number of regular (method, route, status_code) series in use."},
	{MT_SERIES_LIMIT, "promshim_series_limit", "promshim_series_limit", MT_GAUGE, NULL, MT_L_NONE, 0,
	 "Maximum number of regular series (PROMSHIM_MAX_SERIES)."},
	{MT_SERIES_OVERFLOW, "promshim_series_overflow_total", "promshim_series_overflow_total",
	 MT_COUNTER, NULL, MT_L_NONE, 0,
	 "Total number of observations recorded under route _OTHER because the series limit was reached."},
	{MT_PARSE_ERRORS, "promshim_parse_errors_total", "promshim_parse_errors_total", MT_COUNTER, NULL,
	 MT_L_NONE, 0, "Total number of HTTP parse errors."},
	{MT_UNSUPPORTED, "promshim_unsupported_connections_total",
	 "promshim_unsupported_connections_total", MT_COUNTER, NULL, MT_L_REASON, 0,
	 "Total number of connections not followed because they do not speak HTTP/1.x."},
	{MT_SCRAPES, "promshim_scrapes_total", "promshim_scrapes_total", MT_COUNTER, NULL, MT_L_NONE, 0,
	 "Total number of scrapes of the metrics endpoint."},
	{MT_AUTH_FAILURES, "promshim_scrape_auth_failures_total", "promshim_scrape_auth_failures_total",
	 MT_COUNTER, NULL, MT_L_NONE, 0, "Total number of scrapes refused for missing or wrong credentials."},
};

const char *mt_name(const struct mt_family *f, enum cfg_naming naming)
{
	return naming == CFG_NAMING_OTEL ? f->otel_name : f->name;
}
