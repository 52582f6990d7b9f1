/* tests/faults/scrapecheck.c — the fault tests' fast scraper: scrapes
 * /metrics on a loopback port every N ms for a while and checks every
 * snapshot (each histogram's buckets cumulative, +Inf equal to _count,
 * http_requests_total equal to the duration histogram's _count) and every
 * pair of consecutive snapshots (no counter, _count, _sum or bucket ever
 * decreases). Written in C because Python cannot parse a few hundred
 * series a hundred times a second.
 *
 *   scrapecheck PORT SECONDS EVERY_MS [MAX_GAP_MS [SAVE_FILE]]
 *
 * MAX_GAP_MS: longest run of failed scrapes tolerated (0: none may fail).
 * Prints one summary line; exits 0 when every check held, 1 otherwise.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#define SC_MAX_REPORTS 20

struct sc_ent {
	char *key;
	double v;
};

struct sc_map {
	struct sc_ent *e;
	size_t cap, n;
};

static int sc_reports;

static void sc_report(const char *fmt, const char *a, double x, double y)
{
	if (sc_reports++ < SC_MAX_REPORTS) {
		fprintf(stderr, "scrapecheck: ");
		fprintf(stderr, fmt, a, x, y);
		fputc('\n', stderr);
	}
}

static uint64_t sc_now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static uint64_t sc_hash(const char *s, size_t n)
{
	uint64_t h = 1469598103934665603ull;
	for (size_t i = 0; i < n; i++)
		h = (h ^ (unsigned char)s[i]) * 1099511628211ull;
	return h;
}

static void sc_map_clear(struct sc_map *m)
{
	for (size_t i = 0; i < m->cap; i++) {
		free(m->e[i].key);
		m->e[i].key = NULL;
	}
	m->n = 0;
}

static struct sc_ent *sc_find(struct sc_map *m, const char *k, size_t n, int create)
{
	if (create && (m->n + 1) * 2 > m->cap) {
		struct sc_map g = { calloc(m->cap ? m->cap * 2 : 1024, sizeof *g.e), m->cap ? m->cap * 2 : 1024, 0 };
		if (!g.e)
			abort();
		for (size_t i = 0; i < m->cap; i++) {
			if (!m->e[i].key)
				continue;
			size_t j = sc_hash(m->e[i].key, strlen(m->e[i].key)) & (g.cap - 1);
			while (g.e[j].key)
				j = (j + 1) & (g.cap - 1);
			g.e[j] = m->e[i];
			g.n++;
		}
		free(m->e);
		*m = g;
	}
	if (!m->cap)
		return NULL;
	size_t j = sc_hash(k, n) & (m->cap - 1);
	while (m->e[j].key) {
		if (strlen(m->e[j].key) == n && memcmp(m->e[j].key, k, n) == 0)
			return &m->e[j];
		j = (j + 1) & (m->cap - 1);
	}
	if (!create)
		return NULL;
	m->e[j].key = strndup(k, n);
	m->e[j].v = 0;
	m->n++;
	return &m->e[j];
}

static int sc_ends(const char *s, size_t n, const char *suf)
{
	size_t k = strlen(suf);
	return n >= k && memcmp(s + n - k, suf, k) == 0;
}

/* Counters and every part of a histogram only grow. Gauges (no such
 * suffix) and the process gauges are left alone. */
static int sc_monotonic(const char *name, size_t n)
{
	return sc_ends(name, n, "_total") || sc_ends(name, n, "_count") || sc_ends(name, n, "_bucket") ||
	       sc_ends(name, n, "_sum");
}

/* One scrape over a fresh connection (HTTP/1.0: the body ends at close).
 * Returns the body in a malloc'd buffer, or NULL. */
static char *sc_scrape(int port, size_t *len)
{
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return NULL;
	struct timeval tv = { 5, 0 };
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	static const char req[] = "GET /metrics HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n";
	if (connect(fd, (struct sockaddr *)&a, sizeof a) < 0 || send(fd, req, sizeof req - 1, MSG_NOSIGNAL) < 0) {
		close(fd);
		return NULL;
	}
	size_t cap = 1 << 20, n = 0;
	char *buf = malloc(cap + 1);
	for (;;) {
		if (n == cap) {
			cap *= 2;
			buf = realloc(buf, cap + 1);
		}
		ssize_t r = recv(fd, buf + n, cap - n, 0);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			free(buf);
			close(fd);
			return NULL;
		}
		if (r == 0)
			break;
		n += (size_t)r;
	}
	close(fd);
	buf[n] = 0;
	char *body = strstr(buf, "\r\n\r\n");
	if (strncmp(buf, "HTTP/1.", 7) != 0 || n < 12 || memcmp(buf + 9, "200", 3) != 0 || !body) {
		free(buf);
		return NULL;
	}
	body += 4;
	*len = n - (size_t)(body - buf);
	memmove(buf, body, *len + 1);
	return buf;
}

/* Key of the _count sample matching a bucket line: the bucket's name with
 * _count for _bucket and its labels without le. */
static size_t sc_count_key(const char *name, size_t nlen, const char *lab, size_t llen, char *out, size_t cap)
{
	size_t o = 0;
	if (nlen - 7 + 8 + llen + 3 > cap)
		return 0;
	memcpy(out, name, nlen - 7);
	o = nlen - 7;
	memcpy(out + o, "_count", 6);
	o += 6;
	/* drop le="..." with the comma before or after it */
	const char *le = NULL;
	for (size_t i = 0; i + 4 <= llen; i++)
		if ((i == 0 || lab[i - 1] == ',') && memcmp(lab + i, "le=\"", 4) == 0) {
			le = lab + i;
			break;
		}
	if (!le)
		return 0;
	const char *le_end = memchr(le + 4, '"', (size_t)(lab + llen - le - 4));
	if (!le_end)
		return 0;
	le_end++;
	size_t before = (size_t)(le - lab), after = (size_t)(lab + llen - le_end);
	if (after && *le_end == ',') {
		le_end++;
		after--;
	} else if (before && lab[before - 1] == ',') {
		before--;
	}
	if (before + after == 0)
		return o;
	out[o++] = '{';
	memcpy(out + o, lab, before);
	o += before;
	memcpy(out + o, le_end, after);
	o += after;
	out[o++] = '}';
	return o;
}

/* Check one snapshot in itself and against the previous one. Returns the
 * number of violations. */
static int sc_check(char *body, struct sc_map *cur, struct sc_map *prev, struct sc_map *inf, size_t *series)
{
	int bad = 0;
	char key[8192];
	char grp[8192] = "";
	size_t grp_len = 0;
	double grp_last = 0, grp_le = 0;
	*series = 0;
	sc_map_clear(cur);
	sc_map_clear(inf);
	for (char *ln = body, *nl; ln && *ln; ln = nl ? nl + 1 : NULL) {
		nl = strchr(ln, '\n');
		/* Cut the line: strtod and strstr then never scan the rest. */
		if (nl)
			*nl = 0;
		size_t ll = nl ? (size_t)(nl - ln) : strlen(ln);
		if (ll == 0 || ln[0] == '#')
			continue;
		char *sp = memchr(ln, '}', ll);
		char *lb = memchr(ln, '{', ll);
		if (!sp)
			sp = memchr(ln, ' ', ll);
		else
			sp++;
		if (!sp || sp >= ln + ll) {
			snprintf(key, sizeof key, "%.*s", (int)(ll < 200 ? ll : 200), ln);
			sc_report("unparsable line %s", key, 0, 0);
			bad++;
			continue;
		}
		size_t klen = (size_t)(sp - ln);
		size_t nlen = lb && lb < sp ? (size_t)(lb - ln) : klen;
		double v = strtod(sp + 1, NULL);
		struct sc_ent *e = sc_find(cur, ln, klen, 1);
		e->v = v;
		if (nlen == sizeof "http_requests_total" - 1 && memcmp(ln, "http_requests_total", nlen) == 0)
			(*series)++;
		if (sc_monotonic(ln, nlen)) {
			struct sc_ent *p = sc_find(prev, ln, klen, 0);
			if (p && v < p->v) {
				snprintf(key, sizeof key, "%.*s", (int)klen, ln);
				sc_report("%s went down: %g -> %g", key, p->v, v);
				bad++;
			}
		}
		if (sc_ends(ln, nlen, "_bucket") && lb && lb < sp) {
			const char *lab = lb + 1;
			size_t llen = (size_t)(sp - 1 - lab);
			size_t cl = sc_count_key(ln, nlen, lab, llen, key, sizeof key);
			if (!cl) {
				snprintf(key, sizeof key, "%.*s", (int)klen, ln);
				sc_report("bucket without le: %s", key, 0, 0);
				bad++;
				continue;
			}
			const char *le = strstr(lb, "le=\"") + 4;
			double lev = strncmp(le, "+Inf", 4) == 0 ? 1e308 : strtod(le, NULL);
			if (cl == grp_len && memcmp(key, grp, cl) == 0) {
				if (v < grp_last || lev <= grp_le) {
					key[cl] = 0;
					sc_report("buckets of %s not cumulative (%g after %g)", key, v, grp_last);
					bad++;
				}
			} else {
				memcpy(grp, key, cl);
				grp_len = cl;
			}
			grp_last = v;
			grp_le = lev;
			if (lev == 1e308)
				sc_find(inf, key, cl, 1)->v = v;
		}
	}
	/* +Inf == _count, and the request counter == the duration _count */
	for (size_t i = 0; i < inf->cap; i++) {
		if (!inf->e[i].key)
			continue;
		struct sc_ent *c = sc_find(cur, inf->e[i].key, strlen(inf->e[i].key), 0);
		if (!c || c->v != inf->e[i].v) {
			sc_report("%s: +Inf bucket %g, _count %g", inf->e[i].key, inf->e[i].v, c ? c->v : -1);
			bad++;
		}
	}
	static const char hd[] = "http_request_duration_seconds_count";
	static const char rt[] = "http_requests_total";
	for (size_t i = 0; i < cur->cap; i++) {
		const char *k = cur->e[i].key;
		if (!k || strncmp(k, rt, sizeof rt - 1) != 0 || (k[sizeof rt - 1] != '{' && k[sizeof rt - 1]))
			continue;
		snprintf(key, sizeof key, "%s%s", hd, k + sizeof rt - 1);
		struct sc_ent *c = sc_find(cur, key, strlen(key), 0);
		if (!c || c->v != cur->e[i].v) {
			sc_report("%s = %g but the duration _count is %g", k, cur->e[i].v, c ? c->v : -1);
			bad++;
		}
	}
	return bad;
}

int main(int argc, char **argv)
{
	if (argc < 4) {
		fprintf(stderr, "usage: scrapecheck PORT SECONDS EVERY_MS [MAX_GAP_MS [SAVE_FILE]]\n");
		return 2;
	}
	int port = atoi(argv[1]);
	uint64_t secs = strtoull(argv[2], NULL, 10), every = strtoull(argv[3], NULL, 10);
	uint64_t max_gap = argc > 4 ? strtoull(argv[4], NULL, 10) : 0;
	const char *save = argc > 5 ? argv[5] : NULL;
	struct sc_map a = { 0 }, b = { 0 }, inf = { 0 };
	struct sc_map *cur = &a, *prev = &b;
	uint64_t start = sc_now_ms(), end = start + secs * 1000, fail_since = 0, longest_gap = 0;
	uint64_t ok = 0, failed = 0, worst_ms = 0, total_ms = 0;
	size_t series = 0, bytes = 0;
	int bad = 0;
	char *last = NULL;
	while (sc_now_ms() < end) {
		uint64_t t0 = sc_now_ms();
		size_t len = 0;
		char *body = sc_scrape(port, &len);
		uint64_t took = sc_now_ms() - t0;
		if (!body) {
			failed++;
			if (!fail_since)
				fail_since = t0;
			if (sc_now_ms() - fail_since > longest_gap)
				longest_gap = sc_now_ms() - fail_since;
		} else {
			fail_since = 0;
			ok++;
			total_ms += took;
			if (took > worst_ms)
				worst_ms = took;
			bytes = len;
			bad += sc_check(body, cur, prev, &inf, &series);
			for (size_t i = 0; i < len; i++) /* sc_check cut the lines */
				if (!body[i])
					body[i] = '\n';
			struct sc_map *t = cur;
			cur = prev;
			prev = t;
			free(last);
			last = body;
		}
		uint64_t spent = sc_now_ms() - t0;
		if (spent < every)
			usleep((useconds_t)(every - spent) * 1000);
	}
	if (save && last) {
		FILE *f = fopen(save, "w");
		if (f) {
			fputs(last, f);
			fclose(f);
		}
	}
	printf("scrapes %llu ok, %llu failed, longest failure %llu ms, worst %llu ms, mean %.1f ms, "
	       "%zu request series, %zu bytes, %d violations\n",
	       (unsigned long long)ok, (unsigned long long)failed, (unsigned long long)longest_gap,
	       (unsigned long long)worst_ms, ok ? (double)total_ms / (double)ok : 0.0, series, bytes, bad);
	if (!ok)
		fprintf(stderr, "scrapecheck: no scrape succeeded\n");
	if (longest_gap > max_gap || (max_gap == 0 && failed))
		fprintf(stderr, "scrapecheck: scrapes failed for %llu ms (at most %llu tolerated)\n",
			(unsigned long long)longest_gap, (unsigned long long)max_gap);
	free(last);
	sc_map_clear(&a);
	sc_map_clear(&b);
	sc_map_clear(&inf);
	free(a.e);
	free(b.e);
	free(inf.e);
	return bad || !ok || longest_gap > max_gap || (max_gap == 0 && failed) ? 1 : 0;
}
