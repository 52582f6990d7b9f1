/* core/auth.c — the endpoint's credential check (see auth.h): header
 * parsing, constant-time comparison, the keyed-hash cache of verified
 * headers and failure throttling. The hash verifier (crypt) is the
 * caller's.
 */
#include <string.h>

#include "auth.h"

/* ---- SipHash-2-4-128 ---- */

static inline uint64_t auth_rotl(uint64_t x, int b)
{
	return (x << b) | (x >> (64 - b));
}

static inline uint64_t auth_le64(const uint8_t *p)
{
	uint64_t v = 0;
	for (int i = 7; i >= 0; i--)
		v = (v << 8) | p[i];
	return v;
}

#define AUTH_SIPROUND                                                      \
	do {                                                               \
		v0 += v1; v1 = auth_rotl(v1, 13); v1 ^= v0; v0 = auth_rotl(v0, 32); \
		v2 += v3; v3 = auth_rotl(v3, 16); v3 ^= v2;                    \
		v0 += v3; v3 = auth_rotl(v3, 21); v3 ^= v0;                    \
		v2 += v1; v1 = auth_rotl(v1, 17); v1 ^= v2; v2 = auth_rotl(v2, 32); \
	} while (0)

void auth_siphash128(const uint8_t key[16], const void *data, size_t len, uint64_t out[2])
{
	const uint8_t *in = data;
	uint64_t k0 = auth_le64(key), k1 = auth_le64(key + 8);
	uint64_t v0 = 0x736f6d6570736575ull ^ k0;
	uint64_t v1 = 0x646f72616e646f6dull ^ k1 ^ 0xee;
	uint64_t v2 = 0x6c7967656e657261ull ^ k0;
	uint64_t v3 = 0x7465646279746573ull ^ k1;
	size_t whole = len - len % 8;

	for (size_t i = 0; i < whole; i += 8) {
		uint64_t m = auth_le64(in + i);
		v3 ^= m;
		AUTH_SIPROUND;
		AUTH_SIPROUND;
		v0 ^= m;
	}
	uint64_t b = (uint64_t)len << 56;
	for (size_t i = 0; i < len % 8; i++)
		b |= (uint64_t)in[whole + i] << (8 * i);
	v3 ^= b;
	AUTH_SIPROUND;
	AUTH_SIPROUND;
	v0 ^= b;
	v2 ^= 0xee;
	for (int i = 0; i < 4; i++)
		AUTH_SIPROUND;
	out[0] = v0 ^ v1 ^ v2 ^ v3;
	v1 ^= 0xdd;
	for (int i = 0; i < 4; i++)
		AUTH_SIPROUND;
	out[1] = v0 ^ v1 ^ v2 ^ v3;
}

/* ---- comparisons and decoding ---- */

int auth_ct_equal(const void *x, size_t alen, const void *y, size_t blen)
{
	const volatile uint8_t *a = x, *b = y;
	/* Walk the secret's length whatever the guess's: a short guess reads
	 * its first byte again rather than stopping early. */
	unsigned acc = alen != blen;
	for (size_t i = 0; i < blen; i++) {
		uint8_t ai = alen ? a[i < alen ? i : 0] : 0;
		acc |= (unsigned)(ai ^ b[i]);
	}
	return acc == 0;
}

static int auth_b64_val(unsigned char c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '+')
		return 62;
	if (c == '/')
		return 63;
	return -1;
}

long auth_b64_decode(const char *in, size_t len, char *out, size_t cap)
{
	while (len && in[len - 1] == '=')
		len--;
	if (len % 4 == 1 || cap == 0)
		return -1;
	size_t n = 0;
	uint32_t acc = 0;
	unsigned bits = 0;
	for (size_t i = 0; i < len; i++) {
		int v = auth_b64_val((unsigned char)in[i]);
		if (v < 0)
			return -1;
		acc = (acc << 6) | (uint32_t)v;
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			if (n + 1 >= cap)
				return -1;
			out[n++] = (char)((acc >> bits) & 0xff);
		}
	}
	out[n] = '\0';
	return (long)n;
}

/* ---- the check ---- */

void auth_init(struct auth *a, const struct cfg_auth *entries, unsigned n, auth_verify_fn verify,
	       void *verify_ctx, const uint8_t key[16])
{
	memset(a, 0, sizeof *a);
	a->entries = entries;
	a->n = n;
	a->verify = verify;
	a->verify_ctx = verify_ctx;
	a->key[0] = auth_le64(key);
	a->key[1] = auth_le64(key + 8);
}

void auth_reset(struct auth *a)
{
	memset(a->cache, 0, sizeof a->cache);
	memset(a->src, 0, sizeof a->src);
	a->global_start_ns = 0;
	a->global_failures = 0;
}

static void auth_header_key(const struct auth *a, const char *h, size_t len, uint64_t out[2])
{
	uint8_t k[16];
	for (int i = 0; i < 8; i++) {
		k[i] = (uint8_t)(a->key[0] >> (8 * i));
		k[8 + i] = (uint8_t)(a->key[1] >> (8 * i));
	}
	auth_siphash128(k, h, len, out);
}

static int auth_cache_hit(struct auth *a, const uint64_t key[2], uint64_t now)
{
	struct auth_cache_entry *hit = NULL;
	for (unsigned i = 0; i < AUTH_CACHE_SLOTS; i++) {
		struct auth_cache_entry *e = &a->cache[i];
		if ((e->expires_ns > now) & auth_ct_equal(key, 16, e->key, 16))
			hit = e;
	}
	if (hit)
		hit->expires_ns = now + AUTH_CACHE_TTL_NS;
	return hit != NULL;
}

static void auth_cache_put(struct auth *a, const uint64_t key[2], uint64_t now)
{
	/* an expired slot, else the one that expires first */
	struct auth_cache_entry *victim = &a->cache[0];
	for (unsigned i = 0; i < AUTH_CACHE_SLOTS; i++) {
		struct auth_cache_entry *e = &a->cache[i];
		if (e->expires_ns <= now) {
			victim = e;
			break;
		}
		if (e->expires_ns < victim->expires_ns)
			victim = e;
	}
	victim->key[0] = key[0];
	victim->key[1] = key[1];
	victim->expires_ns = now + AUTH_CACHE_TTL_NS;
}

static int auth_window_live(uint64_t start, uint64_t now)
{
	return start && now - start < AUTH_FAIL_WINDOW_NS;
}

/* The source's slot, or NULL when it has none (no failures remembered). */
static struct auth_src *auth_src_find(struct auth *a, uint64_t src, uint64_t now)
{
	for (unsigned i = 0; i < AUTH_SRC_SLOTS; i++)
		if (a->src[i].addr == src && auth_window_live(a->src[i].start_ns, now))
			return &a->src[i];
	return NULL;
}

static int auth_throttled(struct auth *a, uint64_t src, uint64_t now)
{
	if (auth_window_live(a->global_start_ns, now) && a->global_failures >= AUTH_GLOBAL_FAIL_MAX)
		return 1;
	struct auth_src *s = auth_src_find(a, src, now);
	return s && s->failures >= AUTH_FAIL_MAX;
}

static void auth_fail(struct auth *a, uint64_t src, uint64_t now)
{
	if (!auth_window_live(a->global_start_ns, now)) {
		a->global_start_ns = now;
		a->global_failures = 0;
	}
	a->global_failures++;
	struct auth_src *s = auth_src_find(a, src, now);
	if (!s) {
		s = &a->src[0];
		for (unsigned i = 0; i < AUTH_SRC_SLOTS; i++) {
			struct auth_src *c = &a->src[i];
			if (!auth_window_live(c->start_ns, now)) {
				s = c;
				break;
			}
			if (c->start_ns < s->start_ns)
				s = c;
		}
		s->addr = src;
		s->start_ns = now;
		s->failures = 0;
	}
	s->failures++;
}

static void auth_succeed(struct auth *a, uint64_t src, uint64_t now)
{
	struct auth_src *s = auth_src_find(a, src, now);
	if (s)
		memset(s, 0, sizeof *s);
}

static int auth_scheme(const char *h, const char *name, size_t n)
{
	return strncasecmp(h, name, n) == 0 && (h[n] == ' ' || h[n] == '\t');
}

static int auth_bearer(const struct auth *a, const char *tok, size_t len)
{
	int ok = 0;
	for (unsigned i = 0; i < a->n; i++) {
		const struct cfg_auth *e = &a->entries[i];
		if (e->kind == CFG_AUTH_BEARER)
			ok |= auth_ct_equal(tok, len, e->secret, strlen(e->secret));
	}
	return ok;
}

static int auth_basic(struct auth *a, const char *b64, size_t len)
{
	char buf[AUTH_HEADER_MAX];
	long n = auth_b64_decode(b64, len, buf, sizeof buf);
	if (n < 0 || strlen(buf) != (size_t)n) /* crypt takes C strings */
		return 0;
	char *colon = strchr(buf, ':');
	if (!colon)
		return 0;
	*colon = '\0';
	size_t ulen = (size_t)(colon - buf);
	const struct cfg_auth *match = NULL, *any = NULL;
	for (unsigned i = 0; i < a->n; i++) {
		const struct cfg_auth *e = &a->entries[i];
		if (e->kind != CFG_AUTH_BASIC)
			continue;
		if (!any)
			any = e;
		if (auth_ct_equal(buf, ulen, e->user, strlen(e->user)))
			match = e;
	}
	int ok = 0;
	if (any && a->verify) {
		/* An unknown user costs one verification too, against some
		 * configured hash: the answer's timing does not tell which
		 * user names exist. */
		a->stats.verifies++;
		int r = a->verify(a->verify_ctx, colon + 1, match ? match->secret : any->secret);
		ok = match && r == 1;
	}
	explicit_bzero(buf, sizeof buf);
	return ok;
}

enum auth_result auth_check(struct auth *a, const char *header, uint64_t src, uint64_t now)
{
	if (!header)
		return AUTH_MISSING;
	while (*header == ' ' || *header == '\t')
		header++;
	int basic = auth_scheme(header, "basic", 5);
	int bearer = !basic && auth_scheme(header, "bearer", 6);
	if (!basic && !bearer)
		return AUTH_MISSING;
	size_t hlen = strnlen(header, AUTH_HEADER_MAX + 1);

	if (hlen <= AUTH_HEADER_MAX) {
		uint64_t key[2];
		auth_header_key(a, header, hlen, key);
		if (auth_cache_hit(a, key, now)) {
			a->stats.cache_hits++;
			return AUTH_OK;
		}
		if (auth_throttled(a, src, now)) {
			a->stats.throttled++;
			return AUTH_THROTTLED;
		}
		const char *cred = header + (basic ? 5 : 6);
		while (*cred == ' ' || *cred == '\t')
			cred++;
		size_t clen = hlen - (size_t)(cred - header);
		while (clen && (cred[clen - 1] == ' ' || cred[clen - 1] == '\t'))
			clen--;
		int ok = clen && (basic ? auth_basic(a, cred, clen) : auth_bearer(a, cred, clen));
		if (ok) {
			auth_cache_put(a, key, now);
			auth_succeed(a, src, now);
			return AUTH_OK;
		}
	} else if (auth_throttled(a, src, now)) {
		a->stats.throttled++;
		return AUTH_THROTTLED;
	}
	auth_fail(a, src, now);
	return AUTH_DENIED;
}
