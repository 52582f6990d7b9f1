/* core/expose.c — renders a registry snapshot as Prometheus text 0.0.4 or
 * OpenMetrics 1.0.0, negotiates Accept and Accept-Encoding, and gzips.
 *
 * Speed matters: a scrape of 2,000 series is some 70,000 lines. Every string
 * that repeats (label set of a series, `le` of a bucket, family names) is
 * built once per render; the inner loop is memcpy and a hand-written integer
 * formatter, with one capacity check per line.
 */
#include "expose.h"
#include "utf8.h"

#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "metrics_table.h"
#include "tracker.h"

/* ---- growing buffer ---- */

void expo_buf_reset(struct expo_buf *b)
{
	b->len = 0;
	b->oom = 0;
}

void expo_buf_free(struct expo_buf *b)
{
	free(b->data);
	b->data = NULL;
	b->len = b->cap = 0;
	b->oom = 0;
}

static int buf_grow(struct expo_buf *b, size_t need)
{
	if (b->oom)
		return -1;
	if (need > SIZE_MAX - b->len) {
		b->oom = 1;
		return -1;
	}
	size_t want = b->len + need;
	size_t cap = b->cap ? b->cap : 4096;
	while (cap < want) {
		if (cap > SIZE_MAX / 2) {
			b->oom = 1;
			return -1;
		}
		cap *= 2;
	}
	char *p = realloc(b->data, cap);
	if (!p) {
		b->oom = 1;
		return -1;
	}
	b->data = p;
	b->cap = cap;
	return 0;
}

/* Room for need more bytes; on failure nothing may be written. */
static inline int buf_room(struct expo_buf *b, size_t need)
{
	if (b->oom)
		return -1;
	return b->cap - b->len >= need ? 0 : buf_grow(b, need);
}

static inline void put_raw(struct expo_buf *b, const char *s, size_t n)
{
	memcpy(b->data + b->len, s, n);
	b->len += n;
}

static void put(struct expo_buf *b, const char *s, size_t n)
{
	if (buf_room(b, n) == 0)
		put_raw(b, s, n);
}

static void puts_(struct expo_buf *b, const char *s)
{
	put(b, s, strlen(s));
}

/* ---- numbers ---- */

static const char digit_pairs[201] = "00010203040506070809"
				     "10111213141516171819"
				     "20212223242526272829"
				     "30313233343536373839"
				     "40414243444546474849"
				     "50515253545556575859"
				     "60616263646566676869"
				     "70717273747576777879"
				     "80818283848586878889"
				     "90919293949596979899";

/* Decimal digits of v at dst (at least 20 bytes); returns the count. */
static inline size_t u64_digits(char *dst, uint64_t v)
{
	char tmp[20];
	char *t = tmp + sizeof tmp;
	while (v >= 100) {
		unsigned i = (unsigned)(v % 100) * 2;
		v /= 100;
		*--t = digit_pairs[i + 1];
		*--t = digit_pairs[i];
	}
	if (v >= 10) {
		unsigned i = (unsigned)v * 2;
		*--t = digit_pairs[i + 1];
		*--t = digit_pairs[i];
	} else {
		*--t = (char)('0' + v);
	}
	size_t n = (size_t)(tmp + sizeof tmp - t);
	memcpy(dst, t, n);
	return n;
}

/* Go's 'g' layout of the shortest digits d[0..nd) (no trailing zeros, nd >= 1)
 * of a value 0.d * 10^dp: %e when the exponent is below -4 or at least 6
 * (Go uses 6 as the precision of the shortest form), else %f. */
static size_t go_layout(char *dst, int neg, const char *d, int nd, int dp)
{
	char *p = dst;
	if (neg)
		*p++ = '-';
	int exp = dp - 1;
	if (exp < -4 || exp >= 6) {
		*p++ = d[0];
		if (nd > 1) {
			*p++ = '.';
			memcpy(p, d + 1, (size_t)nd - 1);
			p += nd - 1;
		}
		*p++ = 'e';
		*p++ = exp < 0 ? '-' : '+';
		int e = exp < 0 ? -exp : exp;
		if (e >= 100)
			*p++ = (char)('0' + e / 100);
		*p++ = (char)('0' + e / 10 % 10);
		*p++ = (char)('0' + e % 10);
	} else if (dp <= 0) {
		*p++ = '0';
		*p++ = '.';
		for (int i = 0; i < -dp; i++)
			*p++ = '0';
		memcpy(p, d, (size_t)nd);
		p += nd;
	} else {
		for (int i = 0; i < dp; i++)
			*p++ = i < nd ? d[i] : '0';
		if (nd > dp) {
			*p++ = '.';
			memcpy(p, d + dp, (size_t)(nd - dp));
			p += nd - dp;
		}
	}
	*p = 0;
	return (size_t)(p - dst);
}

/* Shortest digits that read back as v (v finite, > 0). glibc's %e rounds
 * correctly, so the first precision that round-trips gives the digits Go's
 * shortest formatting picks. Any non-digit between the digits is skipped so
 * a host's LC_NUMERIC cannot change the result. */
static int shortest_digits(double v, char *d, int *dp)
{
	char tmp[48];
	for (int prec = 1; prec <= 17; prec++) {
		snprintf(tmp, sizeof tmp, "%.*e", prec - 1, v);
		if (prec == 17 || strtod(tmp, NULL) == v)
			break;
	}
	int nd = 0;
	const char *p = tmp;
	while (*p && *p != 'e') {
		if (*p >= '0' && *p <= '9')
			d[nd++] = *p;
		p++;
	}
	int exp = *p == 'e' ? atoi(p + 1) : 0;
	while (nd > 1 && d[nd - 1] == '0')
		nd--;
	*dp = exp + 1;
	return nd;
}

size_t expo_fmt_float(char *dst, double v, int canonical)
{
	if (isnan(v))
		return (size_t)(stpcpy(dst, "NaN") - dst);
	if (isinf(v))
		return (size_t)(stpcpy(dst, v > 0 ? "+Inf" : "-Inf") - dst);
	size_t n;
	if (v == 0) {
		n = (size_t)(stpcpy(dst, signbit(v) ? "-0" : "0") - dst);
	} else {
		char d[24];
		int dp;
		int nd = shortest_digits(fabs(v), d, &dp);
		n = go_layout(dst, v < 0, d, nd, dp);
	}
	if (canonical && !memchr(dst, '.', n) && !memchr(dst, 'e', n)) {
		dst[n++] = '.';
		dst[n++] = '0';
		dst[n] = 0;
	}
	return n;
}

#define EXACT_INT_MAX (UINT64_C(1) << 53)

size_t expo_fmt_uint(char *dst, uint64_t v)
{
	if (v <= EXACT_INT_MAX) {
		size_t n = u64_digits(dst, v);
		dst[n] = 0;
		return n;
	}
	return expo_fmt_float(dst, (double)v, 0);
}

/* v * 10^-6 in Go's form. Up to 15 significant digits the decimal itself is
 * the shortest representation of the nearest double (DBL_DIG is 15), so it
 * is laid out directly, without a float conversion. */
static size_t fmt_micros(char *dst, uint64_t v)
{
	if (v == 0)
		return (size_t)(stpcpy(dst, "0") - dst);
	if (v >= UINT64_C(1000000000000000))
		return expo_fmt_float(dst, (double)v / 1e6, 0);
	char d[24];
	int nd = (int)u64_digits(d, v);
	int dp = nd - 6;
	while (d[nd - 1] == '0')
		nd--;
	return go_layout(dst, 0, d, nd, dp);
}

static inline void put_uint(struct expo_buf *b, uint64_t v)
{
	if (buf_room(b, EXPO_NUM_MAX) == 0)
		b->len += expo_fmt_uint(b->data + b->len, v);
}

static void put_int(struct expo_buf *b, int64_t v)
{
	if (v < 0) {
		put(b, "-", 1);
		put_uint(b, (uint64_t)0 - (uint64_t)v);
	} else {
		put_uint(b, (uint64_t)v);
	}
}

static void put_micros(struct expo_buf *b, uint64_t v)
{
	if (buf_room(b, EXPO_NUM_MAX) == 0)
		b->len += fmt_micros(b->data + b->len, v);
}

/* ---- text escaping ---- */

/* Escaped s[0..n): backslash, newline and (when quote) double quote get a
 * backslash escape; invalid UTF-8 bytes become U+FFFD, and so does NUL,
 * which is valid UTF-8 but ends the text for C consumers and for promtool. */
static void put_escaped(struct expo_buf *b, const char *s, size_t n, int quote)
{
	if (n > (SIZE_MAX - 16) / 3 || buf_room(b, n * 3) != 0) {
		b->oom = 1;
		return;
	}
	const unsigned char *u = (const unsigned char *)s;
	char *p = b->data + b->len;
	size_t i = 0;
	while (i < n) {
		unsigned c = u[i];
		if (c == 0) {
			memcpy(p, "\xef\xbf\xbd", 3);
			p += 3;
			i++;
			continue;
		}
		if (c < 0x80) {
			if (c == '\\' || c == '\n' || (quote && c == '"')) {
				*p++ = '\\';
				*p++ = c == '\n' ? 'n' : (char)c;
			} else {
				*p++ = (char)c;
			}
			i++;
			continue;
		}
		size_t k = utf8_seq(u + i, n - i, NULL);
		if (k == 0) {
			memcpy(p, "\xef\xbf\xbd", 3);
			p += 3;
			i++;
		} else {
			memcpy(p, u + i, k);
			p += k;
			i += k;
		}
	}
	b->len = (size_t)(p - b->data);
}

/* `name="value"`, preceded by a comma unless first. */
static void put_label(struct expo_buf *b, int *first, const char *name, const char *v, size_t vlen)
{
	if (!*first)
		put(b, ",", 1);
	*first = 0;
	puts_(b, name);
	put(b, "=\"", 2);
	put_escaped(b, v, vlen, 1);
	put(b, "\"", 1);
}

/* ---- label sets ---- */

static int label_name_ok(const char *n)
{
	if (!n || !((*n >= 'a' && *n <= 'z') || (*n >= 'A' && *n <= 'Z') || *n == '_'))
		return 0;
	if (n[0] == '_' && n[1] == '_')
		return 0;
	for (const char *p = n; *p; p++)
		if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || *p == '_' ||
		      (*p >= '0' && *p <= '9')))
			return 0;
	return 1;
}

/* Labels promshim itself sets on the families that carry constant labels; a
 * constant label of the same name would make a series with a duplicate
 * label, which no parser accepts, so such a constant label is left out. */
static int own_label(const char *n, int otel)
{
	static const char *const prom[] = {"method", "route", "status_code", "le", NULL};
	static const char *const otl[] = {"http_request_method", "http_route", "http_response_status_code",
					  "url_scheme", "le", NULL};
	for (const char *const *p = otel ? otl : prom; *p; p++)
		if (strcmp(n, *p) == 0)
			return 1;
	return 0;
}

static const char *status_text(unsigned status, char *tmp)
{
	if (status == 0)
		return "_OTHER";
	tmp[u64_digits(tmp, status)] = 0;
	return tmp;
}

static const char *route_text(const char *label, size_t len, uint32_t id, size_t *out_len)
{
	if (label) {
		*out_len = len;
		return label;
	}
	static const char *const reserved[] = {"_OTHER", "_INVALID", "*", "_CONNECT"};
	const char *r = id < REG_ROUTE_FIRST ? reserved[id] : "_OTHER";
	*out_len = strlen(r);
	return r;
}

static const char *method_text(unsigned m)
{
	return trk_method_name(m < TRK_M_COUNT ? m : TRK_M_OTHER);
}


/* Per-render state. */
struct render {
	const struct reg_snapshot *s;
	const struct expo_opts *o;
	const struct reg_config *cfg;
	struct expo_buf *out;
	int om, otel;
	/* Label strings without braces: the constant labels, otel's tails
	 * (url_scheme and service_name; service_name only), the labels of each
	 * series and of each aborted entry, each `,le="..."} ` suffix. */
	struct expo_buf cst, tail_scheme, tail_plain, plain_scheme, plain, lab, les;
	size_t *ser_off; /* n_series + 1 offsets into lab */
	size_t *ab_off;  /* n_aborted + 1 offsets into lab */
	size_t dur_le[REG_MAX_BUCKETS + 2];
	size_t size_le[REG_SIZE_BUCKETS + 2];
};

static void join(struct expo_buf *b, int *first, const struct expo_buf *part)
{
	if (!part->len)
		return;
	if (!*first)
		put(b, ",", 1);
	*first = 0;
	put(b, part->data, part->len);
}

static void build_const(struct render *r)
{
	const struct expo_opts *o = r->o;
	int have_service = 0, first = 1;
	for (unsigned i = 0; i < o->n_labels && o->labels; i++) {
		const struct cfg_label *l = &o->labels[i];
		if (!label_name_ok(l->name) || own_label(l->name, r->otel) || !l->value)
			continue;
		int dup = 0;
		for (unsigned j = 0; j < i; j++)
			if (o->labels[j].name && strcmp(o->labels[j].name, l->name) == 0)
				dup = 1;
		if (dup)
			continue;
		if (strcmp(l->name, "service_name") == 0)
			have_service = 1;
		put_label(&r->cst, &first, l->name, l->value, strlen(l->value));
	}
	if (r->otel) {
		const char *sn = o->service_name && *o->service_name ? o->service_name : "unknown_service";
		first = 1;
		put_label(&r->tail_scheme, &first, "url_scheme", "http", 4);
		if (!have_service)
			put_label(&r->tail_scheme, &first, "service_name", sn, strlen(sn));
		first = 1;
		if (!have_service)
			put_label(&r->tail_plain, &first, "service_name", sn, strlen(sn));
	}
	first = 1;
	join(&r->plain_scheme, &first, &r->cst);
	join(&r->plain_scheme, &first, &r->tail_scheme);
	first = 1;
	join(&r->plain, &first, &r->cst);
	join(&r->plain, &first, &r->tail_plain);
}

/* Labels of one series: constant labels, method, route, [status], tail. */
static void build_series_labels(struct render *r, unsigned method, uint32_t route_id, const char *label,
				size_t len, int with_status, unsigned status)
{
	struct expo_buf *b = &r->lab;
	int first = 1;
	size_t rlen;
	const char *route = route_text(label, len, route_id, &rlen);
	const char *m = method_text(method);
	join(b, &first, &r->cst);
	put_label(b, &first, r->otel ? "http_request_method" : "method", m, strlen(m));
	put_label(b, &first, r->otel ? "http_route" : "route", route, rlen);
	if (with_status) {
		char tmp[24];
		const char *st = status_text(status, tmp);
		put_label(b, &first, r->otel ? "http_response_status_code" : "status_code", st, strlen(st));
	}
	join(b, &first, &r->tail_scheme);
}

static void build_le(struct render *r, size_t *off, unsigned n, const double *bounds, const uint64_t *ubounds)
{
	char num[EXPO_NUM_MAX];
	for (unsigned i = 0; i <= n; i++) {
		off[i] = r->les.len;
		put(&r->les, ",le=\"", 5);
		if (i == n)
			put(&r->les, "+Inf", 4);
		else
			put(&r->les, num,
			    expo_fmt_float(num, bounds ? bounds[i] : (double)ubounds[i], r->om));
		put(&r->les, "\"} ", 3);
	}
	off[n + 1] = r->les.len;
}

static int build_all(struct render *r)
{
	const struct reg_snapshot *s = r->s;
	build_const(r);
	build_le(r, r->dur_le, r->cfg->n_buckets, r->cfg->bucket_s, NULL);
	build_le(r, r->size_le, REG_SIZE_BUCKETS, NULL, r->o->size_bounds ? r->o->size_bounds : reg_size_bounds);
	r->ser_off = malloc((s->n_series + 1) * sizeof *r->ser_off);
	r->ab_off = malloc((s->n_aborted + 1) * sizeof *r->ab_off);
	if (!r->ser_off || !r->ab_off)
		return -1;
	for (size_t i = 0; i < s->n_series; i++) {
		const struct reg_snap_series *x = &s->series[i];
		r->ser_off[i] = r->lab.len;
		build_series_labels(r, x->method, x->route, x->route_label, x->route_len, 1, x->status);
	}
	r->ser_off[s->n_series] = r->lab.len;
	for (size_t i = 0; i < s->n_aborted; i++) {
		const struct reg_snap_abort *x = &s->aborted[i];
		r->ab_off[i] = r->lab.len;
		build_series_labels(r, x->method, x->route, x->route_label, x->route_len, 0, 0);
	}
	r->ab_off[s->n_aborted] = r->lab.len;
	if (r->cst.oom || r->tail_scheme.oom || r->tail_plain.oom || r->plain.oom || r->plain_scheme.oom ||
	    r->lab.oom || r->les.oom)
		return -1;
	return 0;
}

/* ---- families ---- */

static void put_meta(struct render *r, const struct mt_family *f, const char *name)
{
	struct expo_buf *b = r->out;
	size_t fam = strlen(name);
	const char *type;
	switch (f->type) {
	case MT_COUNTER:
		type = "counter";
		/* OpenMetrics names the counter family without its _total sample suffix */
		if (r->om && fam > 6 && strcmp(name + fam - 6, "_total") == 0)
			fam -= 6;
		break;
	case MT_HISTOGRAM:
		type = "histogram";
		break;
	case MT_INFO:
		type = r->om ? "info" : "gauge";
		if (r->om && fam > 5 && strcmp(name + fam - 5, "_info") == 0)
			fam -= 5;
		break;
	default:
		type = "gauge";
		break;
	}
	put(b, "# HELP ", 7);
	put(b, name, fam);
	put(b, " ", 1);
	put_escaped(b, f->help, strlen(f->help), r->om);
	put(b, "\n# TYPE ", 8);
	put(b, name, fam);
	put(b, " ", 1);
	puts_(b, type);
	put(b, "\n", 1);
	if (r->om && f->unit) {
		put(b, "# UNIT ", 7);
		put(b, name, fam);
		put(b, " ", 1);
		puts_(b, f->unit);
		put(b, "\n", 1);
	}
}

/* `name{labels} ` (no braces when labels is empty); the value follows. */
static void sample_head(struct expo_buf *b, const char *name, size_t nlen, const char *lab, size_t llen)
{
	if (buf_room(b, nlen + llen + 3) != 0)
		return;
	put_raw(b, name, nlen);
	if (llen) {
		put_raw(b, "{", 1);
		put_raw(b, lab, llen);
		put_raw(b, "} ", 2);
	} else {
		put_raw(b, " ", 1);
	}
}

static void sample_u(struct expo_buf *b, const char *name, const struct expo_buf *lab, uint64_t v)
{
	sample_head(b, name, strlen(name), lab ? lab->data : NULL, lab ? lab->len : 0);
	put_uint(b, v);
	put(b, "\n", 1);
}

static void sample_i(struct expo_buf *b, const char *name, const struct expo_buf *lab, int64_t v)
{
	sample_head(b, name, strlen(name), lab ? lab->data : NULL, lab ? lab->len : 0);
	put_int(b, v);
	put(b, "\n", 1);
}

static void sample_us(struct expo_buf *b, const char *name, const struct expo_buf *lab, uint64_t us)
{
	sample_head(b, name, strlen(name), lab ? lab->data : NULL, lab ? lab->len : 0);
	put_micros(b, us);
	put(b, "\n", 1);
}

enum hist_kind { H_DUR, H_REQ, H_RESP };

static void render_histogram(struct render *r, const char *name, enum hist_kind kind)
{
	const struct reg_snapshot *s = r->s;
	struct expo_buf *b = r->out;
	size_t nlen = strlen(name);
	unsigned nb = kind == H_DUR ? r->cfg->n_buckets : REG_SIZE_BUCKETS;
	const size_t *le = kind == H_DUR ? r->dur_le : r->size_le;
	char bname[256];
	if (nlen + 8 > sizeof bname)
		return;
	memcpy(bname, name, nlen);
	memcpy(bname + nlen, "_bucket{", 8);
	size_t blen = nlen + 8;
	char sname[256], cname[256];
	memcpy(sname, name, nlen);
	memcpy(sname + nlen, "_sum", 5);
	memcpy(cname, name, nlen);
	memcpy(cname + nlen, "_count", 7);

	for (size_t i = 0; i < s->n_series; i++) {
		const struct reg_snap_series *x = &s->series[i];
		const char *lab = r->lab.data + r->ser_off[i];
		size_t llen = r->ser_off[i + 1] - r->ser_off[i];
		const uint64_t *cum = kind == H_DUR ? x->dur_cum : kind == H_REQ ? x->req_cum : x->resp_cum;
		uint64_t prev = 0;
		for (unsigned k = 0; k <= nb; k++) {
			/* clamped so a torn snapshot can never yield a decreasing
			 * histogram, which parsers reject */
			uint64_t v = k == nb ? x->count : cum[k];
			if (v < prev)
				v = prev;
			if (v > x->count)
				v = x->count;
			prev = v;
			size_t lelen = le[k + 1] - le[k];
			if (buf_room(b, blen + llen + lelen + EXPO_NUM_MAX + 1) != 0)
				return;
			put_raw(b, bname, blen);
			put_raw(b, lab, llen);
			put_raw(b, r->les.data + le[k], lelen);
			b->len += expo_fmt_uint(b->data + b->len, v);
			b->data[b->len++] = '\n';
		}
		sample_head(b, sname, nlen + 4, lab, llen);
		if (kind == H_DUR)
			put_micros(b, x->dur_sum_us);
		else
			put_uint(b, kind == H_REQ ? x->req_sum : x->resp_sum);
		put(b, "\n", 1);
		sample_head(b, cname, nlen + 6, lab, llen);
		put_uint(b, x->count);
		put(b, "\n", 1);
	}
}

static void render_family(struct render *r, const struct mt_family *f)
{
	const struct reg_snapshot *s = r->s;
	struct expo_buf *b = r->out;
	const char *name = mt_name(f, r->otel ? CFG_NAMING_OTEL : CFG_NAMING_PROMETHEUS);
	if (!name)
		return;
	put_meta(r, f, name);
	const struct expo_buf *plain = (f->flags & MT_F_SCHEME) ? &r->plain_scheme : &r->plain;
	switch (f->id) {
	case MT_HTTP_REQUESTS:
		for (size_t i = 0; i < s->n_series; i++) {
			sample_head(b, name, strlen(name), r->lab.data + r->ser_off[i],
				    r->ser_off[i + 1] - r->ser_off[i]);
			put_uint(b, s->series[i].count);
			put(b, "\n", 1);
		}
		break;
	case MT_HTTP_DURATION:
		render_histogram(r, name, H_DUR);
		break;
	case MT_HTTP_REQ_SIZE:
		render_histogram(r, name, H_REQ);
		break;
	case MT_HTTP_RESP_SIZE:
		render_histogram(r, name, H_RESP);
		break;
	case MT_HTTP_IN_FLIGHT:
		sample_i(b, name, plain, s->in_flight);
		break;
	case MT_HTTP_ABORTED:
		for (size_t i = 0; i < s->n_aborted; i++) {
			sample_head(b, name, strlen(name), r->lab.data + r->ab_off[i],
				    r->ab_off[i + 1] - r->ab_off[i]);
			put_uint(b, s->aborted[i].count);
			put(b, "\n", 1);
		}
		break;
	case MT_HTTP_CONN_ACCEPTED:
		sample_u(b, name, plain, s->counters[REG_C_CONN_ACCEPTED]);
		break;
	case MT_HTTP_CONN_OPEN:
		sample_i(b, name, plain, s->conns_open);
		break;
	case MT_PROC_CPU:
		sample_us(b, name, NULL, s->cpu_us);
		break;
	case MT_PROC_RSS:
		sample_u(b, name, NULL, s->rss_bytes);
		break;
	case MT_PROC_VSZ:
		sample_u(b, name, NULL, s->vsz_bytes);
		break;
	case MT_PROC_OPEN_FDS:
		sample_u(b, name, NULL, s->open_fds);
		break;
	case MT_PROC_MAX_FDS:
		sample_u(b, name, NULL, s->max_fds);
		break;
	case MT_PROC_START:
		sample_us(b, name, NULL, s->start_time_us);
		break;
	case MT_BUILD_INFO: {
		struct expo_buf l = {0};
		int first = 1;
		const char *v = r->o->version ? r->o->version : "unknown";
		put_label(&l, &first, "version", v, strlen(v));
		if (l.oom)
			b->oom = 1;
		else
			sample_u(b, name, &l, 1);
		expo_buf_free(&l);
		break;
	}
	case MT_FAMILY_PROCESSES:
		sample_u(b, name, NULL, s->members);
		break;
	case MT_SERIES:
		sample_u(b, name, NULL, s->series_regular);
		break;
	case MT_SERIES_LIMIT:
		sample_u(b, name, NULL, r->cfg->max_series);
		break;
	case MT_SERIES_OVERFLOW:
		sample_u(b, name, NULL, s->overflow);
		break;
	case MT_PARSE_ERRORS:
		sample_u(b, name, NULL, s->counters[REG_C_PARSE_ERRORS]);
		break;
	case MT_UNSUPPORTED: {
		static const char *const reasons[] = {"tls", "h2c", "other"};
		static const enum reg_counter ctr[] = {REG_C_UNSUPPORTED_TLS, REG_C_UNSUPPORTED_H2C,
						       REG_C_UNSUPPORTED_OTHER};
		for (int i = 0; i < 3; i++) {
			char lab[32];
			int n = snprintf(lab, sizeof lab, "reason=\"%s\"", reasons[i]);
			sample_head(b, name, strlen(name), lab, (size_t)n);
			put_uint(b, s->counters[ctr[i]]);
			put(b, "\n", 1);
		}
		break;
	}
	case MT_SCRAPES:
		sample_u(b, name, NULL, s->counters[REG_C_SCRAPES]);
		break;
	case MT_AUTH_FAILURES:
		sample_u(b, name, NULL, s->counters[REG_C_AUTH_FAILURES]);
		break;
	case MT_COUNT:
		break;
	}
}

int expo_render(const struct reg_snapshot *s, const struct expo_opts *o, struct expo_buf *out)
{
	expo_buf_reset(out);
	const struct reg_config *cfg = o->reg_cfg ? o->reg_cfg : s->reg ? reg_config(s->reg) : NULL;
	if (!cfg || cfg->n_buckets > REG_MAX_BUCKETS)
		return -1;
	struct render r = {.s = s, .o = o, .cfg = cfg, .out = out};
	r.om = o->format == EXPO_OPENMETRICS;
	r.otel = o->naming == CFG_NAMING_OTEL;
	int rc = build_all(&r);
	if (rc == 0) {
		/* A first guess at the size saves most regrowth copies. */
		size_t guess = (r.lab.len + 64 * s->n_series) * (cfg->n_buckets + 2 * REG_SIZE_BUCKETS + 10) + 16384;
		if (guess > out->cap)
			buf_grow(out, guess);
		for (unsigned i = 0; i < MT_COUNT; i++)
			render_family(&r, &mt_families[i]);
		if (r.om)
			put(out, "# EOF\n", 6);
		rc = out->oom ? -1 : 0;
	}
	if (rc != 0)
		out->oom = 1;
	free(r.ser_off);
	free(r.ab_off);
	expo_buf_free(&r.cst);
	expo_buf_free(&r.tail_scheme);
	expo_buf_free(&r.tail_plain);
	expo_buf_free(&r.plain_scheme);
	expo_buf_free(&r.plain);
	expo_buf_free(&r.lab);
	expo_buf_free(&r.les);
	return rc;
}

/* ---- negotiation ---- */

static int is_ows(char c)
{
	return c == ' ' || c == '\t';
}

/* One element of a comma-separated header: [p, end), quoted strings kept
 * whole. Returns the end of the element. */
static const char *element_end(const char *p)
{
	int quoted = 0;
	for (; *p; p++) {
		if (quoted) {
			if (*p == '\\' && p[1])
				p++;
			else if (*p == '"')
				quoted = 0;
		} else if (*p == '"') {
			quoted = 1;
		} else if (*p == ',') {
			break;
		}
	}
	return p;
}

static void trim(const char **a, const char **b)
{
	while (*a < *b && is_ows(**a))
		(*a)++;
	while (*b > *a && is_ows((*b)[-1]))
		(*b)--;
}

static int token_is(const char *a, const char *b, const char *word)
{
	size_t n = strlen(word);
	return (size_t)(b - a) == n && strncasecmp(a, word, n) == 0;
}

/* A qvalue in thousandths (RFC 9110 12.4.2, leniently: ".5" is 500), -1
 * when it is not a number in [0, 1]. */
static int parse_q(const char *a, const char *b)
{
	if (a < b && *a == '"' && b - a >= 2 && b[-1] == '"')
		a++, b--;
	if (a == b)
		return -1;
	int whole = 0, frac = 0, scale = 100;
	const char *p = a;
	if (*p >= '0' && *p <= '9')
		whole = *p++ - '0';
	else if (*p != '.')
		return -1;
	if (p < b && *p == '.') {
		p++;
		for (int nd = 0; p < b && *p >= '0' && *p <= '9'; p++, nd++) {
			if (nd == 3)
				return -1;
			frac += (*p - '0') * scale;
			scale /= 10;
		}
	}
	if (p != b || whole > 1)
		return -1;
	int q = whole * 1000 + frac;
	return q > 1000 ? -1 : q;
}

struct media {
	const char *type, *type_end, *sub, *sub_end;
	const char *version, *version_end; /* NULL: none */
	int q;
};

/* Split one media range and its parameters. Returns 0, or -1 when malformed. */
static int parse_media(const char *a, const char *b, struct media *m)
{
	const char *semi = memchr(a, ';', (size_t)(b - a));
	const char *t_end = semi ? semi : b;
	const char *ta = a, *tb = t_end;
	trim(&ta, &tb);
	const char *slash = memchr(ta, '/', (size_t)(tb - ta));
	if (!slash || slash == ta || slash + 1 == tb)
		return -1;
	m->type = ta, m->type_end = slash;
	m->sub = slash + 1, m->sub_end = tb;
	m->version = m->version_end = NULL;
	m->q = 1000;
	const char *p = semi;
	while (p && p < b) {
		p++; /* past ';' */
		const char *pe = p;
		int quoted = 0;
		for (; pe < b; pe++) {
			if (quoted && *pe == '\\' && pe + 1 < b)
				pe++;
			else if (*pe == '"')
				quoted = !quoted;
			else if (!quoted && *pe == ';')
				break;
		}
		const char *na = p, *ve = pe;
		trim(&na, &ve);
		const char *eq = memchr(na, '=', (size_t)(ve - na));
		if (na != ve) {
			if (!eq)
				return -1;
			const char *ne = eq, *va = eq + 1;
			trim(&na, &ne);
			trim(&va, &ve);
			if (token_is(na, ne, "q")) {
				m->q = parse_q(va, ve);
				if (m->q < 0)
					return -1;
			} else if (token_is(na, ne, "version")) {
				if (va < ve && *va == '"' && ve - va >= 2 && ve[-1] == '"')
					va++, ve--;
				m->version = va, m->version_end = ve;
			}
		}
		p = pe < b ? pe : NULL;
	}
	return 0;
}

/* How specifically m names the format f: 0 not at all, 1 by * / *, 2 by
 * type/ *, 3 by its media type, 4 also by a version we speak. */
static int media_match(const struct media *m, enum expo_format f)
{
	const char *type = f == EXPO_OPENMETRICS ? "application" : "text";
	const char *sub = f == EXPO_OPENMETRICS ? "openmetrics-text" : "plain";
	if (token_is(m->type, m->type_end, "*"))
		return token_is(m->sub, m->sub_end, "*") ? 1 : 0;
	if (!token_is(m->type, m->type_end, type))
		return 0;
	if (token_is(m->sub, m->sub_end, "*"))
		return 2;
	if (!token_is(m->sub, m->sub_end, sub))
		return 0;
	if (!m->version)
		return 3;
	if (f == EXPO_OPENMETRICS)
		/* 0.0.1 is the draft Prometheus still asks for; 1.0.0 reads the same */
		return token_is(m->version, m->version_end, "1.0.0") ||
				       token_is(m->version, m->version_end, "0.0.1")
			       ? 4
			       : 0;
	/* Any text/plain version: 0.0.4 is what every Prometheus reads. */
	return 4;
}

enum expo_format expo_negotiate(const char *accept)
{
	if (!accept)
		return EXPO_TEXT;
	int best_q[2] = {-1, -1}, best_spec[2] = {0, 0}, best_pos[2] = {0, 0};
	int pos = 0;
	for (const char *p = accept; *p; pos++) {
		const char *e = element_end(p);
		struct media m;
		const char *a = p, *b = e;
		trim(&a, &b);
		if (a != b && parse_media(a, b, &m) == 0) {
			for (int f = 0; f < 2; f++) {
				int spec = media_match(&m, (enum expo_format)f);
				if (spec == 0)
					continue;
				/* the most specific range decides (RFC 9110 12.5.1) */
				if (spec > best_spec[f] || (spec == best_spec[f] && m.q > best_q[f])) {
					best_spec[f] = spec;
					best_q[f] = m.q;
					best_pos[f] = pos;
				}
			}
		}
		p = *e ? e + 1 : e;
	}
	int qo = best_q[EXPO_OPENMETRICS], qt = best_q[EXPO_TEXT];
	if (qo <= 0)
		return EXPO_TEXT;
	if (qo != qt)
		return qo > qt ? EXPO_OPENMETRICS : EXPO_TEXT;
	/* Equal preference: the more specific range, then the earlier one. */
	if (best_spec[EXPO_OPENMETRICS] != best_spec[EXPO_TEXT])
		return best_spec[EXPO_OPENMETRICS] > best_spec[EXPO_TEXT] ? EXPO_OPENMETRICS : EXPO_TEXT;
	return best_pos[EXPO_OPENMETRICS] < best_pos[EXPO_TEXT] ? EXPO_OPENMETRICS : EXPO_TEXT;
}

const char *expo_content_type(enum expo_format f)
{
	return f == EXPO_OPENMETRICS ? "application/openmetrics-text; version=1.0.0; charset=utf-8"
				     : "text/plain; version=0.0.4; charset=utf-8";
}

int expo_accepts_gzip(const char *accept_encoding)
{
	if (!accept_encoding)
		return 0;
	int q_gzip = -1, q_star = -1, q_identity = -1;
	for (const char *p = accept_encoding; *p;) {
		const char *e = element_end(p);
		const char *a = p, *b = e;
		trim(&a, &b);
		const char *semi = memchr(a, ';', (size_t)(b - a));
		const char *ce = semi ? semi : b;
		const char *ca = a;
		trim(&ca, &ce);
		int q = 1000;
		if (semi) {
			const char *pa = semi + 1, *pb = b;
			trim(&pa, &pb);
			const char *eq = memchr(pa, '=', (size_t)(pb - pa));
			const char *na = pa, *ne = eq ? eq : pb;
			trim(&na, &ne);
			if (eq && token_is(na, ne, "q")) {
				const char *va = eq + 1, *vb = pb;
				trim(&va, &vb);
				q = parse_q(va, vb);
			} else {
				q = -1;
			}
		}
		if (q >= 0) {
			if (token_is(ca, ce, "gzip") || token_is(ca, ce, "x-gzip"))
				q_gzip = q > q_gzip ? q : q_gzip;
			else if (token_is(ca, ce, "*"))
				q_star = q;
			else if (token_is(ca, ce, "identity"))
				q_identity = q;
		}
		p = *e ? e + 1 : e;
	}
	int q = q_gzip >= 0 ? q_gzip : q_star;
	if (q <= 0)
		return 0;
	/* a client that ranks identity above gzip gets identity */
	return q_identity < 0 || q >= q_identity;
}

/* ---- gzip ---- */

int expo_gzip(const char *in, size_t len, struct expo_buf *out)
{
	expo_buf_reset(out);
	z_stream z;
	memset(&z, 0, sizeof z);
	/* 31 window bits: 15 for the window, +16 for a gzip wrapper */
	if (deflateInit2(&z, EXPO_GZIP_LEVEL, Z_DEFLATED, 31, 8, Z_DEFAULT_STRATEGY) != Z_OK)
		return -1;
	uLong bound = deflateBound(&z, len > ULONG_MAX ? ULONG_MAX : (uLong)len);
	if (buf_room(out, bound < 4096 ? 4096 : bound) != 0) {
		deflateEnd(&z);
		return -1;
	}
	const unsigned char *src = (const unsigned char *)in;
	size_t left = len;
	int rc;
	do {
		if (z.avail_in == 0 && left) {
			z.next_in = (unsigned char *)src;
			z.avail_in = left > UINT_MAX ? UINT_MAX : (uInt)left;
			src += z.avail_in;
			left -= z.avail_in;
		}
		if (out->cap - out->len < 64 && buf_grow(out, out->cap) != 0) {
			deflateEnd(&z);
			return -1;
		}
		size_t room = out->cap - out->len;
		z.next_out = (unsigned char *)out->data + out->len;
		z.avail_out = room > UINT_MAX ? UINT_MAX : (uInt)room;
		rc = deflate(&z, left ? Z_NO_FLUSH : Z_FINISH);
		out->len += (room > UINT_MAX ? UINT_MAX : room) - z.avail_out;
		if (rc == Z_STREAM_ERROR) {
			deflateEnd(&z);
			return -1;
		}
	} while (rc != Z_STREAM_END);
	deflateEnd(&z);
	return 0;
}
