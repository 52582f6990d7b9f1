/* tests/core/test_expose_registry.c — renders the snapshot of a real
 * registry (core/registry.c), so that the renderer and the registry agree on
 * conventions: bucket order, microsecond sums, the _OTHER series. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "expose.h"
#include "registry.h"
#include "test_expose.h"
#include "tracker.h"

static const char *const L = "{service=\"users\",method=\"GET\",route=\"/users/{id}\",status_code=\"200\"";

static void expect_line(const char *out, const char *suffix, const char *le, const char *value)
{
	char want[512];
	if (le)
		snprintf(want, sizeof want, "\nhttp_request_duration_seconds%s%s,le=\"%s\"} %s\n", suffix, L, le,
			 value);
	else
		snprintf(want, sizeof want, "\nhttp_request_duration_seconds%s%s} %s\n", suffix, L, value);
	cr_expect(strstr(out, want) != NULL, "missing %s", want);
}

Test(expose_registry, renders_real_snapshot)
{
	struct reg_config cfg = {.max_series = 2000, .n_buckets = 11};
	static const double b[] = {.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10};
	memcpy(cfg.bucket_s, b, sizeof b);
	size_t size = reg_size(&cfg);
	void *mem = aligned_alloc(4096, (size + 4095) / 4096 * 4096);
	cr_assert(mem);
	memset(mem, 0, size);
	struct reg *r = reg_init(mem, size, &cfg);
	cr_assert(r);
	uint32_t users = reg_route(r, "/users/{id}", 11);
	cr_assert_geq(users, REG_ROUTE_FIRST);
	reg_observe(r, TRK_M_GET, users, 200, 3000000, 0, 150);
	reg_observe(r, TRK_M_GET, users, 200, 20000000, 50, 2000000);
	reg_observe(r, TRK_M_GET, users, 200, 2000000000, 5000, 0);
	reg_observe(r, TRK_M_POST, REG_ROUTE_INVALID, 400, 1000, 0, 0);
	reg_abort(r, TRK_M_GET, users);
	reg_add(r, REG_C_UNSUPPORTED_TLS, 2);
	reg_add(r, REG_C_CONN_ACCEPTED, 4);
	int slot = reg_member_join(r, 1234, 1700000000000000);
	reg_member_inflight(r, slot, 1);
	reg_member_conns(r, slot, 2);

	struct reg_snapshot s;
	cr_assert_eq(reg_snapshot_take(r, &s), 0);
	struct cfg_label lab = {"service", "users"};
	struct expo_opts o = {.format = EXPO_TEXT, .n_labels = 1, .labels = &lab, .version = "t"};
	/* no reg_cfg: the renderer asks the registry for its configuration */
	struct expo_buf buf = {0};
	cr_assert_eq(expo_render(&s, &o, &buf), 0);
	char *out = strndup(buf.data, buf.len);

	static const char *const le[] = {"0.005", "0.01", "0.025", "0.05", "0.1", "0.25",
					 "0.5",   "1",    "2.5",   "5",    "10",  "+Inf"};
	static const char *const cum[] = {"1", "1", "2", "2", "2", "2", "2", "2", "3", "3", "3", "3"};
	for (int i = 0; i < 12; i++)
		expect_line(out, "_bucket", le[i], cum[i]);
	expect_line(out, "_sum", NULL, "2.023");
	expect_line(out, "_count", NULL, "3");
	char want[512];
	snprintf(want, sizeof want, "\nhttp_requests_total%s} 3\n", L);
	cr_expect(strstr(out, want) != NULL, "missing %s", want);
	snprintf(want, sizeof want, "\nhttp_response_size_bytes_bucket%s,le=\"1e+06\"} 2\n", L);
	cr_expect(strstr(out, want) != NULL, "missing %s", want);
	snprintf(want, sizeof want, "\nhttp_request_size_bytes_sum%s} 5050\n", L);
	cr_expect(strstr(out, want) != NULL, "missing %s", want);
	cr_expect(strstr(out, "\nhttp_requests_total{service=\"users\",method=\"POST\",route=\"_INVALID\","
			      "status_code=\"400\"} 1\n") != NULL);
	cr_expect(strstr(out, "\nhttp_requests_aborted_total{service=\"users\",method=\"GET\","
			      "route=\"/users/{id}\"} 1\n") != NULL);
	cr_expect(strstr(out, "\nhttp_requests_in_flight{service=\"users\"} 1\n") != NULL);
	cr_expect(strstr(out, "\nhttp_connections_open{service=\"users\"} 2\n") != NULL);
	cr_expect(strstr(out, "\nhttp_connections_accepted_total{service=\"users\"} 4\n") != NULL);
	cr_expect(strstr(out, "\npromshim_unsupported_connections_total{reason=\"tls\"} 2\n") != NULL);
	cr_expect(strstr(out, "\npromshim_series_limit 2000\n") != NULL);
	cr_expect(strstr(out, "\npromshim_family_processes 1\n") != NULL);

	char msg[4096];
	cr_expect_null(structure_check(out, 0));
	int st = promtool_check(out, msg, sizeof msg);
	cr_expect_eq(st, 0, "promtool: %s", msg);
	o.format = EXPO_OPENMETRICS;
	cr_assert_eq(expo_render(&s, &o, &buf), 0);
	free(out);
	out = strndup(buf.data, buf.len);
	cr_expect_null(structure_check(out, 1));
	st = openmetrics_check(out, msg, sizeof msg);
	cr_expect_eq(st, 0, "OpenMetrics parser: %s", msg);

	free(out);
	expo_buf_free(&buf);
	reg_snapshot_free(&s);
	free(mem);
}
