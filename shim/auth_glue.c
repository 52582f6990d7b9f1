/* shim/auth_glue.c — what core/auth needs from the process: crypt_r from
 * libcrypt (dlopen'd once, when serving starts), 16 random
 * bytes for the cache key, a key per client address, and the clock.
 */
#include <crypt.h>
#include <dlfcn.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#include "auth_glue.h"
#include "shim.h"

#define AG_CRYPT_LIB "libcrypt.so.1"

static struct auth ag_auth;
static int ag_ready;
static uint8_t ag_key[16];
static char *(*ag_crypt_r)(const char *, const char *, struct crypt_data *);
/* Large (tens of KiB) and only touched when a Basic credential is
 * verified, so it costs no memory in processes that never do. */
static struct crypt_data ag_cd;

static uint64_t ag_now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec + 1;
}

static int ag_verify(void *ctx, const char *password, const char *hash)
{
	struct crypt_data *cd = ctx;
	memset(cd, 0, sizeof *cd);
	const char *h = ag_crypt_r(password, hash, cd);
	/* crypt_r answers an unusable hash with a string starting with '*' */
	int r = (!h || h[0] == '*') ? -1 : auth_ct_equal(h, strlen(h), hash, strlen(hash));
	explicit_bzero(cd, sizeof *cd);
	return r;
}

void shim_auth_load(void)
{
	if (ag_ready || !shim.cfg.n_auth)
		return;
	ag_ready = 1;
	int basic = 0;
	for (unsigned i = 0; i < shim.cfg.n_auth; i++)
		basic |= shim.cfg.auth[i].kind == CFG_AUTH_BASIC;
	if (basic) {
		void *h = dlopen(AG_CRYPT_LIB, RTLD_NOW | RTLD_LOCAL);
		if (h)
			*(void **)&ag_crypt_r = dlsym(h, "crypt_r");
		if (!ag_crypt_r)
			shim_log(CFG_LOG_ERROR,
				 "PROMSHIM_AUTH_FILE: cannot load crypt_r from %s; basic credentials "
				 "will be refused", AG_CRYPT_LIB);
	}
	size_t got = 0;
	while (got < sizeof ag_key) {
		ssize_t n = getrandom(ag_key + got, sizeof ag_key - got, 0);
		if (n <= 0)
			break;
		got += (size_t)n;
	}
	if (got < sizeof ag_key) {
		/* no entropy source: the clock and our address still keep the
		 * key unknown to a remote client */
		uint64_t t = ag_now_ns(), p = (uint64_t)(uintptr_t)&ag_auth;
		memcpy(ag_key, &t, 8);
		memcpy(ag_key + 8, &p, 8);
	}
	auth_init(&ag_auth, shim.cfg.auth, shim.cfg.n_auth, ag_crypt_r ? ag_verify : NULL, &ag_cd,
		  ag_key);
}

/* Same address, same key; the port does not matter (a client opens a new
 * one per connection). */
static uint64_t ag_src_key(const struct sockaddr *sa)
{
	uint64_t out[2] = {0, 0};
	if (!sa)
		return 0;
	if (sa->sa_family == AF_INET) {
		const struct sockaddr_in *a = (const void *)sa;
		auth_siphash128(ag_key, &a->sin_addr, sizeof a->sin_addr, out);
	} else if (sa->sa_family == AF_INET6) {
		const struct sockaddr_in6 *a = (const void *)sa;
		if (IN6_IS_ADDR_V4MAPPED(&a->sin6_addr))
			auth_siphash128(ag_key, a->sin6_addr.s6_addr + 12, 4, out);
		else /* a /64 is what one IPv6 client can cheaply vary within */
			auth_siphash128(ag_key, &a->sin6_addr, 8, out);
	}
	return out[0];
}

enum auth_result shim_auth_check(const char *header, const struct sockaddr *client)
{
	if (!shim.cfg.n_auth)
		return AUTH_OK;
	shim_auth_load();
	return auth_check(&ag_auth, header, ag_src_key(client), ag_now_ns());
}
