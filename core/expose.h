/* core/expose.h — rendering a registry snapshot as Prometheus text 0.0.4 or
 * OpenMetrics 1.0.0, content negotiation, and gzip.
 *
 * Every family is rendered from one reg_snapshot. Names, types and help texts
 * of all families sit in one table in core/metrics_table.c. Output goes into
 * one growing buffer (struct expo_buf, malloc'd; exporter thread only).
 *
 * Numbers are written as the official Go client writes them
 * (strconv.FormatFloat(v, 'g', -1, 64): 0.005, 2.5, 1e+06, +Inf), except
 * that integer values (counts, bytes, gauges) up to 2^53 are written as
 * plain integers. OpenMetrics `le` values are canonical floats (1.0, 0.005).
 * Constant labels (PROMSHIM_LABELS) come first on every http_* family; under
 * otel naming those families also carry service_name (unless a constant
 * label of that name is set) and the request families url_scheme="http".
 * Under otel naming http_requests_total is not rendered (the conventions
 * have no request counter; http_server_request_duration_seconds_count is
 * the same number) and http_requests_aborted_total keeps its name but takes
 * the otel label names (http_request_method, http_route), so it joins with
 * the histograms. A constant label whose name clashes with a label promshim
 * sets on that family, or that is not a valid label name, is left out.
 * OpenMetrics: counters are typed without _total, promshim_build_info is an
 * info family, seconds and bytes families carry # UNIT, `# EOF` ends it.
 * A status code of 0 is the all-_OTHER overflow series: status_code="_OTHER".
 * Label values are escaped and invalid UTF-8 bytes become U+FFFD, whatever
 * the snapshot holds, so the output always parses.
 */
#ifndef PROMSHIM_CORE_EXPOSE_H
#define PROMSHIM_CORE_EXPOSE_H

#include <stddef.h>
#include <stdint.h>

#include "config.h"
#include "registry.h"

enum expo_format { EXPO_TEXT = 0, EXPO_OPENMETRICS };

struct expo_buf {
	char *data;
	size_t len;
	size_t cap;
	int oom; /* set when a growth failed; the content is then incomplete */
};

void expo_buf_reset(struct expo_buf *b);
void expo_buf_free(struct expo_buf *b);

struct expo_opts {
	enum expo_format format;
	enum cfg_naming naming;
	unsigned n_labels;                /* constant labels, rendered first */
	const struct cfg_label *labels;
	const char *service_name;         /* otel: program name unless labels set service_name */
	const char *version;              /* promshim_build_info{version} */
	/* Duration bucket bounds and series limit; NULL: reg_config(s->reg).
	 * Lets a snapshot be rendered without a live registry (tests). */
	const struct reg_config *reg_cfg;
	/* Body-size bucket bounds (REG_SIZE_BUCKETS); NULL: reg_size_bounds. */
	const uint64_t *size_bounds;
};

/* Render the snapshot into out, replacing its content (its memory is
 * reused). Returns 0, or -1 when out of memory (out->oom set) or when no
 * configuration is at hand (o->reg_cfg and s->reg both NULL). */
int expo_render(const struct reg_snapshot *s, const struct expo_opts *o, struct expo_buf *out);

/* Choose the format from an Accept header (NULL: text). Honours q-values,
 * wildcards and the header a real Prometheus sends. */
enum expo_format expo_negotiate(const char *accept);

/* Content-Type header value for a format. */
const char *expo_content_type(enum expo_format f);

/* Nonzero when an Accept-Encoding header (NULL: none) allows gzip. */
int expo_accepts_gzip(const char *accept_encoding);

/* gzip in[0..len) into out, replacing its content. Returns 0, or -1 on
 * failure. */
int expo_gzip(const char *in, size_t len, struct expo_buf *out);

/* gzip level expo_gzip uses (chosen by bench/bench_expose.c). */
#define EXPO_GZIP_LEVEL 1

/* Format v as Go's strconv.FormatFloat(v, 'g', -1, 64) does, into dst (at
 * least EXPO_NUM_MAX bytes, NUL-terminated). With canonical set, the form
 * OpenMetrics wants for `le`: a decimal point or exponent always (1.0).
 * Returns the length. */
#define EXPO_NUM_MAX 32
size_t expo_fmt_float(char *dst, double v, int canonical);

/* Format a count: the integer itself up to 2^53, Go's float form above. */
size_t expo_fmt_uint(char *dst, uint64_t v);

#endif
