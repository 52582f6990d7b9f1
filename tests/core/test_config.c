/* tests/core/test_config.c — Criterion suites config* for core/config.c:
 * defaults, every variable, the exact error lines, @FILE, auth and TLS
 * files, locale independence. The environment and the files are tables in
 * memory, handed to cfg_load through its getenv and reader hooks.
 */
#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <locale.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config.h"

struct kv {
	const char *name, *value;
};
struct fake_file {
	const char *path, *text;
	unsigned mode;
	size_t len; /* 0: strlen(text) */
};

static struct kv t_env[32];
static unsigned t_nenv;
static struct fake_file t_files[8];
static unsigned t_nfiles;
static unsigned t_reads;

static void env(const char *name, const char *value)
{
	cr_assert_lt(t_nenv, 32);
	t_env[t_nenv++] = (struct kv){name, value};
}

static void file(const char *path, const char *text, unsigned mode)
{
	cr_assert_lt(t_nfiles, 8);
	if (!(mode & S_IFMT))
		mode |= S_IFREG;
	t_files[t_nfiles++] = (struct fake_file){path, text, mode, 0};
}

static const char *t_getenv(const char *name)
{
	for (unsigned i = t_nenv; i-- > 0;)
		if (strcmp(t_env[i].name, name) == 0)
			return t_env[i].value;
	return NULL;
}

static int t_read(const char *path, char **text, size_t *len, unsigned *mode, char *err, size_t errlen)
{
	t_reads++;
	for (unsigned i = 0; i < t_nfiles; i++) {
		if (strcmp(t_files[i].path, path) != 0)
			continue;
		size_t n = t_files[i].len ? t_files[i].len : strlen(t_files[i].text);
		*text = malloc(n + 1);
		if (!*text) {
			snprintf(err, errlen, "out of memory");
			return -1;
		}
		memcpy(*text, t_files[i].text, n);
		(*text)[n] = '\0';
		*len = n;
		*mode = t_files[i].mode;
		return 0;
	}
	snprintf(err, errlen, "No such file or directory");
	return -1;
}

static struct ps_config cfg;
static char err[CFG_ERR_MAX];

static void reset(void)
{
	t_nenv = t_nfiles = t_reads = 0;
	memset(&cfg, 0xa5, sizeof(cfg)); /* cfg_load must not rely on a zeroed struct */
	memset(err, 0, sizeof(err));
}

static void done(void)
{
	cfg_free(&cfg);
}

static void load_ok(void)
{
	int rc = cfg_load(&cfg, t_getenv, t_read, err, sizeof(err));
	cr_assert_eq(rc, 0, "cfg_load failed: %s", err);
}

/* Loads a configuration that must fail with exactly `want`, and checks
 * that cfg_load left nothing to free. */
static void load_err(const char *want)
{
	int rc = cfg_load(&cfg, t_getenv, t_read, err, sizeof(err));
	cr_assert_eq(rc, -1, "cfg_load accepted a bad configuration, want: %s", want);
	cr_assert_str_eq(err, want);
	cr_assert_null(cfg.routes);
	cr_assert_null(cfg.exclude);
	cr_assert_null(cfg.auth);
	cr_assert_null(cfg.tls_cert);
	cr_assert_null(cfg.tls_key);
	cr_assert_eq(cfg.n_labels, 0);
	cr_assert_eq(cfg.n_auth, 0);
}

static void bad(const char *name, const char *value, const char *want)
{
	env(name, value);
	load_err(want);
}

static const char *resolve(const char *path, char *out)
{
	struct route_ctx rc = {.routes = cfg.routes, .exclude = cfg.exclude, .heuristic = 0, .seen = NULL};
	int n = route_resolve(&rc, path, strlen(path), 0, out, ROUTE_LABEL_MAX);
	if (n < 0)
		return NULL;
	out[n] = '\0';
	return out;
}

TestSuite(config, .init = reset, .fini = done);
TestSuite(config_listen, .init = reset, .fini = done);
TestSuite(config_routes, .init = reset, .fini = done);
TestSuite(config_buckets, .init = reset, .fini = done);
TestSuite(config_labels, .init = reset, .fini = done);
TestSuite(config_auth, .init = reset, .fini = done);
TestSuite(config_tls, .init = reset, .fini = done);

/* ---- defaults and simple variables ---- */

Test(config, defaults)
{
	static const double want[] = {.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10};
	const struct sockaddr_in *s4 = (const struct sockaddr_in *)&cfg.listen;

	load_ok();
	cr_assert_eq(cfg.listen_off, 0);
	cr_assert_eq(s4->sin_family, AF_INET);
	cr_assert_eq(ntohs(s4->sin_port), 9464);
	cr_assert_eq(ntohl(s4->sin_addr.s_addr), INADDR_LOOPBACK);
	cr_assert_eq(cfg.listen_len, sizeof(struct sockaddr_in));
	cr_assert_null(cfg.routes);
	cr_assert_null(cfg.exclude);
	cr_assert_eq(cfg.heuristic, 1);
	cr_assert_eq(cfg.collapse_after, 100);
	cr_assert_eq(cfg.reg.max_series, 2000);
	cr_assert_eq(cfg.buckets_set, 0);
	cr_assert_eq(cfg.reg.n_buckets, 11);
	for (unsigned i = 0; i < 11; i++)
		cr_assert_eq(cfg.reg.bucket_s[i], want[i], "bucket %u", i);
	cr_assert_eq(cfg.n_labels, 0);
	cr_assert_eq(cfg.n_ports, 0);
	cr_assert_eq(cfg.naming, CFG_NAMING_PROMETHEUS);
	cr_assert_eq(cfg.n_auth, 0);
	cr_assert_null(cfg.auth);
	cr_assert_null(cfg.tls_cert);
	cr_assert_null(cfg.tls_key);
	cr_assert_eq(cfg.log, CFG_LOG_WARN);
	cr_assert_eq(t_reads, 0);
}

Test(config, empty_values_mean_default)
{
	env("PROMSHIM_LISTEN", "");
	env("PROMSHIM_MAX_SERIES", "");
	env("PROMSHIM_LOG", "");
	env("PROMSHIM_ROUTES", "");
	load_ok();
	cr_assert_eq(ntohs(((struct sockaddr_in *)&cfg.listen)->sin_port), 9464);
	cr_assert_eq(cfg.reg.max_series, 2000);
	cr_assert_eq(cfg.log, CFG_LOG_WARN);
	cr_assert_null(cfg.routes);
}

Test(config, no_getenv_gives_defaults)
{
	cr_assert_eq(cfg_load(&cfg, NULL, NULL, err, sizeof(err)), 0);
	cr_assert_eq(cfg.reg.max_series, 2000);
	cr_assert_eq(cfg.log, CFG_LOG_WARN);
}

Test(config, heuristic)
{
	env("PROMSHIM_HEURISTIC", "off");
	load_ok();
	cr_assert_eq(cfg.heuristic, 0);
	cfg_free(&cfg);
	env("PROMSHIM_HEURISTIC", "on");
	load_ok();
	cr_assert_eq(cfg.heuristic, 1);
}

Test(config, heuristic_bad)
{
	bad("PROMSHIM_HEURISTIC", "yes", "PROMSHIM_HEURISTIC: bad value 'yes' (want on or off)");
}

Test(config, max_series)
{
	env("PROMSHIM_MAX_SERIES", "1");
	load_ok();
	cr_assert_eq(cfg.reg.max_series, 1);
	cfg_free(&cfg);
	env("PROMSHIM_MAX_SERIES", "1000000");
	load_ok();
	cr_assert_eq(cfg.reg.max_series, 1000000);
}

Test(config, max_series_bad)
{
	static const char *const vals[] = {"0", "1000001", "-5", "+5", " 5", "5k", "0x10", "99999999999999999999"};
	char want[CFG_ERR_MAX];

	for (unsigned i = 0; i < sizeof(vals) / sizeof(vals[0]); i++) {
		t_nenv = 0;
		snprintf(want, sizeof(want),
			 "PROMSHIM_MAX_SERIES: bad value '%s' (want an integer from 1 to 1000000)", vals[i]);
		bad("PROMSHIM_MAX_SERIES", vals[i], want);
	}
}

Test(config, collapse_after)
{
	env("PROMSHIM_COLLAPSE_AFTER", "7");
	load_ok();
	cr_assert_eq(cfg.collapse_after, 7);
}

Test(config, collapse_after_bad)
{
	bad("PROMSHIM_COLLAPSE_AFTER", "0",
	    "PROMSHIM_COLLAPSE_AFTER: bad value '0' (want an integer from 1 to 1000000)");
}

Test(config, naming)
{
	env("PROMSHIM_NAMING", "otel");
	load_ok();
	cr_assert_eq(cfg.naming, CFG_NAMING_OTEL);
	cfg_free(&cfg);
	env("PROMSHIM_NAMING", "prometheus");
	load_ok();
	cr_assert_eq(cfg.naming, CFG_NAMING_PROMETHEUS);
}

Test(config, naming_bad)
{
	bad("PROMSHIM_NAMING", "OTel", "PROMSHIM_NAMING: bad value 'OTel' (want prometheus or otel)");
}

Test(config, log_levels)
{
	static const char *const names[] = {"off", "error", "warn", "info", "debug"};
	static const enum cfg_log want[] = {CFG_LOG_OFF, CFG_LOG_ERROR, CFG_LOG_WARN, CFG_LOG_INFO, CFG_LOG_DEBUG};

	for (unsigned i = 0; i < 5; i++) {
		env("PROMSHIM_LOG", names[i]);
		load_ok();
		cr_assert_eq(cfg.log, want[i], "PROMSHIM_LOG=%s", names[i]);
		cfg_free(&cfg);
	}
}

Test(config, log_bad)
{
	bad("PROMSHIM_LOG", "verbose", "PROMSHIM_LOG: bad value 'verbose' (want off, error, warn, info or debug)");
}

Test(config, ports)
{
	env("PROMSHIM_PORTS", "8080,443,8080,1");
	load_ok();
	cr_assert_eq(cfg.n_ports, 3);
	cr_assert_eq(cfg.ports[0], 8080);
	cr_assert_eq(cfg.ports[1], 443);
	cr_assert_eq(cfg.ports[2], 1);
	cr_assert_eq(cfg_port_tracked(&cfg, 8080), 1);
	cr_assert_eq(cfg_port_tracked(&cfg, 443), 1);
	cr_assert_eq(cfg_port_tracked(&cfg, 1), 1);
	cr_assert_eq(cfg_port_tracked(&cfg, 80), 0);
	cr_assert_eq(cfg_port_tracked(&cfg, 65535), 0);
}

Test(config, ports_all_by_default)
{
	load_ok();
	cr_assert_eq(cfg_port_tracked(&cfg, 80), 1);
	cr_assert_eq(cfg_port_tracked(&cfg, 65535), 1);
}

Test(config, ports_bad)
{
	bad("PROMSHIM_PORTS", "80,0", "PROMSHIM_PORTS: bad port '0' (want 1..65535)");
	t_nenv = 0;
	bad("PROMSHIM_PORTS", "80,,81", "PROMSHIM_PORTS: bad port '' (want 1..65535)");
	t_nenv = 0;
	bad("PROMSHIM_PORTS", "65536", "PROMSHIM_PORTS: bad port '65536' (want 1..65535)");
	t_nenv = 0;
	bad("PROMSHIM_PORTS", "http", "PROMSHIM_PORTS: bad port 'http' (want 1..65535)");
}

Test(config, ports_too_many)
{
	char v[1024] = "";
	size_t n = 0;

	for (unsigned p = 1; p <= CFG_MAX_PORTS; p++)
		n += (size_t)snprintf(v + n, sizeof(v) - n, "%s%u", p > 1 ? "," : "", p);
	env("PROMSHIM_PORTS", v);
	load_ok();
	cr_assert_eq(cfg.n_ports, CFG_MAX_PORTS);
	cfg_free(&cfg);
	snprintf(v + n, sizeof(v) - n, ",9999");
	bad("PROMSHIM_PORTS", v, "PROMSHIM_PORTS: more than 64 ports");
}

/* ---- PROMSHIM_LISTEN ---- */

Test(config_listen, ipv4)
{
	const struct sockaddr_in *s4 = (const struct sockaddr_in *)&cfg.listen;

	env("PROMSHIM_LISTEN", "10.1.2.3:9100");
	load_ok();
	cr_assert_eq(cfg.listen_off, 0);
	cr_assert_eq(s4->sin_family, AF_INET);
	cr_assert_eq(ntohs(s4->sin_port), 9100);
	cr_assert_eq(ntohl(s4->sin_addr.s_addr), 0x0a010203u);
	cr_assert_eq(cfg.listen_len, sizeof(struct sockaddr_in));
}

Test(config_listen, any_port)
{
	const struct sockaddr_in *s4 = (const struct sockaddr_in *)&cfg.listen;

	env("PROMSHIM_LISTEN", ":65535");
	load_ok();
	cr_assert_eq(s4->sin_family, AF_INET);
	cr_assert_eq(ntohs(s4->sin_port), 65535);
	cr_assert_eq(s4->sin_addr.s_addr, htonl(INADDR_ANY));
}

Test(config_listen, ipv6)
{
	const struct sockaddr_in6 *s6 = (const struct sockaddr_in6 *)&cfg.listen;
	struct in6_addr want;

	env("PROMSHIM_LISTEN", "[2001:db8::1]:1");
	load_ok();
	cr_assert_eq(inet_pton(AF_INET6, "2001:db8::1", &want), 1);
	cr_assert_eq(s6->sin6_family, AF_INET6);
	cr_assert_eq(ntohs(s6->sin6_port), 1);
	cr_assert_eq(memcmp(&s6->sin6_addr, &want, sizeof(want)), 0);
	cr_assert_eq(cfg.listen_len, sizeof(struct sockaddr_in6));
}

Test(config_listen, ipv6_any)
{
	const struct sockaddr_in6 *s6 = (const struct sockaddr_in6 *)&cfg.listen;

	env("PROMSHIM_LISTEN", "[::]:9464");
	load_ok();
	cr_assert_eq(s6->sin6_family, AF_INET6);
	cr_assert_eq(memcmp(&s6->sin6_addr, &in6addr_any, sizeof(in6addr_any)), 0);
}

Test(config_listen, off)
{
	env("PROMSHIM_LISTEN", "off");
	load_ok();
	cr_assert_eq(cfg.listen_off, 1);
}

#define LISTEN_USAGE "(want IPv4:port, [IPv6]:port, :port or off)"

Test(config_listen, bad_addresses)
{
	static const char *const vals[] = {"1.2.3:80",   "localhost:80", "9464",        "[::1]",
					   "[::1]9464", "::1:9464",    "[]:80",       "[1.2.3.4]:80",
					   "OFF",        "[fe80::1%lo]:80", "1.2.3.4 :80", "[::1:80"};
	char want[CFG_ERR_MAX];

	for (unsigned i = 0; i < sizeof(vals) / sizeof(vals[0]); i++) {
		t_nenv = 0;
		snprintf(want, sizeof(want), "PROMSHIM_LISTEN: bad address '%s' " LISTEN_USAGE, vals[i]);
		bad("PROMSHIM_LISTEN", vals[i], want);
	}
}

Test(config_listen, example_from_spec)
{
	bad("PROMSHIM_LISTEN", "1.2.3:80",
	    "PROMSHIM_LISTEN: bad address '1.2.3:80' (want IPv4:port, [IPv6]:port, :port or off)");
}

Test(config_listen, bad_ports)
{
	bad("PROMSHIM_LISTEN", "127.0.0.1:99999",
	    "PROMSHIM_LISTEN: bad port '99999' in '127.0.0.1:99999' (want 1..65535)");
	t_nenv = 0;
	bad("PROMSHIM_LISTEN", ":0", "PROMSHIM_LISTEN: bad port '0' in ':0' (want 1..65535)");
	t_nenv = 0;
	bad("PROMSHIM_LISTEN", "[::1]:", "PROMSHIM_LISTEN: bad port '' in '[::1]:' (want 1..65535)");
	t_nenv = 0;
	bad("PROMSHIM_LISTEN", "127.0.0.1:http", "PROMSHIM_LISTEN: bad port 'http' in '127.0.0.1:http' (want 1..65535)");
}

/* ---- PROMSHIM_ROUTES and PROMSHIM_EXCLUDE ---- */

Test(config_routes, inline_list)
{
	char out[ROUTE_LABEL_MAX + 1];

	env("PROMSHIM_ROUTES", "/users/{id},/orders/{order}/items");
	env("PROMSHIM_EXCLUDE", "/healthz");
	load_ok();
	cr_assert_not_null(cfg.routes);
	cr_assert_not_null(cfg.exclude);
	cr_assert_str_eq(resolve("/users/42", out), "/users/{id}");
	cr_assert_str_eq(resolve("/orders/7/items", out), "/orders/{order}/items");
	cr_assert_null(resolve("/healthz", out));
	cr_assert_eq(t_reads, 0);
}

Test(config_routes, from_file)
{
	char out[ROUTE_LABEL_MAX + 1];

	file("/etc/routes", "# API\n/users/{id}\n\n/orders/{order}/items\n", 0644);
	file("/etc/exclude", "/healthz\n/metrics\n", 0600);
	env("PROMSHIM_ROUTES", "@/etc/routes");
	env("PROMSHIM_EXCLUDE", "@/etc/exclude");
	load_ok();
	cr_assert_eq(t_reads, 2);
	cr_assert_str_eq(resolve("/users/42", out), "/users/{id}");
	cr_assert_str_eq(resolve("/orders/7/items", out), "/orders/{order}/items");
	cr_assert_null(resolve("/metrics", out));
	cr_assert_null(resolve("/healthz", out));
}

Test(config_routes, missing_file)
{
	bad("PROMSHIM_ROUTES", "@/nope",
	    "PROMSHIM_ROUTES: cannot read /nope: No such file or directory");
}

Test(config_routes, not_a_regular_file)
{
	file("/etc", "", S_IFDIR | 0755);
	bad("PROMSHIM_EXCLUDE", "@/etc", "PROMSHIM_EXCLUDE: /etc is not a regular file");
}

Test(config_routes, at_without_name)
{
	bad("PROMSHIM_ROUTES", "@", "PROMSHIM_ROUTES: '@' needs a file name");
}

Test(config_routes, bad_template_names_variable)
{
	char pfx[] = "PROMSHIM_ROUTES: ";

	env("PROMSHIM_ROUTES", "/users/{id");
	cr_assert_eq(cfg_load(&cfg, t_getenv, t_read, err, sizeof(err)), -1);
	cr_assert_eq(strncmp(err, pfx, strlen(pfx)), 0, "%s", err);
	cr_assert_gt(strlen(err), strlen(pfx));
	cr_assert_null(cfg.routes);
}

Test(config_routes, bad_template_in_file_names_file)
{
	char pfx[] = "PROMSHIM_EXCLUDE: /etc/x: ";

	file("/etc/x", "/ok\n/users/{id\n", 0644);
	env("PROMSHIM_EXCLUDE", "@/etc/x");
	cr_assert_eq(cfg_load(&cfg, t_getenv, t_read, err, sizeof(err)), -1);
	cr_assert_eq(strncmp(err, pfx, strlen(pfx)), 0, "%s", err);
	cr_assert_null(cfg.exclude);
}

/* ROUTES compiled, then a later variable fails: nothing may leak (LSan). */
Test(config_routes, later_error_frees_routes)
{
	env("PROMSHIM_ROUTES", "/a/{x},/b/*");
	env("PROMSHIM_EXCLUDE", "/healthz");
	bad("PROMSHIM_PORTS", "x", "PROMSHIM_PORTS: bad port 'x' (want 1..65535)");
}

/* ---- PROMSHIM_BUCKETS ---- */

Test(config_buckets, explicit)
{
	env("PROMSHIM_BUCKETS", "0.001,.5,1,2.5e1,1E2");
	load_ok();
	cr_assert_eq(cfg.buckets_set, 1);
	cr_assert_eq(cfg.reg.n_buckets, 5);
	cr_assert_eq(cfg.reg.bucket_s[0], 0.001);
	cr_assert_eq(cfg.reg.bucket_s[1], 0.5);
	cr_assert_eq(cfg.reg.bucket_s[2], 1.0);
	cr_assert_eq(cfg.reg.bucket_s[3], 25.0);
	cr_assert_eq(cfg.reg.bucket_s[4], 100.0);
}

Test(config_buckets, otel_default)
{
	static const double want[] = {.005, .01, .025, .05, .075, .1, .25, .5, .75, 1, 2.5, 5, 7.5, 10};

	env("PROMSHIM_NAMING", "otel");
	load_ok();
	cr_assert_eq(cfg.buckets_set, 0);
	cr_assert_eq(cfg.reg.n_buckets, 14);
	for (unsigned i = 0; i < 14; i++)
		cr_assert_eq(cfg.reg.bucket_s[i], want[i], "bucket %u", i);
}

Test(config_buckets, otel_explicit_wins)
{
	env("PROMSHIM_NAMING", "otel");
	env("PROMSHIM_BUCKETS", "1,2");
	load_ok();
	cr_assert_eq(cfg.buckets_set, 1);
	cr_assert_eq(cfg.reg.n_buckets, 2);
	cr_assert_eq(cfg.reg.bucket_s[0], 1.0);
	cr_assert_eq(cfg.reg.bucket_s[1], 2.0);
}

Test(config_buckets, bad_bounds)
{
	static const char *const vals[] = {"0",   "-1",  "abc", "1e999", "inf", "nan", "0x1p3",
					   " 1", "1 ",  ".",   "1e",    "+1",  "0,5", "1e-400"};
	char want[CFG_ERR_MAX];

	for (unsigned i = 0; i < sizeof(vals) / sizeof(vals[0]); i++) {
		const char *shown = strcmp(vals[i], "0,5") == 0 ? "0" : vals[i];

		t_nenv = 0;
		snprintf(want, sizeof(want), "PROMSHIM_BUCKETS: bad bound '%s' (want a positive number of seconds)",
			 shown);
		bad("PROMSHIM_BUCKETS", vals[i], want);
	}
}

Test(config_buckets, empty_element)
{
	bad("PROMSHIM_BUCKETS", "1,,2", "PROMSHIM_BUCKETS: bad bound '' (want a positive number of seconds)");
}

Test(config_buckets, must_increase)
{
	bad("PROMSHIM_BUCKETS", ".1,.5,.5", "PROMSHIM_BUCKETS: bounds must increase ('.5' follows '.5')");
	t_nenv = 0;
	bad("PROMSHIM_BUCKETS", "1,0.25", "PROMSHIM_BUCKETS: bounds must increase ('0.25' follows '1')");
}

Test(config_buckets, at_most_max)
{
	char v[1024] = "";
	size_t n = 0;

	for (unsigned i = 1; i <= REG_MAX_BUCKETS; i++)
		n += (size_t)snprintf(v + n, sizeof(v) - n, "%s%u", i > 1 ? "," : "", i);
	env("PROMSHIM_BUCKETS", v);
	load_ok();
	cr_assert_eq(cfg.reg.n_buckets, REG_MAX_BUCKETS);
	cr_assert_eq(cfg.reg.bucket_s[REG_MAX_BUCKETS - 1], (double)REG_MAX_BUCKETS);
	cfg_free(&cfg);
	snprintf(v + n, sizeof(v) - n, ",1000");
	bad("PROMSHIM_BUCKETS", v, "PROMSHIM_BUCKETS: more than 32 bounds");
}

/* A host that called setlocale() with a decimal-comma locale must not change
 * how "2.5" reads. The locale is compiled into a private directory when the
 * system has none installed. */
static int use_comma_locale(void)
{
	static const char *const names[] = {"de_DE.UTF-8", "de_DE.utf8", "fr_FR.UTF-8", "de_DE"};
	char dir[] = "/tmp/promshim-locale-XXXXXX";
	char cmd[256];

	for (unsigned i = 0; i < 4; i++)
		if (setlocale(LC_NUMERIC, names[i]))
			return 1;
	if (!mkdtemp(dir))
		return 0;
	snprintf(cmd, sizeof(cmd), "localedef -i de_DE -f UTF-8 %s/de_DE.UTF-8 >/dev/null 2>&1", dir);
	if (system(cmd) == 0) {
		setenv("LOCPATH", dir, 1);
		if (setlocale(LC_NUMERIC, "de_DE.UTF-8")) {
			snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
			(void)!system(cmd); /* loaded already; the directory is no longer needed */
			return 1;
		}
	}
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	(void)!system(cmd);
	return 0;
}

Test(config_buckets, locale_independent)
{
	if (!use_comma_locale())
		cr_skip_test("no decimal-comma locale available (localedef failed)");
	cr_assert_eq(strtod("2.5", NULL), 2.0, "locale does not use a decimal comma");
	env("PROMSHIM_BUCKETS", ".25,2.5,7.5e0");
	load_ok();
	cr_assert_eq(cfg.reg.n_buckets, 3);
	cr_assert_eq(cfg.reg.bucket_s[0], 0.25);
	cr_assert_eq(cfg.reg.bucket_s[1], 2.5);
	cr_assert_eq(cfg.reg.bucket_s[2], 7.5);
	cfg_free(&cfg);

	/* "1,5" stays two bounds, not one and a half. */
	env("PROMSHIM_BUCKETS", "1,5");
	load_ok();
	cr_assert_eq(cfg.reg.n_buckets, 2);
	cr_assert_eq(cfg.reg.bucket_s[0], 1.0);
	cr_assert_eq(cfg.reg.bucket_s[1], 5.0);
	setlocale(LC_NUMERIC, "C");
}

/* ---- PROMSHIM_LABELS ---- */

Test(config_labels, parsed_in_order)
{
	bad("PROMSHIM_LABELS", "service=user-service,version=v1.2.0,_zone=eu=west,région=x",
	    "PROMSHIM_LABELS: bad label name 'région' (want [a-zA-Z_][a-zA-Z0-9_]*)");
	t_nenv = 0;
	env("PROMSHIM_LABELS", "service=user-service,version=v1.2.0,_zone=eu=west,city=Zürich");
	load_ok();
	cr_assert_eq(cfg.n_labels, 4);
	cr_assert_str_eq(cfg.labels[0].name, "service");
	cr_assert_str_eq(cfg.labels[0].value, "user-service");
	cr_assert_str_eq(cfg.labels[1].name, "version");
	cr_assert_str_eq(cfg.labels[1].value, "v1.2.0");
	cr_assert_str_eq(cfg.labels[2].name, "_zone");
	cr_assert_str_eq(cfg.labels[2].value, "eu=west");
	cr_assert_str_eq(cfg.labels[3].name, "city");
	cr_assert_str_eq(cfg.labels[3].value, "Zürich");
}

Test(config_labels, service_name_allowed_with_otel)
{
	env("PROMSHIM_NAMING", "otel");
	env("PROMSHIM_LABELS", "service_name=shop");
	load_ok();
	cr_assert_eq(cfg.n_labels, 1);
	cr_assert_str_eq(cfg.labels[0].name, "service_name");
	cr_assert_str_eq(cfg.labels[0].value, "shop");
}

Test(config_labels, otel_names_free_with_prometheus_naming)
{
	env("PROMSHIM_LABELS", "url_scheme=https");
	load_ok();
	cr_assert_eq(cfg.n_labels, 1);
}

Test(config_labels, errors)
{
	static const struct kv cases[] = {
		{"service", "PROMSHIM_LABELS: bad entry 'service' (want name=value)"},
		{"a=1,", "PROMSHIM_LABELS: bad entry '' (want name=value)"},
		{"=x", "PROMSHIM_LABELS: bad label name '' (want [a-zA-Z_][a-zA-Z0-9_]*)"},
		{"1a=x", "PROMSHIM_LABELS: bad label name '1a' (want [a-zA-Z_][a-zA-Z0-9_]*)"},
		{"a-b=x", "PROMSHIM_LABELS: bad label name 'a-b' (want [a-zA-Z_][a-zA-Z0-9_]*)"},
		{"__name__=x", "PROMSHIM_LABELS: label name '__name__' is reserved (starts with __)"},
		{"method=x", "PROMSHIM_LABELS: label name 'method' is reserved (promshim sets it)"},
		{"a=1,route=x", "PROMSHIM_LABELS: label name 'route' is reserved (promshim sets it)"},
		{"status_code=x", "PROMSHIM_LABELS: label name 'status_code' is reserved (promshim sets it)"},
		{"le=x", "PROMSHIM_LABELS: label name 'le' is reserved (promshim sets it)"},
		{"a=1,b=2,a=3", "PROMSHIM_LABELS: duplicate label 'a'"},
		{"a=", "PROMSHIM_LABELS: empty value for 'a'"},
		{"a=\xff", "PROMSHIM_LABELS: value of 'a' is not valid UTF-8"},
		{"a=\xc0\xaf", "PROMSHIM_LABELS: value of 'a' is not valid UTF-8"},
		{"a=\xed\xa0\x80", "PROMSHIM_LABELS: value of 'a' is not valid UTF-8"},
		{"a=x\xe2\x82", "PROMSHIM_LABELS: value of 'a' is not valid UTF-8"},
	};

	for (unsigned i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		t_nenv = 0;
		bad("PROMSHIM_LABELS", cases[i].name, cases[i].value);
	}
}

Test(config_labels, otel_reserved)
{
	static const char *const names[] = {"http_request_method", "http_route", "http_response_status_code",
					    "url_scheme", "method"};
	char v[128], want[CFG_ERR_MAX];

	for (unsigned i = 0; i < 5; i++) {
		t_nenv = 0;
		env("PROMSHIM_NAMING", "otel");
		snprintf(v, sizeof(v), "%s=x", names[i]);
		snprintf(want, sizeof(want), "PROMSHIM_LABELS: label name '%s' is reserved (promshim sets it)",
			 names[i]);
		bad("PROMSHIM_LABELS", v, want);
	}
}

Test(config_labels, at_most_max)
{
	char v[1024] = "";
	size_t n = 0;

	for (unsigned i = 0; i < CFG_MAX_LABELS; i++)
		n += (size_t)snprintf(v + n, sizeof(v) - n, "%sl%u=v%u", i ? "," : "", i, i);
	env("PROMSHIM_LABELS", v);
	load_ok();
	cr_assert_eq(cfg.n_labels, CFG_MAX_LABELS);
	cr_assert_str_eq(cfg.labels[CFG_MAX_LABELS - 1].name, "l15");
	cr_assert_str_eq(cfg.labels[CFG_MAX_LABELS - 1].value, "v15");
	cfg_free(&cfg);
	snprintf(v + n, sizeof(v) - n, ",extra=1");
	bad("PROMSHIM_LABELS", v, "PROMSHIM_LABELS: more than 16 labels");
}

/* ---- PROMSHIM_AUTH_FILE ---- */

#define BCRYPT "$2y$05$Jft9c12Du5/37NTMuQab4eRlJDkTHyQi/2DRhoXVsyZl86Nt0QMPm"
#define YESCRYPT "$y$j9T$nGY3HZ04ryc1p2hJVm2og0$JpDyNAUfQVfRTyyy7hl/IYQcYbiAh/R3B30LcY9VE50"
#define SHA512 \
	"$6$/Q5RZigz8oX.ZOAI$Rd.rDoIR2x5anOb3Xt/g8UfpXft49AzhyhWtRfrZcHsS9zjlBXrXZEvJ6cs2.FKJp8V7AwzP2blXcumCgHHFc0"
#define SHA256 "$5$ccKG5EYNSBy2KnXo$CFt1qLQ3HljMbZ38U7IQ9RvOPDuP2BfZICcg4gaQE5D"
#define TOKEN "s3cr3t-t0ken-0123456789"

Test(config_auth, parses_every_kind)
{
	file("/etc/auth",
	     "# scrapers\n"
	     "basic alice " BCRYPT "\n"
	     "\n"
	     "   # indented comment\n"
	     "basic\tbob\t" YESCRYPT "\r\n"
	     "basic carol " SHA512 "\n"
	     "basic dave  " SHA256 "   \n"
	     "bearer " TOKEN "\n"
	     "basic erin $6$rounds=10000$saltsalt$" "Rd.rDoIR2x5anOb3Xt/g8UfpXft49AzhyhWtRfrZcHsS9zjlBXrXZEvJ6cs2.FKJp8V7AwzP2blXcumCgHHFc0",
	     0600);
	env("PROMSHIM_AUTH_FILE", "/etc/auth");
	load_ok();
	cr_assert_eq(cfg.n_auth, 6);
	cr_assert_eq(cfg.auth[0].kind, CFG_AUTH_BASIC);
	cr_assert_str_eq(cfg.auth[0].user, "alice");
	cr_assert_str_eq(cfg.auth[0].secret, BCRYPT);
	cr_assert_str_eq(cfg.auth[1].user, "bob");
	cr_assert_str_eq(cfg.auth[1].secret, YESCRYPT);
	cr_assert_str_eq(cfg.auth[2].user, "carol");
	cr_assert_str_eq(cfg.auth[2].secret, SHA512);
	cr_assert_str_eq(cfg.auth[3].user, "dave");
	cr_assert_str_eq(cfg.auth[3].secret, SHA256);
	cr_assert_eq(cfg.auth[4].kind, CFG_AUTH_BEARER);
	cr_assert_null(cfg.auth[4].user);
	cr_assert_str_eq(cfg.auth[4].secret, TOKEN);
	cr_assert_str_eq(cfg.auth[5].user, "erin");
}

Test(config_auth, group_readable_refused)
{
	file("/etc/auth", "bearer " TOKEN "\n", 0640);
	bad("PROMSHIM_AUTH_FILE", "/etc/auth",
	    "PROMSHIM_AUTH_FILE: /etc/auth is readable by group or others (chmod 600)");
}

Test(config_auth, other_readable_refused)
{
	file("/etc/auth", "bearer " TOKEN "\n", 0604);
	bad("PROMSHIM_AUTH_FILE", "/etc/auth",
	    "PROMSHIM_AUTH_FILE: /etc/auth is readable by group or others (chmod 600)");
}

Test(config_auth, group_writable_refused)
{
	file("/etc/auth", "bearer " TOKEN "\n", 0620);
	bad("PROMSHIM_AUTH_FILE", "/etc/auth",
	    "PROMSHIM_AUTH_FILE: /etc/auth is writable by group or others (chmod 600)");
}

Test(config_auth, owner_only_modes_accepted)
{
	file("/etc/auth", "bearer " TOKEN "\n", 0400);
	env("PROMSHIM_AUTH_FILE", "/etc/auth");
	load_ok();
	cr_assert_eq(cfg.n_auth, 1);
}

Test(config_auth, missing)
{
	bad("PROMSHIM_AUTH_FILE", "/nope", "PROMSHIM_AUTH_FILE: cannot read /nope: No such file or directory");
}

Test(config_auth, empty_file)
{
	file("/etc/auth", "# nobody yet\n\n", 0600);
	bad("PROMSHIM_AUTH_FILE", "/etc/auth", "PROMSHIM_AUTH_FILE: /etc/auth holds no credentials");
}

Test(config_auth, line_errors_never_show_secrets)
{
	static const struct kv cases[] = {
		{"bearer " TOKEN "\nbasic alice hunter2hunter2\n",
		 "PROMSHIM_AUTH_FILE: /a line 2: password of 'alice' is not a crypt(3) hash (want bcrypt, "
		 "yescrypt, sha512crypt or sha256crypt)"},
		{"bearer short-token\n", "PROMSHIM_AUTH_FILE: /a line 1: bearer token shorter than 16 characters"},
		{"#\n\nbearer " TOKEN " extra\n",
		 "PROMSHIM_AUTH_FILE: /a line 3: want 'basic USER HASH' or 'bearer TOKEN'"},
		{"basic alice\n", "PROMSHIM_AUTH_FILE: /a line 1: want 'basic USER HASH' or 'bearer TOKEN'"},
		{"token " TOKEN "\n", "PROMSHIM_AUTH_FILE: /a line 1: want 'basic USER HASH' or 'bearer TOKEN'"},
		{"alice:" BCRYPT "\n", "PROMSHIM_AUTH_FILE: /a line 1: want 'basic USER HASH' or 'bearer TOKEN'"},
		{"basic a:b " BCRYPT "\n", "PROMSHIM_AUTH_FILE: /a line 1: user name contains ':'"},
		{"basic alice " BCRYPT "\nbasic alice " SHA256 "\n",
		 "PROMSHIM_AUTH_FILE: /a line 2: duplicate user 'alice'"},
		{"basic alice $2y$05$tooShort\n",
		 "PROMSHIM_AUTH_FILE: /a line 1: password of 'alice' is not a crypt(3) hash (want bcrypt, "
		 "yescrypt, sha512crypt or sha256crypt)"},
		{"basic alice $1$abcdefgh$abcdefghijklmnopqrstuv\n",
		 "PROMSHIM_AUTH_FILE: /a line 1: password of 'alice' is not a crypt(3) hash (want bcrypt, "
		 "yescrypt, sha512crypt or sha256crypt)"},
		{"bearer tok\xc3\xa9n-0123456789abc\n",
		 "PROMSHIM_AUTH_FILE: /a line 1: bearer token has a character outside printable ASCII"},
	};

	for (unsigned i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		t_nenv = t_nfiles = 0;
		file("/a", cases[i].name, 0600);
		bad("PROMSHIM_AUTH_FILE", "/a", cases[i].value);
		cr_assert_null(strstr(err, "hunter2"));
		cr_assert_null(strstr(err, "short-token"));
		cr_assert_null(strstr(err, TOKEN));
	}
}

/* Entries parsed before the bad line are freed (LSan checks). */
Test(config_auth, error_after_entries_frees_them)
{
	file("/a", "basic alice " BCRYPT "\nbearer " TOKEN "\nbearer x\n", 0600);
	bad("PROMSHIM_AUTH_FILE", "/a", "PROMSHIM_AUTH_FILE: /a line 3: bearer token shorter than 16 characters");
}

Test(config_auth, nul_byte_refused)
{
	static const char text[] = "bearer " TOKEN "\0\nbearer " TOKEN "\n";

	t_files[t_nfiles++] = (struct fake_file){"/a", text, S_IFREG | 0600, sizeof(text) - 1};
	bad("PROMSHIM_AUTH_FILE", "/a", "PROMSHIM_AUTH_FILE: /a holds a NUL byte");
}

/* ---- PROMSHIM_TLS_CERT / PROMSHIM_TLS_KEY ---- */

#define CERT "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"
#define KEY "-----BEGIN PRIVATE KEY-----\nMIIE\n-----END PRIVATE KEY-----\n"

Test(config_tls, both)
{
	file("/c.pem", CERT, 0644);
	file("/k.pem", KEY, 0600);
	env("PROMSHIM_TLS_CERT", "/c.pem");
	env("PROMSHIM_TLS_KEY", "/k.pem");
	load_ok();
	cr_assert_str_eq(cfg.tls_cert, CERT);
	cr_assert_str_eq(cfg.tls_key, KEY);
}

Test(config_tls, cert_only)
{
	file("/c.pem", CERT, 0644);
	bad("PROMSHIM_TLS_CERT", "/c.pem",
	    "PROMSHIM_TLS_KEY: not set, but PROMSHIM_TLS_CERT is (set both or neither)");
}

Test(config_tls, key_only)
{
	file("/k.pem", KEY, 0600);
	bad("PROMSHIM_TLS_KEY", "/k.pem",
	    "PROMSHIM_TLS_CERT: not set, but PROMSHIM_TLS_KEY is (set both or neither)");
}

Test(config_tls, key_permissions)
{
	file("/c.pem", CERT, 0644);
	file("/k.pem", KEY, 0644);
	env("PROMSHIM_TLS_CERT", "/c.pem");
	bad("PROMSHIM_TLS_KEY", "/k.pem", "PROMSHIM_TLS_KEY: /k.pem is readable by group or others (chmod 600)");
}

Test(config_tls, not_pem)
{
	file("/c.pem", "hello\n", 0644);
	file("/k.pem", KEY, 0600);
	env("PROMSHIM_TLS_KEY", "/k.pem");
	bad("PROMSHIM_TLS_CERT", "/c.pem", "PROMSHIM_TLS_CERT: /c.pem is not PEM (no -----BEGIN line)");
	t_nenv = t_nfiles = 0;
	file("/c.pem", CERT, 0644);
	file("/k.pem", "secret bytes", 0600);
	env("PROMSHIM_TLS_CERT", "/c.pem");
	bad("PROMSHIM_TLS_KEY", "/k.pem", "PROMSHIM_TLS_KEY: /k.pem is not PEM (no -----BEGIN line)");
}

Test(config_tls, missing_cert_file)
{
	file("/k.pem", KEY, 0600);
	env("PROMSHIM_TLS_KEY", "/k.pem");
	bad("PROMSHIM_TLS_CERT", "/none.pem", "PROMSHIM_TLS_CERT: cannot read /none.pem: No such file or directory");
}

/* The first problem in the order of SPEC 3's table is reported, and nothing
 * allocated before it leaks. */
Test(config, everything_at_once)
{
	file("/r", "/users/{id}\n", 0644);
	file("/a", "bearer " TOKEN "\n", 0600);
	file("/c.pem", CERT, 0644);
	file("/k.pem", KEY, 0600);
	env("PROMSHIM_LISTEN", "[::1]:9100");
	env("PROMSHIM_ROUTES", "@/r");
	env("PROMSHIM_EXCLUDE", "/healthz");
	env("PROMSHIM_HEURISTIC", "off");
	env("PROMSHIM_COLLAPSE_AFTER", "50");
	env("PROMSHIM_MAX_SERIES", "500");
	env("PROMSHIM_BUCKETS", ".1,1");
	env("PROMSHIM_LABELS", "service=api");
	env("PROMSHIM_PORTS", "8080");
	env("PROMSHIM_NAMING", "otel");
	env("PROMSHIM_AUTH_FILE", "/a");
	env("PROMSHIM_TLS_CERT", "/c.pem");
	env("PROMSHIM_TLS_KEY", "/k.pem");
	env("PROMSHIM_LOG", "debug");
	load_ok();
	cr_assert_eq(cfg.listen.ss_family, AF_INET6);
	cr_assert_not_null(cfg.routes);
	cr_assert_not_null(cfg.exclude);
	cr_assert_eq(cfg.heuristic, 0);
	cr_assert_eq(cfg.collapse_after, 50);
	cr_assert_eq(cfg.reg.max_series, 500);
	cr_assert_eq(cfg.reg.n_buckets, 2);
	cr_assert_eq(cfg.n_labels, 1);
	cr_assert_eq(cfg.n_ports, 1);
	cr_assert_eq(cfg.naming, CFG_NAMING_OTEL);
	cr_assert_eq(cfg.n_auth, 1);
	cr_assert_not_null(cfg.tls_cert);
	cr_assert_not_null(cfg.tls_key);
	cr_assert_eq(cfg.log, CFG_LOG_DEBUG);
	cfg_free(&cfg);

	env("PROMSHIM_TLS_KEY", "/missing.pem");
	load_err("PROMSHIM_TLS_KEY: cannot read /missing.pem: No such file or directory");
}

Test(config, free_is_idempotent)
{
	env("PROMSHIM_LABELS", "a=b");
	load_ok();
	cfg_free(&cfg);
	cfg_free(&cfg);
	cr_assert_eq(cfg.n_labels, 0);
}
