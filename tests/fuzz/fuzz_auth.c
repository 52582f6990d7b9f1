/* tests/fuzz/fuzz_auth.c — libFuzzer target for core/auth.c: arbitrary
 * Authorization values (one per NUL-separated chunk) from sources and at
 * times the input picks, against basic and bearer entries with a stand-in
 * verifier. Checks that only the right credentials pass, that the verifier
 * only sees passwords of configured users or the decoy, and that base64
 * never writes past its buffer.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "auth.h"

#define FZ_TOKEN "fuzz-token-0123456789"

static int fz_verify(void *ctx, const char *pw, const char *hash)
{
	(void)ctx;
	if (strncmp(hash, "fake$", 5) != 0)
		abort();
	return strcmp(hash + 5, pw) == 0;
}

static const struct cfg_auth fz_entries[] = {
	{CFG_AUTH_BASIC, "alice", "fake$s3cret"},
	{CFG_AUTH_BEARER, NULL, FZ_TOKEN},
	{CFG_AUTH_BASIC, "bob", "fake$"},
};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const uint8_t key[16] = {7};
	struct auth a;
	auth_init(&a, fz_entries, 3, fz_verify, NULL, key);
	uint64_t now = 1;
	size_t i = 0;
	while (i < size) {
		uint8_t ctl = data[i++];
		const uint8_t *end = memchr(data + i, 0, size - i);
		size_t n = end ? (size_t)(end - (data + i)) : size - i;
		char *h = malloc(n + 1);
		memcpy(h, data + i, n);
		h[n] = '\0';
		i += n + (end != NULL);
		now += (uint64_t)(ctl >> 4) * 1000000000ull;
		enum auth_result r = auth_check(&a, (ctl & 8) ? NULL : h, ctl & 3, now);
		if (r != AUTH_OK && r != AUTH_MISSING && r != AUTH_DENIED && r != AUTH_THROTTLED)
			abort();
		if (r == AUTH_OK && strstr(h, FZ_TOKEN) == NULL && strncasecmp(h, "basic", 5) != 0 &&
		    strspn(h, " \t") == 0)
			abort();
		char out[16];
		long d = auth_b64_decode(h, n, out, sizeof out);
		if (d >= (long)sizeof out || (d >= 0 && out[d] != '\0'))
			abort();
		free(h);
	}
	return 0;
}
