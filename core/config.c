/* core/config.c — owns parsing of the PROMSHIM_* environment (SPEC 3) into
 * struct ps_config: defaults, validation, one-line errors naming the
 * variable. Files are read through the caller's reader; nothing here does
 * I/O, so the library and `promshim --check` share exactly this parser.
 */
#include "config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <locale.h>
#include <math.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define CFG_LISTEN_USAGE "(want IPv4:port, [IPv6]:port, :port or off)"
#define CFG_TOKEN_MIN 16

static const double cfg_buckets_prom[] = {.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10};
static const double cfg_buckets_otel[] = {.005, .01, .025, .05, .075, .1, .25,
					  .5,   .75, 1,    2.5, 5,   7.5, 10};

static int cfg_fail(char *err, size_t errlen, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static int cfg_fail(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	if (err && errlen) {
		va_start(ap, fmt);
		vsnprintf(err, errlen, fmt, ap);
		va_end(ap);
	}
	return -1;
}

/* An empty value counts as unset, so `PROMSHIM_X= cmd` restores a default. */
static const char *cfg_get(cfg_getenv_fn getenv_fn, const char *name)
{
	const char *v = getenv_fn(name);

	return v && *v ? v : NULL;
}

/* Decimal digits only: no sign, no blanks, no base prefix (strtoul accepts
 * all three). Returns 0 and the value, or -1 when malformed or above max. */
static int cfg_uint(const char *s, size_t n, unsigned long max, unsigned long *out)
{
	unsigned long v = 0;

	if (n == 0)
		return -1;
	for (size_t i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -1;
		v = v * 10 + (unsigned long)(s[i] - '0');
		if (v > max)
			return -1;
	}
	*out = v;
	return 0;
}

static int cfg_port(const char *s, size_t n, uint16_t *out)
{
	unsigned long v;

	if (cfg_uint(s, n, 65535, &v) < 0 || v == 0)
		return -1;
	*out = (uint16_t)v;
	return 0;
}

static int cfg_listen(struct ps_config *c, const char *v, char *err, size_t errlen)
{
	const char *colon;
	char host[INET6_ADDRSTRLEN + 1];
	size_t hlen;
	uint16_t port;
	int v6 = 0;

	if (strcmp(v, "off") == 0) {
		c->listen_off = 1;
		return 0;
	}
	if (v[0] == '[') {
		const char *close = strchr(v, ']');

		if (!close || close[1] != ':')
			return cfg_fail(err, errlen, "PROMSHIM_LISTEN: bad address '%s' " CFG_LISTEN_USAGE, v);
		hlen = (size_t)(close - v - 1);
		if (hlen == 0 || hlen >= sizeof(host))
			return cfg_fail(err, errlen, "PROMSHIM_LISTEN: bad address '%s' " CFG_LISTEN_USAGE, v);
		memcpy(host, v + 1, hlen);
		colon = close + 1;
		v6 = 1;
	} else {
		colon = strrchr(v, ':');
		if (!colon)
			return cfg_fail(err, errlen, "PROMSHIM_LISTEN: bad address '%s' " CFG_LISTEN_USAGE, v);
		hlen = (size_t)(colon - v);
		if (hlen >= sizeof(host))
			return cfg_fail(err, errlen, "PROMSHIM_LISTEN: bad address '%s' " CFG_LISTEN_USAGE, v);
		memcpy(host, v, hlen);
	}
	host[hlen] = '\0';
	if (cfg_port(colon + 1, strlen(colon + 1), &port) < 0)
		return cfg_fail(err, errlen, "PROMSHIM_LISTEN: bad port '%s' in '%s' (want 1..65535)", colon + 1,
				v);

	memset(&c->listen, 0, sizeof(c->listen));
	if (v6) {
		struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&c->listen;

		if (inet_pton(AF_INET6, host, &s6->sin6_addr) != 1)
			return cfg_fail(err, errlen, "PROMSHIM_LISTEN: bad address '%s' " CFG_LISTEN_USAGE, v);
		s6->sin6_family = AF_INET6;
		s6->sin6_port = htons(port);
		c->listen_len = sizeof(*s6);
	} else {
		struct sockaddr_in *s4 = (struct sockaddr_in *)&c->listen;

		/* ":port" means every IPv4 interface; dual-stack needs "[::]:port". */
		if (hlen == 0)
			s4->sin_addr.s_addr = htonl(INADDR_ANY);
		else if (inet_pton(AF_INET, host, &s4->sin_addr) != 1)
			return cfg_fail(err, errlen, "PROMSHIM_LISTEN: bad address '%s' " CFG_LISTEN_USAGE, v);
		s4->sin_family = AF_INET;
		s4->sin_port = htons(port);
		c->listen_len = sizeof(*s4);
	}
	c->listen_off = 0;
	return 0;
}

/* Reads a file the configuration names and refuses unsafe ones. secret:
 * the file must not be readable or writable by group or others. */
static int cfg_read(const char *var, const char *path, cfg_readfile_fn readfile, int secret, char **text,
		    size_t *len, char *err, size_t errlen)
{
	char why[256] = "";
	unsigned mode = 0;

	*text = NULL;
	if (!readfile)
		return cfg_fail(err, errlen, "%s: cannot read %s: no file reader", var, path);
	if (readfile(path, text, len, &mode, why, sizeof(why)) < 0) {
		*text = NULL;
		return cfg_fail(err, errlen, "%s: cannot read %s: %s", var, path, why[0] ? why : "error");
	}
	if (!S_ISREG(mode) || (secret && (mode & 077))) {
		const char *what = !S_ISREG(mode)  ? "is not a regular file"
				   : (mode & 044) ? "is readable by group or others (chmod 600)"
						    : "is writable by group or others (chmod 600)";

		if (secret)
			explicit_bzero(*text, *len);
		free(*text);
		*text = NULL;
		return cfg_fail(err, errlen, "%s: %s %s", var, path, what);
	}
	return 0;
}

static int cfg_routes(struct route_set **out, const char *var, const char *v, cfg_readfile_fn readfile,
		      char *err, size_t errlen)
{
	char why[CFG_ERR_MAX];
	char *text;
	size_t len;
	int rc;

	why[0] = '\0';
	if (v[0] != '@') {
		if (route_set_parse(out, v, strlen(v), why, sizeof(why)) < 0)
			return cfg_fail(err, errlen, "%s: %s", var, why[0] ? why : "bad template");
		return 0;
	}
	if (v[1] == '\0')
		return cfg_fail(err, errlen, "%s: '@' needs a file name", var);
	if (cfg_read(var, v + 1, readfile, 0, &text, &len, err, errlen) < 0)
		return -1;
	rc = route_set_parse(out, text, len, why, sizeof(why));
	free(text);
	if (rc < 0)
		return cfg_fail(err, errlen, "%s: %s: %s", var, v + 1, why[0] ? why : "bad template");
	return 0;
}

static int cfg_onoff(const char *var, const char *v, int *out, char *err, size_t errlen)
{
	if (strcmp(v, "on") == 0)
		*out = 1;
	else if (strcmp(v, "off") == 0)
		*out = 0;
	else
		return cfg_fail(err, errlen, "%s: bad value '%s' (want on or off)", var, v);
	return 0;
}

static int cfg_count(const char *var, const char *v, unsigned long max, unsigned *out, char *err,
		     size_t errlen)
{
	unsigned long n;

	if (cfg_uint(v, strlen(v), max, &n) < 0 || n == 0)
		return cfg_fail(err, errlen, "%s: bad value '%s' (want an integer from 1 to %lu)", var, v, max);
	*out = (unsigned)n;
	return 0;
}

/* Plain decimal syntax only ("1", ".5", "2.5e-3"): strtod would also take
 * hex floats, inf, nan and blanks, and follows LC_NUMERIC, which the host
 * may have set to a locale with a decimal comma. The syntax is checked
 * here; the conversion runs in the built-in "C" locale. */
static int cfg_seconds(const char *s, size_t n, double *out)
{
	static locale_t c_locale;
	char buf[64];
	size_t i = 0, digits = 0;
	char *end;
	double d;

	if (n == 0 || n >= sizeof(buf))
		return -1;
	while (i < n && s[i] >= '0' && s[i] <= '9')
		i++, digits++;
	if (i < n && s[i] == '.') {
		i++;
		while (i < n && s[i] >= '0' && s[i] <= '9')
			i++, digits++;
	}
	if (digits == 0)
		return -1;
	if (i < n && (s[i] == 'e' || s[i] == 'E')) {
		size_t e0;

		i++;
		if (i < n && (s[i] == '+' || s[i] == '-'))
			i++;
		e0 = i;
		while (i < n && s[i] >= '0' && s[i] <= '9')
			i++;
		if (i == e0)
			return -1;
	}
	if (i != n)
		return -1;
	if (!c_locale)
		c_locale = newlocale(LC_NUMERIC_MASK, "C", (locale_t)0);
	if (!c_locale)
		return -1;
	memcpy(buf, s, n);
	buf[n] = '\0';
	errno = 0;
	d = strtod_l(buf, &end, c_locale);
	if (*end != '\0' || errno == ERANGE || !isfinite(d) || !(d > 0))
		return -1;
	*out = d;
	return 0;
}

static int cfg_buckets(struct ps_config *c, const char *v, char *err, size_t errlen)
{
	const char *p = v, *prev = NULL;
	size_t prev_len = 0;
	unsigned n = 0;

	for (;;) {
		const char *comma = strchr(p, ',');
		size_t len = comma ? (size_t)(comma - p) : strlen(p);
		double d;

		if (n == REG_MAX_BUCKETS)
			return cfg_fail(err, errlen, "PROMSHIM_BUCKETS: more than %d bounds", REG_MAX_BUCKETS);
		if (cfg_seconds(p, len, &d) < 0)
			return cfg_fail(err, errlen,
					"PROMSHIM_BUCKETS: bad bound '%.*s' (want a positive number of seconds)",
					(int)(len > 64 ? 64 : len), p);
		if (n > 0 && !(d > c->reg.bucket_s[n - 1]))
			return cfg_fail(err, errlen, "PROMSHIM_BUCKETS: bounds must increase ('%.*s' follows '%.*s')",
					(int)(len > 64 ? 64 : len), p, (int)(prev_len > 64 ? 64 : prev_len), prev);
		c->reg.bucket_s[n++] = d;
		prev = p;
		prev_len = len;
		if (!comma)
			break;
		p = comma + 1;
	}
	c->reg.n_buckets = n;
	c->buckets_set = 1;
	return 0;
}

static void cfg_default_buckets(struct ps_config *c)
{
	const double *b = c->naming == CFG_NAMING_OTEL ? cfg_buckets_otel : cfg_buckets_prom;
	unsigned n = c->naming == CFG_NAMING_OTEL ? sizeof(cfg_buckets_otel) / sizeof(double)
						  : sizeof(cfg_buckets_prom) / sizeof(double);

	memcpy(c->reg.bucket_s, b, n * sizeof(double));
	c->reg.n_buckets = n;
	c->buckets_set = 0;
}

static int cfg_utf8_valid(const unsigned char *s, size_t n)
{
	size_t i = 0;

	while (i < n) {
		unsigned char b = s[i];
		size_t k;
		uint32_t cp;

		if (b < 0x80) {
			i++;
			continue;
		}
		if (b >= 0xc2 && b <= 0xdf)
			k = 1, cp = b & 0x1f;
		else if (b >= 0xe0 && b <= 0xef)
			k = 2, cp = b & 0x0f;
		else if (b >= 0xf0 && b <= 0xf4)
			k = 3, cp = b & 0x07;
		else
			return 0;
		if (i + k >= n)
			return 0;
		for (size_t j = 1; j <= k; j++) {
			if ((s[i + j] & 0xc0) != 0x80)
				return 0;
			cp = cp << 6 | (s[i + j] & 0x3f);
		}
		/* Overlong forms, surrogates and code points past U+10FFFF. */
		if ((k == 2 && cp < 0x800) || (k == 3 && cp < 0x10000) || cp > 0x10ffff ||
		    (cp >= 0xd800 && cp <= 0xdfff))
			return 0;
		i += k + 1;
	}
	return 1;
}

static int cfg_label_name_ok(const char *s, size_t n)
{
	if (n == 0 || !((s[0] >= 'a' && s[0] <= 'z') || (s[0] >= 'A' && s[0] <= 'Z') || s[0] == '_'))
		return 0;
	for (size_t i = 1; i < n; i++)
		if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= 'A' && s[i] <= 'Z') || (s[i] >= '0' && s[i] <= '9') ||
		      s[i] == '_'))
			return 0;
	return 1;
}

/* Names promshim itself puts on HTTP series: a constant label with one of
 * them would make duplicate label names, which Prometheus rejects. */
static int cfg_label_reserved(const char *name, enum cfg_naming naming)
{
	static const char *const common[] = {"method", "route", "status_code", "le"};
	static const char *const otel[] = {"http_request_method", "http_route", "http_response_status_code",
					   "url_scheme"};

	for (size_t i = 0; i < sizeof(common) / sizeof(common[0]); i++)
		if (strcmp(name, common[i]) == 0)
			return 1;
	if (naming == CFG_NAMING_OTEL)
		for (size_t i = 0; i < sizeof(otel) / sizeof(otel[0]); i++)
			if (strcmp(name, otel[i]) == 0)
				return 1;
	return 0;
}

static int cfg_labels(struct ps_config *c, const char *v, char *err, size_t errlen)
{
	const char *p = v;

	for (;;) {
		const char *comma = strchr(p, ',');
		size_t len = comma ? (size_t)(comma - p) : strlen(p);
		const char *eq = memchr(p, '=', len);
		size_t nlen, vlen;
		struct cfg_label *l;
		int shown = (int)(len > 64 ? 64 : len);

		if (!eq)
			return cfg_fail(err, errlen, "PROMSHIM_LABELS: bad entry '%.*s' (want name=value)", shown, p);
		nlen = (size_t)(eq - p);
		vlen = len - nlen - 1;
		if (!cfg_label_name_ok(p, nlen))
			return cfg_fail(err, errlen,
					"PROMSHIM_LABELS: bad label name '%.*s' (want [a-zA-Z_][a-zA-Z0-9_]*)",
					(int)(nlen > 64 ? 64 : nlen), p);
		if (nlen >= 2 && p[0] == '_' && p[1] == '_')
			return cfg_fail(err, errlen, "PROMSHIM_LABELS: label name '%.*s' is reserved (starts with __)",
					(int)(nlen > 64 ? 64 : nlen), p);
		if (c->n_labels == CFG_MAX_LABELS)
			return cfg_fail(err, errlen, "PROMSHIM_LABELS: more than %d labels", CFG_MAX_LABELS);
		l = &c->labels[c->n_labels];
		l->name = strndup(p, nlen);
		if (!l->name)
			return cfg_fail(err, errlen, "PROMSHIM_LABELS: out of memory");
		l->value = strndup(eq + 1, vlen);
		if (!l->value) {
			free(l->name);
			l->name = NULL;
			return cfg_fail(err, errlen, "PROMSHIM_LABELS: out of memory");
		}
		c->n_labels++;
		if (cfg_label_reserved(l->name, c->naming))
			return cfg_fail(err, errlen, "PROMSHIM_LABELS: label name '%s' is reserved (promshim sets it)",
					l->name);
		for (unsigned i = 0; i + 1 < c->n_labels; i++)
			if (strcmp(c->labels[i].name, l->name) == 0)
				return cfg_fail(err, errlen, "PROMSHIM_LABELS: duplicate label '%s'", l->name);
		if (vlen == 0)
			return cfg_fail(err, errlen, "PROMSHIM_LABELS: empty value for '%s'", l->name);
		if (!cfg_utf8_valid((const unsigned char *)l->value, vlen) || strlen(l->value) != vlen)
			return cfg_fail(err, errlen, "PROMSHIM_LABELS: value of '%s' is not valid UTF-8", l->name);
		if (!comma)
			break;
		p = comma + 1;
	}
	return 0;
}

static int cfg_ports(struct ps_config *c, const char *v, char *err, size_t errlen)
{
	const char *p = v;

	for (;;) {
		const char *comma = strchr(p, ',');
		size_t len = comma ? (size_t)(comma - p) : strlen(p);
		uint16_t port;
		int dup = 0;

		if (cfg_port(p, len, &port) < 0)
			return cfg_fail(err, errlen, "PROMSHIM_PORTS: bad port '%.*s' (want 1..65535)",
					(int)(len > 64 ? 64 : len), p);
		for (unsigned i = 0; i < c->n_ports; i++)
			dup |= c->ports[i] == port;
		if (!dup) {
			if (c->n_ports == CFG_MAX_PORTS)
				return cfg_fail(err, errlen, "PROMSHIM_PORTS: more than %d ports", CFG_MAX_PORTS);
			c->ports[c->n_ports++] = port;
		}
		if (!comma)
			break;
		p = comma + 1;
	}
	return 0;
}

static int cfg_b64ish(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= 'A' && s[i] <= 'Z') || (s[i] >= '0' && s[i] <= '9') ||
		      s[i] == '.' || s[i] == '/'))
			return 0;
	return 1;
}

/* The shapes crypt(3) produces for the schemes SPEC 3 names (and $5$).
 * A plain-text password here would be compared as a hash and never match:
 * better to refuse it at start-up. */
static int cfg_crypt_hash_ok(const char *h)
{
	size_t n = strlen(h);
	const char *last;

	if (strncmp(h, "$2b$", 4) == 0 || strncmp(h, "$2y$", 4) == 0 || strncmp(h, "$2a$", 4) == 0)
		return n == 60 && h[4] >= '0' && h[4] <= '3' && h[5] >= '0' && h[5] <= '9' && h[6] == '$' &&
		       cfg_b64ish(h + 7, 53);
	if (strncmp(h, "$y$", 3) != 0 && strncmp(h, "$6$", 3) != 0 && strncmp(h, "$5$", 3) != 0)
		return 0;
	last = strrchr(h, '$');
	if (last == h + 2)
		return 0; /* no salt field */
	for (const char *q = h + 3; q < last; q++)
		if (!cfg_b64ish(q, 1) && *q != '$' && *q != '=')
			return 0;
	if (h[1] == 'y')
		return strlen(last + 1) == 43 && cfg_b64ish(last + 1, 43) && strchr(h + 3, '$') < last;
	if (h[1] == '6')
		return strlen(last + 1) == 86 && cfg_b64ish(last + 1, 86);
	return strlen(last + 1) == 43 && cfg_b64ish(last + 1, 43);
}

static int cfg_auth_line(struct ps_config *c, const char *path, unsigned lineno, char *line, size_t *cap,
			 char *err, size_t errlen)
{
	char *f[4];
	unsigned nf = 0;
	char *save = NULL;
	struct cfg_auth *a;

	for (char *t = strtok_r(line, " \t", &save); t; t = strtok_r(NULL, " \t", &save)) {
		if (nf == 4)
			break;
		f[nf++] = t;
	}
	if (nf == 0 || f[0][0] == '#')
		return 0;
	if (strcmp(f[0], "basic") == 0 && nf == 3) {
		if (strchr(f[1], ':'))
			return cfg_fail(err, errlen, "PROMSHIM_AUTH_FILE: %s line %u: user name contains ':'", path,
					lineno);
		if (!cfg_crypt_hash_ok(f[2]))
			return cfg_fail(err, errlen,
					"PROMSHIM_AUTH_FILE: %s line %u: password of '%s' is not a crypt(3) hash "
					"(want bcrypt, yescrypt, sha512crypt or sha256crypt)",
					path, lineno, f[1]);
		for (unsigned i = 0; i < c->n_auth; i++)
			if (c->auth[i].kind == CFG_AUTH_BASIC && strcmp(c->auth[i].user, f[1]) == 0)
				return cfg_fail(err, errlen, "PROMSHIM_AUTH_FILE: %s line %u: duplicate user '%s'",
						path, lineno, f[1]);
	} else if (strcmp(f[0], "bearer") == 0 && nf == 2) {
		size_t tl = strlen(f[1]);

		if (tl < CFG_TOKEN_MIN)
			return cfg_fail(err, errlen,
					"PROMSHIM_AUTH_FILE: %s line %u: bearer token shorter than %d characters",
					path, lineno, CFG_TOKEN_MIN);
		for (size_t i = 0; i < tl; i++)
			if ((unsigned char)f[1][i] < 0x21 || (unsigned char)f[1][i] > 0x7e)
				return cfg_fail(err, errlen,
						"PROMSHIM_AUTH_FILE: %s line %u: bearer token has a character "
						"outside printable ASCII",
						path, lineno);
	} else {
		return cfg_fail(err, errlen,
				"PROMSHIM_AUTH_FILE: %s line %u: want 'basic USER HASH' or 'bearer TOKEN'", path,
				lineno);
	}

	if (c->n_auth == *cap) {
		size_t ncap = *cap ? *cap * 2 : 4;
		struct cfg_auth *na = realloc(c->auth, ncap * sizeof(*na));

		if (!na)
			return cfg_fail(err, errlen, "PROMSHIM_AUTH_FILE: out of memory");
		c->auth = na;
		*cap = ncap;
	}
	a = &c->auth[c->n_auth];
	memset(a, 0, sizeof(*a));
	if (f[0][0] == 'b' && f[0][1] == 'a') {
		a->kind = CFG_AUTH_BASIC;
		a->user = strdup(f[1]);
		a->secret = strdup(f[2]);
	} else {
		a->kind = CFG_AUTH_BEARER;
		a->secret = strdup(f[1]);
	}
	c->n_auth++;
	if (!a->secret || (a->kind == CFG_AUTH_BASIC && !a->user))
		return cfg_fail(err, errlen, "PROMSHIM_AUTH_FILE: out of memory");
	return 0;
}

static int cfg_auth(struct ps_config *c, const char *path, cfg_readfile_fn readfile, char *err, size_t errlen)
{
	char *text;
	size_t len, cap = 0;
	unsigned lineno = 0;
	int rc = 0;
	char *p;

	if (cfg_read("PROMSHIM_AUTH_FILE", path, readfile, 1, &text, &len, err, errlen) < 0)
		return -1;
	if (strlen(text) != len) {
		rc = cfg_fail(err, errlen, "PROMSHIM_AUTH_FILE: %s holds a NUL byte", path);
		goto out;
	}
	p = text;
	while (*p) {
		char *nl = strchr(p, '\n');
		char *end = nl ? nl : p + strlen(p);

		lineno++;
		if (end > p && end[-1] == '\r')
			end[-1] = '\0';
		*end = '\0';
		rc = cfg_auth_line(c, path, lineno, p, &cap, err, errlen);
		if (rc < 0)
			goto out;
		if (!nl)
			break;
		p = nl + 1;
	}
	if (c->n_auth == 0)
		rc = cfg_fail(err, errlen, "PROMSHIM_AUTH_FILE: %s holds no credentials", path);
out:
	explicit_bzero(text, len);
	free(text);
	return rc;
}

static int cfg_tls(struct ps_config *c, const char *cert, const char *key, cfg_readfile_fn readfile, char *err,
		   size_t errlen)
{
	size_t len;

	if (!cert)
		return cfg_fail(err, errlen, "PROMSHIM_TLS_CERT: not set, but PROMSHIM_TLS_KEY is (set both or neither)");
	if (!key)
		return cfg_fail(err, errlen, "PROMSHIM_TLS_KEY: not set, but PROMSHIM_TLS_CERT is (set both or neither)");
	if (cfg_read("PROMSHIM_TLS_CERT", cert, readfile, 0, &c->tls_cert, &len, err, errlen) < 0)
		return -1;
	if (!strstr(c->tls_cert, "-----BEGIN"))
		return cfg_fail(err, errlen, "PROMSHIM_TLS_CERT: %s is not PEM (no -----BEGIN line)", cert);
	if (cfg_read("PROMSHIM_TLS_KEY", key, readfile, 1, &c->tls_key, &len, err, errlen) < 0)
		return -1;
	if (!strstr(c->tls_key, "-----BEGIN"))
		return cfg_fail(err, errlen, "PROMSHIM_TLS_KEY: %s is not PEM (no -----BEGIN line)", key);
	return 0;
}

static int cfg_apply(struct ps_config *c, cfg_getenv_fn getenv_fn, cfg_readfile_fn readfile, char *err,
		     size_t errlen)
{
	const char *v, *cert, *key;

	if ((v = cfg_get(getenv_fn, "PROMSHIM_LOG"))) {
		static const char *const names[] = {"off", "error", "warn", "info", "debug"};
		int found = 0;

		for (unsigned i = 0; i < sizeof(names) / sizeof(names[0]); i++)
			if (strcmp(v, names[i]) == 0)
				c->log = (enum cfg_log)i, found = 1;
		if (!found)
			return cfg_fail(err, errlen,
					"PROMSHIM_LOG: bad value '%s' (want off, error, warn, info or debug)", v);
	}
	if ((v = cfg_get(getenv_fn, "PROMSHIM_NAMING"))) {
		if (strcmp(v, "prometheus") == 0)
			c->naming = CFG_NAMING_PROMETHEUS;
		else if (strcmp(v, "otel") == 0)
			c->naming = CFG_NAMING_OTEL;
		else
			return cfg_fail(err, errlen, "PROMSHIM_NAMING: bad value '%s' (want prometheus or otel)", v);
	}
	if ((v = cfg_get(getenv_fn, "PROMSHIM_LISTEN")) && cfg_listen(c, v, err, errlen) < 0)
		return -1;
	if ((v = cfg_get(getenv_fn, "PROMSHIM_ROUTES")) &&
	    cfg_routes(&c->routes, "PROMSHIM_ROUTES", v, readfile, err, errlen) < 0)
		return -1;
	if ((v = cfg_get(getenv_fn, "PROMSHIM_EXCLUDE")) &&
	    cfg_routes(&c->exclude, "PROMSHIM_EXCLUDE", v, readfile, err, errlen) < 0)
		return -1;
	if ((v = cfg_get(getenv_fn, "PROMSHIM_HEURISTIC")) &&
	    cfg_onoff("PROMSHIM_HEURISTIC", v, &c->heuristic, err, errlen) < 0)
		return -1;
	if ((v = cfg_get(getenv_fn, "PROMSHIM_COLLAPSE_AFTER")) &&
	    cfg_count("PROMSHIM_COLLAPSE_AFTER", v, CFG_COLLAPSE_AFTER_MAX, &c->collapse_after, err, errlen) < 0)
		return -1;
	if ((v = cfg_get(getenv_fn, "PROMSHIM_MAX_SERIES")) &&
	    cfg_count("PROMSHIM_MAX_SERIES", v, CFG_MAX_SERIES_LIMIT, &c->reg.max_series, err, errlen) < 0)
		return -1;
	cfg_default_buckets(c);
	if ((v = cfg_get(getenv_fn, "PROMSHIM_BUCKETS")) && cfg_buckets(c, v, err, errlen) < 0)
		return -1;
	if ((v = cfg_get(getenv_fn, "PROMSHIM_LABELS")) && cfg_labels(c, v, err, errlen) < 0)
		return -1;
	if ((v = cfg_get(getenv_fn, "PROMSHIM_PORTS")) && cfg_ports(c, v, err, errlen) < 0)
		return -1;
	if ((v = cfg_get(getenv_fn, "PROMSHIM_AUTH_FILE")) && cfg_auth(c, v, readfile, err, errlen) < 0)
		return -1;
	cert = cfg_get(getenv_fn, "PROMSHIM_TLS_CERT");
	key = cfg_get(getenv_fn, "PROMSHIM_TLS_KEY");
	if ((cert || key) && cfg_tls(c, cert, key, readfile, err, errlen) < 0)
		return -1;
	return 0;
}

int cfg_load(struct ps_config *c, cfg_getenv_fn getenv_fn, cfg_readfile_fn readfile, char *err, size_t errlen)
{
	struct sockaddr_in *s4 = (struct sockaddr_in *)&c->listen;

	if (err && errlen)
		err[0] = '\0';
	memset(c, 0, sizeof(*c));
	s4->sin_family = AF_INET;
	s4->sin_port = htons(CFG_LISTEN_DEFAULT_PORT);
	s4->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	c->listen_len = sizeof(*s4);
	c->heuristic = 1;
	c->collapse_after = CFG_COLLAPSE_AFTER_DEFAULT;
	c->reg.max_series = CFG_MAX_SERIES_DEFAULT;
	c->naming = CFG_NAMING_PROMETHEUS;
	c->log = CFG_LOG_WARN;
	cfg_default_buckets(c);
	if (!getenv_fn)
		return 0;
	if (cfg_apply(c, getenv_fn, readfile, err, errlen) < 0) {
		cfg_free(c);
		return -1;
	}
	return 0;
}

void cfg_free(struct ps_config *c)
{
	if (!c)
		return;
	route_set_free(c->routes);
	route_set_free(c->exclude);
	for (unsigned i = 0; i < c->n_labels; i++) {
		free(c->labels[i].name);
		free(c->labels[i].value);
	}
	for (unsigned i = 0; i < c->n_auth; i++) {
		free(c->auth[i].user);
		if (c->auth[i].secret) {
			explicit_bzero(c->auth[i].secret, strlen(c->auth[i].secret));
			free(c->auth[i].secret);
		}
	}
	free(c->auth);
	free(c->tls_cert);
	if (c->tls_key) {
		explicit_bzero(c->tls_key, strlen(c->tls_key));
		free(c->tls_key);
	}
	memset(c, 0, sizeof(*c));
}

int cfg_port_tracked(const struct ps_config *c, uint16_t port)
{
	if (c->n_ports == 0)
		return 1;
	for (unsigned i = 0; i < c->n_ports; i++)
		if (c->ports[i] == port)
			return 1;
	return 0;
}
