/* core/rcache.h — a per-process cache from request path to route id.
 *
 * Route labels are stable: once a path (with its tracker flags) resolved to
 * a label and the label to a registry id, the same path gets the same id
 * again. So the labelling of a repeated path can skip the resolver and the
 * registry's interning: one hash of the path, one slot of a direct-mapped
 * table, a few compares.
 *
 * The cache lives in process-private memory (a fork copies it, which is
 * right: ids are family-wide) and is shared by the threads of one process.
 * It never allocates and never waits:
 * - A slot holds a sequence word, two independent 64-bit hashes of (path,
 *   flags) and the value. A writer claims the slot by moving the sequence
 *   from even to odd with one compare-and-swap (giving up when another
 *   writer holds it), stores the rest, and makes it even again. A reader
 *   accepts a slot only when the sequence was even and unchanged around its
 *   reads and both hashes match: a torn slot is never a hit.
 * - A slot left odd (a thread forked away mid-write, leaving the child's
 *   copy odd) stays out of use; one slot of RCACHE_SLOTS is lost.
 * - Hashes are seeded per image, so a client cannot aim two paths at one
 *   128-bit key.
 * Values are opaque 32-bit numbers chosen by the caller.
 *
 * The whole module is this header: the lookup is inlined into the one
 * caller's hot path, and the shim links with no other object for it.
 */
#ifndef PROMSHIM_CORE_RCACHE_H
#define PROMSHIM_CORE_RCACHE_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#define RCACHE_BITS 10
#define RCACHE_SLOTS (1u << RCACHE_BITS) /* 32 bytes each */

struct rcache_slot {
	uint64_t seq; /* even: stable; odd: being written */
	uint64_t h1, h2;
	uint32_t val;
	uint32_t pad;
} __attribute__((aligned(32)));

struct rcache {
	uint64_t seed1, seed2;
	struct rcache_slot slot[RCACHE_SLOTS] __attribute__((aligned(64)));
};

/* The key of one lookup, kept by the caller between rcache_get and
 * rcache_put. */
struct rcache_key {
	uint64_t h1, h2;
};

#define RCACHE_K1 0x9E3779B97F4A7C15ull
#define RCACHE_K2 0xC2B2AE3D27D4EB4Full
#define RCACHE_K3 0x165667B19E3779F9ull
#define RCACHE_K4 0xD6E8FEB86659FD93ull

static inline uint64_t rcache_ld8(const char *p)
{
	uint64_t v;
	memcpy(&v, p, 8);
	return v;
}

static inline uint64_t rcache_ld4(const char *p)
{
	uint32_t v;
	memcpy(&v, p, 4);
	return v;
}

static inline uint64_t rcache_rotl(uint64_t x, unsigned r)
{
	return x << r | x >> (64 - r);
}

/* Both lanes are bijective in their state for a given word, so two paths
 * of one length that differ in a single word never collide in either; the
 * length and flags enter the start state through a multiply. The last word
 * is read overlapping the one before it (or as two overlapping halves, or
 * three bytes): with the length it still fixes every byte, and nothing past
 * the end is read. Each word ends in a multiply, so the top bits (the slot)
 * depend on every byte. */
static inline __attribute__((always_inline)) void rcache_hash(const struct rcache *c, const char *p,
							      size_t n, unsigned flags, uint64_t *h1,
							      uint64_t *h2)
{
	uint64_t m = (uint64_t)n | (uint64_t)flags << 32;
	uint64_t a = c->seed1 ^ m * RCACHE_K1, b = c->seed2 + m * RCACHE_K4;
	const char *e = p + n, *q = p;
	uint64_t v;
	while (e - q > 8) {
		v = rcache_ld8(q);
		a = (a ^ v) * RCACHE_K2;
		a ^= a >> 32;
		b = rcache_rotl(b + v, 29) * RCACHE_K3;
		q += 8;
	}
	if (n >= 8)
		v = rcache_ld8(e - 8);
	else if (n >= 4)
		v = rcache_ld4(p) | rcache_ld4(e - 4) << 32;
	else if (n)
		v = (uint64_t)(unsigned char)p[0] | (uint64_t)(unsigned char)p[n >> 1] << 8 |
		    (uint64_t)(unsigned char)p[n - 1] << 16;
	else
		v = 0;
	*h1 = (a ^ v) * RCACHE_K2;
	*h2 = rcache_rotl(b + v, 29) * RCACHE_K3 | 1; /* a zeroed slot never matches */
}

/* Empty the cache and seed its hashes (any value; a random one keeps
 * clients from choosing colliding paths). Not concurrent with any other
 * call on c. */
static inline void rcache_init(struct rcache *c, uint64_t seed)
{
	memset(c->slot, 0, sizeof c->slot);
	/* splitmix64 twice: two unrelated seeds from one */
	uint64_t z = seed + RCACHE_K1;
	z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
	z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
	c->seed1 = z ^ (z >> 31);
	z = seed + 2 * RCACHE_K1;
	z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
	z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
	c->seed2 = z ^ (z >> 31);
}

/* Returns 1 with *val set when the cache holds path[0..len) with flags;
 * else 0, with the key for rcache_put in *k (left alone on a hit). */
static inline int rcache_get(const struct rcache *c, const char *path, size_t len, unsigned flags,
			     struct rcache_key *k, uint32_t *val)
{
	uint64_t h1, h2;
	rcache_hash(c, path, len, flags, &h1, &h2);
	const struct rcache_slot *s = &c->slot[h1 >> (64 - RCACHE_BITS)];
	uint64_t q = __atomic_load_n(&s->seq, __ATOMIC_ACQUIRE);
	uint64_t x1 = __atomic_load_n(&s->h1, __ATOMIC_RELAXED);
	uint64_t x2 = __atomic_load_n(&s->h2, __ATOMIC_RELAXED);
	uint32_t v = __atomic_load_n(&s->val, __ATOMIC_RELAXED);
	/* the reads above happen before the sequence is read again */
	__atomic_thread_fence(__ATOMIC_ACQUIRE);
	if (__builtin_expect(x1 == h1, 1) && __builtin_expect(x2 == h2, 1) && !(q & 1) &&
	    __builtin_expect(__atomic_load_n(&s->seq, __ATOMIC_RELAXED) == q, 1)) {
		*val = v;
		return 1;
	}
	k->h1 = h1;
	k->h2 = h2;
	return 0;
}

/* Remember val for the key rcache_get computed (replacing whatever the slot
 * held). Does nothing while another thread writes the same slot. */
static inline void rcache_put(struct rcache *c, const struct rcache_key *k, uint32_t val)
{
	struct rcache_slot *s = &c->slot[k->h1 >> (64 - RCACHE_BITS)];
	uint64_t q = __atomic_load_n(&s->seq, __ATOMIC_RELAXED);
	if ((q & 1) ||
	    !__atomic_compare_exchange_n(&s->seq, &q, q + 1, 0, __ATOMIC_ACQUIRE, __ATOMIC_RELAXED))
		return;
	/* a reader that sees any store below also sees the odd sequence */
	__atomic_thread_fence(__ATOMIC_RELEASE);
	__atomic_store_n(&s->h1, k->h1, __ATOMIC_RELAXED);
	__atomic_store_n(&s->h2, k->h2, __ATOMIC_RELAXED);
	__atomic_store_n(&s->val, val, __ATOMIC_RELAXED);
	__atomic_store_n(&s->seq, q + 2, __ATOMIC_RELEASE);
}

#endif
