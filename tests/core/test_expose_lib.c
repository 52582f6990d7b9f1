/* tests/core/test_expose_lib.c — fixtures and checkers for the expose tests
 * (see test_expose.h). Holds no tests itself. */
#include "test_expose.h"

#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "tracker.h"

/* Stand-ins so these tests link before (or without) the tracker and the
 * registry; the real definitions win when they are linked in. */
__attribute__((weak)) const char *trk_method_name(unsigned m)
{
	static const char *const n[] = {"_OTHER", "GET",     "HEAD",  "POST",  "PUT",
					"DELETE", "CONNECT", "OPTIONS", "TRACE", "PATCH"};
	return m < TRK_M_COUNT ? n[m] : "_OTHER";
}
__attribute__((weak)) const struct reg_config *reg_config(const struct reg *r)
{
	(void)r;
	return NULL;
}
__attribute__((weak)) const uint64_t reg_size_bounds[REG_SIZE_BUCKETS] = {100,     1000,     10000,    100000,
									  1000000, 10000000, 100000000};

const uint64_t fix_size_bounds[REG_SIZE_BUCKETS] = {100, 1000, 10000, 100000, 1000000, 10000000, 100000000};

static const double default_buckets[] = {.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10};

void fixture_minimal(struct snap_fixture *f)
{
	memset(f, 0, sizeof *f);
	f->ser = calloc(FIX_MAX_SERIES, sizeof *f->ser);
	f->ab = calloc(FIX_MAX_ABORTED, sizeof *f->ab);
	cr_assert(f->ser && f->ab);
	f->cfg.max_series = 2000;
	f->cfg.n_buckets = sizeof default_buckets / sizeof default_buckets[0];
	memcpy(f->cfg.bucket_s, default_buckets, sizeof default_buckets);
	f->snap.series = f->ser;
	f->snap.aborted = f->ab;
	f->opts.reg_cfg = &f->cfg;
	f->opts.size_bounds = fix_size_bounds;
	f->opts.version = "0.1.0";
	f->opts.service_name = "testsrv";
}

struct reg_snap_series *fixture_add(struct snap_fixture *f, unsigned method, const char *route, size_t len,
				    unsigned status, uint64_t count)
{
	cr_assert(f->snap.n_series < FIX_MAX_SERIES);
	struct reg_snap_series *x = &f->ser[f->snap.n_series++];
	memset(x, 0, sizeof *x);
	x->method = (uint8_t)method;
	x->status = (uint16_t)status;
	x->route = REG_ROUTE_FIRST + (uint32_t)f->snap.n_series;
	x->route_label = route;
	x->route_len = len;
	x->count = count;
	/* a deterministic, monotonic spread: bucket k holds count*(k+1)/(n+1) */
	unsigned nb = f->cfg.n_buckets;
	for (unsigned k = 0; k < nb; k++)
		x->dur_cum[k] = count * (k + 1) / (nb + 1);
	for (unsigned k = 0; k < REG_SIZE_BUCKETS; k++) {
		x->req_cum[k] = count * (k + 2) / (REG_SIZE_BUCKETS + 2);
		x->resp_cum[k] = count * (k + 1) / (REG_SIZE_BUCKETS + 1);
	}
	x->dur_sum_us = count * 12345;
	x->req_sum = count * 17;
	x->resp_sum = count * 5120;
	return x;
}

static void add_abort(struct snap_fixture *f, unsigned method, uint32_t route, const char *label, uint64_t n)
{
	cr_assert(f->snap.n_aborted < FIX_MAX_ABORTED);
	struct reg_snap_abort *a = &f->ab[f->snap.n_aborted++];
	a->method = (uint8_t)method;
	a->route = route;
	a->route_label = label;
	a->route_len = strlen(label);
	a->count = n;
}

void fixture_full(struct snap_fixture *f)
{
	fixture_minimal(f);
	struct reg_snap_series *x;
	/* sorted by (route label, method, status), as reg_snapshot_take sorts */
	x = fixture_add(f, TRK_M_GET, "/", 1, 200, 1000000);
	x->dur_sum_us = 123456789;
	fixture_add(f, TRK_M_HEAD, "/", 1, 200, 3);
	fixture_add(f, TRK_M_GET, "/users/{id}", 11, 200, 42);
	x = fixture_add(f, TRK_M_POST, "/users/{id}", 11, 201, 7);
	x->dur_sum_us = 1;
	fixture_add(f, TRK_M_DELETE, "/users/{id}", 11, 404, 1);
	x = fixture_add(f, TRK_M_OPTIONS, "*", 1, 204, 2);
	x->route = REG_ROUTE_ASTERISK;
	x = fixture_add(f, TRK_M_CONNECT, "_CONNECT", 8, 405, 1);
	x->route = REG_ROUTE_CONNECT;
	x = fixture_add(f, TRK_M_OTHER, "_INVALID", 8, 400, 3);
	x->route = REG_ROUTE_INVALID;
	x = fixture_add(f, TRK_M_GET, "_OTHER", 6, 404, 5);
	x->route = REG_ROUTE_OTHER;
	/* the all-_OTHER series: status 0 */
	x = fixture_add(f, TRK_M_OTHER, "_OTHER", 6, 0, 2);
	x->route = REG_ROUTE_OTHER;
	add_abort(f, TRK_M_GET, REG_ROUTE_FIRST + 3, "/users/{id}", 4);
	add_abort(f, TRK_M_OTHER, REG_ROUTE_OTHER, "_OTHER", 1);
	struct reg_snapshot *s = &f->snap;
	s->counters[REG_C_PARSE_ERRORS] = 3;
	s->counters[REG_C_UNSUPPORTED_TLS] = 2;
	s->counters[REG_C_UNSUPPORTED_H2C] = 1;
	s->counters[REG_C_UNSUPPORTED_OTHER] = 0;
	s->counters[REG_C_SCRAPES] = 17;
	s->counters[REG_C_AUTH_FAILURES] = 1;
	s->counters[REG_C_CONN_ACCEPTED] = 99;
	s->overflow = 7;
	s->series_regular = 8;
	s->in_flight = 2;
	s->conns_open = 5;
	s->members = 3;
	s->cpu_us = 12340000;
	s->rss_bytes = 52428800;
	s->vsz_bytes = 1073741824;
	s->open_fds = 42;
	s->max_fds = 1048576;
	s->start_time_us = 1700000000123456;
	f->labels[0] = (struct cfg_label){"service", "users"};
	f->labels[1] = (struct cfg_label){"version", "v1.2.0"};
	f->opts.labels = f->labels;
	f->opts.n_labels = 2;
}

void fixture_free(struct snap_fixture *f)
{
	free(f->ser);
	free(f->ab);
	f->ser = NULL;
	f->ab = NULL;
}

char *render_text(struct snap_fixture *f, enum expo_format fmt, enum cfg_naming naming)
{
	struct expo_buf b = {0};
	f->opts.format = fmt;
	f->opts.naming = naming;
	int rc = expo_render(&f->snap, &f->opts, &b);
	cr_assert_eq(rc, 0, "expo_render failed");
	cr_assert_eq(b.oom, 0);
	char *s = malloc(b.len + 1);
	cr_assert(s);
	memcpy(s, b.data, b.len);
	s[b.len] = 0;
	cr_assert_eq(strlen(s), b.len, "output holds a NUL byte");
	expo_buf_free(&b);
	return s;
}

static int run_checker(const char *cmd, const char *text, char *msg, size_t msglen)
{
	char path[] = "/tmp/promshim-expose-XXXXXX";
	int fd = mkstemp(path);
	cr_assert(fd >= 0);
	size_t len = strlen(text);
	cr_assert_eq(write(fd, text, len), (ssize_t)len);
	close(fd);
	char full[512];
	snprintf(full, sizeof full, "%s < %s 2>&1", cmd, path);
	FILE *p = popen(full, "r");
	cr_assert(p, "popen %s", cmd);
	size_t n = fread(msg, 1, msglen - 1, p);
	msg[n] = 0;
	int st = pclose(p);
	unlink(path);
	return WIFEXITED(st) ? WEXITSTATUS(st) : 128;
}

int promtool_check(const char *text, char *msg, size_t msglen)
{
	return run_checker("timeout 60 promtool check metrics", text, msg, msglen);
}

int openmetrics_check(const char *text, char *msg, size_t msglen)
{
	return run_checker("timeout 60 /usr/bin/python3 -c 'import sys\n"
			   "from prometheus_client.openmetrics.parser import text_string_to_metric_families as p\n"
			   "n = sum(1 for _ in p(sys.stdin.read()))\n"
			   "print(n)'",
			   text, msg, msglen);
}

/* ---- structure ---- */

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static int ends_with(const char *s, size_t n, const char *suf)
{
	size_t k = strlen(suf);
	return n >= k && memcmp(s + n - k, suf, k) == 0;
}

/* Does the sample name n[0..len) belong to family fam of type type? */
static int sample_of(const char *n, size_t len, const char *fam, const char *type, int om)
{
	size_t fl = strlen(fam);
	if (len < fl || memcmp(n, fam, fl) != 0)
		return 0;
	const char *rest = n + fl;
	size_t rl = len - fl;
	if (strcmp(type, "histogram") == 0)
		return (rl == 7 && !memcmp(rest, "_bucket", 7)) || (rl == 4 && !memcmp(rest, "_sum", 4)) ||
		       (rl == 6 && !memcmp(rest, "_count", 6));
	if (om && strcmp(type, "counter") == 0)
		return rl == 6 && !memcmp(rest, "_total", 6);
	if (om && strcmp(type, "info") == 0)
		return rl == 5 && !memcmp(rest, "_info", 5);
	return rl == 0;
}

const char *structure_check(const char *text, int om)
{
	static char why[256];
	size_t len = strlen(text);
	if (len == 0 || text[len - 1] != '\n')
		return "no final newline";
	if (om && !ends_with(text, len, "\n# EOF\n"))
		return "OpenMetrics output does not end in # EOF";
	size_t cap = 1024, n = 0, nf = 0;
	char **keys = malloc(cap * sizeof *keys);
	char **fams = malloc(cap * sizeof *fams);
	char fam[256] = "", type[32] = "";
	int have_help = 0, have_type = 0;
	const char *err = NULL;
	for (const char *p = text; *p && !err;) {
		const char *e = strchr(p, '\n');
		size_t l = (size_t)(e - p);
		if (l > 7 && (!strncmp(p, "# HELP ", 7) || !strncmp(p, "# TYPE ", 7))) {
			const char *nm = p + 7;
			const char *sp = memchr(nm, ' ', l - 7);
			size_t nl = sp ? (size_t)(sp - nm) : l - 7;
			if (nl >= sizeof fam)
				err = "family name too long";
			else if (strlen(fam) != nl || memcmp(fam, nm, nl) != 0) {
				/* a new family begins: it must not have appeared before */
				memcpy(fam, nm, nl);
				fam[nl] = 0;
				for (size_t i = 0; i < nf; i++)
					if (strcmp(fams[i], fam) == 0)
						err = "family not contiguous";
				if (nf == cap)
					err = "too many families";
				else
					fams[nf++] = strdup(fam);
				have_help = have_type = 0;
				type[0] = 0;
			}
			if (!strncmp(p, "# HELP ", 7))
				have_help++;
			else {
				have_type++;
				size_t tl = sp ? l - 7 - nl - 1 : 0;
				if (tl >= sizeof type)
					err = "bad type";
				else {
					memcpy(type, sp + 1, tl);
					type[tl] = 0;
				}
			}
			if (have_help > 1 || have_type > 1)
				err = "HELP or TYPE twice";
		} else if (l > 0 && p[0] == '#') {
			if (!(om && ((l == 5 && !strncmp(p, "# EOF", 5)) || !strncmp(p, "# UNIT ", 7)))) {
				snprintf(why, sizeof why, "unexpected comment: %.*s", (int)(l > 80 ? 80 : l), p);
				err = why;
			}
		} else {
			size_t nl = strcspn(p, "{ ");
			if (!have_help || !have_type || !sample_of(p, nl, fam, type, om)) {
				snprintf(why, sizeof why, "sample outside its family (%s): %.*s", fam,
					 (int)(l > 80 ? 80 : l), p);
				err = why;
				break;
			}
			/* the series key: everything before the value */
			const char *v = p + nl;
			if (*v == '{') {
				int q = 0;
				for (v++; v < e; v++) {
					if (q && *v == '\\')
						v++;
					else if (*v == '"')
						q = !q;
					else if (!q && *v == '}')
						break;
				}
				v++;
			}
			if (n == cap) {
				cap *= 2;
				keys = realloc(keys, cap * sizeof *keys);
			}
			keys[n++] = strndup(p, (size_t)(v - p));
		}
		p = e + 1;
	}
	qsort(keys, n, sizeof *keys, cmp_str);
	for (size_t i = 1; i < n && !err; i++)
		if (strcmp(keys[i - 1], keys[i]) == 0) {
			snprintf(why, sizeof why, "duplicate series %.100s", keys[i]);
			err = why;
		}
	for (size_t i = 0; i < n; i++)
		free(keys[i]);
	for (size_t i = 0; i < nf; i++)
		free(fams[i]);
	free(keys);
	free(fams);
	return err;
}

/* ---- goldens ---- */

static char *slurp(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	if (!f)
		return NULL;
	size_t cap = 1 << 16, n = 0;
	char *s = malloc(cap);
	size_t k;
	while ((k = fread(s + n, 1, cap - n - 1, f)) > 0) {
		n += k;
		if (cap - n < 2)
			s = realloc(s, cap *= 2);
	}
	fclose(f);
	s[n] = 0;
	*len = n;
	return s;
}

void golden_check(const char *name, const char *text)
{
	char path[512];
	const char *file = __FILE__;
	const char *slash = strrchr(file, '/');
	snprintf(path, sizeof path, "%.*sgolden/%s", slash ? (int)(slash - file + 1) : 0, file, name);
	const char *upd = getenv("PROMSHIM_UPDATE_GOLDEN");
	if (upd && strcmp(upd, "1") == 0) {
		FILE *f = fopen(path, "wb");
		cr_assert(f, "cannot write %s", path);
		cr_assert_eq(fwrite(text, 1, strlen(text), f), strlen(text));
		cr_assert_eq(fclose(f), 0);
		return;
	}
	size_t len;
	char *want = slurp(path, &len);
	cr_assert(want, "golden %s missing (PROMSHIM_UPDATE_GOLDEN=1 writes it)", path);
	if (strcmp(want, text) != 0) {
		/* point at the first differing line */
		size_t i = 0, line = 1, ls = 0;
		while (want[i] && want[i] == text[i]) {
			if (want[i] == '\n')
				line++, ls = i + 1;
			i++;
		}
		cr_assert_fail("%s differs at line %zu:\nwant: %.120s\ngot:  %.120s", name, line, want + ls,
			       text + ls);
	}
	free(want);
}
