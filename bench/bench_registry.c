/* bench/bench_registry.c — micro-benchmark of the registry's hot paths:
 * reg_observe on an existing series, reg_route on an interned label, and
 * the two ways of finding a duration bucket (linear scan, binary search).
 * Standalone:
 *   gcc -std=gnu11 -O2 -D_GNU_SOURCE -Icore -o build/bench_registry \
 *       bench/bench_registry.c core/registry.c -lpthread
 * Prints ns per call and, where the kernel allows perf events, instructions
 * per call.
 */
#include <linux/perf_event.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "registry.h"

#define ROUNDS 5

static uint64_t now_ns(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (uint64_t)t.tv_sec * 1000000000ull + (uint64_t)t.tv_nsec;
}

static int insn_fd = -1;

static void insn_open(void)
{
	struct perf_event_attr a;
	memset(&a, 0, sizeof a);
	a.type = PERF_TYPE_HARDWARE;
	a.size = sizeof a;
	a.config = PERF_COUNT_HW_INSTRUCTIONS;
	a.disabled = 1;
	a.exclude_kernel = 1;
	a.exclude_hv = 1;
	insn_fd = (int)syscall(SYS_perf_event_open, &a, 0, -1, -1, 0);
}

static void insn_start(void)
{
	if (insn_fd >= 0) {
		ioctl(insn_fd, PERF_EVENT_IOC_RESET, 0);
		ioctl(insn_fd, PERF_EVENT_IOC_ENABLE, 0);
	}
}

static double insn_stop(uint64_t n)
{
	uint64_t v = 0;
	if (insn_fd < 0)
		return -1;
	ioctl(insn_fd, PERF_EVENT_IOC_DISABLE, 0);
	if (read(insn_fd, &v, sizeof v) != sizeof v)
		return -1;
	return (double)v / (double)n;
}

static void report(const char *what, double ns, double insn)
{
	if (insn >= 0)
		printf("%-44s %8.1f ns/call %8.1f insn/call\n", what, ns, insn);
	else
		printf("%-44s %8.1f ns/call %8s insn/call\n", what, ns, "n/a");
}

#define N_DUR 4096
static uint64_t durs[N_DUR];

/* Best of ROUNDS: the least disturbed run. */
static void bench_observe(struct reg *r, uint32_t route, uint64_t n)
{
	double best = 1e30, insn = -1;
	for (int k = 0; k < ROUNDS; k++) {
		insn_start();
		uint64_t t0 = now_ns();
		for (uint64_t i = 0; i < n; i++)
			reg_observe(r, 1, route, 200, durs[i & (N_DUR - 1)], i & 1023, (i * 37) & 65535);
		double ns = (double)(now_ns() - t0) / (double)n;
		double in = insn_stop(n);
		if (ns < best) {
			best = ns;
			insn = in;
		}
	}
	report("reg_observe, existing series", best, insn);
}

static void bench_route(struct reg *r, const char *label, const char *what, uint64_t n)
{
	size_t len = strlen(label);
	double best = 1e30, insn = -1;
	volatile uint32_t sink = 0;
	for (int k = 0; k < ROUNDS; k++) {
		insn_start();
		uint64_t t0 = now_ns();
		for (uint64_t i = 0; i < n; i++)
			sink += reg_route(r, label, len);
		double ns = (double)(now_ns() - t0) / (double)n;
		double in = insn_stop(n);
		if (ns < best) {
			best = ns;
			insn = in;
		}
	}
	(void)sink;
	report(what, best, insn);
}

static unsigned linear(const uint64_t *b, unsigned nb, uint64_t v)
{
	unsigned i = 0;
	while (i < nb && v > b[i])
		i++;
	return i;
}

static unsigned binary(const uint64_t *b, unsigned nb, uint64_t v)
{
	unsigned lo = 0, hi = nb;
	while (lo < hi) {
		unsigned mid = (lo + hi) / 2;
		if (v > b[mid])
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

/* What reg_observe does: start from the first bound that can hold a value
 * of v's bit length, then scan. */
static uint8_t start_tab[65];

static void start_init(const uint64_t *b, unsigned nb)
{
	for (unsigned bits = 0; bits <= 64; bits++) {
		uint64_t lo = bits ? 1ull << (bits - 1) : 0;
		unsigned i = 0;
		while (i < nb && b[i] < lo)
			i++;
		start_tab[bits] = (uint8_t)i;
	}
}

static unsigned tabled(const uint64_t *b, unsigned nb, uint64_t v)
{
	unsigned i = start_tab[v ? 64 - __builtin_clzll(v) : 0];
	while (i < nb && v > b[i])
		i++;
	return i;
}

static void bench_bucket(unsigned nb, uint64_t n)
{
	uint64_t b[REG_MAX_BUCKETS];
	for (unsigned i = 0; i < nb; i++)
		b[i] = 5000000ull << (i / 2) >> (i & 1 ? 0 : 1); /* spread like the defaults */
	for (unsigned i = 1; i < nb; i++)
		if (b[i] <= b[i - 1])
			b[i] = b[i - 1] + 1;
	start_init(b, nb);
	static unsigned (*const fn[3])(const uint64_t *, unsigned, uint64_t) = {linear, binary, tabled};
	static const char *const name[3] = {"linear", "binary", "table+scan"};
	char what[64];
	volatile unsigned sink = 0;
	for (int which = 0; which < 3; which++) {
		double best = 1e30;
		for (int k = 0; k < ROUNDS; k++) {
			uint64_t t0 = now_ns();
			for (uint64_t i = 0; i < n; i++)
				sink += fn[which](b, nb, durs[i & (N_DUR - 1)]);
			double ns = (double)(now_ns() - t0) / (double)n;
			if (ns < best)
				best = ns;
		}
		snprintf(what, sizeof what, "bucket lookup, %s, %u bounds", name[which], nb);
		report(what, best, -1);
	}
	(void)sink;
}

struct thr {
	struct reg *r;
	uint32_t route;
	unsigned status;
	uint64_t n;
	double ns;
};

static void *thr_main(void *p)
{
	struct thr *t = p;
	uint64_t t0 = now_ns();
	for (uint64_t i = 0; i < t->n; i++)
		reg_observe(t->r, 1, t->route, t->status, durs[i & (N_DUR - 1)], 100, 1000);
	t->ns = (double)(now_ns() - t0) / (double)t->n;
	return NULL;
}

static void bench_two_threads(struct reg *r, uint32_t route, int same, uint64_t n)
{
	struct thr t[2] = {{r, route, 200, n, 0}, {r, route, same ? 200u : 201u, n, 0}};
	pthread_t th[2];
	for (int i = 0; i < 2; i++)
		pthread_create(&th[i], NULL, thr_main, &t[i]);
	for (int i = 0; i < 2; i++)
		pthread_join(th[i], NULL);
	report(same ? "reg_observe, 2 threads, same series" : "reg_observe, 2 threads, own series",
	       (t[0].ns + t[1].ns) / 2, -1);
}

int main(int argc, char **argv)
{
	uint64_t n = argc > 1 ? strtoull(argv[1], NULL, 10) : 20000000;
	struct reg_config cfg = {.max_series = 2000, .n_buckets = 11,
				 .bucket_s = {.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10}};
	size_t size = reg_size(&cfg);
	void *mem = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	struct reg *r = mem == MAP_FAILED ? NULL : reg_init(mem, size, &cfg);
	if (!r) {
		fprintf(stderr, "bench_registry: cannot set up a registry\n");
		return 1;
	}
	/* latencies of a typical service: mostly a few ms, a tail to seconds */
	uint64_t x = 88172645463325252ull;
	for (int i = 0; i < N_DUR; i++) {
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		unsigned p = (unsigned)(x % 100);
		durs[i] = p < 80 ? x % 20000000 : p < 98 ? x % 500000000 : x % 12000000000ull;
	}
	char l[64];
	for (int i = 0; i < 1500; i++) {
		snprintf(l, sizeof l, "/api/v1/items/%d/{id}", i);
		uint32_t id = reg_route(r, l, strlen(l));
		reg_observe(r, 1, id, 200, 1000, 0, 0);
	}
	uint32_t route = reg_route(r, "/api/v1/users/{id}", 18);
	reg_observe(r, 1, route, 200, 1000, 0, 0);
	insn_open();
	printf("registry: %zu bytes, max_series 2000, 1501 series and routes in use, %llu calls a run, best of %d\n",
	       size, (unsigned long long)n, ROUNDS);
	bench_observe(r, route, n);
	bench_route(r, "/api/v1/users/{id}", "reg_route, interned label of 18 bytes", n);
	bench_route(r, "/api/v1/organisations/{org}/projects/{project}/builds/{build}/logs",
		    "reg_route, interned label of 66 bytes", n / 2);
	bench_route(r, "/not/interned/and/table/is/not/full", "reg_route, first lookup then interned", n);
	bench_bucket(11, n);
	bench_bucket(REG_MAX_BUCKETS, n);
	bench_two_threads(r, route, 0, n / 2);
	bench_two_threads(r, route, 1, n / 2);
	if (insn_fd < 0)
		printf("(no perf events here: count instructions with valgrind --tool=callgrind)\n");
	return 0;
}
