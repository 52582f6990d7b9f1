/* bench/bench_expose.c — micro-benchmark of the exposition formats: a
 * snapshot of 2,000 series with every default family, rendered as text
 * 0.0.4 and OpenMetrics into one reused buffer, then gzipped at levels 1..6.
 * Budgets (SPEC-derived): render <= 10 ms, gzip <= 40 ms on top.
 *
 * Build and run from the repository root:
 *   cc -std=gnu11 -O2 -D_GNU_SOURCE -Icore -o build/bench_expose \
 *      bench/bench_expose.c core/expose.c core/metrics_table.c core/registry.c \
 *      core/tracker.c -lz -lpthread && build/bench_expose [series] [rounds]
 * (without core/tracker.c and core/registry.c the stand-ins below are used).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <zlib.h>

#include "expose.h"
#include "registry.h"
#include "tracker.h"

__attribute__((weak)) const char *trk_method_name(unsigned m)
{
	static const char *const n[] = {"_OTHER", "GET",     "HEAD",  "POST",  "PUT",
					"DELETE", "CONNECT", "OPTIONS", "TRACE", "PATCH"};
	return m < TRK_M_COUNT ? n[m] : "_OTHER";
}
__attribute__((weak)) const struct reg_config *reg_config(const struct reg *r)
{
	(void)r;
	return NULL;
}
__attribute__((weak)) const uint64_t reg_size_bounds[REG_SIZE_BUCKETS] = {100,     1000,     10000,    100000,
									  1000000, 10000000, 100000000};

static double now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static int cmp_d(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

struct stat_ms {
	double min, median;
};

static struct stat_ms stats(double *t, int n)
{
	qsort(t, (size_t)n, sizeof *t, cmp_d);
	return (struct stat_ms){t[0], t[n / 2]};
}

static int gzip_level(const char *in, size_t len, int level, struct expo_buf *out)
{
	/* same as expo_gzip, with the level as a parameter */
	z_stream z;
	memset(&z, 0, sizeof z);
	if (deflateInit2(&z, level, Z_DEFLATED, 31, 8, Z_DEFAULT_STRATEGY) != Z_OK)
		return -1;
	uLong bound = deflateBound(&z, (uLong)len);
	if (out->cap < bound) {
		free(out->data);
		out->data = malloc(bound);
		out->cap = bound;
	}
	z.next_in = (unsigned char *)in;
	z.avail_in = (uInt)len;
	z.next_out = (unsigned char *)out->data;
	z.avail_out = (uInt)out->cap;
	int rc = deflate(&z, Z_FINISH);
	out->len = out->cap - z.avail_out;
	deflateEnd(&z);
	return rc == Z_STREAM_END ? 0 : -1;
}

int main(int argc, char **argv)
{
	size_t n = argc > 1 ? (size_t)atoi(argv[1]) : 2000;
	int rounds = argc > 2 ? atoi(argv[2]) : 50;
	if (n == 0 || rounds <= 0 || rounds > 10000)
		return 2;
	static const double buckets[] = {.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10};
	struct reg_config cfg = {.max_series = 2000, .n_buckets = 11};
	memcpy(cfg.bucket_s, buckets, sizeof buckets);

	struct reg_snap_series *ser = calloc(n, sizeof *ser);
	char (*routes)[48] = calloc(n, sizeof *routes);
	if (!ser || !routes)
		return 1;
	static const unsigned short statuses[] = {200, 201, 204, 301, 400, 404, 500, 503};
	uint64_t x = 0x9e3779b97f4a7c15ull;
	for (size_t i = 0; i < n; i++) {
		struct reg_snap_series *s = &ser[i];
		int len = snprintf(routes[i], sizeof routes[i], "/api/v1/resource%03zu/{id}/items", i / 8);
		s->method = (uint8_t)(1 + i % 4);
		s->status = statuses[i % 8];
		s->route = REG_ROUTE_FIRST + (uint32_t)(i / 8);
		s->route_label = routes[i];
		s->route_len = (size_t)len;
		x ^= x << 13, x ^= x >> 7, x ^= x << 17;
		s->count = x % 10000000;
		uint64_t c = 0;
		for (unsigned k = 0; k < cfg.n_buckets; k++) {
			c += (s->count - c) / 3;
			s->dur_cum[k] = c;
		}
		c = 0;
		for (unsigned k = 0; k < REG_SIZE_BUCKETS; k++) {
			c += (s->count - c) / 2;
			s->req_cum[k] = c;
			s->resp_cum[k] = c / 2 + c / 4;
		}
		s->dur_sum_us = s->count * 23457;
		s->req_sum = s->count * 312;
		s->resp_sum = s->count * 20480;
	}
	struct reg_snap_abort ab[16];
	for (int i = 0; i < 16; i++)
		ab[i] = (struct reg_snap_abort){(uint8_t)(1 + i % 4), REG_ROUTE_FIRST + (uint32_t)i, routes[i * 8],
						strlen(routes[i * 8]), (uint64_t)i * 7};
	struct reg_snapshot snap = {.n_series = n, .series = ser, .n_aborted = 16, .aborted = ab,
				    .series_regular = n, .in_flight = 3, .conns_open = 40, .members = 5,
				    .cpu_us = 123456789, .rss_bytes = 1 << 28, .vsz_bytes = 1ull << 32,
				    .open_fds = 120, .max_fds = 1048576, .start_time_us = 1700000000123456};
	struct cfg_label labels[] = {{"service", "user-service"}, {"version", "v1.2.0"}};
	struct expo_opts o = {.naming = CFG_NAMING_PROMETHEUS, .n_labels = 2, .labels = labels,
			      .version = "bench", .reg_cfg = &cfg};

	double *t = calloc((size_t)rounds, sizeof *t);
	struct expo_buf out = {0}, z = {0};
	printf("bench_expose: %zu series, %d rounds, times in ms (min / median)\n", n, rounds);
	{
		/* first scrape: the buffer grows from nothing, pages are faulted in */
		struct expo_buf cold = {0};
		double t0 = now_ms();
		if (expo_render(&snap, &o, &cold) != 0)
			return 1;
		printf("render text, cold  %8.3f            %zu bytes\n", now_ms() - t0, cold.len);
		expo_buf_free(&cold);
	}
	for (int fmt = 0; fmt < 2; fmt++) {
		o.format = (enum expo_format)fmt;
		for (int r = 0; r < rounds; r++) {
			double t0 = now_ms();
			if (expo_render(&snap, &o, &out) != 0)
				return 1;
			t[r] = now_ms() - t0;
		}
		struct stat_ms st = stats(t, rounds);
		printf("render %-11s %8.3f / %8.3f   %zu bytes\n", fmt ? "openmetrics" : "text", st.min, st.median,
		       out.len);
	}
	o.format = EXPO_TEXT;
	expo_render(&snap, &o, &out);
	for (int level = 1; level <= 6; level++) {
		for (int r = 0; r < rounds; r++) {
			double t0 = now_ms();
			if (gzip_level(out.data, out.len, level, &z) != 0)
				return 1;
			t[r] = now_ms() - t0;
		}
		struct stat_ms st = stats(t, rounds);
		printf("gzip level %d       %8.3f / %8.3f   %zu bytes (%.1f%%)%s\n", level, st.min, st.median, z.len,
		       100.0 * (double)z.len / (double)out.len, level == EXPO_GZIP_LEVEL ? "  <- expo_gzip" : "");
	}
	for (int r = 0; r < rounds; r++) {
		double t0 = now_ms();
		if (expo_gzip(out.data, out.len, &z) != 0)
			return 1;
		t[r] = now_ms() - t0;
	}
	struct stat_ms st = stats(t, rounds);
	printf("expo_gzip          %8.3f / %8.3f   %zu bytes\n", st.min, st.median, z.len);
	expo_buf_free(&out);
	free(z.data);
	free(t);
	free(ser);
	free(routes);
	return 0;
}
