/* core/route.c — route templates, exclusions, the ID heuristic, the shared
 * per-position collapse table and label cleaning (SPEC 3 and 4).
 *
 * Templates compile into per-depth bitsets: for every segment depth, which
 * templates accept any non-empty segment there, which have `**` there, which
 * end there, and (through a small hash table) which have a given literal
 * there. Matching a path ANDs one bitset per segment into the set of
 * templates still alive, so a single pass decides every template at once and
 * the lowest surviving index is the first match.
 */
#include "route.h"
#include "utf8.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define RT_WORDS_MAX (ROUTE_MAX_TEMPLATES / 64)
#define RT_INLINE static inline __attribute__((always_inline))
#define RT_SEG_MAX (ROUTE_LABEL_MAX + 1)

/* ---------------------------------------------------------------- hashing */

#define RT_K1 0x9e3779b97f4a7c15ULL
#define RT_K2 0xbf58476d1ce4e5b9ULL
#define RT_K3 0x94d049bb133111ebULL

static inline uint64_t rt_mix(uint64_t x)
{
	x ^= x >> 32;
	x *= RT_K2;
	return x ^ (x >> 29);
}

#define RT_ONES 0x0101010101010101ULL
#define RT_HIGHS 0x8080808080808080ULL
#define RT_SLASHES 0x2f2f2f2f2f2f2f2fULL

static inline uint64_t rt_absorb(uint64_t h, uint64_t w)
{
	h = (h ^ (w * RT_K2)) * RT_K1;
	return h ^ (h >> 29);
}

/* Find the end of the segment at s (the next '/' or end) and hash it on the
 * way, a word at a time: full words, then the zero-padded rest and the
 * length. The last short word is loaded so that it ends at `end` (the path
 * starts at b0, so that load stays inside it). The lowest byte flagged by
 * the zero-byte test is exact. */
static inline const char *rt_scan(const char *b0, const char *s, const char *end, uint64_t seed,
				  uint64_t *hp)
{
	const char *b = s;
	uint64_t h = seed, w = 0;

#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
	if (end - b0 >= 8) {
		for (;;) {
			size_t r = (size_t)(end - s);
			uint64_t x, z;
			if (r >= 8) {
				memcpy(&w, s, 8);
			} else if (r) {
				memcpy(&w, end - 8, 8);
				w >>= 8 * (8 - r);
			} else {
				w = 0;
				break;
			}
			x = w ^ RT_SLASHES;
			z = (x - RT_ONES) & ~x & RT_HIGHS;
			if (z) {
				unsigned k = (unsigned)__builtin_ctzll(z) >> 3;
				w = k ? w & (~0ULL >> (64 - 8 * k)) : 0;
				s += k;
				break;
			}
			if (r < 8) {
				s = end;
				break;
			}
			h = rt_absorb(h, w);
			s += 8;
		}
		goto done;
	}
#endif
	for (unsigned k = 0; s < end && *s != '/'; k++, s++) {
		if (k == 8) {
			h = rt_absorb(h, w);
			w = 0;
			k = 0;
		}
		w |= (uint64_t)(unsigned char)*s << (8 * k);
	}
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
done:
#endif
	*hp = rt_mix(rt_absorb(h ^ ((uint64_t)(s - b) * RT_K1), w));
	return s;
}

static inline uint64_t rt_hash(const char *p, size_t n, uint64_t seed)
{
	uint64_t h;
	rt_scan(p, p, p + n, seed, &h);
	return h;
}

/* --------------------------------------------------------- label building */

struct rt_out {
	char *p;
	size_t len, lim;
	size_t idpos; /* start of the last "{id}" + 1, 0 for none */
	int full;     /* something did not fit */
};

static inline void rt_copy(char *d, const char *p, size_t n);

static inline void rt_put(struct rt_out *o, const char *s, size_t n)
{
	if (o->full)
		return;
	if (n > o->lim - o->len) {
		o->full = 1;
		return;
	}
	rt_copy(o->p + o->len, s, n);
	o->len += n;
}

/* Small copies and checks with overlapping word loads: labels are built
 * from short segments, where a call to memcpy costs more than the copy. */
static inline uint64_t rt_load(const char *p, size_t n)
{
	uint64_t a;
	uint32_t x, y;
	if (n >= 8) {
		memcpy(&a, p, 8);
		return a;
	}
	if (n >= 4) {
		memcpy(&x, p, 4);
		memcpy(&y, p + n - 4, 4);
		return (uint64_t)x << 32 | y;
	}
	return n ? (uint64_t)(unsigned char)p[0] << 16 | (uint64_t)(unsigned char)p[n >> 1] << 8 |
			   (unsigned char)p[n - 1]
		 : 0;
}

static inline int rt_ascii(const char *p, size_t n)
{
	uint64_t acc = 0, w;
	size_t i = 0;
	for (; i + 8 < n; i += 8) {
		memcpy(&w, p + i, 8);
		acc |= w;
	}
	acc |= rt_load(p + i, n - i);
	return !(acc & RT_HIGHS);
}

static inline void rt_copy(char *d, const char *p, size_t n)
{
	uint64_t w;
	uint32_t x, y;
	if (n >= 8) {
		size_t i = 0;
		for (; i + 8 < n; i += 8) {
			memcpy(&w, p + i, 8);
			memcpy(d + i, &w, 8);
		}
		memcpy(&w, p + n - 8, 8);
		memcpy(d + n - 8, &w, 8);
	} else if (n >= 4) {
		memcpy(&x, p, 4);
		memcpy(&y, p + n - 4, 4);
		memcpy(d, &x, 4);
		memcpy(d + n - 4, &y, 4);
	} else if (n) {
		d[0] = p[0];
		d[n >> 1] = p[n >> 1];
		d[n - 1] = p[n - 1];
	}
}

static void rt_put_clean_slow(struct rt_out *o, const char *str, size_t n);

RT_INLINE void rt_put_clean(struct rt_out *o, const char *str, size_t n)
{
	if (!o->full && n <= o->lim - o->len && rt_ascii(str, n)) {
		rt_copy(o->p + o->len, str, n);
		o->len += n;
		return;
	}
	rt_put_clean_slow(o, str, n);
}

static void rt_put_clean_slow(struct rt_out *o, const char *str, size_t n)
{
	const unsigned char *s = (const unsigned char *)str;
	size_t i = 0;

	while (i < n && !o->full) {
		if (s[i] < 0x80) {
			/* check and copy ASCII a word at a time */
			char *d = o->p + o->len;
			size_t k = 0, avail = n - i, room = o->lim - o->len;
			while (k + 8 <= avail && k + 8 <= room) {
				uint64_t w;
				memcpy(&w, s + i + k, 8);
				if (w & RT_HIGHS)
					break;
				memcpy(d + k, &w, 8);
				k += 8;
			}
			while (k < avail && k < room && s[i + k] < 0x80) {
				d[k] = (char)s[i + k];
				k++;
			}
			o->len += k;
			i += k;
			if (k == room && i < n) {
				o->full = 1;
				return;
			}
			continue;
		}
		size_t bad = 0, k = utf8_seq(s + i, n - i, &bad);
		if (k) {
			rt_put(o, (const char *)s + i, k);
			i += k;
		} else {
			rt_put(o, "\xEF\xBF\xBD", 3);
			i += bad;
		}
	}
}

/* Cut to a character boundary and append "..." when the label overflowed or
 * the path was already cut; the result stays within lim. */
static size_t rt_finish(struct rt_out *o, int cut)
{
	if (!o->full && !cut)
		return o->len;
	if (o->lim < 3)
		return o->len;
	size_t l = o->len;
	if (l > o->lim - 3) {
		l = o->lim - 3;
		while (l > 0 && ((unsigned char)o->p[l] & 0xC0) == 0x80)
			l--;
		/* never leave half a "{id}": only the last one can straddle */
		if (o->idpos && o->idpos - 1 < l && l < o->idpos + 3)
			l = o->idpos - 1;
	}
	memcpy(o->p + l, "...", 3);
	return l + 3;
}

size_t route_label_clean(const char *in, size_t len, int truncated, char *out, size_t cap)
{
	struct rt_out o = {out, 0, cap < ROUTE_LABEL_MAX ? cap : ROUTE_LABEL_MAX, 0, 0};
	rt_put_clean(&o, in, len);
	return rt_finish(&o, truncated);
}

/* -------------------------------------------------------------- heuristic */

static int rt_is_hex(unsigned c)
{
	return (c >= '0' && c <= '9') || ((c | 0x20) >= 'a' && (c | 0x20) <= 'f');
}

static int rt_is_uuid(const char *s)
{
	for (int i = 0; i < 36; i++) {
		if (i == 8 || i == 13 || i == 18 || i == 23) {
			if (s[i] != '-')
				return 0;
		} else if (!rt_is_hex((unsigned char)s[i])) {
			return 0;
		}
	}
	return 1;
}

/* Byte classes for the heuristic. */
#define RC_LETTER 1u
#define RC_DIGIT 2u
#define RC_HEX 4u   /* 0-9 a-f A-F */
#define RC_TOKEN 8u /* letters, digits and - _ . = ~ */

static const unsigned char rt_class[256] = {
	['-'] = RC_TOKEN, ['_'] = RC_TOKEN, ['.'] = RC_TOKEN, ['='] = RC_TOKEN, ['~'] = RC_TOKEN,
#define RC_D(c) [c] = RC_DIGIT | RC_HEX | RC_TOKEN
	RC_D('0'), RC_D('1'), RC_D('2'), RC_D('3'), RC_D('4'), RC_D('5'), RC_D('6'), RC_D('7'), RC_D('8'),
	RC_D('9'),
#define RC_H(c) [c] = RC_LETTER | RC_HEX | RC_TOKEN, [c - 32] = RC_LETTER | RC_HEX | RC_TOKEN
	RC_H('a'), RC_H('b'), RC_H('c'), RC_H('d'), RC_H('e'), RC_H('f'),
#define RC_L(c) [c] = RC_LETTER | RC_TOKEN, [c - 32] = RC_LETTER | RC_TOKEN
	RC_L('g'), RC_L('h'), RC_L('i'), RC_L('j'), RC_L('k'), RC_L('l'), RC_L('m'), RC_L('n'), RC_L('o'),
	RC_L('p'), RC_L('q'), RC_L('r'), RC_L('s'), RC_L('t'), RC_L('u'), RC_L('v'), RC_L('w'), RC_L('x'),
	RC_L('y'), RC_L('z'),
#undef RC_D
#undef RC_H
#undef RC_L
};

int route_segment_is_id(const char *str, size_t n)
{
	const unsigned char *s = (const unsigned char *)str;
	unsigned all = RC_DIGIT | RC_HEX | RC_TOKEN, any = 0, prev = 0;
	size_t switches = 0;

	if (n == 0)
		return 0;
	/* below 8 bytes only a decimal number qualifies: most words end here
	 * on their first letter */
	if (n < 8) {
		for (size_t i = 0; i < n; i++)
			if (!(rt_class[s[i]] & RC_DIGIT))
				return 0;
		return 1;
	}
	/* below 16 bytes only hex with a digit qualifies: stop at the first
	 * other byte */
	if (n < 16) {
		for (size_t i = 0; i < n; i++) {
			unsigned c = rt_class[s[i]];
			if (!(c & RC_HEX))
				return 0;
			any |= c;
		}
		return (any & RC_DIGIT) != 0;
	}
	if (n == 36 && rt_is_uuid(str))
		return 1;
	for (size_t i = 0; i < n; i++) {
		unsigned c = rt_class[s[i]], cls = c & (RC_LETTER | RC_DIGIT);
		all &= c;
		any |= c;
		/* a letter right next to a digit: frequent in random tokens,
		 * rare in words, versions and file names */
		switches += (prev | cls) == (RC_LETTER | RC_DIGIT);
		prev = cls;
		if (!(all & (RC_HEX | RC_TOKEN)))
			return 0;
	}
	if (all & RC_DIGIT)
		return 1;
	if ((all & RC_HEX) && (any & RC_DIGIT))
		return 1;
	return n >= 16 && (all & RC_TOKEN) && switches >= 2;
}

/* ------------------------------------------------------ seen-segment table */

#define RS_MAGIC 0x72736565u /* "rsee" */
#define RS_PROBES 64u
#define RS_TAG_PARENT 0x5a17c3e9b2d04f61ULL
#define RS_TAG_ID 0x3c6ef372fe94f82bULL
#define RS_TAG_STAR 0xa54ff53a5f1d36f1ULL
#define RS_ROOT 0x510e527fade682d1ULL

/* key 0 marks a free slot; count is used by parent entries only (distinct
 * literals seen at that position). */
struct rs_slot {
	uint64_t key;
	uint32_t count;
	uint32_t pad;
};

struct route_seen {
	uint32_t magic;
	uint32_t slots; /* power of two */
	uint32_t collapse_after;
	uint32_t probes;
	uint64_t pad;
	struct rs_slot slot[];
};

/* Members of the family share the table through MAP_SHARED memory: its
 * atomics must not fall back to locks inside one process. */
_Static_assert(__atomic_always_lock_free(sizeof(uint64_t), 0), "64-bit atomics must be lock-free");
_Static_assert(__atomic_always_lock_free(sizeof(uint32_t), 0), "32-bit atomics must be lock-free");

static unsigned rs_round(unsigned slots)
{
	unsigned n = 16;
	if (slots == 0)
		slots = ROUTE_SEEN_DEFAULT_SLOTS;
	if (slots > (1u << 24))
		slots = 1u << 24;
	while (n < slots)
		n <<= 1;
	return n;
}

size_t route_seen_size(unsigned slots)
{
	return sizeof(struct route_seen) + (size_t)rs_round(slots) * sizeof(struct rs_slot);
}

struct route_seen *route_seen_init(void *mem, size_t size, unsigned slots, unsigned collapse_after)
{
	struct route_seen *t = mem;
	unsigned n = rs_round(slots);

	if (!mem || size < route_seen_size(slots))
		return NULL;
	memset(t, 0, route_seen_size(slots));
	t->slots = n;
	t->collapse_after = collapse_after;
	t->probes = n < RS_PROBES ? n : RS_PROBES;
	t->magic = RS_MAGIC;
	return t;
}

enum { RS_ABSENT, RS_FOUND, RS_CLAIMED, RS_FULL };

/* Linear probing, slots claimed by CAS and never freed: a key can only sit
 * before the first free slot of its probe run, so a free slot ends a search
 * even while other processes insert. */
static int rs_lookup(struct route_seen *t, uint64_t key, int claim, struct rs_slot **out)
{
	uint32_t mask = t->slots - 1, i = (uint32_t)(key >> 32) & mask;

	for (uint32_t n = 0; n < t->probes; n++, i = (i + 1) & mask) {
		struct rs_slot *s = &t->slot[i];
		uint64_t k = __atomic_load_n(&s->key, __ATOMIC_ACQUIRE);
		if (k == 0) {
			if (!claim)
				return RS_ABSENT;
			if (__atomic_compare_exchange_n(&s->key, &k, key, 0, __ATOMIC_ACQ_REL,
							__ATOMIC_ACQUIRE)) {
				*out = s;
				return RS_CLAIMED;
			}
		}
		if (k == key) {
			*out = s;
			return RS_FOUND;
		}
	}
	return RS_FULL;
}

/* Nonzero when the literal with key `key` under parent `parent` keeps its
 * text. A place under the parent's counter is reserved before the segment is
 * inserted, so a position never holds more than collapse_after literals even
 * when processes race; a member killed in between leaves one place unused.
 * A position found full is looked at once more for the key: another member
 * may have taken the last place for this very segment since the first look
 * (left open: the few instructions between its reservation and its insert). */
static int rs_keep(struct route_seen *t, uint64_t parent, uint64_t key)
{
	struct rs_slot *ps, *ss;
	uint32_t c;
	int r;

	if (rs_lookup(t, key, 0, &ss) == RS_FOUND)
		return 1;
	uint64_t pkey = rt_mix(parent ^ RS_TAG_PARENT);
	pkey += !pkey;
	if (rs_lookup(t, pkey, 1, &ps) == RS_FULL)
		return 0;
	c = __atomic_load_n(&ps->count, __ATOMIC_RELAXED);
	do {
		if (c >= t->collapse_after)
			return rs_lookup(t, key, 0, &ss) == RS_FOUND;
	} while (!__atomic_compare_exchange_n(&ps->count, &c, c + 1, 1, __ATOMIC_ACQ_REL,
					      __ATOMIC_RELAXED));
	r = rs_lookup(t, key, 1, &ss);
	if (r == RS_CLAIMED)
		return 1;
	__atomic_fetch_sub(&ps->count, 1, __ATOMIC_ACQ_REL);
	return r == RS_FOUND;
}

/* -------------------------------------------------------------- templates */

struct rt_lit {
	uint64_t h;
	const char *seg; /* NULL: free */
	uint32_t len;
	uint32_t depth;
	uint32_t bits; /* offset into litbits */
};

struct route_set {
	unsigned n;      /* templates */
	unsigned words;  /* 64-bit words per bitset */
	unsigned ndepth; /* depths with data: most segments + 1 */
	char *text;      /* templates, trimmed, back to back */
	uint32_t *off;
	uint16_t *len;
	uint64_t *any;  /* [ndepth][words]: `{name}` or `*` at this depth */
	uint64_t *glob; /* [ndepth][words]: `**` at this depth */
	uint64_t *end;  /* [ndepth][words]: exactly this many segments */
	uint64_t *litbits;
	struct rt_lit *lit;
	uint32_t lmask;
	unsigned nlit;
};

void route_set_free(struct route_set *rs)
{
	if (!rs)
		return;
	free(rs->text);
	free(rs->off);
	free(rs->len);
	free(rs->any);
	free(rs->glob);
	free(rs->end);
	free(rs->litbits);
	free(rs->lit);
	free(rs);
}

static uint64_t rt_depth_seed(unsigned depth)
{
	return RT_K3 * (depth + 1);
}

/* Literals are short: word compares beat a call to memcmp. */
static inline int rt_same(const char *a, const char *b, size_t n)
{
	uint64_t x, y;
	uint32_t u, v;

	if (n >= 8) {
		for (size_t i = 0; i + 8 < n; i += 8) {
			memcpy(&x, a + i, 8);
			memcpy(&y, b + i, 8);
			if (x != y)
				return 0;
		}
		memcpy(&x, a + n - 8, 8);
		memcpy(&y, b + n - 8, 8);
		return x == y;
	}
	if (n >= 4) {
		memcpy(&u, a, 4);
		memcpy(&v, b, 4);
		if (u != v)
			return 0;
		memcpy(&u, a + n - 4, 4);
		memcpy(&v, b + n - 4, 4);
		return u == v;
	}
	for (size_t i = 0; i < n; i++)
		if (a[i] != b[i])
			return 0;
	return 1;
}

static inline struct rt_lit *rt_lit_find(const struct route_set *rs, const char *s, size_t n, unsigned depth,
				  uint64_t h)
{
	for (uint32_t i = (uint32_t)h & rs->lmask;; i = (i + 1) & rs->lmask) {
		struct rt_lit *l = &rs->lit[i];
		if (!l->seg)
			return l;
		if (l->h == h && l->depth == depth && l->len == n && rt_same(l->seg, s, n))
			return l;
	}
}

/* Display a template in an error: printable ASCII as is, other bytes as
 * \xNN, long ones cut. */
static void rt_show(char *dst, size_t cap, const char *s, size_t n)
{
	size_t j = 0;
	for (size_t i = 0; i < n && j + 8 < cap; i++) {
		unsigned c = (unsigned char)s[i];
		if (i >= 64) {
			memcpy(dst + j, "...", 3);
			j += 3;
			break;
		}
		if (c >= 0x20 && c < 0x7f)
			dst[j++] = (char)c;
		else
			j += (size_t)snprintf(dst + j, cap - j, "\\x%02X", c);
	}
	dst[j] = 0;
}

static int rt_pchar(unsigned c)
{
	if ((c | 0x20) >= 'a' && (c | 0x20) <= 'z')
		return 1;
	if (c >= '0' && c <= '9')
		return 1;
	return c && strchr("-._~!$&'()+,;=:@", (int)c) != NULL;
}

static int rt_name_ok(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		unsigned c = (unsigned char)s[i];
		int alpha = ((c | 0x20) >= 'a' && (c | 0x20) <= 'z') || c == '_';
		if (!alpha && !(i > 0 && c >= '0' && c <= '9'))
			return 0;
	}
	return 1;
}

/* Check one template; on error write the reason into why. */
static int rt_check(const char *t, size_t n, char *why, size_t cap)
{
	if (t[0] != '/') {
		snprintf(why, cap, "must start with '/'");
		return -1;
	}
	if (n > ROUTE_LABEL_MAX) {
		snprintf(why, cap, "longer than %d bytes", ROUTE_LABEL_MAX);
		return -1;
	}
	/* braces first, so that "/a/{id" is reported as what it is */
	int open = 0;
	for (size_t i = 0; i < n; i++) {
		if (t[i] == '{') {
			if (open) {
				snprintf(why, cap, "nested '{'");
				return -1;
			}
			open = 1;
		} else if (t[i] == '}') {
			if (!open) {
				snprintf(why, cap, "unbalanced '}'");
				return -1;
			}
			open = 0;
		} else if (t[i] == '/' && open) {
			break;
		}
	}
	if (open) {
		snprintf(why, cap, "unbalanced '{'");
		return -1;
	}
	size_t i = 1;
	for (;;) {
		size_t j = i;
		while (j < n && t[j] != '/')
			j++;
		const char *s = t + i;
		size_t sl = j - i;
		int has_brace = memchr(s, '{', sl) || memchr(s, '}', sl);
		if (sl == 2 && s[0] == '*' && s[1] == '*') {
			if (j != n) {
				snprintf(why, cap, "'**' must be the last segment");
				return -1;
			}
		} else if (sl == 1 && s[0] == '*') {
			/* one unnamed segment */
		} else if (has_brace) {
			if (s[0] != '{' || s[sl - 1] != '}') {
				snprintf(why, cap, "'{name}' must be a whole segment");
				return -1;
			}
			if (sl == 2) {
				snprintf(why, cap, "empty {name}");
				return -1;
			}
			if (!rt_name_ok(s + 1, sl - 2)) {
				snprintf(why, cap,
					 "invalid name '%.*s' (letters, digits and '_', not starting with a digit)",
					 (int)(sl - 2), s + 1);
				return -1;
			}
		} else {
			for (size_t k = 0; k < sl; k++) {
				unsigned c = (unsigned char)s[k];
				if (c == '*') {
					snprintf(why, cap, "'*' must be a whole segment (or a trailing '**')");
					return -1;
				}
				if (c == '%') {
					if (k + 2 >= sl || !rt_is_hex((unsigned char)s[k + 1]) ||
					    !rt_is_hex((unsigned char)s[k + 2])) {
						snprintf(why, cap, "'%%' must be followed by two hex digits");
						return -1;
					}
					k += 2;
					continue;
				}
				if (rt_pchar(c))
					continue;
				if (c >= 0x80)
					snprintf(why, cap, "byte 0x%02X cannot appear in a path (percent-encode it)",
						 c);
				else if (c >= 0x20 && c < 0x7f)
					snprintf(why, cap, "character '%c' cannot appear in a path", (int)c);
				else
					snprintf(why, cap, "byte 0x%02X cannot appear in a path", c);
				return -1;
			}
		}
		if (j >= n)
			break;
		i = j + 1;
	}
	return 0;
}

struct rt_item {
	const char *s;
	size_t n;
};

static int rt_space(char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\v' || c == '\f';
}

/* Split text into trimmed templates; comment lines and blanks dropped. */
static size_t rt_split(const char *text, size_t len, struct rt_item *items, size_t max)
{
	size_t n = 0, i = 0;
	int line_start = 1;

	while (i < len) {
		size_t j = i;
		while (j < len && rt_space(text[j]))
			j++;
		if (line_start && j < len && text[j] == '#') {
			while (j < len && text[j] != '\n')
				j++;
			i = j;
			continue;
		}
		size_t k = j;
		while (k < len && text[k] != ',' && text[k] != '\n')
			k++;
		size_t e = k;
		while (e > j && rt_space(text[e - 1]))
			e--;
		if (e > j) {
			if (items && n < max)
				items[n] = (struct rt_item){text + j, e - j};
			n++;
		}
		line_start = k < len && text[k] == '\n';
		i = k + 1;
	}
	return n;
}

__attribute__((format(printf, 3, 4))) static void rt_err(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;
	if (!err || !errlen)
		return;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
}

int route_set_parse(struct route_set **out, const char *text, size_t len, char *err, size_t errlen)
{
	struct route_set *rs = NULL;
	struct rt_item *items = NULL;
	char why[160], show[300];
	size_t n, total = 0;

	*out = NULL;
	if (err && errlen)
		err[0] = 0;
	n = rt_split(text, text ? len : 0, NULL, 0);
	if (n == 0)
		return 0;
	if (n > ROUTE_MAX_TEMPLATES) {
		rt_err(err, errlen, "too many templates (%zu, at most %d)", n, ROUTE_MAX_TEMPLATES);
		return -1;
	}
	items = calloc(n, sizeof *items);
	if (!items)
		goto nomem;
	rt_split(text, len, items, n);

	unsigned ndepth = 0;
	for (size_t t = 0; t < n; t++) {
		if (rt_check(items[t].s, items[t].n, why, sizeof why) < 0) {
			rt_show(show, sizeof show, items[t].s, items[t].n);
			rt_err(err, errlen, "template '%s': %s", show, why);
			free(items);
			return -1;
		}
		unsigned segs = 0;
		for (size_t k = 0; k < items[t].n; k++)
			segs += items[t].s[k] == '/';
		if (segs + 1 > ndepth)
			ndepth = segs + 1;
		total += items[t].n;
	}

	rs = calloc(1, sizeof *rs);
	if (!rs)
		goto nomem;
	rs->n = (unsigned)n;
	rs->words = (unsigned)(n + 63) / 64;
	rs->ndepth = ndepth;
	uint32_t lcap = 16;
	/* a template has at most one segment per byte */
	while (lcap < 2 * (total + 1))
		lcap <<= 1;
	rs->lmask = lcap - 1;
	size_t bs = (size_t)ndepth * rs->words;
	rs->text = malloc(total);
	rs->off = calloc(n, sizeof *rs->off);
	rs->len = calloc(n, sizeof *rs->len);
	rs->any = calloc(bs, 8);
	rs->glob = calloc(bs, 8);
	rs->end = calloc(bs, 8);
	rs->lit = calloc(lcap, sizeof *rs->lit);
	rs->litbits = calloc(total + 1, (size_t)rs->words * 8);
	if (!rs->text || !rs->off || !rs->len || !rs->any || !rs->glob || !rs->end || !rs->lit ||
	    !rs->litbits)
		goto nomem;

	size_t pos = 0;
	for (size_t t = 0; t < n; t++) {
		const char *s = rs->text + pos;
		size_t tl = items[t].n, i = 1;
		unsigned depth = 0;
		uint64_t bit = 1ULL << (t % 64);
		size_t w = t / 64;

		memcpy(rs->text + pos, items[t].s, tl);
		rs->off[t] = (uint32_t)pos;
		rs->len[t] = (uint16_t)tl;
		pos += tl;
		for (;; depth++) {
			size_t j = i;
			while (j < tl && s[j] != '/')
				j++;
			size_t sl = j - i;
			size_t at = (size_t)depth * rs->words + w;
			if (sl == 2 && s[i] == '*' && s[i + 1] == '*') {
				rs->glob[at] |= bit;
				break;
			}
			if ((sl == 1 && s[i] == '*') || (sl && s[i] == '{')) {
				rs->any[at] |= bit;
			} else {
				uint64_t h = rt_hash(s + i, sl, rt_depth_seed(depth));
				struct rt_lit *l = rt_lit_find(rs, s + i, sl, depth, h);
				if (!l->seg) {
					*l = (struct rt_lit){h, s + i, (uint32_t)sl, depth,
							     rs->nlit++ * rs->words};
				}
				rs->litbits[l->bits + w] |= bit;
			}
			if (j >= tl) {
				rs->end[(size_t)(depth + 1) * rs->words + w] |= bit;
				break;
			}
			i = j + 1;
		}
	}
	free(items);
	*out = rs;
	return 0;
nomem:
	free(items);
	route_set_free(rs);
	rt_err(err, errlen, "out of memory compiling templates");
	return -1;
}

/* ---------------------------------------------------------------- matching */

/* Matching state of one set: templates still alive, templates matched. W
 * is the number of bitset words, a constant 1 in the common case (at most
 * 64 templates) so that the compiler keeps the state in registers. */
struct rt_walk {
	const struct route_set *rs;
	int live;
	uint64_t alive[RT_WORDS_MAX];
	uint64_t hits[RT_WORDS_MAX];
};

RT_INLINE void rt_walk_init(struct rt_walk *w, const struct route_set *rs, unsigned W)
{
	w->rs = rs;
	w->live = rs != NULL;
	for (unsigned i = 0; i < W; i++)
		w->alive[i] = ~0ULL, w->hits[i] = 0;
	if (rs && rs->n % 64)
		w->alive[W - 1] = (1ULL << (rs->n % 64)) - 1;
}

/* Before consuming segment `depth`: templates with `**` here match. Then
 * keep the templates that accept this segment. The walk ends once nothing
 * alive can beat the best match already found. */
RT_INLINE void rt_walk_step(struct rt_walk *w, unsigned depth, const char *s, size_t n, uint64_t h,
			    unsigned W)
{
	const struct route_set *rs = w->rs;

	if (depth >= rs->ndepth) {
		w->live = 0;
		return;
	}
	const uint64_t *glob = rs->glob + (size_t)depth * W, *any = rs->any + (size_t)depth * W;
	const struct rt_lit *l = rt_lit_find(rs, s, n, depth, h);
	const uint64_t *lb = l->seg ? rs->litbits + l->bits : NULL;
	uint64_t more = 0, beaten = 0;
	for (unsigned i = 0; i < W; i++) {
		w->hits[i] |= w->alive[i] & glob[i];
		uint64_t a = w->alive[i] &= (n ? any[i] : 0) | (lb ? lb[i] : 0);
		/* a hit below the lowest alive template decides the match */
		if (!more)
			beaten |= w->hits[i] & (a ? (a & -a) - 1 : ~0ULL);
		more |= a;
	}
	if (!more || beaten)
		w->live = 0;
}

/* The path ended after `depth` segments. Returns the matched template, or
 * -1. A truncated path only matches through a `**` that covers its cut
 * last segment. */
RT_INLINE int rt_walk_end(struct rt_walk *w, unsigned depth, int ended, int truncated, unsigned W)
{
	const struct route_set *rs = w->rs;

	if (!rs)
		return -1;
	if (w->live && ended && !truncated && depth < rs->ndepth) {
		const uint64_t *glob = rs->glob + (size_t)depth * W;
		const uint64_t *end = rs->end + (size_t)depth * W;
		for (unsigned i = 0; i < W; i++)
			w->hits[i] |= w->alive[i] & (glob[i] | end[i]);
	}
	for (unsigned i = 0; i < W; i++)
		if (w->hits[i])
			return (int)(i * 64 + (unsigned)__builtin_ctzll(w->hits[i]));
	return -1;
}

/* One pass over the segments for exclusions and routes together. Returns
 * -2 when excluded, the matched route, or -1. Both sets have WE and WR
 * bitset words. */
RT_INLINE int rt_match(const struct route_ctx *rc, const char *path, const char *p, const char *end,
		       int truncated, unsigned WE, unsigned WR)
{
	struct rt_walk ex, rt;
	unsigned depth = 0;
	int ended = 0;

	rt_walk_init(&ex, rc->exclude, WE);
	rt_walk_init(&rt, rc->routes, WR);
	while (ex.live || rt.live) {
		uint64_t h;
		const char *q = rt_scan(path, p, end, rt_depth_seed(depth), &h);
		if (ex.live)
			rt_walk_step(&ex, depth, p, (size_t)(q - p), h, WE);
		if (rt.live)
			rt_walk_step(&rt, depth, p, (size_t)(q - p), h, WR);
		depth++;
		if (q == end) {
			ended = 1;
			break;
		}
		p = q + 1;
	}
	if (rt_walk_end(&ex, depth, ended, truncated, WE) >= 0)
		return -2;
	return rt_walk_end(&rt, depth, ended, truncated, WR);
}

static int rt_match_1(const struct route_ctx *rc, const char *path, const char *p, const char *end,
		      int truncated)
{
	return rt_match(rc, path, p, end, truncated, 1, 1);
}

static int rt_match_n(const struct route_ctx *rc, const char *path, const char *p, const char *end,
		      int truncated)
{
	return rt_match(rc, path, p, end, truncated, rc->exclude ? rc->exclude->words : 1,
			rc->routes ? rc->routes->words : 1);
}

/* ----------------------------------------------------------------- resolve */

int route_resolve(const struct route_ctx *rc, const char *path, size_t len, int truncated, char *out,
		  size_t cap)
{
	unsigned how;
	return route_resolve_how(rc, path, len, truncated, out, cap, &how);
}

int route_resolve_how(const struct route_ctx *rc, const char *path, size_t len, int truncated, char *out,
		      size_t cap, unsigned *how)
{
	struct rt_out o = {out, 0, cap < ROUTE_LABEL_MAX ? cap : ROUTE_LABEL_MAX, 0, 0};
	const char *p, *end;

	*how = 0;

	if (!len)
		path = "";
	p = path;
	end = path + len;
	/* A path that does not start with '/' is read as if it did (an
	 * absolute-form request with an empty path means "/"), so every label
	 * starts with '/' and never equals a reserved route. */
	if (len && *p == '/')
		p++;

	if (rc->exclude || rc->routes) {
		int t = (!rc->exclude || rc->exclude->words == 1) && (!rc->routes || rc->routes->words == 1)
				? rt_match_1(rc, path, p, end, truncated)
				: rt_match_n(rc, path, p, end, truncated);
		if (t == -2)
			return -1;
		if (t >= 0) {
			rt_put(&o, rc->routes->text + rc->routes->off[t], rc->routes->len[t]);
			return (int)rt_finish(&o, 0);
		}
	}

	rt_put(&o, "/", 1);
	if (!rc->heuristic) {
		rt_put_clean(&o, p, (size_t)(end - p));
		return (int)rt_finish(&o, truncated);
	}

	struct route_seen *seen = rc->seen && rc->seen->magic == RS_MAGIC ? rc->seen : NULL;
	uint64_t parent = RS_ROOT;
	const char *s = p;
	for (unsigned depth = 0;; depth++) {
		uint64_t key;
		const char *q = rt_scan(path, s, end, parent + depth, &key);
		size_t n = (size_t)(q - s);
		if (depth)
			rt_put(&o, "/", 1);
		/* the cut last segment of a truncated path says nothing reliable */
		if (truncated && q == end)
			break;
		/* most segments are short words: settle those inline */
		if ((n >= 8 || (n && rt_class[(unsigned char)*s] & RC_DIGIT)) && route_segment_is_id(s, n)) {
			if (!o.full && o.lim - o.len >= 4)
				o.idpos = o.len + 1;
			rt_put(&o, "{id}", 4);
			parent = rt_mix(parent ^ RS_TAG_ID);
		} else if (seen) {
			key += !key;
			if (rs_keep(seen, parent, key)) {
				rt_put_clean(&o, s, n);
				parent = key;
			} else {
				rt_put(&o, "*", 1);
				parent = rt_mix(parent ^ RS_TAG_STAR);
				*how |= ROUTE_COLLAPSED;
			}
		} else {
			rt_put_clean(&o, s, n);
		}
		/* nothing past the label's end may claim table slots */
		if (o.full || q == end)
			break;
		s = q + 1;
	}
	return (int)rt_finish(&o, truncated);
}
