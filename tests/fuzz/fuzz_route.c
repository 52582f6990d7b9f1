/* tests/fuzz/fuzz_route.c — libFuzzer target for core/route.c: template
 * parsing, resolving and label cleaning on arbitrary bytes.
 *
 * Input: templates, a NUL byte, exclusions, a NUL byte, then paths separated
 * by newlines. The first byte's low bits pick heuristic and truncation. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "route.h"

/* Valid UTF-8, by the same rules the cleaner must enforce. */
static int fz_valid_utf8(const unsigned char *s, size_t n)
{
	for (size_t i = 0; i < n;) {
		unsigned c = s[i], lo = 0x80, hi = 0xBF;
		size_t need;
		if (c < 0x80) {
			i++;
			continue;
		}
		if (c >= 0xC2 && c <= 0xDF)
			need = 1;
		else if (c >= 0xE0 && c <= 0xEF)
			need = 2, lo = c == 0xE0 ? 0xA0 : 0x80, hi = c == 0xED ? 0x9F : 0xBF;
		else if (c >= 0xF0 && c <= 0xF4)
			need = 3, lo = c == 0xF0 ? 0x90 : 0x80, hi = c == 0xF4 ? 0x8F : 0xBF;
		else
			return 0;
		if (i + need >= n)
			return 0;
		for (size_t k = 1; k <= need; k++) {
			if (s[i + k] < lo || s[i + k] > hi)
				return 0;
			lo = 0x80, hi = 0xBF;
		}
		i += need + 1;
	}
	return 1;
}

static void fz_check_label(const char *out, int n, size_t cap)
{
	if (n < 0)
		return;
	if ((size_t)n > cap || n > ROUTE_LABEL_MAX || !fz_valid_utf8((const unsigned char *)out, (size_t)n))
		abort();
	if (n == 0 || out[0] != '/')
		abort();
}

/* Reference matcher, one template at a time, for a differential check. */
struct fz_tpl {
	const char *s;
	size_t n;
};

static int fz_split(const char *t, size_t len, struct fz_tpl *out, int max)
{
	int n = 0, line_start = 1;
	size_t i = 0;
	while (i < len) {
		size_t j = i;
		while (j < len && strchr(" \t\r\v\f", t[j]) && t[j])
			j++;
		if (line_start && j < len && t[j] == '#') {
			while (j < len && t[j] != '\n')
				j++;
			i = j;
			continue;
		}
		size_t k = j;
		while (k < len && t[k] != ',' && t[k] != '\n')
			k++;
		size_t e = k;
		while (e > j && strchr(" \t\r\v\f", t[e - 1]) && t[e - 1])
			e--;
		if (e > j && n < max)
			out[n++] = (struct fz_tpl){t + j, e - j};
		line_start = k < len && t[k] == '\n';
		i = k + 1;
	}
	return n;
}

/* Segment i of a '/'-separated string (without its leading '/'). */
static int fz_seg(const char *s, size_t n, size_t i, const char **seg, size_t *sl)
{
	size_t a = 0;
	for (; i; i--) {
		const char *q = memchr(s + a, '/', n - a);
		if (!q)
			return 0;
		a = (size_t)(q - s) + 1;
	}
	const char *q = memchr(s + a, '/', n - a);
	*seg = s + a;
	*sl = (q ? (size_t)(q - s) : n) - a;
	return 1;
}

static size_t fz_nseg(const char *s, size_t n)
{
	size_t c = 1;
	for (size_t i = 0; i < n; i++)
		c += s[i] == '/';
	return c;
}

static int fz_match(const struct fz_tpl *t, const char *p, size_t pn, int truncated)
{
	const char *ts = t->s + 1, *ps, *tg;
	size_t tn = t->n - 1, nps = fz_nseg(p, pn), nts = fz_nseg(ts, tn), tl, pl;
	for (size_t i = 0; i < nts; i++) {
		fz_seg(ts, tn, i, &tg, &tl);
		if (tl == 2 && tg[0] == '*' && tg[1] == '*')
			return truncated ? i + 1 <= nps : 1;
		if (i >= nps)
			return 0;
		fz_seg(p, pn, i, &ps, &pl);
		if ((tl == 1 && tg[0] == '*') || (tl && tg[0] == '{')) {
			if (!pl)
				return 0;
		} else if (tl != pl || memcmp(tg, ps, tl) != 0) {
			return 0;
		}
	}
	return !truncated && nps == nts;
}

static const char *fz_next(const char *p, const char *end)
{
	const char *z = memchr(p, 0, (size_t)(end - p));
	return z ? z : end;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static uint64_t mem[(64 + 16 * 16) / 8];
	struct route_set *routes = NULL, *exclude = NULL;
	char err[256], out[ROUTE_LABEL_MAX + 8];
	unsigned mode = size ? data[0] : 0;
	const char *p = (const char *)data + (size != 0), *end = (const char *)data + size;

	/* label cleaning alone, on the raw input */
	size_t cap = 1 + mode % ROUTE_LABEL_MAX;
	size_t m = route_label_clean((const char *)data, size, mode & 1, out, cap);
	if (m > cap || !fz_valid_utf8((const unsigned char *)out, m))
		abort();
	if (!(mode & 1) && size <= cap && m != size && fz_valid_utf8(data, size))
		abort();

	static struct fz_tpl rt[ROUTE_MAX_TEMPLATES], ex[ROUTE_MAX_TEMPLATES];
	int nrt = 0, nex = 0;
	const char *z = fz_next(p, end);
	if (route_set_parse(&routes, p, (size_t)(z - p), err, sizeof err) < 0) {
		if (routes || !err[0] || strchr(err, '\n'))
			abort();
	} else {
		nrt = fz_split(p, (size_t)(z - p), rt, ROUTE_MAX_TEMPLATES);
	}
	p = z < end ? z + 1 : end;
	z = fz_next(p, end);
	if (route_set_parse(&exclude, p, (size_t)(z - p), err, sizeof err) < 0) {
		if (exclude)
			abort();
	} else {
		nex = fz_split(p, (size_t)(z - p), ex, ROUTE_MAX_TEMPLATES);
	}
	p = z < end ? z + 1 : end;

	/* a small table fills quickly, so "full" paths run too */
	struct route_seen *seen = route_seen_init(mem, sizeof mem, 16, mode >> 4);
	if (!seen)
		abort();
	struct route_ctx rc = {routes, exclude, (mode >> 1) & 1, (mode & 4) ? seen : NULL};
	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		if (!nl)
			nl = end;
		int n = route_resolve(&rc, p, (size_t)(nl - p), (mode >> 3) & 1, out, ROUTE_LABEL_MAX);
		fz_check_label(out, n, ROUTE_LABEL_MAX);
		/* the reference: first exclusion, else first route */
		const char *pp = p;
		size_t pn = (size_t)(nl - p);
		if (pn && *pp == '/')
			pp++, pn--;
		int want = -1, trunc = (mode >> 3) & 1;
		for (int i = 0; i < nex && want == -1; i++)
			if (fz_match(&ex[i], pp, pn, trunc))
				want = -2;
		for (int i = 0; i < nrt && want == -1; i++)
			if (fz_match(&rt[i], pp, pn, trunc))
				want = i;
		if (want == -2 && n != -1)
			abort();
		if (want != -2 && n == -1)
			abort();
		if (want >= 0 && ((size_t)n != rt[want].n || memcmp(out, rt[want].s, rt[want].n) != 0))
			abort();
		p = nl + 1;
	}
	route_set_free(routes);
	route_set_free(exclude);
	return 0;
}
