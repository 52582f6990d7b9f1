/* tests/core/test_registry.c — exact behaviour of the registry: buckets,
 * sums, the series cap and overflow area, aborted requests, route interning,
 * member slots and counters. Suites registry, registry_route, registry_member.
 */
#include <criterion/criterion.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <stdint.h>
#include <string.h>
#include <sys/mman.h>

#include "registry.h"
#include "test_registry.h"
#include "tracker.h"

struct reg *treg_new(unsigned max_series, size_t *size_out)
{
	struct reg_config cfg = {.max_series = max_series, .n_buckets = 11,
				 .bucket_s = {.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10}};
	size_t size = reg_size(&cfg);
	cr_assert_gt(size, 0);
	void *mem = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	cr_assert_neq(mem, MAP_FAILED);
	struct reg *r = reg_init(mem, size, &cfg);
	cr_assert_not_null(r);
	if (size_out)
		*size_out = size;
	return r;
}

const char *treg_check(const struct reg_snapshot *s)
{
	unsigned nb = reg_config(s->reg)->n_buckets;
	for (size_t i = 0; i < s->n_series; i++) {
		const struct reg_snap_series *x = &s->series[i];
		const uint64_t *arr[3] = {x->dur_cum, x->req_cum, x->resp_cum};
		unsigned n[3] = {nb, REG_SIZE_BUCKETS, REG_SIZE_BUCKETS};
		for (int h = 0; h < 3; h++) {
			for (unsigned k = 0; k < n[h]; k++) {
				if (k > 0 && arr[h][k] < arr[h][k - 1])
					return "bucket decreases";
				if (arr[h][k] > x->count)
					return "bucket above count";
			}
		}
		if (!x->route_label)
			return "no route label";
		if (i > 0) {
			const struct reg_snap_series *p = &s->series[i - 1];
			size_t m = p->route_len < x->route_len ? p->route_len : x->route_len;
			int c = memcmp(p->route_label, x->route_label, m);
			if (c == 0)
				c = p->route_len < x->route_len ? -1 : p->route_len > x->route_len;
			if (c == 0)
				c = p->method < x->method ? -1 : p->method > x->method;
			if (c == 0)
				c = p->status < x->status ? -1 : p->status > x->status;
			if (c >= 0)
				return "series not strictly sorted";
		}
	}
	for (size_t i = 1; i < s->n_aborted; i++) {
		const struct reg_snap_abort *p = &s->aborted[i - 1], *x = &s->aborted[i];
		size_t m = p->route_len < x->route_len ? p->route_len : x->route_len;
		int c = memcmp(p->route_label, x->route_label, m);
		if (c == 0)
			c = p->route_len < x->route_len ? -1 : p->route_len > x->route_len;
		if (c == 0)
			c = p->method < x->method ? -1 : p->method > x->method;
		if (c >= 0)
			return "aborted not strictly sorted";
	}
	return NULL;
}

uint64_t treg_total(const struct reg_snapshot *s)
{
	uint64_t t = 0;
	for (size_t i = 0; i < s->n_series; i++)
		t += s->series[i].count;
	return t;
}

const struct reg_snap_series *treg_find(const struct reg_snapshot *s, unsigned m, const char *route,
					unsigned status)
{
	size_t len = strlen(route);
	for (size_t i = 0; i < s->n_series; i++) {
		const struct reg_snap_series *x = &s->series[i];
		if (x->method == m && x->status == status && x->route_len == len &&
		    memcmp(x->route_label, route, len) == 0)
			return x;
	}
	return NULL;
}

static struct reg_snapshot take(struct reg *r)
{
	struct reg_snapshot s;
	cr_assert_eq(reg_snapshot_take(r, &s), 0);
	const char *err = treg_check(&s);
	cr_assert_null(err, "inconsistent snapshot: %s", err);
	return s;
}

static uint32_t route(struct reg *r, const char *l)
{
	return reg_route(r, l, strlen(l));
}

Test(registry, config_checked)
{
	struct reg_config cfg = {.max_series = 10, .n_buckets = 2, .bucket_s = {1, 2}};
	size_t size = reg_size(&cfg);
	cr_assert_gt(size, 0);
	char *buf = aligned_alloc(64, size + 64);
	cr_assert_not_null(buf);
	memset(buf, 0, size + 64);
	cr_assert_null(reg_init(buf, size - 1, &cfg));
	cr_assert_null(reg_init(buf + 8, size, &cfg)); /* misaligned */
	struct reg_config bad = cfg;
	bad.n_buckets = 0;
	cr_assert_eq(reg_size(&bad), 0);
	bad.n_buckets = REG_MAX_BUCKETS + 1;
	cr_assert_eq(reg_size(&bad), 0);
	bad = cfg;
	bad.bucket_s[1] = 1; /* not increasing */
	cr_assert_eq(reg_size(&bad), 0);
	bad.bucket_s[1] = -3;
	cr_assert_eq(reg_size(&bad), 0);
	struct reg *r = reg_init(buf, size, &cfg);
	cr_assert_not_null(r);
	cr_assert_eq(reg_config(r)->max_series, 10);
	cr_assert_eq(reg_config(r)->n_buckets, 2);
	free(buf);
}

Test(registry, duration_buckets_at_bounds)
{
	struct reg *r = treg_new(100, NULL);
	uint32_t a = route(r, "/a");
	/* le means <=: exactly 5 ms lands in the first bucket */
	reg_observe(r, TRK_M_GET, a, 200, 5000000, 0, 0);
	reg_observe(r, TRK_M_GET, a, 200, 5000001, 0, 0);
	reg_observe(r, TRK_M_GET, a, 200, 0, 0, 0);
	reg_observe(r, TRK_M_GET, a, 200, 10000000000ull, 0, 0); /* 10 s: last bucket */
	reg_observe(r, TRK_M_GET, a, 200, 10000000001ull, 0, 0); /* +Inf only */
	reg_observe(r, TRK_M_GET, a, 200, 250000000, 0, 0);      /* .25 */
	struct reg_snapshot s = take(r);
	cr_assert_eq(s.n_series, 1);
	const struct reg_snap_series *x = treg_find(&s, TRK_M_GET, "/a", 200);
	cr_assert_not_null(x);
	cr_assert_eq(x->count, 6);
	static const uint64_t want[11] = {2, 3, 3, 3, 3, 4, 4, 4, 4, 4, 5};
	for (int i = 0; i < 11; i++)
		cr_assert_eq(x->dur_cum[i], want[i], "bucket %d: %lu", i, (unsigned long)x->dur_cum[i]);
	/* rounded to the nearest microsecond each */
	cr_assert_eq(x->dur_sum_us, 5000 + 5000 + 0 + 10000000 + 10000000 + 250000);
	reg_snapshot_free(&s);
}

Test(registry, duration_sum_rounding)
{
	struct reg *r = treg_new(100, NULL);
	uint32_t a = route(r, "/a");
	reg_observe(r, TRK_M_GET, a, 200, 1499, 0, 0);
	reg_observe(r, TRK_M_GET, a, 200, 1500, 0, 0);
	reg_observe(r, TRK_M_GET, a, 200, 499, 0, 0);
	struct reg_snapshot s = take(r);
	cr_assert_eq(s.series[0].dur_sum_us, 1 + 2 + 0);
	reg_snapshot_free(&s);
}

Test(registry, size_buckets)
{
	static const uint64_t bounds[REG_SIZE_BUCKETS] = {100, 1000, 10000, 100000, 1000000, 10000000, 100000000};
	for (int i = 0; i < REG_SIZE_BUCKETS; i++)
		cr_assert_eq(reg_size_bounds[i], bounds[i]);
	struct reg *r = treg_new(100, NULL);
	uint32_t a = route(r, "/up");
	uint64_t req[] = {0, 100, 101, 1000, 100000000, 100000001};
	uint64_t resp[] = {5, 99, 10000, 10001, 1000000, 7};
	for (int i = 0; i < 6; i++)
		reg_observe(r, TRK_M_POST, a, 201, 1000, req[i], resp[i]);
	struct reg_snapshot s = take(r);
	const struct reg_snap_series *x = treg_find(&s, TRK_M_POST, "/up", 201);
	cr_assert_not_null(x);
	cr_assert_eq(x->count, 6);
	static const uint64_t want_req[7] = {2, 4, 4, 4, 4, 4, 5};
	static const uint64_t want_resp[7] = {3, 3, 4, 5, 6, 6, 6};
	for (int i = 0; i < 7; i++) {
		cr_assert_eq(x->req_cum[i], want_req[i], "req %d", i);
		cr_assert_eq(x->resp_cum[i], want_resp[i], "resp %d", i);
	}
	cr_assert_eq(x->req_sum, 0 + 100 + 101 + 1000 + 100000000 + 100000001ull);
	cr_assert_eq(x->resp_sum, 5 + 99 + 10000 + 10001 + 1000000 + 7);
	reg_snapshot_free(&s);
}

Test(registry, series_cap_and_overflow_area)
{
	struct reg *r = treg_new(5, NULL);
	uint64_t n = 0;
	char l[32];
	/* five regular series, three observations each */
	for (int k = 0; k < 3; k++)
		for (int i = 0; i < 5; i++) {
			snprintf(l, sizeof l, "/r%d", i);
			reg_observe(r, TRK_M_GET, route(r, l), 200, 1000, 0, 0), n++;
		}
	/* the 6th label set goes to (GET, _OTHER, 200) */
	reg_observe(r, TRK_M_GET, route(r, "/r5"), 200, 1000, 0, 0), n++;
	reg_observe(r, TRK_M_GET, route(r, "/r6"), 200, 1000, 0, 0), n++;
	struct reg_snapshot s = take(r);
	cr_assert_eq(s.series_regular, 5);
	cr_assert_eq(s.n_series, 6);
	cr_assert_eq(s.overflow, 2);
	const struct reg_snap_series *x = treg_find(&s, TRK_M_GET, "_OTHER", 200);
	cr_assert_not_null(x);
	cr_assert_eq(x->count, 2);
	cr_assert_eq(x->route, REG_ROUTE_OTHER);
	cr_assert_eq(treg_find(&s, TRK_M_GET, "/r3", 200)->count, 3);
	reg_snapshot_free(&s);

	/* existing series still record normally */
	reg_observe(r, TRK_M_GET, route(r, "/r0"), 200, 1000, 0, 0), n++;
	/* 63 more overflow series fill the area of 64 */
	for (unsigned st = 201; st < 264; st++)
		reg_observe(r, TRK_M_GET, route(r, "/new"), st, 1000, 0, 0), n++;
	/* past that: the all-_OTHER series, for any new (method, status) */
	reg_observe(r, TRK_M_GET, route(r, "/new"), 264, 1000, 0, 0), n++;
	reg_observe(r, TRK_M_PUT, route(r, "/x"), 500, 1000, 0, 0), n++;
	/* but a (method, status) already in the area keeps its series */
	reg_observe(r, TRK_M_GET, route(r, "/y"), 230, 1000, 0, 0), n++;
	s = take(r);
	cr_assert_eq(s.series_regular, 5);
	cr_assert_eq(s.n_series, 5 + 64 + 1);
	cr_assert_eq(s.overflow, 2 + 63 + 2 + 1);
	cr_assert_eq(treg_find(&s, TRK_M_GET, "/r0", 200)->count, 4);
	cr_assert_eq(treg_find(&s, TRK_M_GET, "_OTHER", 230)->count, 2);
	x = treg_find(&s, TRK_M_OTHER, "_OTHER", 0);
	cr_assert_not_null(x);
	cr_assert_eq(x->count, 2);
	cr_assert_null(treg_find(&s, TRK_M_GET, "_OTHER", 264));
	cr_assert_null(treg_find(&s, TRK_M_PUT, "_OTHER", 500));
	cr_assert_eq(treg_total(&s), n);
	reg_snapshot_free(&s);
}

Test(registry, route_other_goes_to_overflow)
{
	struct reg *r = treg_new(5, NULL);
	reg_observe(r, TRK_M_DELETE, REG_ROUTE_OTHER, 404, 1000, 0, 0);
	reg_observe(r, TRK_M_DELETE, REG_ROUTE_INVALID, 400, 1000, 0, 0);
	/* method _OTHER with status 0 can only be the all-_OTHER series */
	reg_observe(r, TRK_M_OTHER, REG_ROUTE_OTHER, 0, 1000, 0, 0);
	/* out-of-range method and status are normalised to _OTHER */
	reg_observe(r, 200, REG_ROUTE_OTHER, 5000, 1000, 0, 0);
	struct reg_snapshot s = take(r);
	cr_assert_eq(s.series_regular, 1);
	cr_assert_eq(s.overflow, 3);
	cr_assert_eq(treg_find(&s, TRK_M_DELETE, "_OTHER", 404)->count, 1);
	cr_assert_eq(treg_find(&s, TRK_M_DELETE, "_INVALID", 400)->count, 1);
	cr_assert_eq(treg_find(&s, TRK_M_OTHER, "_OTHER", 0)->count, 2);
	cr_assert_eq(s.n_series, 3);
	reg_snapshot_free(&s);
}

Test(registry, aborted_cap)
{
	struct reg *r = treg_new(3, NULL);
	char l[32];
	uint64_t n = 0;
	for (int i = 0; i < 3; i++) {
		snprintf(l, sizeof l, "/a%d", i);
		reg_abort(r, TRK_M_GET, route(r, l)), n++;
		reg_abort(r, TRK_M_GET, route(r, l)), n++;
	}
	for (int i = 3; i < 10; i++) {
		snprintf(l, sizeof l, "/a%d", i);
		reg_abort(r, TRK_M_POST, route(r, l)), n++;
	}
	reg_abort(r, TRK_M_PATCH, route(r, "/z")), n++;
	reg_abort(r, TRK_M_OTHER, route(r, "/z")), n++;
	reg_abort(r, TRK_M_OTHER, REG_ROUTE_OTHER), n++;
	struct reg_snapshot s = take(r);
	cr_assert_eq(s.aborted_regular, 3);
	cr_assert_eq(s.overflow_aborted, 7 + 1 + 2);
	cr_assert_eq(s.overflow, s.overflow_aborted);
	cr_assert_eq(s.n_aborted, 3 + 3);
	uint64_t t = 0;
	for (size_t i = 0; i < s.n_aborted; i++)
		t += s.aborted[i].count;
	cr_assert_eq(t, n);
	/* sorted by label: "/a0" < "/a1" < "/a2" < "_OTHER"(GET... ) */
	cr_assert_eq(s.aborted[0].route_len, 3);
	cr_assert_eq(memcmp(s.aborted[0].route_label, "/a0", 3), 0);
	cr_assert_eq(s.aborted[0].count, 2);
	cr_assert_eq(s.aborted[3].method, TRK_M_OTHER);
	cr_assert_eq(s.aborted[3].count, 2);
	cr_assert_eq(s.aborted[4].method, TRK_M_POST);
	cr_assert_eq(s.aborted[4].count, 7);
	cr_assert_eq(s.aborted[5].method, TRK_M_PATCH);
	cr_assert_eq(s.aborted[5].count, 1);
	cr_assert_eq(s.n_series, 0);
	reg_snapshot_free(&s);
}

Test(registry, snapshot_sorted)
{
	struct reg *r = treg_new(100, NULL);
	reg_observe(r, TRK_M_POST, route(r, "/b"), 200, 1, 0, 0);
	reg_observe(r, TRK_M_GET, route(r, "/b"), 500, 1, 0, 0);
	reg_observe(r, TRK_M_GET, route(r, "/b"), 200, 1, 0, 0);
	reg_observe(r, TRK_M_GET, route(r, "/a/x"), 200, 1, 0, 0);
	reg_observe(r, TRK_M_GET, route(r, "/a"), 200, 1, 0, 0);
	reg_observe(r, TRK_M_GET, REG_ROUTE_ASTERISK, 200, 1, 0, 0);
	struct reg_snapshot s = take(r);
	cr_assert_eq(s.n_series, 6);
	const char *want_route[] = {"*", "/a", "/a/x", "/b", "/b", "/b"};
	unsigned want_m[] = {TRK_M_GET, TRK_M_GET, TRK_M_GET, TRK_M_GET, TRK_M_GET, TRK_M_POST};
	unsigned want_s[] = {200, 200, 200, 200, 500, 200};
	for (int i = 0; i < 6; i++) {
		cr_assert_eq(s.series[i].route_len, strlen(want_route[i]));
		cr_assert_eq(memcmp(s.series[i].route_label, want_route[i], s.series[i].route_len), 0);
		cr_assert_eq(s.series[i].method, want_m[i]);
		cr_assert_eq(s.series[i].status, want_s[i]);
		cr_assert_eq(s.series[i].count, 1);
	}
	cr_assert_eq(s.series_regular, 6);
	cr_assert_eq(s.overflow, 0);
	reg_snapshot_free(&s);
}

Test(registry, counters)
{
	struct reg *r = treg_new(10, NULL);
	for (int c = 0; c < REG_C_COUNT; c++)
		reg_add(r, c, (uint64_t)c + 1);
	reg_add(r, REG_C_SCRAPES, 10);
	reg_add(r, REG_C_COUNT, 99); /* ignored */
	struct reg_snapshot s = take(r);
	for (int c = 0; c < REG_C_COUNT; c++)
		cr_assert_eq(s.counters[c], (uint64_t)c + 1 + (c == REG_C_SCRAPES ? 10 : 0));
	reg_snapshot_free(&s);
}

Test(registry_route, intern_and_name)
{
	struct reg *r = treg_new(20, NULL);
	uint32_t a = route(r, "/users/{id}");
	uint32_t b = route(r, "/orders");
	cr_assert_geq(a, REG_ROUTE_FIRST);
	cr_assert_geq(b, REG_ROUTE_FIRST);
	cr_assert_neq(a, b);
	cr_assert_eq(route(r, "/users/{id}"), a);
	cr_assert_eq(reg_route(r, "/orders/x", 7), b); /* length counts, not NUL */
	size_t len;
	const char *n = reg_route_name(r, a, &len);
	cr_assert_eq(len, 11);
	cr_assert_eq(memcmp(n, "/users/{id}", 11), 0);
	cr_assert_eq(route(r, "_OTHER"), REG_ROUTE_OTHER);
	cr_assert_eq(route(r, "_INVALID"), REG_ROUTE_INVALID);
	cr_assert_eq(route(r, "*"), REG_ROUTE_ASTERISK);
	cr_assert_eq(route(r, "_CONNECT"), REG_ROUTE_CONNECT);
	n = reg_route_name(r, REG_ROUTE_CONNECT, &len);
	cr_assert_eq(len, 8);
	cr_assert_eq(memcmp(n, "_CONNECT", 8), 0);
	n = reg_route_name(r, 0xfffffff0u, &len);
	cr_assert_eq(len, 6);
	cr_assert_eq(memcmp(n, "_OTHER", 6), 0);
	/* empty label and a label of the full length */
	uint32_t e = reg_route(r, "", 0);
	cr_assert_geq(e, REG_ROUTE_FIRST);
	cr_assert_eq(reg_route(r, "", 0), e);
	char big[REG_ROUTE_MAX + 10];
	memset(big, 'x', sizeof big);
	uint32_t g = reg_route(r, big, REG_ROUTE_MAX);
	cr_assert_eq(reg_route(r, big, sizeof big), g); /* cut to REG_ROUTE_MAX */
	reg_route_name(r, g, &len);
	cr_assert_eq(len, REG_ROUTE_MAX);
}

Test(registry_route, table_full)
{
	/* the route table admits max_series + max_series/8 + 64 labels */
	struct reg *r = treg_new(40, NULL);
	unsigned limit = 40 + 5 + 64;
	char l[32];
	uint32_t ids[200];
	for (unsigned i = 0; i < limit; i++) {
		snprintf(l, sizeof l, "/p/%u", i);
		ids[i] = route(r, l);
		cr_assert_geq(ids[i], REG_ROUTE_FIRST, "route %u", i);
		for (unsigned j = 0; j < i; j++)
			cr_assert_neq(ids[i], ids[j]);
	}
	cr_assert_eq(route(r, "/one/more"), REG_ROUTE_OTHER);
	cr_assert_eq(route(r, "/p/0"), ids[0]);
	snprintf(l, sizeof l, "/p/%u", limit - 1);
	cr_assert_eq(route(r, l), ids[limit - 1]);
	cr_assert_eq(route(r, "_INVALID"), REG_ROUTE_INVALID);
}

/* A process killed between claiming a route slot and publishing it leaves
 * the slot BUSY. The slot layout is {u64 word, u32 len, u32 pad, label}: the
 * test checks that assumption before using it. */
Test(registry_route, busy_slot_left_by_dead_writer)
{
	struct reg *r = treg_new(20, NULL);
	uint32_t id = route(r, "/stuck");
	size_t len;
	const char *name = reg_route_name(r, id, &len);
	_Atomic uint64_t *word = (_Atomic uint64_t *)(void *)(name - 16);
	uint32_t *lenp = (uint32_t *)(void *)(name - 8);
	cr_assert_eq(*lenp, 6);
	uint64_t w = atomic_load(word);
	cr_assert_neq(w, 0);
	cr_assert_eq(w >> 63, 0);
	reg_observe(r, TRK_M_GET, id, 200, 1000, 0, 0);
	reg_observe(r, TRK_M_GET, REG_ROUTE_OTHER, 200, 1000, 0, 0);
	atomic_store(word, w | 1ull << 63);
	/* a lookup meeting it does not wait and does not intern twice */
	cr_assert_eq(route(r, "/stuck"), id);
	name = reg_route_name(r, id, &len);
	cr_assert_eq(len, 6);
	cr_assert_eq(memcmp(name, "_OTHER", 6), 0);
	reg_observe(r, TRK_M_GET, id, 200, 1000, 0, 0);
	reg_abort(r, TRK_M_GET, id);
	reg_abort(r, TRK_M_GET, REG_ROUTE_OTHER);
	struct reg_snapshot s = take(r);
	/* rendered under _OTHER and merged with the overflow series of the
	 * same method and status: no duplicate */
	cr_assert_eq(s.n_series, 1);
	cr_assert_eq(s.series[0].count, 3);
	cr_assert_eq(s.series[0].route, REG_ROUTE_OTHER);
	cr_assert_eq(s.series[0].dur_cum[0], 3);
	cr_assert_eq(s.n_aborted, 1);
	cr_assert_eq(s.aborted[0].count, 2);
	reg_snapshot_free(&s);
}

Test(registry_member, join_gauges_leave)
{
	struct reg *r = treg_new(10, NULL);
	int a = reg_member_join(r, 1000, 5000000);
	int b = reg_member_join(r, 1001, 4000000);
	cr_assert_geq(a, 0);
	cr_assert_geq(b, 0);
	cr_assert_neq(a, b);
	cr_assert_eq(reg_member_pid(r, a), 1000);
	cr_assert_eq(reg_member_pid(r, b), 1001);
	reg_member_inflight(r, a, 3);
	reg_member_inflight(r, b, 2);
	reg_member_inflight(r, a, -1);
	reg_member_conns(r, a, 7);
	reg_member_conns(r, b, 1);
	struct reg_member_figures fa = {.cpu_us = 100, .rss_bytes = 10, .vsz_bytes = 20, .open_fds = 3, .max_fds = 1024};
	struct reg_member_figures fb = {.cpu_us = 50, .rss_bytes = 1, .vsz_bytes = 2, .open_fds = 4, .max_fds = 1024};
	reg_member_set_figures(r, a, &fa);
	reg_member_set_figures(r, b, &fb);
	struct reg_snapshot s = take(r);
	cr_assert_eq(s.members, 2);
	cr_assert_eq(s.in_flight, 4);
	cr_assert_eq(s.conns_open, 8);
	cr_assert_eq(s.cpu_us, 150);
	cr_assert_eq(s.rss_bytes, 11);
	cr_assert_eq(s.vsz_bytes, 22);
	cr_assert_eq(s.open_fds, 7);
	cr_assert_eq(s.max_fds, 2048);
	cr_assert_eq(s.start_time_us, 4000000);
	reg_snapshot_free(&s);

	/* b is killed with 2 requests in flight: its gauges go, its CPU stays */
	reg_member_leave(r, b, 70);
	reg_member_leave(r, b, 70); /* twice is harmless */
	cr_assert_eq(reg_member_pid(r, b), 0);
	s = take(r);
	cr_assert_eq(s.members, 1);
	cr_assert_eq(s.in_flight, 2);
	cr_assert_eq(s.conns_open, 7);
	cr_assert_eq(s.cpu_us, 170);
	cr_assert_eq(s.rss_bytes, 10);
	cr_assert_eq(s.start_time_us, 4000000); /* the first member's */
	reg_snapshot_free(&s);

	/* a stale, lower CPU figure does not take the total back */
	fa.cpu_us = 90;
	reg_member_set_figures(r, a, &fa);
	s = take(r);
	cr_assert_eq(s.cpu_us, 170);
	reg_snapshot_free(&s);

	/* leaving with a final figure lower than the stored one keeps the
	 * stored one; a slot reused by a new pid is not dropped by a stale
	 * reaper */
	/* an unknown start time (0) never becomes the family's */
	int z = reg_member_join(r, 1003, 0);
	cr_assert_geq(z, 0);
	struct reg_member_figures fz = {.start_time_us = 3500000};
	reg_member_set_figures(r, z, &fz);
	s = take(r);
	cr_assert_eq(s.start_time_us, 3500000);
	cr_assert_eq(s.members, 2);
	reg_snapshot_free(&s);
	reg_member_leave(r, z, 0);
	int c = reg_member_join(r, 1002, 6000000);
	cr_assert_geq(c, 0);
	cr_assert_eq(reg_member_drop(r, c, 999, 5), 0);
	cr_assert_eq(reg_member_pid(r, c), 1002);
	reg_member_leave(r, a, 20);
	s = take(r);
	cr_assert_eq(s.members, 1);
	cr_assert_eq(s.cpu_us, 170);
	cr_assert_eq(s.in_flight, 0);
	reg_snapshot_free(&s);
	fa.cpu_us = 5;
	reg_member_set_figures(r, c, &fa);
	s = take(r);
	cr_assert_eq(s.cpu_us, 175);
	reg_snapshot_free(&s);
	cr_assert_eq(reg_member_drop(r, c, 1002, 0), 1);
	cr_assert_eq(reg_member_drop(r, c, 1002, 0), 0);
	s = take(r);
	cr_assert_eq(s.members, 0);
	cr_assert_eq(s.cpu_us, 175);
	reg_snapshot_free(&s);
}

Test(registry_member, spill_slot)
{
	struct reg *r = treg_new(10, NULL);
	for (int i = 0; i < REG_MAX_MEMBERS; i++)
		cr_assert_geq(reg_member_join(r, 100 + i, 1), 0);
	cr_assert_eq(reg_member_join(r, 5000, 1), -1);
	cr_assert_eq(reg_member_join(r, 0, 1), -1);
	reg_member_inflight(r, -1, 5);
	reg_member_conns(r, -1, 2);
	reg_member_inflight(r, 0, 1);
	/* the word a caller adds to itself is the slot's (or the spill's) */
	cr_assert_eq(reg_member_inflight_word(r, -1), reg_member_inflight_word(r, REG_MAX_MEMBERS));
	cr_assert_neq(reg_member_inflight_word(r, -1), reg_member_inflight_word(r, 0));
	atomic_fetch_add_explicit(reg_member_inflight_word(r, 3), 4, memory_order_relaxed);
	reg_member_leave(r, -1, 100); /* the spill slot is never dropped */
	struct reg_snapshot s = take(r);
	cr_assert_eq(s.members, REG_MAX_MEMBERS);
	cr_assert_eq(s.in_flight, 10);
	cr_assert_eq(s.conns_open, 2);
	cr_assert_eq(s.cpu_us, 0);
	reg_snapshot_free(&s);
	/* a slot freed by a leaver is found again */
	int pid7 = reg_member_pid(r, 7);
	cr_assert_gt(pid7, 0);
	reg_member_leave(r, 7, 0);
	cr_assert_eq(reg_member_join(r, 6000, 1), 7);
	reg_member_inflight(r, -1, -5);
	s = take(r);
	cr_assert_eq(s.in_flight, 5);
	reg_snapshot_free(&s);
}

/* The bucket search starts from a per-bit-length table: compare it with a
 * plain scan around every bound and every power of two. */
static unsigned naive_bucket(const uint64_t *b, unsigned n, uint64_t v)
{
	unsigned i = 0;
	while (i < n && v > b[i])
		i++;
	return i;
}

static void check_buckets(const struct reg_config *cfg)
{
	size_t size = reg_size(cfg);
	cr_assert_gt(size, 0);
	void *mem = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	cr_assert_neq(mem, MAP_FAILED);
	struct reg *r = reg_init(mem, size, cfg);
	cr_assert_not_null(r);
	uint64_t bns[REG_MAX_BUCKETS];
	for (unsigned i = 0; i < cfg->n_buckets; i++)
		bns[i] = (uint64_t)(cfg->bucket_s[i] * 1e9 + 0.5);
	uint64_t vals[2048];
	size_t nv = 0;
	for (unsigned k = 0; k < 64; k++) {
		vals[nv++] = 1ull << k;
		vals[nv++] = (1ull << k) - 1;
		vals[nv++] = (1ull << k) + 1;
	}
	for (unsigned i = 0; i < cfg->n_buckets; i++) {
		vals[nv++] = bns[i];
		vals[nv++] = bns[i] + 1;
		if (bns[i])
			vals[nv++] = bns[i] - 1;
	}
	for (unsigned i = 0; i < REG_SIZE_BUCKETS; i++) {
		vals[nv++] = reg_size_bounds[i];
		vals[nv++] = reg_size_bounds[i] + 1;
		vals[nv++] = reg_size_bounds[i] - 1;
	}
	vals[nv++] = UINT64_MAX;
	uint32_t id = reg_route(r, "/b", 2);
	for (size_t j = 0; j < nv; j++) {
		/* one series per value: the status tells them apart */
		reg_observe(r, TRK_M_GET, id, 100 + (unsigned)j % 900, vals[j], vals[j], vals[j]);
		unsigned d = naive_bucket(bns, cfg->n_buckets, vals[j]);
		unsigned s = naive_bucket(reg_size_bounds, REG_SIZE_BUCKETS, vals[j]);
		struct reg_snapshot snap;
		cr_assert_eq(reg_snapshot_take(r, &snap), 0);
		const struct reg_snap_series *x = treg_find(&snap, TRK_M_GET, "/b", 100 + (unsigned)j % 900);
		cr_assert_not_null(x);
		cr_assert_eq(x->count, 1);
		for (unsigned b = 0; b < cfg->n_buckets; b++)
			cr_assert_eq(x->dur_cum[b], b >= d, "value %lu bound %u", (unsigned long)vals[j], b);
		for (unsigned b = 0; b < REG_SIZE_BUCKETS; b++) {
			cr_assert_eq(x->req_cum[b], b >= s, "value %lu size bound %u", (unsigned long)vals[j], b);
			cr_assert_eq(x->resp_cum[b], b >= s);
		}
		reg_snapshot_free(&snap);
	}
	munmap(mem, size);
}

Test(registry, bucket_search_matches_scan)
{
	struct reg_config def = {.max_series = 1000, .n_buckets = 11,
				 .bucket_s = {.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10}};
	check_buckets(&def);
	/* many bounds within one bit length, and a zero bound */
	struct reg_config dense = {.max_series = 1000, .n_buckets = REG_MAX_BUCKETS};
	for (unsigned i = 0; i < REG_MAX_BUCKETS; i++)
		dense.bucket_s[i] = i < 20 ? i * 1e-9 : (i - 19) * 0.37;
	check_buckets(&dense);
	struct reg_config one = {.max_series = 1000, .n_buckets = 1, .bucket_s = {60}};
	check_buckets(&one);
}

/* A snapshot taken through a kept order equals a sorted one, series by
 * series; the order is reused while the series stay the same and made
 * again when one is added. */
static void same_series(const struct reg_snapshot *a, const struct reg_snapshot *b)
{
	cr_assert_eq(a->n_series, b->n_series);
	for (size_t i = 0; i < a->n_series; i++) {
		const struct reg_snap_series *x = &a->series[i], *y = &b->series[i];
		cr_assert_eq(x->route_len, y->route_len, "series %zu", i);
		cr_assert_eq(memcmp(x->route_label, y->route_label, x->route_len), 0, "series %zu", i);
		cr_assert_eq(x->method, y->method, "series %zu", i);
		cr_assert_eq(x->status, y->status, "series %zu", i);
		cr_assert_eq(x->count, y->count, "series %zu", i);
		cr_assert_eq(x->dur_sum_us, y->dur_sum_us, "series %zu", i);
	}
}

Test(registry, ordered_snapshots_match_sorted_ones)
{
	struct reg *r = treg_new(200, NULL);
	struct reg_snap_order o = {0};
	char l[32];
	for (unsigned i = 0; i < 40; i++) {
		int n = snprintf(l, sizeof l, "/r%02u", (i * 17) % 40);
		uint32_t id = reg_route(r, l, (size_t)n);
		reg_observe(r, TRK_M_GET + i % 3, id, i % 2 ? 200 : 404, 1000 * i, 0, i);
	}
	const uint32_t *kept = NULL;
	for (int round = 0; round < 5; round++) {
		if (round == 2)
			reg_observe(r, TRK_M_POST, route(r, "/a-new-one"), 201, 5, 0, 0);
		if (round == 3)
			reg_observe(r, TRK_M_GET + 31 % 3, route(r, "/r07"), 200, 7000, 0, 0); /* i = 31 */
		struct reg_snapshot a = take(r), b;
		cr_assert_eq(reg_snapshot_take_ordered(r, &b, &o), 0);
		cr_assert_null(treg_check(&b));
		same_series(&a, &b);
		if (round == 1 || round == 3 || round == 4)
			cr_assert_eq(o.pos, kept, "round %d: the kept order is used", round);
		else
			cr_assert_neq(o.pos, kept, "round %d: the order is made", round);
		kept = o.pos;
		cr_assert_eq(o.n, b.n_series);
		reg_snapshot_free(&a);
		reg_snapshot_free(&b);
	}
	reg_snap_order_free(&o);
}
