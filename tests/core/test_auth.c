/* tests/core/test_auth.c — core/auth: SipHash vectors, base64, constant-time
 * compare, Basic and Bearer decisions, the verified-header cache and its
 * expiry, per-source and global throttling, and real crypt(3) hashes
 * (libcrypt loaded with dlopen, as the shim does).
 */
#include <criterion/criterion.h>
#include <crypt.h>
#include <dlfcn.h>
#include <stdio.h>
#include <string.h>

#include "auth.h"

#define SEC 1000000000ull
#define TOKEN "tok-0123456789abcdef-XYZ"
/* base64 of "alice:s3cret", "alice:wrong", "mallory:s3cret" */
#define B_ALICE "Basic YWxpY2U6czNjcmV0"
#define B_WRONG "Basic YWxpY2U6d3Jvbmc="
#define B_MALLORY "Basic bWFsbG9yeTpzM2NyZXQ="

static const uint8_t key0[16] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16};

/* A stand-in for crypt: hash "fake$PW" matches password PW. */
static unsigned fake_calls;
static char fake_last_hash[64];
static char fake_last_pw[64];
static int fake_verify(void *ctx, const char *pw, const char *hash)
{
	(void)ctx;
	fake_calls++;
	snprintf(fake_last_hash, sizeof fake_last_hash, "%s", hash);
	snprintf(fake_last_pw, sizeof fake_last_pw, "%s", pw);
	if (strncmp(hash, "fake$", 5) == 0)
		return strcmp(hash + 5, pw) == 0;
	return -1;
}

static struct cfg_auth entries[] = {
	{CFG_AUTH_BASIC, "alice", "fake$s3cret"},
	{CFG_AUTH_BEARER, NULL, TOKEN},
	{CFG_AUTH_BASIC, "bob", "fake$hunter2"},
};
static struct auth A;

static void setup(void)
{
	fake_calls = 0;
	fake_last_hash[0] = fake_last_pw[0] = '\0';
	auth_init(&A, entries, 3, fake_verify, NULL, key0);
}

/* ---- primitives ---- */

TestSuite(auth);

Test(auth, siphash128_reference_vectors)
{
	/* key 00..0f, messages of 0 and 1 byte (00): the reference
	 * implementation's vectors_sip128[0] and [1]. */
	uint8_t k[16], m[1] = {0};
	for (int i = 0; i < 16; i++)
		k[i] = (uint8_t)i;
	uint64_t out[2];
	auth_siphash128(k, m, 0, out);
	cr_assert_eq(out[0], 0xe6a825ba047f81a3ull);
	cr_assert_eq(out[1], 0x930255c71472f66dull);
	auth_siphash128(k, m, 1, out);
	cr_assert_eq(out[0], 0x44af996bd8c187daull);
	cr_assert_eq(out[1], 0x45fc229b11597634ull);
}

Test(auth, siphash128_depends_on_key_and_every_byte)
{
	uint8_t k2[16];
	memcpy(k2, key0, 16);
	k2[15] ^= 1;
	const char *msg = "Basic YWxpY2U6czNjcmV0";
	uint64_t a[2], b[2], c[2];
	auth_siphash128(key0, msg, strlen(msg), a);
	auth_siphash128(k2, msg, strlen(msg), b);
	cr_assert(a[0] != b[0] && a[1] != b[1]);
	char m2[32];
	strcpy(m2, msg);
	m2[strlen(m2) - 1] = '1';
	auth_siphash128(key0, m2, strlen(m2), c);
	cr_assert(a[0] != c[0] && a[1] != c[1]);
}

Test(auth, base64)
{
	char out[32];
	cr_assert_eq(auth_b64_decode("YWxpY2U6czNjcmV0", 16, out, sizeof out), 12);
	cr_assert_str_eq(out, "alice:s3cret");
	cr_assert_eq(auth_b64_decode("YWxpY2U6d3Jvbmc=", 16, out, sizeof out), 11);
	cr_assert_str_eq(out, "alice:wrong");
	cr_assert_eq(auth_b64_decode("YWxpY2U6d3Jvbmc", 15, out, sizeof out), 11);
	cr_assert_str_eq(out, "alice:wrong");
	cr_assert_eq(auth_b64_decode("YQ==", 4, out, sizeof out), 1);
	cr_assert_str_eq(out, "a");
	cr_assert_eq(auth_b64_decode("", 0, out, sizeof out), 0);
	cr_assert_str_eq(out, "");
	cr_assert_eq(auth_b64_decode("YWxp*2U6", 8, out, sizeof out), -1);
	cr_assert_eq(auth_b64_decode("Y", 1, out, sizeof out), -1);
	/* 12 bytes need a 13-byte buffer */
	cr_assert_eq(auth_b64_decode("YWxpY2U6czNjcmV0", 16, out, 12), -1);
	cr_assert_eq(auth_b64_decode("YWxpY2U6czNjcmV0", 16, out, 13), 12);
}

Test(auth, ct_equal)
{
	cr_assert_eq(auth_ct_equal("abcdef", 6, "abcdef", 6), 1);
	cr_assert_eq(auth_ct_equal("abcdeg", 6, "abcdef", 6), 0);
	cr_assert_eq(auth_ct_equal("bbcdef", 6, "abcdef", 6), 0);
	cr_assert_eq(auth_ct_equal("abcde", 5, "abcdef", 6), 0);
	cr_assert_eq(auth_ct_equal("abcdefg", 7, "abcdef", 6), 0);
	cr_assert_eq(auth_ct_equal("", 0, "abcdef", 6), 0);
	cr_assert_eq(auth_ct_equal("", 0, "", 0), 1);
	cr_assert_eq(auth_ct_equal("a", 1, "", 0), 0);
}

/* ---- decisions ---- */

TestSuite(auth_check, .init = setup);

Test(auth_check, missing_or_unknown_scheme)
{
	cr_assert_eq(auth_check(&A, NULL, 1, SEC), AUTH_MISSING);
	cr_assert_eq(auth_check(&A, "", 1, SEC), AUTH_MISSING);
	cr_assert_eq(auth_check(&A, "Digest username=\"alice\"", 1, SEC), AUTH_MISSING);
	cr_assert_eq(auth_check(&A, "Basic", 1, SEC), AUTH_MISSING);
	cr_assert_eq(auth_check(&A, "BasicYWxpY2U6czNjcmV0", 1, SEC), AUTH_MISSING);
	cr_assert_eq(fake_calls, 0);
	/* missing credentials never count toward throttling */
	for (int i = 0; i < 50; i++)
		cr_assert_eq(auth_check(&A, NULL, 1, SEC), AUTH_MISSING);
	cr_assert_eq(auth_check(&A, B_ALICE, 1, SEC), AUTH_OK);
}

Test(auth_check, basic_right_and_wrong)
{
	cr_assert_eq(auth_check(&A, B_ALICE, 1, SEC), AUTH_OK);
	cr_assert_eq(fake_calls, 1);
	cr_assert_str_eq(fake_last_hash, "fake$s3cret");
	cr_assert_str_eq(fake_last_pw, "s3cret");
	cr_assert_eq(auth_check(&A, B_WRONG, 2, SEC), AUTH_DENIED);
	cr_assert_eq(fake_calls, 2);
	cr_assert_str_eq(fake_last_pw, "wrong");
	/* bob's hash is used for bob */
	cr_assert_eq(auth_check(&A, "Basic Ym9iOmh1bnRlcjI=", 3, SEC), AUTH_OK); /* bob:hunter2 */
	cr_assert_str_eq(fake_last_hash, "fake$hunter2");
	/* alice's password is not bob's */
	cr_assert_eq(auth_check(&A, "Basic Ym9iOnMzY3JldA==", 3, SEC), AUTH_DENIED); /* bob:s3cret */
	cr_assert_eq(A.stats.verifies, 4);
}

Test(auth_check, scheme_case_and_spaces)
{
	cr_assert_eq(auth_check(&A, "bAsIc   YWxpY2U6czNjcmV0  ", 1, SEC), AUTH_OK);
	cr_assert_eq(auth_check(&A, "BEARER\t" TOKEN, 1, SEC), AUTH_OK);
}

Test(auth_check, unknown_user_costs_one_verification)
{
	cr_assert_eq(auth_check(&A, B_MALLORY, 1, SEC), AUTH_DENIED);
	cr_assert_eq(fake_calls, 1);
	/* verified against a configured hash, and still denied though the
	 * password is alice's */
	cr_assert_str_eq(fake_last_hash, "fake$s3cret");
	cr_assert_str_eq(fake_last_pw, "s3cret");
}

Test(auth_check, malformed_basic_is_denied_unverified)
{
	cr_assert_eq(auth_check(&A, "Basic YWxpY2Vzm2NyZXQ=", 1, SEC), AUTH_DENIED); /* no colon */
	cr_assert_eq(auth_check(&A, "Basic ***", 1, SEC), AUTH_DENIED);
	cr_assert_eq(auth_check(&A, "Basic YWxpY2U6YQBi", 1, SEC), AUTH_DENIED); /* alice:a\0b */
	cr_assert_eq(auth_check(&A, "Basic   ", 1, SEC), AUTH_DENIED);
	cr_assert_eq(fake_calls, 0);
}

Test(auth_check, header_too_long)
{
	char h[AUTH_HEADER_MAX + 16];
	memset(h, 'A', sizeof h);
	memcpy(h, "Basic ", 6);
	h[sizeof h - 1] = '\0';
	cr_assert_eq(auth_check(&A, h, 1, SEC), AUTH_DENIED);
	cr_assert_eq(fake_calls, 0);
}

Test(auth_check, bearer)
{
	cr_assert_eq(auth_check(&A, "Bearer " TOKEN, 1, SEC), AUTH_OK);
	cr_assert_eq(auth_check(&A, "Bearer tok-0123456789abcdef-XY", 2, SEC), AUTH_DENIED);
	cr_assert_eq(auth_check(&A, "Bearer " TOKEN "Z", 2, SEC), AUTH_DENIED);
	cr_assert_eq(auth_check(&A, "Bearer tok-0123456789abcdef-XYz", 2, SEC), AUTH_DENIED);
	/* a token is not a Basic password, nor the reverse */
	cr_assert_eq(auth_check(&A, "Bearer s3cret", 2, SEC), AUTH_DENIED);
	cr_assert_eq(auth_check(&A, "Basic dG9rLTAxMjM0NTY3ODlhYmNkZWYtWFla", 3, SEC), AUTH_DENIED);
	cr_assert_eq(fake_calls, 0); /* the Basic one has no colon: never verified */
}

Test(auth_check, basic_without_basic_entries)
{
	struct cfg_auth only_bearer[] = {{CFG_AUTH_BEARER, NULL, TOKEN}};
	auth_init(&A, only_bearer, 1, NULL, NULL, key0);
	cr_assert_eq(auth_check(&A, B_ALICE, 1, SEC), AUTH_DENIED);
	cr_assert_eq(auth_check(&A, "Bearer " TOKEN, 1, SEC), AUTH_OK);
	cr_assert_eq(A.stats.verifies, 0);
}

Test(auth_check, verifier_error_denies)
{
	struct cfg_auth bad[] = {{CFG_AUTH_BASIC, "alice", "$6$broken"}};
	auth_init(&A, bad, 1, fake_verify, NULL, key0);
	cr_assert_eq(auth_check(&A, B_ALICE, 1, SEC), AUTH_DENIED);
	cr_assert_eq(fake_calls, 1);
}

/* ---- cache ---- */

TestSuite(auth_cache, .init = setup);

Test(auth_cache, verified_header_is_not_verified_again)
{
	cr_assert_eq(auth_check(&A, B_ALICE, 1, SEC), AUTH_OK);
	for (int i = 0; i < 10; i++)
		cr_assert_eq(auth_check(&A, B_ALICE, 1, SEC + (uint64_t)i * SEC), AUTH_OK);
	cr_assert_eq(fake_calls, 1);
	cr_assert_eq(A.stats.cache_hits, 10);
	/* another source presenting the same header hits too */
	cr_assert_eq(auth_check(&A, B_ALICE, 99, 2 * SEC), AUTH_OK);
	cr_assert_eq(fake_calls, 1);
}

Test(auth_cache, failures_are_not_cached)
{
	cr_assert_eq(auth_check(&A, B_WRONG, 1, SEC), AUTH_DENIED);
	cr_assert_eq(auth_check(&A, B_WRONG, 1, SEC), AUTH_DENIED);
	cr_assert_eq(fake_calls, 2);
	cr_assert_eq(A.stats.cache_hits, 0);
}

Test(auth_cache, entries_expire_after_idle_ttl)
{
	uint64_t t = 5 * SEC;
	cr_assert_eq(auth_check(&A, B_ALICE, 1, t), AUTH_OK);
	cr_assert_eq(fake_calls, 1);
	cr_assert_eq(auth_check(&A, B_ALICE, 1, t + AUTH_CACHE_TTL_NS), AUTH_OK);
	cr_assert_eq(fake_calls, 2);
}

Test(auth_cache, use_keeps_an_entry)
{
	uint64_t t = 5 * SEC;
	cr_assert_eq(auth_check(&A, B_ALICE, 1, t), AUTH_OK);
	for (int i = 1; i <= 10; i++)
		cr_assert_eq(auth_check(&A, B_ALICE, 1, t + (uint64_t)i * (AUTH_CACHE_TTL_NS - 1)), AUTH_OK);
	cr_assert_eq(fake_calls, 1);
	/* idle for a whole TTL after the last use */
	cr_assert_eq(auth_check(&A, B_ALICE, 1, t + 11 * (AUTH_CACHE_TTL_NS - 1) + 1), AUTH_OK);
	cr_assert_eq(fake_calls, 2);
}

Test(auth_cache, keyed_by_the_exact_header)
{
	cr_assert_eq(auth_check(&A, B_ALICE, 1, SEC), AUTH_OK);
	/* the same credential spelt differently is verified on its own */
	cr_assert_eq(auth_check(&A, "basic YWxpY2U6czNjcmV0", 1, SEC), AUTH_OK);
	cr_assert_eq(fake_calls, 2);
	cr_assert_eq(auth_check(&A, "Bearer " TOKEN, 1, SEC), AUTH_OK);
	cr_assert_eq(auth_check(&A, "Bearer " TOKEN, 1, SEC), AUTH_OK);
	cr_assert_eq(A.stats.cache_hits, 1);
}

Test(auth_cache, full_cache_evicts_the_oldest)
{
	/* 17 distinct headers for bob: "Basic" + base64 with different
	 * trailing spaces are the same credential but distinct keys */
	char h[64];
	for (unsigned i = 0; i <= AUTH_CACHE_SLOTS; i++) {
		snprintf(h, sizeof h, "Basic Ym9iOmh1bnRlcjI=%*s", (int)i, "");
		cr_assert_eq(auth_check(&A, h, 1, SEC + i), AUTH_OK);
	}
	cr_assert_eq(fake_calls, AUTH_CACHE_SLOTS + 1);
	/* the first (expiring first) was evicted, the last ones are there */
	snprintf(h, sizeof h, "Basic Ym9iOmh1bnRlcjI=%*s", AUTH_CACHE_SLOTS, "");
	cr_assert_eq(auth_check(&A, h, 1, 2 * SEC), AUTH_OK);
	cr_assert_eq(fake_calls, AUTH_CACHE_SLOTS + 1);
	cr_assert_eq(auth_check(&A, "Basic Ym9iOmh1bnRlcjI=", 1, 2 * SEC), AUTH_OK);
	cr_assert_eq(fake_calls, AUTH_CACHE_SLOTS + 2);
}

Test(auth_cache, reset_forgets)
{
	cr_assert_eq(auth_check(&A, B_ALICE, 1, SEC), AUTH_OK);
	auth_reset(&A);
	cr_assert_eq(auth_check(&A, B_ALICE, 1, SEC), AUTH_OK);
	cr_assert_eq(fake_calls, 2);
}

/* ---- throttling ---- */

TestSuite(auth_throttle, .init = setup);

Test(auth_throttle, per_source)
{
	uint64_t t = 100 * SEC;
	for (int i = 0; i < AUTH_FAIL_MAX; i++)
		cr_assert_eq(auth_check(&A, B_WRONG, 7, t), AUTH_DENIED);
	cr_assert_eq(fake_calls, AUTH_FAIL_MAX);
	/* even the right password is refused unverified */
	cr_assert_eq(auth_check(&A, B_ALICE, 7, t + SEC), AUTH_THROTTLED);
	cr_assert_eq(auth_check(&A, B_WRONG, 7, t + SEC), AUTH_THROTTLED);
	cr_assert_eq(auth_check(&A, "Bearer " TOKEN, 7, t + SEC), AUTH_THROTTLED);
	cr_assert_eq(fake_calls, AUTH_FAIL_MAX);
	cr_assert_eq(A.stats.throttled, 3);
	/* another source is not affected */
	cr_assert_eq(auth_check(&A, B_ALICE, 8, t + SEC), AUTH_OK);
	/* the window ends */
	cr_assert_eq(auth_check(&A, B_WRONG, 7, t + AUTH_FAIL_WINDOW_NS - 1), AUTH_THROTTLED);
	cr_assert_eq(auth_check(&A, "Bearer " TOKEN, 7, t + AUTH_FAIL_WINDOW_NS), AUTH_OK);
}

Test(auth_throttle, cached_credential_passes_while_throttled)
{
	cr_assert_eq(auth_check(&A, B_ALICE, 7, SEC), AUTH_OK);
	for (int i = 0; i < AUTH_FAIL_MAX; i++)
		cr_assert_eq(auth_check(&A, B_WRONG, 7, 2 * SEC), AUTH_DENIED);
	cr_assert_eq(auth_check(&A, B_WRONG, 7, 2 * SEC), AUTH_THROTTLED);
	cr_assert_eq(auth_check(&A, B_ALICE, 7, 3 * SEC), AUTH_OK);
	cr_assert_eq(fake_calls, 1 + AUTH_FAIL_MAX);
}

Test(auth_throttle, success_clears_the_source)
{
	for (int i = 0; i < AUTH_FAIL_MAX - 1; i++)
		cr_assert_eq(auth_check(&A, B_WRONG, 7, SEC), AUTH_DENIED);
	cr_assert_eq(auth_check(&A, "Bearer " TOKEN, 7, SEC), AUTH_OK);
	for (int i = 0; i < AUTH_FAIL_MAX - 1; i++)
		cr_assert_eq(auth_check(&A, B_WRONG, 7, SEC), AUTH_DENIED);
	cr_assert_eq(auth_check(&A, B_WRONG, 7, SEC), AUTH_DENIED);
	cr_assert_eq(auth_check(&A, B_WRONG, 7, SEC), AUTH_THROTTLED);
}

Test(auth_throttle, global_cap_bounds_verifications)
{
	uint64_t t = 50 * SEC;
	/* one failure each from many sources: none reaches its own limit */
	for (unsigned s = 0; s < AUTH_GLOBAL_FAIL_MAX; s++)
		cr_assert_eq(auth_check(&A, B_WRONG, 1000 + s, t), AUTH_DENIED);
	cr_assert_eq(fake_calls, AUTH_GLOBAL_FAIL_MAX);
	for (unsigned s = 0; s < 100; s++)
		cr_assert_eq(auth_check(&A, B_WRONG, 5000 + s, t + SEC), AUTH_THROTTLED);
	cr_assert_eq(auth_check(&A, B_ALICE, 1, t + SEC), AUTH_THROTTLED);
	cr_assert_eq(fake_calls, AUTH_GLOBAL_FAIL_MAX);
	cr_assert_eq(auth_check(&A, B_ALICE, 1, t + AUTH_FAIL_WINDOW_NS), AUTH_OK);
	cr_assert_eq(fake_calls, AUTH_GLOBAL_FAIL_MAX + 1);
}

Test(auth_throttle, many_sources_reuse_slots)
{
	/* more failing sources than slots, spread over windows so the
	 * global cap never trips: the table recycles, nothing breaks */
	uint64_t t = SEC;
	for (unsigned s = 0; s < 4 * AUTH_SRC_SLOTS; s++) {
		if (s % (AUTH_GLOBAL_FAIL_MAX - 1) == 0)
			t += AUTH_FAIL_WINDOW_NS;
		cr_assert_eq(auth_check(&A, B_WRONG, s, t), AUTH_DENIED);
	}
	cr_assert_eq(fake_calls, 4 * AUTH_SRC_SLOTS);
	cr_assert_eq(auth_check(&A, B_ALICE, 3, t), AUTH_OK);
}

/* ---- real hashes ---- */

static void *crypt_lib;
static char *(*crypt_r_fn)(const char *, const char *, struct crypt_data *);

static int real_verify(void *ctx, const char *pw, const char *hash)
{
	struct crypt_data *cd = ctx;
	fake_calls++;
	memset(cd, 0, sizeof *cd);
	const char *h = crypt_r_fn(pw, hash, cd);
	if (!h || h[0] == '*')
		return -1;
	return auth_ct_equal(h, strlen(h), hash, strlen(hash));
}

static void crypt_setup(void)
{
	fake_calls = 0;
	crypt_lib = dlopen("libcrypt.so.1", RTLD_NOW | RTLD_LOCAL);
	cr_assert_not_null(crypt_lib, "libcrypt.so.1: %s", dlerror());
	*(void **)&crypt_r_fn = dlsym(crypt_lib, "crypt_r");
	cr_assert_not_null(crypt_r_fn);
}

TestSuite(auth_crypt, .init = crypt_setup);

Test(auth_crypt, bcrypt_sha512_yescrypt)
{
	/* htpasswd -nbB -C 5, mkpasswd -m sha-512, mkpasswd -m yescrypt; all "s3cret" */
	struct cfg_auth real[] = {
		{CFG_AUTH_BASIC, "alice", "$2y$05$B7..qHMy7y6Tb/v/FYifxeJwd2flF372nafyAVQBqFhVlJQyfD4Jm"},
		{CFG_AUTH_BASIC, "bob", "$6$saltsaltsalt$FUTXsgNpMxVPwnX4XalnoSItgvVbUy6eQVJVcn9taCOEVAPu1PukMtU6lAfNfDb9ttqSN7i8gT2C5j2TY43X01"},
		{CFG_AUTH_BASIC, "carol", "$y$j9T$H4GaUjp7IJkY9AED47ERC1$vDv0o.3n5f4d6g7iiVug7fjKxxRaBFk/I8mUKXSLZi9"},
	};
	static struct crypt_data cd;
	auth_init(&A, real, 3, real_verify, &cd, key0);
	cr_assert_eq(auth_check(&A, B_ALICE, 1, SEC), AUTH_OK);
	cr_assert_eq(auth_check(&A, "Basic Ym9iOnMzY3JldA==", 1, SEC), AUTH_OK);       /* bob:s3cret */
	cr_assert_eq(auth_check(&A, "Basic Y2Fyb2w6czNjcmV0", 1, SEC), AUTH_OK);       /* carol:s3cret */
	cr_assert_eq(auth_check(&A, B_WRONG, 2, SEC), AUTH_DENIED);
	cr_assert_eq(auth_check(&A, "Basic Ym9iOnMzY3JldDI=", 2, SEC), AUTH_DENIED);   /* bob:s3cret2 */
	cr_assert_eq(auth_check(&A, "Basic Y2Fyb2w6UzNjcmV0", 2, SEC), AUTH_DENIED);   /* carol:S3cret */
	cr_assert_eq(fake_calls, 6);
	dlclose(crypt_lib);
}
