/* bench/bench_route.c — micro-benchmark of route_resolve: 20 templates,
 * typical 3-segment paths, with and without the heuristic and its shared
 * collapse table (warm: the literal segments are already in the table).
 * Budget: well under 200 ns a path.
 *
 * Build and run from the repository root:
 *   cc -std=gnu11 -O2 -D_GNU_SOURCE -Icore -o build/bench_route \
 *      bench/bench_route.c core/route.c && build/bench_route [rounds]
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "route.h"

static const char *const templates =
	"/users/{id},/users/{id}/orders,/users/{id}/orders/{order},/orders/{order}/items,"
	"/products/{sku},/products/{sku}/reviews,/cart,/cart/items/{item},/checkout,"
	"/search,/login,/logout,/api/v1/status,/api/v1/things/{id},/api/v2/things/{id},"
	"/admin/**,/static/**,/assets/*/{file},/healthz,/favicon.ico";

static double bench_ns(const struct route_ctx *rc, const char *const *paths, size_t np, long rounds,
		       long *sink)
{
	char out[ROUTE_LABEL_MAX];
	size_t lens[64];
	struct timespec a, b;

	for (size_t i = 0; i < np; i++)
		lens[i] = strlen(paths[i]);
	for (size_t i = 0; i < np; i++) /* warm the table and caches */
		*sink += route_resolve(rc, paths[i], lens[i], 0, out, sizeof out);
	clock_gettime(CLOCK_MONOTONIC, &a);
	for (long r = 0; r < rounds; r++)
		for (size_t i = 0; i < np; i++)
			*sink += route_resolve(rc, paths[i], lens[i], 0, out, sizeof out) + out[1];
	clock_gettime(CLOCK_MONOTONIC, &b);
	double ns = (double)(b.tv_sec - a.tv_sec) * 1e9 + (double)(b.tv_nsec - a.tv_nsec);
	return ns / ((double)rounds * (double)np);
}

int main(int argc, char **argv)
{
	long rounds = argc > 1 ? atol(argv[1]) : 200000, sink = 0;
	int only = argc > 2 ? atoi(argv[2]) : 0; /* 1..5: one case, for instruction counts */
	struct route_set *rs;
	char err[256];
	size_t size = route_seen_size(ROUTE_SEEN_DEFAULT_SLOTS);
	void *mem = calloc(1, size);
	struct route_seen *seen = route_seen_init(mem, size, ROUTE_SEEN_DEFAULT_SLOTS, 100);

	if (route_set_parse(&rs, templates, strlen(templates), err, sizeof err) < 0 || !seen) {
		fprintf(stderr, "bench_route: %s\n", err);
		return 1;
	}
	static const char *const matched[] = {"/users/42/orders", "/orders/981/items", "/api/v1/things/7",
					      "/products/AB-1/reviews", "/cart/items/3", "/static/css/a.css",
					      "/assets/img/logo.png", "/users/5/orders/77"};
	static const char *const unmatched[] = {"/blog/2024/hello-world", "/docs/guide/install",
						"/team/8812/members", "/media/5f2b8c9d11/thumb",
						"/wiki/Main_Page/history", "/shop/shoes/running",
						"/feeds/123e4567-e89b-12d3-a456-426614174000/rss",
						"/v1/accounts/settings"};
	struct route_ctx with_seen = {rs, NULL, 1, seen}, no_seen = {rs, NULL, 1, NULL};
	struct route_ctx bare = {NULL, NULL, 1, seen}, off = {rs, NULL, 0, NULL};

	if (!only || only == 1)
		printf("route: 3-segment path matching 1 of 20 templates: %.0f ns\n",
		       bench_ns(&with_seen, matched, 8, rounds, &sink));
	if (!only || only == 2)
		printf("route: 3-segment path, 20 templates, none match, heuristic + shared table: %.0f ns\n",
		       bench_ns(&with_seen, unmatched, 8, rounds, &sink));
	if (!only || only == 3)
		printf("route: same, heuristic without the table: %.0f ns\n",
		       bench_ns(&no_seen, unmatched, 8, rounds, &sink));
	if (!only || only == 4)
		printf("route: same, no templates, heuristic + shared table: %.0f ns\n",
		       bench_ns(&bare, unmatched, 8, rounds, &sink));
	if (!only || only == 5)
		printf("route: same, 20 templates, heuristic off: %.0f ns\n", bench_ns(&off, unmatched, 8, rounds, &sink));
	route_set_free(rs);
	free(mem);
	return sink == 42; /* keeps the loop from being optimised away */
}
