/* core/registry.c — the family-wide registry in shared memory: series and
 * histograms, route interning, the overflow area, per-process member slots
 * and consistent snapshots. Lock-free for writers; see registry.h.
 */
#include "registry.h"

#include <math.h> /* isfinite: a macro, no libm */
#include <stdalign.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "tracker.h"

#define REG_MAGIC 0x70726f6d72656732ull /* "promreg2" */
#define REG_KEY_VALID (1ull << 63)
#define REG_RT_BUSY (1ull << 63)
#define REG_MAX_SERIES_CAP (1u << 22)
#define REG_LINE 64

const uint64_t reg_size_bounds[REG_SIZE_BUCKETS] = {100, 1000, 10000, 100000, 1000000, 10000000, 100000000};

/* One histogram series. Buckets hold per-bucket (not cumulative) counts:
 * n_buckets duration buckets and the duration +Inf bucket, whose sum is the
 * series' count; the request-size buckets and one for sizes past the last
 * bound, of requests with a body only (the others are the count less
 * these, all in the first bucket); the response-size buckets (their +Inf
 * is the count less the finite ones). Keys live apart in a
 * compact array that is written once per slot: a probe that passes over a
 * hot series reads a line nobody writes, instead of one that bounces
 * between the cores recording into it. */
struct reg_ser {
	_Atomic uint64_t dur_sum_us;
	_Atomic uint64_t req_sum;
	_Atomic uint64_t resp_sum;
	_Atomic uint64_t b[];
};

struct reg_ab {
	_Atomic uint64_t key;
	_Atomic uint64_t count;
};

struct reg_rt {
	_Atomic uint64_t word; /* 0 free, hash|BUSY being written, hash ready */
	uint32_t len;
	uint32_t pad;
	char label[REG_ROUTE_MAX];
};

struct reg_mem {
	_Atomic int32_t pid; /* 0 free, -1 leaving, else the member */
	int32_t pad;
	_Atomic int64_t inflight;
	_Atomic int64_t conns;
	_Atomic uint64_t cpu_us, rss, vsz, fds, max_fds, start_us;
	char fill[2 * REG_LINE - 8 * 9]; /* one member per pair of lines: no false sharing */
};

/* Overflow area: keys packed together so that a flood, which scans all of
 * them once the area is full, touches 8 cache lines, not 64 series. */
struct reg_ovf {
	_Atomic uint64_t keys[REG_OVERFLOW_SERIES];
};

struct reg {
	uint64_t magic;
	struct reg_config cfg;
	uint64_t bound_ns[REG_MAX_BUCKETS];
	/* first bucket that can hold a value of each bit length: the bucket
	 * search starts there and takes a step or two, not a scan */
	uint8_t dur_start[65];
	uint8_t size_start[65];
	unsigned nb;
	unsigned ser_bits, ab_bits, rt_bits;
	unsigned ser_shift; /* 64 - ser_bits: the hot probe's shift, ready made */
	uint64_t ser_mask;
	uint64_t rt_limit;
	size_t ser_stride;
	size_t off_ser_keys, off_ser, off_ovf_keys, off_ovf, off_ab, off_abovf_keys, off_abovf, off_rt, off_mem;
	alignas(REG_LINE) _Atomic uint64_t ser_used;
	alignas(REG_LINE) _Atomic uint64_t ab_used;
	alignas(REG_LINE) _Atomic uint64_t rt_used;
	alignas(REG_LINE) _Atomic uint64_t counters[REG_C_COUNT];
	alignas(REG_LINE) _Atomic uint64_t exited_cpu_us;
	_Atomic uint64_t cpu_reported;
	_Atomic uint64_t start_min_us;
};

static size_t reg_align(size_t n)
{
	return (n + REG_LINE - 1) & ~(size_t)(REG_LINE - 1);
}

static unsigned reg_bits_for(uint64_t n)
{
	unsigned b = 4;
	while ((1ull << b) < n)
		b++;
	return b;
}

struct reg_layout {
	unsigned nb, ser_bits, ab_bits, rt_bits;
	uint64_t rt_limit;
	size_t ser_stride;
	size_t off_ser_keys, off_ser, off_ovf_keys, off_ovf, off_ab, off_abovf_keys, off_abovf, off_rt, off_mem, total;
};

static int reg_cfg_ok(const struct reg_config *cfg, uint64_t *bound_ns)
{
	if (!cfg || cfg->n_buckets < 1 || cfg->n_buckets > REG_MAX_BUCKETS || cfg->max_series > REG_MAX_SERIES_CAP)
		return 0;
	for (unsigned i = 0; i < cfg->n_buckets; i++) {
		double b = cfg->bucket_s[i];
		if (!isfinite(b) || b < 0 || b > 1e9)
			return 0;
		uint64_t ns = (uint64_t)(b * 1e9 + 0.5);
		if (i > 0 && ns <= bound_ns[i - 1])
			return 0;
		bound_ns[i] = ns;
	}
	return 1;
}

static void reg_plan(const struct reg_config *cfg, struct reg_layout *l)
{
	l->nb = cfg->n_buckets;
	l->ser_stride = reg_align(sizeof(struct reg_ser) + 8 * (l->nb + 2 + 2 * REG_SIZE_BUCKETS));
	/* at most half full: probes stay short and always end */
	l->ser_bits = reg_bits_for(2 * (uint64_t)cfg->max_series);
	l->ab_bits = l->ser_bits;
	l->rt_limit = cfg->max_series + cfg->max_series / 8 + 64;
	l->rt_bits = reg_bits_for(2 * l->rt_limit);
	size_t o = reg_align(sizeof(struct reg));
	l->off_ser_keys = o;
	o += reg_align(sizeof(uint64_t) << l->ser_bits);
	l->off_ser = o;
	o += reg_align(l->ser_stride << l->ser_bits);
	l->off_ovf_keys = o;
	o += reg_align(sizeof(struct reg_ovf));
	l->off_ovf = o; /* REG_OVERFLOW_SERIES slots, then the all-_OTHER one */
	o += l->ser_stride * (REG_OVERFLOW_SERIES + 1);
	l->off_ab = o;
	o += reg_align(sizeof(struct reg_ab) << l->ab_bits);
	l->off_abovf_keys = o;
	o += reg_align(sizeof(struct reg_ovf));
	l->off_abovf = o;
	o += reg_align(sizeof(struct reg_ab) * (REG_OVERFLOW_SERIES + 1));
	l->off_rt = o;
	o += reg_align(sizeof(struct reg_rt) << l->rt_bits);
	l->off_mem = o;
	o += sizeof(struct reg_mem) * (REG_MAX_MEMBERS + 1);
	l->total = o;
}

size_t reg_size(const struct reg_config *cfg)
{
	uint64_t ns[REG_MAX_BUCKETS];
	if (!reg_cfg_ok(cfg, ns))
		return 0;
	struct reg_layout l;
	reg_plan(cfg, &l);
	return l.total;
}

static void reg_starts(uint8_t *start, const uint64_t *bound, unsigned n)
{
	for (unsigned bits = 0; bits <= 64; bits++) {
		uint64_t lo = bits ? 1ull << (bits - 1) : 0;
		unsigned i = 0;
		while (i < n && bound[i] < lo)
			i++;
		start[bits] = (uint8_t)i;
	}
}

struct reg *reg_init(void *mem, size_t size, const struct reg_config *cfg)
{
	struct reg_layout l;
	uint64_t ns[REG_MAX_BUCKETS];
	if (!mem || ((uintptr_t)mem & (REG_LINE - 1)) || !reg_cfg_ok(cfg, ns))
		return NULL;
	reg_plan(cfg, &l);
	if (size < l.total)
		return NULL;
	struct reg *r = mem;
	r->cfg = *cfg;
	memcpy(r->bound_ns, ns, sizeof ns);
	r->nb = l.nb;
	reg_starts(r->dur_start, ns, l.nb);
	reg_starts(r->size_start, reg_size_bounds, REG_SIZE_BUCKETS);
	r->ser_bits = l.ser_bits;
	r->ser_shift = 64 - l.ser_bits;
	r->ser_mask = ((uint64_t)1 << l.ser_bits) - 1;
	r->ab_bits = l.ab_bits;
	r->rt_bits = l.rt_bits;
	r->rt_limit = l.rt_limit;
	r->ser_stride = l.ser_stride;
	r->off_ser_keys = l.off_ser_keys;
	r->off_ser = l.off_ser;
	r->off_ovf_keys = l.off_ovf_keys;
	r->off_ovf = l.off_ovf;
	r->off_ab = l.off_ab;
	r->off_abovf_keys = l.off_abovf_keys;
	r->off_abovf = l.off_abovf;
	r->off_rt = l.off_rt;
	r->off_mem = l.off_mem;
	atomic_store(&r->start_min_us, UINT64_MAX);
	r->magic = REG_MAGIC;
	return r;
}

const struct reg_config *reg_config(const struct reg *r)
{
	return &r->cfg;
}

/* ---- keys and tables ---- */

static inline uint64_t reg_key(unsigned method, uint32_t route, unsigned status)
{
	return REG_KEY_VALID | (uint64_t)method << 48 | (uint64_t)status << 32 | route;
}

static inline unsigned reg_key_method(uint64_t k)
{
	return (unsigned)(k >> 48) & 0xff;
}

static inline unsigned reg_key_status(uint64_t k)
{
	return (unsigned)(k >> 32) & 0xffff;
}

static inline uint32_t reg_key_route(uint64_t k)
{
	return (uint32_t)k;
}

static inline size_t reg_hash_idx(uint64_t key, unsigned bits)
{
	return (size_t)((key * 0x9E3779B97F4A7C15ull) >> (64 - bits));
}

static inline struct reg_ser *reg_ser_at(const struct reg *r, size_t off, size_t i)
{
	return (struct reg_ser *)((char *)r + off + i * r->ser_stride);
}

static inline struct reg_ab *reg_ab_at(const struct reg *r, size_t off, size_t i)
{
	return (struct reg_ab *)((char *)r + off) + i;
}

static inline struct reg_ovf *reg_ovf_keys(const struct reg *r, size_t off)
{
	return (struct reg_ovf *)((char *)r + off);
}

static inline struct reg_rt *reg_rt_at(const struct reg *r, size_t i)
{
	return (struct reg_rt *)((char *)r + r->off_rt) + i;
}

static inline struct reg_mem *reg_mem_at(const struct reg *r, int slot)
{
	size_t i = slot >= 0 && slot < REG_MAX_MEMBERS ? (size_t)slot : REG_MAX_MEMBERS;
	return (struct reg_mem *)((char *)r + r->off_mem) + i;
}

/* Take one unit of a capped count; never waits (a failed CAS means another
 * writer made progress). */
static int reg_reserve(_Atomic uint64_t *used, uint64_t cap)
{
	uint64_t n = atomic_load_explicit(used, memory_order_relaxed);
	do {
		if (n >= cap)
			return 0;
	} while (!atomic_compare_exchange_weak_explicit(used, &n, n + 1, memory_order_relaxed,
							 memory_order_relaxed));
	return 1;
}

static void reg_unreserve(_Atomic uint64_t *used)
{
	atomic_fetch_sub_explicit(used, 1, memory_order_relaxed);
}

/* Find or claim key in an open-addressed table of key words, stride words
 * apart; returns the slot index or -1 when the cap is reached. */
static inline __attribute__((always_inline)) long reg_table_find(_Atomic uint64_t *keys, size_t stride,
								  uint64_t key, unsigned bits,
								  _Atomic uint64_t *used, uint64_t cap)
{
	size_t mask = ((size_t)1 << bits) - 1;
	size_t i = reg_hash_idx(key, bits);
	int reserved = 0;
	for (size_t n = 0; n <= mask; n++, i = (i + 1) & mask) {
		_Atomic uint64_t *kw = keys + i * stride;
		uint64_t k = atomic_load_explicit(kw, memory_order_relaxed);
		if (__builtin_expect(k == key, 1)) {
			if (reserved)
				reg_unreserve(used);
			return (long)i;
		}
		if (k == 0) {
			if (!reserved && !(reserved = reg_reserve(used, cap)))
				return -1;
			if (atomic_compare_exchange_strong_explicit(kw, &k, key, memory_order_relaxed,
								    memory_order_relaxed))
				return (long)i;
			if (k == key) {
				reg_unreserve(used);
				return (long)i;
			}
		}
	}
	if (reserved)
		reg_unreserve(used);
	return -1;
}

static inline _Atomic uint64_t *reg_ser_keys(const struct reg *r)
{
	return (_Atomic uint64_t *)((char *)r + r->off_ser_keys);
}

static inline _Atomic uint64_t *reg_ab_keys(const struct reg *r)
{
	return &reg_ab_at(r, r->off_ab, 0)->key;
}

/* Index in an overflow area for (method, _OTHER, status): one of the
 * REG_OVERFLOW_SERIES slots, else REG_OVERFLOW_SERIES (the all-_OTHER one). */
static size_t reg_ovf_find(const struct reg *r, size_t keys_off, unsigned method, unsigned status)
{
	struct reg_ovf *o = reg_ovf_keys(r, keys_off);
	if (method == TRK_M_OTHER && status == 0)
		return REG_OVERFLOW_SERIES; /* would render as the all-_OTHER series */
	uint64_t key = reg_key(method, REG_ROUTE_OTHER, status);
	size_t i = reg_hash_idx(key, 6) % REG_OVERFLOW_SERIES;
	for (size_t n = 0; n < REG_OVERFLOW_SERIES; n++, i = (i + 1) % REG_OVERFLOW_SERIES) {
		uint64_t k = atomic_load_explicit(&o->keys[i], memory_order_relaxed);
		if (k == 0 && atomic_compare_exchange_strong_explicit(&o->keys[i], &k, key, memory_order_relaxed,
								      memory_order_relaxed))
			return i;
		if (k == key)
			return i;
	}
	return REG_OVERFLOW_SERIES;
}

/* ---- recording ---- */

static inline void reg_add_relaxed(_Atomic uint64_t *p, uint64_t n)
{
	atomic_fetch_add_explicit(p, n, memory_order_relaxed);
}

static inline unsigned reg_bitlen(uint64_t v)
{
	return v ? 64 - (unsigned)__builtin_clzll(v) : 0;
}

/* Index of the first bound >= v (n when none): le means <=. */
static inline unsigned reg_bucket(const uint8_t *start, const uint64_t *bound, unsigned n, uint64_t v)
{
	unsigned i = start[reg_bitlen(v)];
	while (i < n && v > bound[i])
		i++;
	return i;
}

/* Size bounds are decades, so the values of one bit length straddle at
 * most one bound: one comparison after the table. */
static inline unsigned reg_size_bucket(const struct reg *r, uint64_t v)
{
	unsigned i = r->size_start[reg_bitlen(v)];
	return i + (i < REG_SIZE_BUCKETS && v > reg_size_bounds[i]);
}

static inline __attribute__((always_inline)) void reg_record(const struct reg *r, struct reg_ser *s,
							      uint64_t dur_ns, uint64_t req, uint64_t resp)
{
	unsigned rq = r->nb + 1, rs = rq + REG_SIZE_BUCKETS + 1;
	/* The duration bucket, +Inf included, is the count: it comes first, the
	 * size buckets after it with release. A reader that sees a size bucket
	 * also sees the count it belongs to, even if the writer dies between. */
	reg_add_relaxed(&s->b[reg_bucket(r->dur_start, r->bound_ns, r->nb, dur_ns)], 1);
	if (req) { /* most requests have none: the count tells them */
		atomic_fetch_add_explicit(&s->b[rq + reg_size_bucket(r, req)], 1, memory_order_release);
		reg_add_relaxed(&s->req_sum, req);
	}
	unsigned i = reg_size_bucket(r, resp);
	if (i < REG_SIZE_BUCKETS)
		atomic_fetch_add_explicit(&s->b[rs + i], 1, memory_order_release);
	reg_add_relaxed(&s->dur_sum_us, (dur_ns + 500) / 1000);
	if (resp)
		reg_add_relaxed(&s->resp_sum, resp);
}

static inline unsigned reg_norm_method(unsigned m)
{
	return m < TRK_M_COUNT ? m : TRK_M_OTHER;
}

static inline unsigned reg_norm_status(unsigned s)
{
	return s <= 999 ? s : 0;
}

/* Creating a series or recording past the cap: kept out of line so that
 * the fast path below saves and restores fewer registers. */
static __attribute__((noinline, cold)) void reg_observe_slow(struct reg *r, unsigned method, uint32_t route,
							      unsigned status, uint64_t dur_ns, uint64_t req,
							      uint64_t resp)
{
	struct reg_ser *s;
	long i = -1;
	if (route != REG_ROUTE_OTHER)
		i = reg_table_find(reg_ser_keys(r), 1, reg_key(method, route, status), r->ser_bits, &r->ser_used,
				   r->cfg.max_series);
	if (i >= 0)
		s = reg_ser_at(r, r->off_ser, (size_t)i);
	else
		s = reg_ser_at(r, r->off_ovf, reg_ovf_find(r, r->off_ovf_keys, method, status));
	reg_record(r, s, dur_ns, req, resp);
}

void reg_observe(struct reg *r, unsigned method, uint32_t route, unsigned status, uint64_t dur_ns,
		 uint64_t req_bytes, uint64_t resp_bytes)
{
	method = reg_norm_method(method);
	status = reg_norm_status(status);
	if (__builtin_expect(route != REG_ROUTE_OTHER, 1)) {
		/* existing series: read-only probes over the key array */
		uint64_t key = reg_key(method, route, status);
		const _Atomic uint64_t *keys = reg_ser_keys(r);
		uint64_t mask = r->ser_mask;
		uint64_t i = (key * 0x9E3779B97F4A7C15ull) >> r->ser_shift;
		for (uint64_t n = 0; n <= mask; n++, i = (i + 1) & mask) {
			uint64_t k = atomic_load_explicit(keys + i, memory_order_relaxed);
			if (__builtin_expect(k == key, 1)) {
				reg_record(r, reg_ser_at(r, r->off_ser, i), dur_ns, req_bytes, resp_bytes);
				return;
			}
			if (k == 0)
				break;
		}
	}
	reg_observe_slow(r, method, route, status, dur_ns, req_bytes, resp_bytes);
}

void reg_abort(struct reg *r, unsigned method, uint32_t route)
{
	method = reg_norm_method(method);
	long i = -1;
	if (route != REG_ROUTE_OTHER)
		i = reg_table_find(reg_ab_keys(r), sizeof(struct reg_ab) / sizeof(uint64_t), reg_key(method, route, 0),
				   r->ab_bits, &r->ab_used, r->cfg.max_series);
	struct reg_ab *a;
	if (i >= 0)
		a = reg_ab_at(r, r->off_ab, (size_t)i);
	else
		a = reg_ab_at(r, r->off_abovf, reg_ovf_find(r, r->off_abovf_keys, method, 0));
	reg_add_relaxed(&a->count, 1);
}

void reg_add(struct reg *r, enum reg_counter c, uint64_t n)
{
	if ((unsigned)c < REG_C_COUNT)
		reg_add_relaxed(&r->counters[c], n);
}

/* ---- routes ---- */

static const char *const reg_reserved[REG_ROUTE_FIRST] = {"_OTHER", "_INVALID", "*", "_CONNECT"};
static const size_t reg_reserved_len[REG_ROUTE_FIRST] = {6, 8, 1, 8};

static uint64_t reg_str_hash(const char *p, size_t n)
{
	uint64_t h = 0x243F6A8885A308D3ull ^ (n * 0x9E3779B97F4A7C15ull);
	while (n >= 8) {
		uint64_t v;
		memcpy(&v, p, 8);
		h = (h ^ v) * 0xbf58476d1ce4e5b9ull;
		h ^= h >> 31;
		p += 8;
		n -= 8;
	}
	if (n) {
		uint64_t v = 0;
		memcpy(&v, p, n);
		h = (h ^ v) * 0x94d049bb133111ebull;
		h ^= h >> 29;
	}
	h ^= h >> 32;
	h *= 0xd6e8feb86659fd93ull;
	h ^= h >> 32;
	return h;
}

uint32_t reg_route(struct reg *r, const char *label, size_t len)
{
	if (len > REG_ROUTE_MAX)
		len = REG_ROUTE_MAX;
	if (len && (label[0] == '_' || label[0] == '*'))
		for (uint32_t id = 0; id < REG_ROUTE_FIRST; id++)
			if (len == reg_reserved_len[id] && memcmp(label, reg_reserved[id], len) == 0)
				return id;
	uint64_t h = reg_str_hash(label, len);
	size_t mask = ((size_t)1 << r->rt_bits) - 1;
	size_t i = (size_t)h & mask;
	h &= ~REG_RT_BUSY;
	if (h == 0)
		h = 1;
	int reserved = 0;
	for (size_t n = 0; n <= mask; n++, i = (i + 1) & mask) {
		struct reg_rt *t = reg_rt_at(r, i);
		uint64_t w = atomic_load_explicit(&t->word, memory_order_acquire);
		if (w == 0) {
			if (!reserved && !(reserved = reg_reserve(&r->rt_used, r->rt_limit)))
				return REG_ROUTE_OTHER;
			if (atomic_compare_exchange_strong_explicit(&t->word, &w, h | REG_RT_BUSY,
								    memory_order_acquire, memory_order_acquire)) {
				t->len = (uint32_t)len;
				memcpy(t->label, label, len);
				atomic_store_explicit(&t->word, h, memory_order_release);
				return REG_ROUTE_FIRST + (uint32_t)i;
			}
		}
		if ((w & ~REG_RT_BUSY) != h)
			continue;
		/* same 63-bit hash still being written: take it (registry.h) */
		if ((w & REG_RT_BUSY) || (t->len == len && memcmp(t->label, label, len) == 0)) {
			if (reserved)
				reg_unreserve(&r->rt_used);
			return REG_ROUTE_FIRST + (uint32_t)i;
		}
	}
	if (reserved)
		reg_unreserve(&r->rt_used);
	return REG_ROUTE_OTHER;
}

const char *reg_route_name(const struct reg *r, uint32_t route, size_t *len)
{
	if (route >= REG_ROUTE_FIRST && route - REG_ROUTE_FIRST < ((size_t)1 << r->rt_bits)) {
		struct reg_rt *t = reg_rt_at(r, route - REG_ROUTE_FIRST);
		uint64_t w = atomic_load_explicit(&t->word, memory_order_acquire);
		if (w && !(w & REG_RT_BUSY)) {
			*len = t->len;
			return t->label;
		}
		route = REG_ROUTE_OTHER;
	}
	if (route >= REG_ROUTE_FIRST)
		route = REG_ROUTE_OTHER;
	*len = reg_reserved_len[route];
	return reg_reserved[route];
}

/* ---- members ---- */

/* The family's start time is the earliest any member reported; 0 means
 * unknown and never wins. */
static void reg_start_min(struct reg *r, uint64_t t)
{
	uint64_t cur = atomic_load_explicit(&r->start_min_us, memory_order_relaxed);
	while (t && t < cur && !atomic_compare_exchange_weak_explicit(&r->start_min_us, &cur, t, memory_order_relaxed,
								       memory_order_relaxed))
		;
}

int reg_member_join(struct reg *r, int pid, uint64_t start_time_us)
{
	if (pid <= 0)
		return -1;
	for (int n = 0, i = pid % REG_MAX_MEMBERS; n < REG_MAX_MEMBERS; n++, i = (i + 1) % REG_MAX_MEMBERS) {
		struct reg_mem *m = reg_mem_at(r, i);
		int32_t p = atomic_load_explicit(&m->pid, memory_order_relaxed);
		if (p != 0 || !atomic_compare_exchange_strong_explicit(&m->pid, &p, pid, memory_order_acquire,
								       memory_order_relaxed))
			continue;
		atomic_store_explicit(&m->start_us, start_time_us, memory_order_relaxed);
		reg_start_min(r, start_time_us);
		return i;
	}
	return -1;
}

_Atomic int64_t *reg_member_inflight_word(struct reg *r, int slot)
{
	return &reg_mem_at(r, slot)->inflight;
}

void reg_member_inflight(struct reg *r, int slot, int64_t delta)
{
	atomic_fetch_add_explicit(reg_member_inflight_word(r, slot), delta, memory_order_relaxed);
}

void reg_member_conns(struct reg *r, int slot, int64_t delta)
{
	atomic_fetch_add_explicit(&reg_mem_at(r, slot)->conns, delta, memory_order_relaxed);
}

void reg_member_set_figures(struct reg *r, int slot, const struct reg_member_figures *f)
{
	if (slot < 0 || slot >= REG_MAX_MEMBERS)
		return;
	struct reg_mem *m = reg_mem_at(r, slot);
	/* CPU only grows: a late, stale refresh must not take it back */
	uint64_t c = atomic_load_explicit(&m->cpu_us, memory_order_relaxed);
	while (f->cpu_us > c && !atomic_compare_exchange_weak_explicit(&m->cpu_us, &c, f->cpu_us,
								       memory_order_relaxed, memory_order_relaxed))
		;
	atomic_store_explicit(&m->rss, f->rss_bytes, memory_order_relaxed);
	atomic_store_explicit(&m->vsz, f->vsz_bytes, memory_order_relaxed);
	atomic_store_explicit(&m->fds, f->open_fds, memory_order_relaxed);
	atomic_store_explicit(&m->max_fds, f->max_fds, memory_order_relaxed);
	if (f->start_time_us) {
		atomic_store_explicit(&m->start_us, f->start_time_us, memory_order_relaxed);
		reg_start_min(r, f->start_time_us);
	}
}

int reg_member_pid(const struct reg *r, int slot)
{
	if (slot < 0 || slot >= REG_MAX_MEMBERS)
		return 0;
	int p = atomic_load_explicit(&reg_mem_at(r, slot)->pid, memory_order_acquire);
	return p > 0 ? p : 0;
}

int reg_member_drop(struct reg *r, int slot, int pid, uint64_t final_cpu_us)
{
	if (slot < 0 || slot >= REG_MAX_MEMBERS || pid <= 0)
		return 0;
	struct reg_mem *m = reg_mem_at(r, slot);
	int32_t p = pid;
	/* -1 first: snapshots skip the slot before its CPU joins the exited
	 * total, so CPU is never counted twice (only briefly under-counted,
	 * which the snapshot's running maximum hides) */
	if (!atomic_compare_exchange_strong_explicit(&m->pid, &p, -1, memory_order_acq_rel, memory_order_relaxed))
		return 0;
	uint64_t c = atomic_load_explicit(&m->cpu_us, memory_order_relaxed);
	if (final_cpu_us > c)
		c = final_cpu_us;
	reg_add_relaxed(&r->exited_cpu_us, c);
	atomic_store_explicit(&m->inflight, 0, memory_order_relaxed);
	atomic_store_explicit(&m->conns, 0, memory_order_relaxed);
	atomic_store_explicit(&m->cpu_us, 0, memory_order_relaxed);
	atomic_store_explicit(&m->rss, 0, memory_order_relaxed);
	atomic_store_explicit(&m->vsz, 0, memory_order_relaxed);
	atomic_store_explicit(&m->fds, 0, memory_order_relaxed);
	atomic_store_explicit(&m->max_fds, 0, memory_order_relaxed);
	atomic_store_explicit(&m->start_us, 0, memory_order_relaxed);
	atomic_store_explicit(&m->pid, 0, memory_order_release);
	return 1;
}

void reg_member_leave(struct reg *r, int slot, uint64_t final_cpu_us)
{
	int pid = reg_member_pid(r, slot);
	if (pid > 0)
		reg_member_drop(r, slot, pid, final_cpu_us);
}

/* ---- snapshots ---- */

static void reg_snap_ser(const struct reg *r, const struct reg_ser *x, uint64_t key, struct reg_snap_series *o)
{
	unsigned nb = r->nb, rq = nb + 1, rs = rq + REG_SIZE_BUCKETS + 1;
	uint64_t b[REG_MAX_BUCKETS + 2 + 2 * REG_SIZE_BUCKETS];
	/* the size buckets (acquire) before the duration ones, which make the
	 * count: see reg_record */
	for (unsigned i = rq; i < rs + REG_SIZE_BUCKETS; i++)
		b[i] = atomic_load_explicit(&x->b[i], memory_order_acquire);
	memset(o, 0, sizeof *o);
	uint64_t count = 0;
	for (unsigned i = 0; i < nb; i++) {
		count += atomic_load_explicit(&x->b[i], memory_order_acquire);
		o->dur_cum[i] = count;
	}
	count += atomic_load_explicit(&x->b[nb], memory_order_acquire);
	o->method = (uint8_t)reg_key_method(key);
	o->status = (uint16_t)reg_key_status(key);
	o->route = reg_key_route(key);
	o->count = count;
	/* requests without a body: the count less those with one */
	uint64_t c = 0;
	for (unsigned i = 0; i <= REG_SIZE_BUCKETS; i++)
		c += b[rq + i];
	c = c < count ? count - c : 0;
	for (unsigned i = 0; i < REG_SIZE_BUCKETS; i++) {
		c += b[rq + i];
		o->req_cum[i] = c < count ? c : count;
	}
	c = 0;
	for (unsigned i = 0; i < REG_SIZE_BUCKETS; i++) {
		c += b[rs + i];
		o->resp_cum[i] = c < count ? c : count;
	}
	o->dur_sum_us = atomic_load_explicit(&x->dur_sum_us, memory_order_relaxed);
	o->req_sum = atomic_load_explicit(&x->req_sum, memory_order_relaxed);
	o->resp_sum = atomic_load_explicit(&x->resp_sum, memory_order_relaxed);
}

static int reg_label_cmp(const char *a, size_t al, const char *b, size_t bl)
{
	int c = memcmp(a, b, al < bl ? al : bl);
	if (c)
		return c;
	return al < bl ? -1 : al > bl;
}

static int reg_ser_cmp(const void *pa, const void *pb)
{
	const struct reg_snap_series *a = pa, *b = pb;
	int c = reg_label_cmp(a->route_label, a->route_len, b->route_label, b->route_len);
	if (c)
		return c;
	if (a->method != b->method)
		return a->method < b->method ? -1 : 1;
	return a->status < b->status ? -1 : a->status > b->status;
}

static int reg_ab_cmp(const void *pa, const void *pb)
{
	const struct reg_snap_abort *a = pa, *b = pb;
	int c = reg_label_cmp(a->route_label, a->route_len, b->route_label, b->route_len);
	if (c)
		return c;
	return a->method < b->method ? -1 : a->method > b->method;
}

static void reg_fill_label(const struct reg *r, uint32_t *route, const char **label, size_t *len)
{
	*label = reg_route_name(r, *route, len);
	/* a route stuck BUSY renders as _OTHER; say so in the id too */
	if (*route >= REG_ROUTE_FIRST && *label == reg_reserved[REG_ROUTE_OTHER])
		*route = REG_ROUTE_OTHER;
}

/* Label sets that render alike (only possible through a route slot left
 * BUSY) are merged, so the output holds no duplicate series. */
static size_t reg_merge_series(struct reg_snap_series *v, size_t n, unsigned nb)
{
	size_t w = 0;
	for (size_t i = 0; i < n; i++) {
		if (w && reg_ser_cmp(&v[w - 1], &v[i]) == 0) {
			struct reg_snap_series *a = &v[w - 1], *b = &v[i];
			a->count += b->count;
			for (unsigned k = 0; k < nb; k++)
				a->dur_cum[k] += b->dur_cum[k];
			for (unsigned k = 0; k < REG_SIZE_BUCKETS; k++) {
				a->req_cum[k] += b->req_cum[k];
				a->resp_cum[k] += b->resp_cum[k];
			}
			a->dur_sum_us += b->dur_sum_us;
			a->req_sum += b->req_sum;
			a->resp_sum += b->resp_sum;
			if (a->route != REG_ROUTE_OTHER && b->route == REG_ROUTE_OTHER)
				a->route = REG_ROUTE_OTHER;
			continue;
		}
		if (w != i)
			v[w] = v[i];
		w++;
	}
	return w;
}

static size_t reg_merge_aborts(struct reg_snap_abort *v, size_t n)
{
	size_t w = 0;
	for (size_t i = 0; i < n; i++) {
		if (w && reg_ab_cmp(&v[w - 1], &v[i]) == 0) {
			v[w - 1].count += v[i].count;
			if (v[i].route == REG_ROUTE_OTHER)
				v[w - 1].route = REG_ROUTE_OTHER;
			continue;
		}
		if (w != i)
			v[w] = v[i];
		w++;
	}
	return w;
}

static int reg_ser_cmp_at(const void *pa, const void *pb, void *ctx)
{
	const struct reg_snap_series *v = ctx;
	return reg_ser_cmp(&v[*(const uint32_t *)pa], &v[*(const uint32_t *)pb]);
}

/* Whether the n series in v are those o was made from, as they came. */
static int reg_order_same(const struct reg_snap_order *o, const struct reg_snap_series *v, size_t n)
{
	if (!o || !o->pos || o->n != n)
		return 0;
	for (size_t i = 0; i < n; i++)
		if (o->key[i] != reg_key(v[i].method, v[i].route, v[i].status) || o->label[i] != v[i].route_label)
			return 0;
	return 1;
}

/* Renews o for the n series in v, sorted by pos (taken over). */
static void reg_order_keep(struct reg_snap_order *o, const struct reg_snap_series *v, size_t n, uint32_t *pos)
{
	if (n > o->cap) {
		uint64_t *k = realloc(o->key, n * sizeof *k);
		if (k)
			o->key = k;
		const char **l = realloc(o->label, n * sizeof *l);
		if (l)
			o->label = l;
		if (!k || !l) {
			free(pos);
			reg_snap_order_free(o);
			return;
		}
		o->cap = n;
	}
	for (size_t i = 0; i < n; i++) {
		o->key[i] = reg_key(v[i].method, v[i].route, v[i].status);
		o->label[i] = v[i].route_label;
	}
	free(o->pos);
	o->pos = pos;
	o->n = n;
}

void reg_snap_order_free(struct reg_snap_order *o)
{
	free(o->key);
	free(o->label);
	free(o->pos);
	memset(o, 0, sizeof *o);
}

/* Sorts the n series of s (by reg_ser_cmp), through o when it knows their
 * order. Returns 0, or -1 when out of memory. */
static int reg_sort_series(struct reg_snapshot *s, size_t n, struct reg_snap_order *o)
{
	if (!o) {
		qsort(s->series, n, sizeof *s->series, reg_ser_cmp);
		return 0;
	}
	const uint32_t *pos = o->pos;
	uint32_t *fresh = NULL;
	if (!reg_order_same(o, s->series, n)) {
		fresh = malloc((n ? n : 1) * sizeof *fresh);
		if (!fresh)
			return -1;
		for (size_t i = 0; i < n; i++)
			fresh[i] = (uint32_t)i;
		qsort_r(fresh, n, sizeof *fresh, reg_ser_cmp_at, s->series);
		pos = fresh;
	}
	struct reg_snap_series *v = malloc((n ? n : 1) * sizeof *v);
	if (!v) {
		free(fresh);
		return -1;
	}
	for (size_t j = 0; j < n; j++)
		v[j] = s->series[pos[j]];
	if (fresh)
		reg_order_keep(o, s->series, n, fresh);
	free(s->series);
	s->series = v;
	return 0;
}

static int reg_snap_series_all(const struct reg *r, struct reg_snapshot *s, size_t cap,
			       struct reg_snap_order *o)
{
	size_t n = 0;
	size_t ser_cap = (size_t)1 << r->ser_bits;
	for (size_t i = 0; i < ser_cap && n < cap - (REG_OVERFLOW_SERIES + 1); i++) {
		const struct reg_ser *x = reg_ser_at(r, r->off_ser, i);
		uint64_t k = atomic_load_explicit(reg_ser_keys(r) + i, memory_order_acquire);
		if (!k)
			continue;
		s->series_regular++;
		reg_snap_ser(r, x, k, &s->series[n++]);
	}
	const struct reg_ovf *ok = reg_ovf_keys(r, r->off_ovf_keys);
	for (size_t i = 0; i <= REG_OVERFLOW_SERIES && n < cap; i++) {
		const struct reg_ser *x = reg_ser_at(r, r->off_ovf, i);
		uint64_t k = i < REG_OVERFLOW_SERIES ? atomic_load_explicit(&ok->keys[i], memory_order_acquire)
						     : reg_key(TRK_M_OTHER, REG_ROUTE_OTHER, 0);
		if (!k)
			continue;
		struct reg_snap_series *o = &s->series[n];
		reg_snap_ser(r, x, k, o);
		/* the all-_OTHER series exists once it has been used */
		if (i == REG_OVERFLOW_SERIES && o->count == 0)
			continue;
		s->overflow += o->count;
		n++;
	}
	for (size_t i = 0; i < n; i++)
		reg_fill_label(r, &s->series[i].route, &s->series[i].route_label, &s->series[i].route_len);
	if (reg_sort_series(s, n, o) < 0)
		return -1;
	s->n_series = reg_merge_series(s->series, n, r->nb);
	return 0;
}

static void reg_snap_aborts_all(const struct reg *r, struct reg_snapshot *s, size_t cap)
{
	size_t n = 0;
	size_t ab_cap = (size_t)1 << r->ab_bits;
	for (size_t i = 0; i < ab_cap && n < cap - (REG_OVERFLOW_SERIES + 1); i++) {
		const struct reg_ab *x = reg_ab_at(r, r->off_ab, i);
		uint64_t k = atomic_load_explicit(&x->key, memory_order_acquire);
		if (!k)
			continue;
		s->aborted_regular++;
		s->aborted[n].method = (uint8_t)reg_key_method(k);
		s->aborted[n].route = reg_key_route(k);
		s->aborted[n].count = atomic_load_explicit(&x->count, memory_order_relaxed);
		n++;
	}
	const struct reg_ovf *ok = reg_ovf_keys(r, r->off_abovf_keys);
	for (size_t i = 0; i <= REG_OVERFLOW_SERIES && n < cap; i++) {
		const struct reg_ab *x = reg_ab_at(r, r->off_abovf, i);
		uint64_t k = i < REG_OVERFLOW_SERIES ? atomic_load_explicit(&ok->keys[i], memory_order_acquire)
						     : reg_key(TRK_M_OTHER, REG_ROUTE_OTHER, 0);
		if (!k)
			continue;
		uint64_t c = atomic_load_explicit(&x->count, memory_order_relaxed);
		if (i == REG_OVERFLOW_SERIES && c == 0)
			continue;
		s->aborted[n].method = (uint8_t)reg_key_method(k);
		s->aborted[n].route = REG_ROUTE_OTHER;
		s->aborted[n].count = c;
		s->overflow_aborted += c;
		n++;
	}
	for (size_t i = 0; i < n; i++)
		reg_fill_label(r, &s->aborted[i].route, &s->aborted[i].route_label, &s->aborted[i].route_len);
	qsort(s->aborted, n, sizeof *s->aborted, reg_ab_cmp);
	s->n_aborted = reg_merge_aborts(s->aborted, n);
}

static void reg_snap_members(struct reg *r, struct reg_snapshot *s)
{
	uint64_t cpu = 0;
	int64_t inflight = 0, conns = 0;
	for (int i = 0; i <= REG_MAX_MEMBERS; i++) {
		struct reg_mem *m = (struct reg_mem *)((char *)r + r->off_mem) + i;
		if (i < REG_MAX_MEMBERS) {
			int32_t p = atomic_load_explicit(&m->pid, memory_order_acquire);
			if (p <= 0)
				continue;
			s->members++;
			cpu += atomic_load_explicit(&m->cpu_us, memory_order_relaxed);
			s->rss_bytes += atomic_load_explicit(&m->rss, memory_order_relaxed);
			s->vsz_bytes += atomic_load_explicit(&m->vsz, memory_order_relaxed);
			s->open_fds += atomic_load_explicit(&m->fds, memory_order_relaxed);
			s->max_fds += atomic_load_explicit(&m->max_fds, memory_order_relaxed);
		}
		inflight += atomic_load_explicit(&m->inflight, memory_order_relaxed);
		conns += atomic_load_explicit(&m->conns, memory_order_relaxed);
	}
	s->in_flight = inflight > 0 ? inflight : 0;
	s->conns_open = conns > 0 ? conns : 0;
	cpu += atomic_load_explicit(&r->exited_cpu_us, memory_order_relaxed);
	uint64_t prev = atomic_load_explicit(&r->cpu_reported, memory_order_relaxed);
	while (cpu > prev && !atomic_compare_exchange_weak_explicit(&r->cpu_reported, &prev, cpu,
								     memory_order_relaxed, memory_order_relaxed))
		;
	s->cpu_us = cpu > prev ? cpu : prev;
	uint64_t st = atomic_load_explicit(&r->start_min_us, memory_order_relaxed);
	s->start_time_us = st == UINT64_MAX ? 0 : st;
}

static size_t reg_snap_room(uint64_t used, unsigned bits)
{
	uint64_t n = used + used / 4 + 64;
	if (n > ((uint64_t)1 << bits))
		n = (uint64_t)1 << bits;
	return (size_t)n + REG_OVERFLOW_SERIES + 1;
}

int reg_snapshot_take(struct reg *r, struct reg_snapshot *s)
{
	return reg_snapshot_take_ordered(r, s, NULL);
}

int reg_snapshot_take_ordered(struct reg *r, struct reg_snapshot *s, struct reg_snap_order *o)
{
	memset(s, 0, sizeof *s);
	s->reg = r;
	/* Claimed slots never outnumber reservations; the slack covers series
	 * created while we scan (any beyond it appear in the next snapshot). */
	size_t ser_n = reg_snap_room(atomic_load_explicit(&r->ser_used, memory_order_relaxed), r->ser_bits);
	size_t ab_n = reg_snap_room(atomic_load_explicit(&r->ab_used, memory_order_relaxed), r->ab_bits);
	s->series = malloc(ser_n * sizeof *s->series);
	s->aborted = malloc(ab_n * sizeof *s->aborted);
	if (!s->series || !s->aborted) {
		reg_snapshot_free(s);
		return -1;
	}
	if (reg_snap_series_all(r, s, ser_n, o) < 0) {
		reg_snapshot_free(s);
		return -1;
	}
	reg_snap_aborts_all(r, s, ab_n);
	s->overflow += s->overflow_aborted;
	for (unsigned c = 0; c < REG_C_COUNT; c++)
		s->counters[c] = atomic_load_explicit(&r->counters[c], memory_order_relaxed);
	reg_snap_members(r, s);
	return 0;
}

void reg_snapshot_free(struct reg_snapshot *s)
{
	free(s->series);
	free(s->aborted);
	s->series = NULL;
	s->aborted = NULL;
	s->n_series = s->n_aborted = 0;
}
