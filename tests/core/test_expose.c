/* tests/core/test_expose.c — exposition formats (core/expose.c): number
 * formatting, golden outputs in both formats and namings, validity under
 * promtool and an OpenMetrics parser, hostile labels, negotiation, gzip.
 *
 * Goldens live in tests/core/golden/. To regenerate them after an intended
 * change of the output, run
 *     PROMSHIM_UPDATE_GOLDEN=1 build/test_core --filter 'expose_golden*'
 * and review the diff before committing it.
 *
 * Snapshots are built by hand, so these tests need no registry and their
 * output is deterministic.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>

#include "expose.h"
#include "metrics_table.h"
#include "tracker.h"

#include "test_expose.h"

/* ---- numbers: expected strings are Go's strconv.FormatFloat(v, 'g', -1, 64) ---- */

static void check_float(double v, const char *want, const char *want_om)
{
	char got[EXPO_NUM_MAX];
	size_t n = expo_fmt_float(got, v, 0);
	cr_expect_str_eq(got, want, "%.17g", v);
	cr_expect_eq(n, strlen(want));
	n = expo_fmt_float(got, v, 1);
	cr_expect_str_eq(got, want_om, "canonical %.17g", v);
	cr_expect_eq(n, strlen(want_om));
}

Test(expose_number, go_float_format)
{
	check_float(0.005, "0.005", "0.005");
	check_float(0.01, "0.01", "0.01");
	check_float(0.025, "0.025", "0.025");
	check_float(0.075, "0.075", "0.075");
	check_float(0.1, "0.1", "0.1");
	check_float(1, "1", "1.0");
	check_float(2.5, "2.5", "2.5");
	check_float(10, "10", "10.0");
	check_float(100, "100", "100.0");
	check_float(100000, "100000", "100000.0");
	check_float(1e6, "1e+06", "1e+06");
	check_float(1e7, "1e+07", "1e+07");
	check_float(1e21, "1e+21", "1e+21");
	check_float(123456789, "1.23456789e+08", "1.23456789e+08");
	check_float(1234567, "1.234567e+06", "1.234567e+06");
	check_float(999999, "999999", "999999.0");
	check_float(0.0001, "0.0001", "0.0001");
	check_float(0.00012, "0.00012", "0.00012");
	check_float(1e-05, "1e-05", "1e-05");
	check_float(1.5e-07, "1.5e-07", "1.5e-07");
	check_float(0.1 + 0.2, "0.30000000000000004", "0.30000000000000004");
	check_float(1.0 / 3, "0.3333333333333333", "0.3333333333333333");
	check_float(1e100, "1e+100", "1e+100");
	check_float(5e-324, "5e-324", "5e-324");
	check_float(1.7976931348623157e308, "1.7976931348623157e+308", "1.7976931348623157e+308");
	check_float(-2.5, "-2.5", "-2.5");
	check_float(0, "0", "0.0");
	check_float(1.0 / 0.0, "+Inf", "+Inf");
	check_float(-1.0 / 0.0, "-Inf", "-Inf");
	check_float(0.0 / 0.0, "NaN", "NaN");
}

Test(expose_number, integers_exact_to_2_pow_53)
{
	char got[EXPO_NUM_MAX];
	expo_fmt_uint(got, 0);
	cr_expect_str_eq(got, "0");
	expo_fmt_uint(got, 7);
	cr_expect_str_eq(got, "7");
	expo_fmt_uint(got, 1000000);
	cr_expect_str_eq(got, "1000000");
	expo_fmt_uint(got, 123456789);
	cr_expect_str_eq(got, "123456789");
	expo_fmt_uint(got, UINT64_C(9007199254740992));
	cr_expect_str_eq(got, "9007199254740992");
	/* above 2^53 the value is a float64, as Go would hold it */
	expo_fmt_uint(got, UINT64_C(9007199254740993));
	cr_expect_str_eq(got, "9.007199254740992e+15");
	expo_fmt_uint(got, UINT64_C(18446744073709551615));
	cr_expect_str_eq(got, "1.8446744073709552e+19");
	expo_fmt_uint(got, UINT64_C(10000000000000000));
	cr_expect_str_eq(got, "1e+16");
}

/* Duration sums: integer microseconds rendered as the float64 seconds. */
Test(expose_number, micro_sums)
{
	static const struct {
		uint64_t us;
		const char *want;
	} t[] = {
		{0, "0"},
		{1, "1e-06"},
		{10, "1e-05"},
		{100, "0.0001"},
		{1500, "0.0015"},
		{123456, "0.123456"},
		{1000000, "1"},
		{2500000, "2.5"},
		{123456789, "123.456789"},
		{999999000000, "999999"},
		{1000000000000, "1e+06"},
		{1234567000000, "1.234567e+06"},
		{1700000000123456, "1.700000000123456e+09"},
		{UINT64_C(9007199254740993), "9.007199254740992e+09"},
	};
	for (size_t i = 0; i < sizeof t / sizeof t[0]; i++) {
		struct snap_fixture f;
		fixture_minimal(&f);
		f.snap.cpu_us = t[i].us;
		char *out = render_text(&f, EXPO_TEXT, CFG_NAMING_PROMETHEUS);
		char want[128];
		snprintf(want, sizeof want, "\nprocess_cpu_seconds_total %s\n", t[i].want);
		cr_expect(strstr(out, want) != NULL, "cpu_us %llu: want '%s'", (unsigned long long)t[i].us,
			  t[i].want);
		free(out);
		fixture_free(&f);
	}
}

/* ---- goldens and validity ---- */

static void check_valid(const char *out, enum expo_format fmt)
{
	char msg[4096];
	const char *why = structure_check(out, fmt == EXPO_OPENMETRICS);
	cr_expect_null(why, "structure: %s", why);
	if (fmt == EXPO_TEXT) {
		int st = promtool_check(out, msg, sizeof msg);
		cr_expect_eq(st, 0, "promtool check metrics exit %d: %s", st, msg);
		cr_expect_str_empty(msg, "promtool said: %s", msg);
	} else {
		int st = openmetrics_check(out, msg, sizeof msg);
		cr_expect_eq(st, 0, "OpenMetrics parser exit %d: %s", st, msg);
	}
}

static void golden_case(const char *name, enum expo_format fmt, enum cfg_naming naming)
{
	struct snap_fixture f;
	fixture_full(&f);
	char *out = render_text(&f, fmt, naming);
	golden_check(name, out);
	check_valid(out, fmt);
	free(out);
	fixture_free(&f);
}

Test(expose_golden, text_prometheus)
{
	golden_case("full.prom", EXPO_TEXT, CFG_NAMING_PROMETHEUS);
}

Test(expose_golden, openmetrics_prometheus)
{
	golden_case("full.om", EXPO_OPENMETRICS, CFG_NAMING_PROMETHEUS);
}

Test(expose_golden, text_otel)
{
	golden_case("full_otel.prom", EXPO_TEXT, CFG_NAMING_OTEL);
}

Test(expose_golden, openmetrics_otel)
{
	golden_case("full_otel.om", EXPO_OPENMETRICS, CFG_NAMING_OTEL);
}

Test(expose_golden, empty_snapshot)
{
	golden_case("empty.prom", EXPO_TEXT, CFG_NAMING_PROMETHEUS);
	golden_case("empty.om", EXPO_OPENMETRICS, CFG_NAMING_PROMETHEUS);
}

/* Every family of the table appears, with its HELP and TYPE, in both
 * formats; and no family name is used twice. */
Test(expose_render, every_family_present)
{
	struct snap_fixture f;
	fixture_full(&f);
	for (int fmt = 0; fmt < 2; fmt++)
		for (int naming = 0; naming < 2; naming++) {
			char *out = render_text(&f, (enum expo_format)fmt, (enum cfg_naming)naming);
			for (unsigned i = 0; i < MT_COUNT; i++) {
				const struct mt_family *m = &mt_families[i];
				cr_expect_eq(m->id, (enum mt_id)i, "table order");
				const char *name = mt_name(m, (enum cfg_naming)naming);
				if (!name) {
					cr_expect(naming == CFG_NAMING_OTEL && m->id == MT_HTTP_REQUESTS);
					continue;
				}
				char want[256];
				size_t nl = strlen(name);
				if (fmt == EXPO_OPENMETRICS && m->type == MT_COUNTER)
					nl -= 6;
				if (fmt == EXPO_OPENMETRICS && m->type == MT_INFO)
					nl -= 5;
				snprintf(want, sizeof want, "\n# TYPE %.*s ", (int)nl, name);
				cr_expect(strstr(out, want) != NULL, "fmt %d naming %d: no %s", fmt, naming, want);
				snprintf(want, sizeof want, "# HELP %.*s %s\n", (int)nl, name, m->help);
				cr_expect(strstr(out, want) != NULL, "fmt %d naming %d: no %s", fmt, naming, want);
			}
			free(out);
		}
	fixture_free(&f);
}

/* The lines that matter, checked exactly (independently of the goldens). */
Test(expose_render, exact_lines_text)
{
	struct snap_fixture f;
	fixture_full(&f);
	char *out = render_text(&f, EXPO_TEXT, CFG_NAMING_PROMETHEUS);
	static const char *const want[] = {
		("# HELP http_requests_total Total number of HTTP requests completed by the server.\n"
		"# TYPE http_requests_total counter\n"
		"http_requests_total{service=\"users\",version=\"v1.2.0\",method=\"GET\",route=\"/\","
		"status_code=\"200\"} 1000000\n"),
		("\nhttp_requests_total{service=\"users\",version=\"v1.2.0\",method=\"_OTHER\",route=\"_OTHER\","
		"status_code=\"_OTHER\"} 2\n"),
		("\nhttp_request_duration_seconds_bucket{service=\"users\",version=\"v1.2.0\",method=\"GET\","
		"route=\"/\",status_code=\"200\",le=\"0.005\"} 83333\n"),
		("\nhttp_request_duration_seconds_bucket{service=\"users\",version=\"v1.2.0\",method=\"GET\","
		"route=\"/\",status_code=\"200\",le=\"+Inf\"} 1000000\n"
		"http_request_duration_seconds_sum{service=\"users\",version=\"v1.2.0\",method=\"GET\","
		"route=\"/\",status_code=\"200\"} 123.456789\n"
		"http_request_duration_seconds_count{service=\"users\",version=\"v1.2.0\",method=\"GET\","
		"route=\"/\",status_code=\"200\"} 1000000\n"),
		("\nhttp_request_duration_seconds_sum{service=\"users\",version=\"v1.2.0\",method=\"POST\","
		"route=\"/users/{id}\",status_code=\"201\"} 1e-06\n"),
		("\nhttp_response_size_bytes_bucket{service=\"users\",version=\"v1.2.0\",method=\"GET\","
		"route=\"/\",status_code=\"200\",le=\"1e+06\"} 625000\n"),
		"\nhttp_requests_in_flight{service=\"users\",version=\"v1.2.0\"} 2\n",
		("\nhttp_requests_aborted_total{service=\"users\",version=\"v1.2.0\",method=\"GET\","
		"route=\"/users/{id}\"} 4\n"),
		"\nhttp_connections_accepted_total{service=\"users\",version=\"v1.2.0\"} 99\n",
		"\nhttp_connections_open{service=\"users\",version=\"v1.2.0\"} 5\n",
		"\nprocess_cpu_seconds_total 12.34\n",
		"\nprocess_resident_memory_bytes 52428800\n",
		"\nprocess_virtual_memory_bytes 1073741824\n",
		"\nprocess_open_fds 42\n",
		"\nprocess_max_fds 1048576\n",
		"\nprocess_start_time_seconds 1.700000000123456e+09\n",
		"# TYPE promshim_build_info gauge\npromshim_build_info{version=\"0.1.0\"} 1\n",
		"\npromshim_family_processes 3\n",
		"\npromshim_series 8\n",
		"\npromshim_series_limit 2000\n",
		"\npromshim_series_overflow_total 7\n",
		"\npromshim_parse_errors_total 3\n",
		("\npromshim_unsupported_connections_total{reason=\"tls\"} 2\n"
		"promshim_unsupported_connections_total{reason=\"h2c\"} 1\n"
		"promshim_unsupported_connections_total{reason=\"other\"} 0\n"),
		"\npromshim_scrapes_total 17\n",
		"\npromshim_scrape_auth_failures_total 1\n",
	};
	for (size_t i = 0; i < sizeof want / sizeof want[0]; i++)
		cr_expect(strstr(out, want[i]) != NULL, "missing:\n%s", want[i]);
	cr_expect_null(strstr(out, "# EOF"));
	free(out);
	fixture_free(&f);
}

Test(expose_render, exact_lines_openmetrics)
{
	struct snap_fixture f;
	fixture_full(&f);
	char *out = render_text(&f, EXPO_OPENMETRICS, CFG_NAMING_PROMETHEUS);
	static const char *const want[] = {
		("# HELP http_requests Total number of HTTP requests completed by the server.\n"
		"# TYPE http_requests counter\n"
		"http_requests_total{service=\"users\",version=\"v1.2.0\",method=\"GET\",route=\"/\","
		"status_code=\"200\"} 1000000\n"),
		"# TYPE http_request_duration_seconds histogram\n# UNIT http_request_duration_seconds seconds\n",
		",le=\"1.0\"} ",
		",le=\"10.0\"} ",
		",le=\"0.005\"} ",
		",le=\"100.0\"} ",
		",le=\"1e+06\"} ",
		",le=\"+Inf\"} ",
		("# TYPE process_cpu_seconds counter\n# UNIT process_cpu_seconds seconds\n"
		"process_cpu_seconds_total 12.34\n"),
		"# TYPE promshim_build info\npromshim_build_info{version=\"0.1.0\"} 1\n",
	};
	for (size_t i = 0; i < sizeof want / sizeof want[0]; i++)
		cr_expect(strstr(out, want[i]) != NULL, "missing:\n%s", want[i]);
	cr_expect_null(strstr(out, ",le=\"1\"}"));
	cr_expect_null(strstr(out, ",le=\"10\"}"));
	size_t len = strlen(out);
	cr_expect(len > 6 && strcmp(out + len - 6, "# EOF\n") == 0);
	cr_expect_eq(strstr(out, "# EOF"), out + len - 6, "# EOF only once, last");
	free(out);
	fixture_free(&f);
}

Test(expose_render, otel_naming)
{
	struct snap_fixture f;
	fixture_full(&f);
	static const double otel_b[] = {.005, .01, .025, .05, .075, .1, .25, .5, .75, 1, 2.5, 5, 7.5, 10};
	f.cfg.n_buckets = sizeof otel_b / sizeof otel_b[0];
	memcpy(f.cfg.bucket_s, otel_b, sizeof otel_b);
	/* buckets of the series were filled for 11 bounds: refill for 14 */
	for (size_t i = 0; i < f.snap.n_series; i++)
		for (unsigned k = 0; k < f.cfg.n_buckets; k++)
			f.ser[i].dur_cum[k] = f.ser[i].count * (k + 1) / (f.cfg.n_buckets + 1);
	char *out = render_text(&f, EXPO_TEXT, CFG_NAMING_OTEL);
	const char *l = "{service=\"users\",version=\"v1.2.0\",http_request_method=\"GET\",http_route=\"/\","
			"http_response_status_code=\"200\",url_scheme=\"http\",service_name=\"testsrv\"";
	char want[512];
	snprintf(want, sizeof want, "\nhttp_server_request_duration_seconds_bucket%s,le=\"0.075\"} 333333\n", l);
	cr_expect(strstr(out, want) != NULL, "missing %s", want);
	snprintf(want, sizeof want, "\nhttp_server_request_duration_seconds_count%s} 1000000\n", l);
	cr_expect(strstr(out, want) != NULL, "missing %s", want);
	snprintf(want, sizeof want, "\nhttp_server_request_body_size_bytes_sum%s} 17000000\n", l);
	cr_expect(strstr(out, want) != NULL, "missing %s", want);
	snprintf(want, sizeof want, "\nhttp_server_response_body_size_bytes_count%s} 1000000\n", l);
	cr_expect(strstr(out, want) != NULL, "missing %s", want);
	cr_expect(strstr(out, "\nhttp_server_active_requests{service=\"users\",version=\"v1.2.0\","
			      "url_scheme=\"http\",service_name=\"testsrv\"} 2\n") != NULL);
	cr_expect(strstr(out, "\nhttp_requests_aborted_total{service=\"users\",version=\"v1.2.0\","
			      "http_request_method=\"GET\",http_route=\"/users/{id}\",url_scheme=\"http\","
			      "service_name=\"testsrv\"} 4\n") != NULL);
	cr_expect(strstr(out, "\nhttp_connections_open{service=\"users\",version=\"v1.2.0\","
			      "service_name=\"testsrv\"} 5\n") != NULL);
	cr_expect_null(strstr(out, "http_requests_total"), "no request counter in otel naming");
	cr_expect_null(strstr(out, "http_request_duration_seconds"));
	cr_expect_null(strstr(out, "{method=\""));
	cr_expect_null(strstr(out, ",method=\""));
	check_valid(out, EXPO_TEXT);
	free(out);
	out = render_text(&f, EXPO_OPENMETRICS, CFG_NAMING_OTEL);
	cr_expect(strstr(out, ",le=\"7.5\"} ") != NULL);
	cr_expect(strstr(out, ",le=\"5.0\"} ") != NULL);
	check_valid(out, EXPO_OPENMETRICS);
	free(out);
	fixture_free(&f);
}

/* A constant label named service_name replaces otel's own, not twice. */
Test(expose_render, otel_service_name_from_labels)
{
	struct snap_fixture f;
	fixture_full(&f);
	f.labels[1] = (struct cfg_label){"service_name", "billing"};
	char *out = render_text(&f, EXPO_TEXT, CFG_NAMING_OTEL);
	cr_expect(strstr(out, "\nhttp_server_active_requests{service=\"users\",service_name=\"billing\","
			      "url_scheme=\"http\"} 2\n") != NULL);
	cr_expect_null(strstr(out, "testsrv"));
	check_valid(out, EXPO_TEXT);
	free(out);
	fixture_free(&f);
}

/* Constant labels that would clash with a label promshim sets, or are not
 * valid names, are left out rather than producing unparsable output. */
Test(expose_render, clashing_constant_labels_dropped)
{
	struct snap_fixture f;
	fixture_full(&f);
	f.labels[0] = (struct cfg_label){"route", "x"};
	f.labels[1] = (struct cfg_label){"team", "a"};
	f.labels[2] = (struct cfg_label){"team", "b"};
	f.labels[3] = (struct cfg_label){"__bad", "c"};
	f.opts.n_labels = 4;
	char *out = render_text(&f, EXPO_TEXT, CFG_NAMING_PROMETHEUS);
	cr_expect(strstr(out, "\nhttp_requests_in_flight{team=\"a\"} 2\n") != NULL);
	cr_expect(strstr(out, "\nhttp_requests_total{team=\"a\",method=\"GET\",route=\"/\",status_code=\"200\"} "
			      "1000000\n") != NULL);
	check_valid(out, EXPO_TEXT);
	free(out);
	fixture_free(&f);
}

/* ---- hostile label values ---- */

Test(expose_render, hostile_routes)
{
	struct snap_fixture f;
	fixture_minimal(&f);
	static const char r1[] = "/a\"b\\c\nd";
	static const char r2[] = "/bad\xff\xfe/\xc0\xaf/\xed\xa0\x80/\xe2\x82";
	static const char r3[] = "/ok/\xc3\xa9t\xc3\xa9/\xf0\x9f\x98\x80";
	static const char r4[] = "/nul\0byte";
	char *big = malloc(10240);
	for (int i = 0; i < 10240; i++)
		big[i] = "ab\"\\\n\x80"[i % 6];
	fixture_add(&f, TRK_M_GET, big, 10240, 200, 1);
	fixture_add(&f, TRK_M_GET, r1, sizeof r1 - 1, 200, 1);
	fixture_add(&f, TRK_M_GET, r2, sizeof r2 - 1, 200, 1);
	fixture_add(&f, TRK_M_GET, r3, sizeof r3 - 1, 200, 1);
	fixture_add(&f, TRK_M_GET, r4, sizeof r4 - 1, 200, 1);
	f.labels[0] = (struct cfg_label){"svc", "q\"uo\\te\nx\xff"};
	f.opts.labels = f.labels;
	f.opts.n_labels = 1;
	f.opts.version = "1.0\"\n";
	for (int fmt = 0; fmt < 2; fmt++) {
		char *out = render_text(&f, (enum expo_format)fmt, CFG_NAMING_PROMETHEUS);
		cr_expect(strstr(out, "route=\"/a\\\"b\\\\c\\nd\"") != NULL);
		cr_expect(strstr(out, "route=\"/bad\xef\xbf\xbd\xef\xbf\xbd/\xef\xbf\xbd\xef\xbf\xbd/"
				      "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd/\xef\xbf\xbd\xef\xbf\xbd\"") != NULL);
		cr_expect(strstr(out, "route=\"/ok/\xc3\xa9t\xc3\xa9/\xf0\x9f\x98\x80\"") != NULL);
		cr_expect(strstr(out, "svc=\"q\\\"uo\\\\te\\nx\xef\xbf\xbd\"") != NULL);
		cr_expect(strstr(out, "promshim_build_info{version=\"1.0\\\"\\n\"} 1\n") != NULL);
		cr_expect(strstr(out, "route=\"ab\\\"\\\\\\n\xef\xbf\xbd" "ab") != NULL);
		/* no raw newline inside any line: every line starts with a name or # */
		for (const char *p = out; *p; p = strchr(p, '\n') + 1)
			cr_assert((*p >= 'a' && *p <= 'z') || *p == '#', "bad line start: %.40s", p);
		cr_expect(strstr(out, "route=\"/nul\xef\xbf\xbd" "byte\"") != NULL);
		check_valid(out, (enum expo_format)fmt);
		free(out);
	}
	free(big);
	fixture_free(&f);
}

/* A torn snapshot (bucket above the count, decreasing buckets) still renders
 * a valid histogram. */
Test(expose_render, inconsistent_buckets_clamped)
{
	struct snap_fixture f;
	fixture_minimal(&f);
	struct reg_snap_series *x = fixture_add(&f, TRK_M_GET, "/", 1, 200, 10);
	x->dur_cum[0] = 5;
	x->dur_cum[1] = 3;
	x->dur_cum[2] = 12;
	char *out = render_text(&f, EXPO_TEXT, CFG_NAMING_PROMETHEUS);
	const char *p = "http_request_duration_seconds_bucket{method=\"GET\",route=\"/\",status_code=\"200\",";
	char want[512];
	snprintf(want, sizeof want, "%sle=\"0.005\"} 5\n%sle=\"0.01\"} 5\n%sle=\"0.025\"} 10\n", p, p, p);
	cr_expect(strstr(out, want) != NULL, "got %s", out);
	check_valid(out, EXPO_TEXT);
	free(out);
	fixture_free(&f);
}

Test(expose_render, no_config_is_an_error)
{
	struct snap_fixture f;
	fixture_minimal(&f);
	f.opts.reg_cfg = NULL;
	struct expo_buf b = {0};
	cr_expect_eq(expo_render(&f.snap, &f.opts, &b), -1);
	expo_buf_free(&b);
	fixture_free(&f);
}

/* Rendering twice into one buffer replaces the content. */
Test(expose_render, buffer_reused)
{
	struct snap_fixture f;
	fixture_full(&f);
	struct expo_buf b = {0};
	cr_assert_eq(expo_render(&f.snap, &f.opts, &b), 0);
	size_t n1 = b.len;
	char *first = strndup(b.data, b.len);
	cr_assert_eq(expo_render(&f.snap, &f.opts, &b), 0);
	cr_expect_eq(b.len, n1);
	cr_expect_eq(memcmp(first, b.data, n1), 0);
	free(first);
	expo_buf_free(&b);
	fixture_free(&f);
}

/* 2,000 series, as many as the default cap: valid and unique. */
Test(expose_render, two_thousand_series_valid)
{
	struct snap_fixture f;
	fixture_minimal(&f);
	static char routes[2000][32];
	for (int i = 0; i < 2000; i++) {
		int n = snprintf(routes[i], sizeof routes[i], "/api/v1/r%04d/{id}", i / 4);
		fixture_add(&f, (unsigned)(1 + i % 4), routes[i], (size_t)n, 200, (uint64_t)i * 1000);
	}
	for (int fmt = 0; fmt < 2; fmt++) {
		char *out = render_text(&f, (enum expo_format)fmt, CFG_NAMING_PROMETHEUS);
		check_valid(out, (enum expo_format)fmt);
		free(out);
	}
	fixture_free(&f);
}

/* ---- negotiation ---- */

Test(expose_negotiate, accept_table)
{
	static const struct {
		const char *accept;
		enum expo_format want;
	} t[] = {
		{NULL, EXPO_TEXT},
		{"", EXPO_TEXT},
		{"garbage", EXPO_TEXT},
		{";;;,,,/", EXPO_TEXT},
		{"*/*", EXPO_TEXT},
		{"text/*", EXPO_TEXT},
		{"text/plain", EXPO_TEXT},
		{"text/plain;version=0.0.4", EXPO_TEXT},
		{"application/json", EXPO_TEXT},
		{"application/openmetrics-text", EXPO_OPENMETRICS},
		{"APPLICATION/OpenMetrics-Text; Version=1.0.0", EXPO_OPENMETRICS},
		{"application/openmetrics-text;version=1.0.0", EXPO_OPENMETRICS},
		{"application/openmetrics-text;version=0.0.1", EXPO_OPENMETRICS},
		{"application/openmetrics-text;version=\"1.0.0\"", EXPO_OPENMETRICS},
		{"application/openmetrics-text;version=2.0.0", EXPO_TEXT},
		{"application/*", EXPO_OPENMETRICS},
		/* Prometheus 2.x */
		{"application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,"
		 "text/plain;version=0.0.4;q=0.5,*/*;q=0.1",
		 EXPO_OPENMETRICS},
		/* Prometheus 2.x with scrape_protocols preferring text */
		{"text/plain;version=0.0.4;q=1,application/openmetrics-text;version=1.0.0;q=0.5,*/*;q=0.1",
		 EXPO_TEXT},
		/* Prometheus 3.x */
		{"application/openmetrics-text;version=1.0.0;escaping=allow-utf-8;q=0.6,"
		 "application/openmetrics-text;version=0.0.1;q=0.5,"
		 "text/plain;version=1.0.0;escaping=allow-utf-8;q=0.4,text/plain;version=0.0.4;q=0.3,*/*;q=0.2",
		 EXPO_OPENMETRICS},
		{"application/openmetrics-text;q=0", EXPO_TEXT},
		{"application/openmetrics-text;q=0, */*", EXPO_TEXT},
		{"application/openmetrics-text;q=0.0", EXPO_TEXT},
		{"application/openmetrics-text;q=0.001", EXPO_OPENMETRICS},
		{"text/plain;q=0, application/openmetrics-text;q=0.1", EXPO_OPENMETRICS},
		{"text/plain;q=0.2, application/openmetrics-text;q=0.1", EXPO_TEXT},
		{"text/plain, application/openmetrics-text", EXPO_TEXT},
		{"application/openmetrics-text, text/plain", EXPO_OPENMETRICS},
		{"application/openmetrics-text, */*", EXPO_OPENMETRICS},
		{"*/*;q=0.5, application/openmetrics-text;q=0.4", EXPO_TEXT},
		{"text/*;q=0.3, application/openmetrics-text;q=0.4", EXPO_OPENMETRICS},
		{"application/openmetrics-text;q=2", EXPO_TEXT},
		{"application/openmetrics-text;q=abc", EXPO_TEXT},
		{"application/openmetrics-text;q=1.0001", EXPO_TEXT},
		{"  application/openmetrics-text  ;  q = 0.9 , text/plain;q=0.8", EXPO_OPENMETRICS},
		{"application/openmetrics-text;foo=\"a,b;c\";q=0.9, text/plain;q=0.8", EXPO_OPENMETRICS},
		{"application/openmetrics-textx", EXPO_TEXT},
		{"application/openmetrics-text;version=1.0.0;q=0, application/openmetrics-text;q=1", EXPO_TEXT},
	};
	for (size_t i = 0; i < sizeof t / sizeof t[0]; i++)
		cr_expect_eq(expo_negotiate(t[i].accept), t[i].want, "Accept: %s", t[i].accept ? t[i].accept : "(null)");
}

Test(expose_negotiate, gzip_table)
{
	static const struct {
		const char *ae;
		int want;
	} t[] = {
		{NULL, 0},
		{"", 0},
		{"gzip", 1},
		{"GZIP", 1},
		{"x-gzip", 1},
		{"deflate, gzip;q=1.0, *;q=0.5", 1},
		{"gzip;q=0", 0},
		{"gzip; q=0.000", 0},
		{"gzip;q=0, *", 0},
		{"*", 1},
		{"*;q=0", 0},
		{"identity", 0},
		{"br, deflate", 0},
		{"identity;q=0, *", 1},
		{"gzip;q=0.5, identity", 0},
		{"gzip, identity;q=0.5", 1},
		{"gzip;q=0.5, identity;q=0.5", 1},
		{"gzipx", 0},
		{"gzip;q=x", 0},
		{" gzip ;q=0.2 ", 1},
	};
	for (size_t i = 0; i < sizeof t / sizeof t[0]; i++)
		cr_expect_eq(expo_accepts_gzip(t[i].ae), t[i].want, "Accept-Encoding: %s", t[i].ae ? t[i].ae : "(null)");
}

Test(expose_negotiate, content_types)
{
	cr_expect_str_eq(expo_content_type(EXPO_TEXT), "text/plain; version=0.0.4; charset=utf-8");
	cr_expect_str_eq(expo_content_type(EXPO_OPENMETRICS),
			 "application/openmetrics-text; version=1.0.0; charset=utf-8");
}

/* ---- gzip ---- */

static void gunzip_equal(const struct expo_buf *z, const char *want, size_t len)
{
	cr_assert(z->len >= 18);
	cr_expect_eq((unsigned char)z->data[0], 0x1f);
	cr_expect_eq((unsigned char)z->data[1], 0x8b);
	z_stream s;
	memset(&s, 0, sizeof s);
	cr_assert_eq(inflateInit2(&s, 31), Z_OK);
	char *got = malloc(len + 16);
	s.next_in = (unsigned char *)z->data;
	s.avail_in = (uInt)z->len;
	s.next_out = (unsigned char *)got;
	s.avail_out = (uInt)(len + 16);
	cr_expect_eq(inflate(&s, Z_FINISH), Z_STREAM_END);
	cr_expect_eq(s.total_out, len);
	cr_expect_eq(s.avail_in, 0u, "trailing bytes after the gzip member");
	cr_expect_eq(memcmp(got, want, len), 0);
	inflateEnd(&s);
	free(got);
}

Test(expose_gzip, round_trip)
{
	struct snap_fixture f;
	fixture_full(&f);
	char *out = render_text(&f, EXPO_TEXT, CFG_NAMING_PROMETHEUS);
	struct expo_buf z = {0};
	cr_assert_eq(expo_gzip(out, strlen(out), &z), 0);
	cr_expect_lt(z.len, strlen(out));
	gunzip_equal(&z, out, strlen(out));
	/* the buffer is reused: a second, smaller input replaces the first */
	cr_assert_eq(expo_gzip("x", 1, &z), 0);
	gunzip_equal(&z, "x", 1);
	cr_assert_eq(expo_gzip("", 0, &z), 0);
	gunzip_equal(&z, "", 0);
	expo_buf_free(&z);
	free(out);
	fixture_free(&f);
}

Test(expose_gzip, incompressible_input)
{
	size_t len = 1 << 20;
	char *in = malloc(len);
	uint64_t x = 88172645463325252ull;
	for (size_t i = 0; i < len; i++) {
		x ^= x << 13, x ^= x >> 7, x ^= x << 17;
		in[i] = (char)x;
	}
	struct expo_buf z = {0};
	cr_assert_eq(expo_gzip(in, len, &z), 0);
	gunzip_equal(&z, in, len);
	expo_buf_free(&z);
	free(in);
}
