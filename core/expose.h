/* core/expose.h — rendering a registry snapshot as Prometheus text 0.0.4 or
 * OpenMetrics 1.0.0, content negotiation, and gzip.
 *
 * Every family is rendered from one reg_snapshot. Names, types and help texts
 * of all families sit in one table in core/metrics_table.c. Output goes into
 * one growing buffer (struct expo_buf, malloc'd; exporter thread only).
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
};

/* Render the snapshot. Returns 0, or -1 when out of memory. */
int expo_render(const struct reg_snapshot *s, const struct expo_opts *o, struct expo_buf *out);

/* Choose the format from an Accept header (NULL: text). Honours q-values,
 * wildcards and the header a real Prometheus sends. */
enum expo_format expo_negotiate(const char *accept);

/* Content-Type header value for a format. */
const char *expo_content_type(enum expo_format f);

/* Nonzero when an Accept-Encoding header (NULL: none) allows gzip. */
int expo_accepts_gzip(const char *accept_encoding);

/* gzip in[0..len) into out. Returns 0, or -1 on failure. */
int expo_gzip(const char *in, size_t len, struct expo_buf *out);

#endif
