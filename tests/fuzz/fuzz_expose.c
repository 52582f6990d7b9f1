/* tests/fuzz/fuzz_expose.c — libFuzzer target for core/expose.c: Accept and
 * Accept-Encoding negotiation on arbitrary header bytes, and rendering of
 * arbitrary route and constant-label bytes, whose output must always be
 * well-formed exposition text.
 *
 * Input: Accept, a NUL byte, Accept-Encoding, a NUL byte, a constant label
 * value, a NUL byte, then route labels separated by newlines ('\n' inside a
 * route is written as the byte 0x01). The first byte picks format and
 * naming. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "expose.h"
#include "tracker.h"

/* Stand-in while core/tracker.c is not linked; the real one wins. */
__attribute__((weak)) const char *trk_method_name(unsigned m)
{
	return m == TRK_M_GET ? "GET" : "_OTHER";
}

static int fz_valid_utf8(const unsigned char *s, size_t n)
{
	for (size_t i = 0; i < n;) {
		unsigned c = s[i], lo = 0x80, hi = 0xBF;
		size_t need;
		if (c < 0x80) {
			if (c == 0)
				return 0;
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
		if (i + need >= n || s[i + 1] < lo || s[i + 1] > hi)
			return 0;
		for (size_t k = 2; k <= need; k++)
			if (s[i + k] < 0x80 || s[i + k] > 0xBF)
				return 0;
		i += need + 1;
	}
	return 1;
}

/* Each sample line: name, optional {label="escaped",...}, space, value. */
static int fz_line_ok(const char *p, const char *e)
{
	if (*p == '#')
		return 1;
	if (!((*p >= 'a' && *p <= 'z') || *p == '_'))
		return 0;
	while (p < e && *p != '{' && *p != ' ')
		p++;
	if (p < e && *p == '{') {
		p++;
		for (;;) {
			while (p < e && *p != '=')
				p++;
			if (p + 1 >= e || p[1] != '"')
				return 0;
			for (p += 2; p < e && *p != '"'; p++)
				if (*p == '\\') {
					if (p + 1 >= e || (p[1] != '\\' && p[1] != '"' && p[1] != 'n'))
						return 0;
					p++;
				}
			if (p >= e)
				return 0;
			p++;
			if (p < e && *p == ',')
				continue;
			if (p < e && *p == '}')
				break;
			return 0;
		}
		p++;
	}
	if (p >= e || *p != ' ')
		return 0;
	p++;
	if (p >= e)
		return 0;
	for (; p < e; p++)
		if (*p == ' ' || *p == '"' || *p == '{')
			return 0;
	return 1;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	unsigned mode = data[0];
	char *buf = malloc(size);
	if (!buf)
		return 0;
	memcpy(buf, data + 1, size - 1);
	buf[size - 1] = 0;
	const char *end = buf + size - 1;
	const char *accept = buf;
	const char *ae = accept + strlen(accept);
	ae = ae < end ? ae + 1 : end;
	const char *cval = ae + strlen(ae);
	cval = cval < end ? cval + 1 : end;
	const char *routes = cval + strlen(cval);
	routes = routes < end ? routes + 1 : end;

	enum expo_format f = expo_negotiate(accept);
	if (f != EXPO_TEXT && f != EXPO_OPENMETRICS)
		abort();
	int g = expo_accepts_gzip(ae);
	if (g != 0 && g != 1)
		abort();

	struct reg_snap_series ser[64];
	size_t n = 0;
	for (const char *p = routes; p < end && n < 64;) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		size_t len = nl ? (size_t)(nl - p) : (size_t)(end - p);
		for (size_t i = 0; i < len; i++)
			if (p[i] == 1)
				((char *)p)[i] = '\n';
		memset(&ser[n], 0, sizeof ser[n]);
		ser[n].method = (uint8_t)(n % 12);
		ser[n].status = (uint16_t)(n * 97);
		ser[n].route = 4 + (uint32_t)n;
		ser[n].route_label = p;
		ser[n].route_len = len;
		ser[n].count = n;
		n++;
		p += len + 1;
	}
	struct reg_config cfg = {.max_series = 10, .n_buckets = 2, .bucket_s = {0.5, 1}};
	struct cfg_label lab[2] = {{"service", (char *)cval}, {(char *)cval, "x"}};
	static const uint64_t sb[REG_SIZE_BUCKETS] = {1, 2, 3, 4, 5, 6, 7};
	struct reg_snapshot s = {.n_series = n, .series = ser};
	struct expo_opts o = {.format = (mode & 1) ? EXPO_OPENMETRICS : EXPO_TEXT,
			      .naming = (mode & 2) ? CFG_NAMING_OTEL : CFG_NAMING_PROMETHEUS,
			      .n_labels = 2,
			      .labels = lab,
			      .service_name = cval,
			      .version = cval,
			      .reg_cfg = &cfg,
			      .size_bounds = sb};
	struct expo_buf out = {0};
	if (expo_render(&s, &o, &out) != 0)
		abort();
	if (!out.len || out.data[out.len - 1] != '\n' || !fz_valid_utf8((unsigned char *)out.data, out.len))
		abort();
	for (const char *p = out.data, *e; p < out.data + out.len; p = e + 1) {
		e = memchr(p, '\n', (size_t)(out.data + out.len - p));
		if (!fz_line_ok(p, e))
			abort();
	}
	struct expo_buf z = {0};
	if (expo_gzip(out.data, out.len, &z) != 0)
		abort();
	expo_buf_free(&z);
	expo_buf_free(&out);
	free(buf);
	return 0;
}
