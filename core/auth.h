/* core/auth.h — deciding whether a scrape's Authorization header matches
 * PROMSHIM_AUTH_FILE (SPEC 3): `Basic` against crypt(3) hashes, `Bearer`
 * against tokens, a cache of verified headers, failure throttling.
 *
 * No I/O and no crypt of its own: the caller passes the hash verifier (the
 * shim loads libcrypt lazily), a random key, the client's address key and
 * the time. One struct auth belongs to one thread (the serving thread);
 * nothing here allocates.
 *
 * Decision order in auth_check: a header without a known scheme is
 * AUTH_MISSING (costs nothing, not throttled); a header whose keyed hash is
 * in the cache and not expired is AUTH_OK without verifying; a source (or
 * the whole endpoint) that failed too often in the current window is
 * AUTH_THROTTLED without verifying; otherwise the credential is verified,
 * cached on success, and counted against its source on failure. So a
 * scraper whose credential is cached keeps working while an attacker is
 * throttled, and a flood of wrong passwords costs at most
 * AUTH_GLOBAL_FAIL_MAX hash verifications per window.
 */
#ifndef PROMSHIM_CORE_AUTH_H
#define PROMSHIM_CORE_AUTH_H

#include <stddef.h>
#include <stdint.h>

#include "config.h"

#define AUTH_HEADER_MAX 1024                /* longer Authorization values are refused */
#define AUTH_CACHE_SLOTS 16
/* A cached header expires this long after its last use: a scraper with
 * an interval of a minute or two never needs verifying again (so an
 * attacker's throttling of its address cannot lock it out), one that
 * stopped is forgotten. The auth file is never reread, so a credential
 * once verified stays right. */
#define AUTH_CACHE_TTL_NS (120ull * 1000000000ull)
#define AUTH_SRC_SLOTS 64                   /* sources whose failures are remembered */
#define AUTH_FAIL_MAX 5                     /* failures per source per window */
#define AUTH_GLOBAL_FAIL_MAX 20             /* failures of all sources per window */
#define AUTH_FAIL_WINDOW_NS (10ull * 1000000000ull)

enum auth_result {
	AUTH_OK = 0,
	AUTH_MISSING,   /* no header, or not Basic/Bearer: answer 401 */
	AUTH_DENIED,    /* a credential that does not match: answer 401 */
	AUTH_THROTTLED, /* refused unverified after too many failures: answer 429 */
};

/* Returns 1 when password matches the crypt(3) hash, 0 when it does not,
 * -1 when the hash cannot be computed (treated as a mismatch). */
typedef int (*auth_verify_fn)(void *ctx, const char *password, const char *hash);

struct auth_cache_entry {
	uint64_t key[2];     /* keyed hash of the whole header value */
	uint64_t expires_ns; /* 0: empty */
};

struct auth_src {
	uint64_t addr;       /* the caller's key for the client address */
	uint64_t start_ns;   /* start of this source's window; 0: empty */
	unsigned failures;
};

struct auth_stats {
	uint64_t verifies;   /* calls of the verifier (crypt runs) */
	uint64_t cache_hits;
	uint64_t throttled;
};

struct auth {
	const struct cfg_auth *entries;
	unsigned n;
	auth_verify_fn verify;
	void *verify_ctx;
	uint64_t key[2];
	struct auth_cache_entry cache[AUTH_CACHE_SLOTS];
	struct auth_src src[AUTH_SRC_SLOTS];
	uint64_t global_start_ns;
	unsigned global_failures;
	struct auth_stats stats;
};

/* Prepare a for the n entries (kept by pointer: they must outlive a).
 * key: 16 random bytes for the cache's keyed hash, so that nobody can make
 * a header collide with a cached one. verify may be NULL when no entry is
 * basic (a Basic header is then denied). */
void auth_init(struct auth *a, const struct cfg_auth *entries, unsigned n, auth_verify_fn verify,
	       void *verify_ctx, const uint8_t key[16]);

/* Decide on one request. header: the Authorization value or NULL. src: a
 * key for the client's address (same address, same key). now_ns: a
 * monotonic clock, nonzero. */
enum auth_result auth_check(struct auth *a, const char *header, uint64_t src, uint64_t now_ns);

/* Forget cached credentials and failure counts. */
void auth_reset(struct auth *a);

/* 1 when the alen bytes at x equal the blen bytes at y, else 0; the time
 * taken depends on blen only (pass the secret as y). */
int auth_ct_equal(const void *x, size_t alen, const void *y, size_t blen);

/* SipHash-2-4 with a 128-bit result, as in the reference implementation
 * (out[0] holds bytes 0..7 little-endian, out[1] bytes 8..15). */
void auth_siphash128(const uint8_t key[16], const void *data, size_t len, uint64_t out[2]);

/* Decode standard base64 (padding optional) into out, NUL-terminated.
 * Returns the decoded length, or -1 on a bad character or when it does not
 * fit in cap - 1 bytes. */
long auth_b64_decode(const char *in, size_t len, char *out, size_t cap);

#endif
