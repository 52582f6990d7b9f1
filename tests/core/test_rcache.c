/* tests/core/test_rcache.c — the per-process route cache (core/rcache.h):
 * exact hits and misses, keys that tell paths, lengths, flags and seeds
 * apart, slot replacement, slots being written never hit, no read past the
 * path, and threads racing on shared slots never see a wrong value. */
#include <criterion/criterion.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "guard.h"
#include "rcache.h"

static struct rcache rc_c;

/* The key of a path: rcache_get fills it on a miss, so ask an empty cache
 * with the same seed. */
static struct rcache rc_probe;

static struct rcache_key rc_key(const struct rcache *c, const char *p, size_t n, unsigned flags)
{
	struct rcache_key k;
	uint32_t v;
	rc_probe.seed1 = c->seed1;
	rc_probe.seed2 = c->seed2;
	cr_assert_eq(rcache_get(&rc_probe, p, n, flags, &k, &v), 0);
	return k;
}

static size_t rc_slot(const struct rcache *c, const char *p, size_t n, unsigned flags)
{
	return (size_t)(rc_key(c, p, n, flags).h1 >> (64 - RCACHE_BITS));
}

static int rc_get(const struct rcache *c, const char *p, size_t n, unsigned flags, uint32_t *v)
{
	struct rcache_key k;
	return rcache_get(c, p, n, flags, &k, v);
}

static void rc_put(struct rcache *c, const char *p, size_t n, unsigned flags, uint32_t v)
{
	struct rcache_key k = rc_key(c, p, n, flags);
	rcache_put(c, &k, v);
}

Test(rcache, empty_misses_then_put_hits)
{
	rcache_init(&rc_c, 1);
	uint32_t v = 77;
	cr_assert_eq(rc_get(&rc_c, "/tiny", 5, 0, &v), 0);
	cr_assert_eq(v, 77, "a miss leaves val alone");
	rc_put(&rc_c, "/tiny", 5, 0, 4242);
	cr_assert_eq(rc_get(&rc_c, "/tiny", 5, 0, &v), 1);
	cr_assert_eq(v, 4242);
	/* the empty path is a key like any other */
	cr_assert_eq(rc_get(&rc_c, "", 0, 0, &v), 0);
	rc_put(&rc_c, "", 0, 0, 0xffffffffu);
	cr_assert_eq(rc_get(&rc_c, "", 0, 0, &v), 1);
	cr_assert_eq(v, 0xffffffffu);
	cr_assert_eq(rc_get(&rc_c, "/tiny", 5, 0, &v), 1);
	cr_assert_eq(v, 4242);
}

/* Every length up to 300 with paths that differ in one byte, in a prefix,
 * or in the flags: each keeps its own value (or misses when its slot was
 * taken by a later one, never a wrong value). */
Test(rcache, lengths_bytes_and_flags_are_told_apart)
{
	rcache_init(&rc_c, 99);
	static char buf[301];
	memset(buf, 'a', sizeof buf);
	buf[0] = '/';
	uint32_t v;
	for (size_t n = 0; n <= 300; n++) {
		struct rcache_key k0 = rc_key(&rc_c, buf, n, 0), k1 = rc_key(&rc_c, buf, n, 8);
		cr_assert(k0.h1 != k1.h1 && k0.h2 != k1.h2, "flags must change both hashes (n=%zu)", n);
		if (n < 300) {
			struct rcache_key k2 = rc_key(&rc_c, buf, n + 1, 0);
			cr_assert(k0.h1 != k2.h1 && k0.h2 != k2.h2, "length %zu vs %zu", n, n + 1);
		}
		for (size_t i = 0; i < n; i++) {
			buf[i] ^= 0x01;
			struct rcache_key k3 = rc_key(&rc_c, buf, n, 0);
			buf[i] ^= 0x01;
			cr_assert(k0.h1 != k3.h1 && k0.h2 != k3.h2, "byte %zu of %zu", i, n);
		}
	}
	for (size_t n = 0; n <= 300; n++) {
		rc_put(&rc_c, buf, n, 0, (uint32_t)(n * 2));
		rc_put(&rc_c, buf, n, 8, (uint32_t)(n * 2 + 1));
	}
	size_t hits = 0;
	for (size_t n = 0; n <= 300; n++)
		for (unsigned f = 0; f <= 8; f += 8) {
			if (!rc_get(&rc_c, buf, n, f, &v))
				continue;
			hits++;
			cr_assert_eq(v, (uint32_t)(n * 2 + (f ? 1 : 0)), "n=%zu flags=%u", n, f);
		}
	/* 602 keys in 1024 slots: most must be kept */
	cr_assert_gt(hits, 300u);
}

Test(rcache, seed_changes_keys)
{
	static struct rcache a, b;
	rcache_init(&a, 1);
	rcache_init(&b, 2);
	struct rcache_key ka = rc_key(&a, "/users/42", 9, 0), kb = rc_key(&b, "/users/42", 9, 0);
	uint32_t v;
	cr_assert(ka.h1 != kb.h1 && ka.h2 != kb.h2);
	rc_put(&a, "/users/42", 9, 0, 5);
	cr_assert_eq(rc_get(&b, "/users/42", 9, 0, &v), 0);
	rcache_init(&a, 1); /* re-init empties */
	cr_assert_eq(rc_get(&a, "/users/42", 9, 0, &v), 0);
}

/* Two paths in one slot: the later one replaces the earlier. */
Test(rcache, slot_replacement)
{
	rcache_init(&rc_c, 7);
	char p[32], q[32];
	snprintf(p, sizeof p, "/p/0");
	size_t sp = rc_slot(&rc_c, p, strlen(p), 0);
	int found = 0;
	for (int i = 1; i < 100000 && !found; i++) {
		snprintf(q, sizeof q, "/p/%d", i);
		found = rc_slot(&rc_c, q, strlen(q), 0) == sp;
	}
	cr_assert(found);
	uint32_t v;
	rc_put(&rc_c, p, strlen(p), 0, 10);
	rc_put(&rc_c, q, strlen(q), 0, 20);
	cr_assert_eq(rc_get(&rc_c, p, strlen(p), 0, &v), 0);
	cr_assert_eq(rc_get(&rc_c, q, strlen(q), 0, &v), 1);
	cr_assert_eq(v, 20);
	rc_put(&rc_c, p, strlen(p), 0, 11);
	cr_assert_eq(rc_get(&rc_c, q, strlen(q), 0, &v), 0);
	cr_assert_eq(rc_get(&rc_c, p, strlen(p), 0, &v), 1);
	cr_assert_eq(v, 11);
}

/* A slot whose sequence is odd is being written: never a hit, and a second
 * writer leaves it alone instead of waiting. */
Test(rcache, slot_being_written_never_hits)
{
	rcache_init(&rc_c, 3);
	uint32_t v;
	rc_put(&rc_c, "/a", 2, 0, 1);
	struct rcache_key k = rc_key(&rc_c, "/a", 2, 0);
	struct rcache_slot *s = &rc_c.slot[k.h1 >> (64 - RCACHE_BITS)];
	cr_assert_eq(s->seq, 2);
	s->seq = 3;
	cr_assert_eq(rc_get(&rc_c, "/a", 2, 0, &v), 0);
	rcache_put(&rc_c, &k, 9);
	cr_assert_eq(s->seq, 3);
	cr_assert_eq(s->val, 1);
	s->seq = 4;
	cr_assert_eq(rc_get(&rc_c, "/a", 2, 0, &v), 1);
	cr_assert_eq(v, 1);
	rcache_put(&rc_c, &k, 9);
	cr_assert_eq(s->seq, 6);
	cr_assert_eq(rc_get(&rc_c, "/a", 2, 0, &v), 1);
	cr_assert_eq(v, 9);
}

/* Paths ending right before a guard page: nothing past the end is read. */
Test(rcache, no_read_past_the_path)
{
	struct guard g;
	cr_assert_eq(guard_init(&g, 4096), 0);
	rcache_init(&rc_c, 5);
	char src[300];
	for (size_t i = 0; i < sizeof src; i++)
		src[i] = (char)('a' + i % 26);
	for (size_t n = 0; n <= sizeof src; n++) {
		const char *p = guard_place(&g, src, n);
		uint32_t v;
		rc_put(&rc_c, p, n, 0, (uint32_t)n);
		cr_assert_eq(rc_get(&rc_c, p, n, 0, &v), 1, "n=%zu", n);
		cr_assert_eq(v, (uint32_t)n);
	}
	guard_free(&g);
}

/* Threads share slots with many more paths than slots, each path's value a
 * function of the path: a hit with any other value is a torn slot. */
#define RC_THREADS 4
#define RC_PATHS 6000
static int rc_stop;

static void *rc_worker(void *arg)
{
	unsigned seed = (unsigned)(uintptr_t)arg;
	unsigned long hits = 0;
	char p[48];
	while (!__atomic_load_n(&rc_stop, __ATOMIC_RELAXED)) {
		seed = seed * 1103515245u + 12345u;
		unsigned i = (seed >> 8) % RC_PATHS;
		int n = snprintf(p, sizeof p, "/t/%u/%s", i, i & 1 ? "long-enough-segment" : "x");
		uint32_t v;
		struct rcache_key k;
		if (rcache_get(&rc_c, p, (size_t)n, i & 8, &k, &v)) {
			if (v != i * 3 + 1)
				return (void *)1;
			hits++;
		} else {
			rcache_put(&rc_c, &k, i * 3 + 1);
		}
	}
	return hits ? NULL : (void *)2;
}

Test(rcache, threads_never_see_a_torn_slot)
{
	rcache_init(&rc_c, 11);
	pthread_t t[RC_THREADS];
	for (uintptr_t i = 0; i < RC_THREADS; i++)
		cr_assert_eq(pthread_create(&t[i], NULL, rc_worker, (void *)(i + 1)), 0);
	struct timespec ts = {0, 300 * 1000 * 1000};
	nanosleep(&ts, NULL);
	__atomic_store_n(&rc_stop, 1, __ATOMIC_RELAXED);
	for (int i = 0; i < RC_THREADS; i++) {
		void *r;
		pthread_join(t[i], &r);
		cr_assert_null(r, "thread %d: %s", i, r == (void *)1 ? "wrong value" : "no hit at all");
	}
}
