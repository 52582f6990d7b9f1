/* core/metrics_table.h — the one table of promshim's metric families: name in
 * both namings, type, unit, labels and help text (SPEC 4). The renderer in
 * core/expose.c walks it in order; nothing else names a metric.
 */
#ifndef PROMSHIM_CORE_METRICS_TABLE_H
#define PROMSHIM_CORE_METRICS_TABLE_H

#include "config.h"

enum mt_type { MT_COUNTER = 0, MT_GAUGE, MT_HISTOGRAM, MT_INFO };

/* Which value of the snapshot a family shows; also its index in mt_families. */
enum mt_id {
	MT_HTTP_REQUESTS = 0,
	MT_HTTP_DURATION,
	MT_HTTP_REQ_SIZE,
	MT_HTTP_RESP_SIZE,
	MT_HTTP_IN_FLIGHT,
	MT_HTTP_ABORTED,
	MT_HTTP_CONN_ACCEPTED,
	MT_HTTP_CONN_OPEN,
	MT_PROC_CPU,
	MT_PROC_RSS,
	MT_PROC_VSZ,
	MT_PROC_OPEN_FDS,
	MT_PROC_MAX_FDS,
	MT_PROC_START,
	MT_BUILD_INFO,
	MT_FAMILY_PROCESSES,
	MT_SERIES,
	MT_SERIES_LIMIT,
	MT_SERIES_OVERFLOW,
	MT_PARSE_ERRORS,
	MT_UNSUPPORTED,
	MT_SCRAPES,
	MT_AUTH_FAILURES,
	MT_COUNT
};

/* Label sets a family's series carry (besides the constant ones). */
enum mt_labels {
	MT_L_NONE = 0,
	MT_L_EXCHANGE, /* method, route, status_code (otel: http_request_method, http_route, http_response_status_code) */
	MT_L_ABORT,    /* method, route (otel: http_request_method, http_route) */
	MT_L_VERSION,  /* version */
	MT_L_REASON    /* reason: tls, h2c, other */
};

/* Flags of a family. */
#define MT_F_CONST  0x1u /* constant labels (PROMSHIM_LABELS) first; otel: service_name too */
#define MT_F_SCHEME 0x2u /* otel: url_scheme="http" */

struct mt_family {
	enum mt_id id;
	/* Default naming, as sampled in text 0.0.4 (counters end in _total). */
	const char *name;
	/* PROMSHIM_NAMING=otel; NULL: the family is not exposed in that naming. */
	const char *otel_name;
	enum mt_type type;
	const char *unit; /* OpenMetrics UNIT (a suffix of the name), or NULL */
	enum mt_labels labels;
	unsigned flags;
	const char *help;
};

extern const struct mt_family mt_families[MT_COUNT];

/* The family's name in a naming, NULL when it is not exposed there. */
const char *mt_name(const struct mt_family *f, enum cfg_naming naming);

#endif
