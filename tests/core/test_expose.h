/* tests/core/test_expose.h — fixtures and checkers shared by the expose
 * tests: hand-built snapshots, rendering to a string, promtool and
 * OpenMetrics validation, golden files. */
#ifndef PROMSHIM_TESTS_TEST_EXPOSE_H
#define PROMSHIM_TESTS_TEST_EXPOSE_H

#include <stddef.h>
#include <stdint.h>

#include "config.h"
#include "expose.h"
#include "registry.h"

#define FIX_MAX_SERIES 4096
#define FIX_MAX_ABORTED 64

struct snap_fixture {
	struct reg_snapshot snap;
	struct reg_snap_series *ser;
	struct reg_snap_abort *ab;
	struct reg_config cfg;
	struct cfg_label labels[4];
	struct expo_opts opts;
};

/* Body-size bounds the fixtures use (independent of the registry's). */
extern const uint64_t fix_size_bounds[REG_SIZE_BUCKETS];

/* An empty snapshot with the default buckets and no constant labels. */
void fixture_minimal(struct snap_fixture *f);
/* The golden snapshot: several series incl. reserved routes and the
 * all-_OTHER series, aborted entries, every counter and gauge set, two
 * constant labels. */
void fixture_full(struct snap_fixture *f);
/* Add a series with count requests spread over the buckets. */
struct reg_snap_series *fixture_add(struct snap_fixture *f, unsigned method, const char *route, size_t len,
				    unsigned status, uint64_t count);
void fixture_free(struct snap_fixture *f);

/* Render with f->opts and the given format and naming; malloc'd and
 * NUL-terminated. Fails the test on a render error. */
char *render_text(struct snap_fixture *f, enum expo_format fmt, enum cfg_naming naming);

/* Run `promtool check metrics` on text; returns its exit status and puts
 * what it printed in msg. */
int promtool_check(const char *text, char *msg, size_t msglen);
/* Parse text with the prometheus_client OpenMetrics parser; returns the
 * exit status, what it printed goes to msg. */
int openmetrics_check(const char *text, char *msg, size_t msglen);
/* Structural checks every output must pass: HELP and TYPE for each family
 * before its samples, families contiguous, no duplicate series, final
 * newline, `# EOF` last for OpenMetrics. Returns NULL or a reason. */
const char *structure_check(const char *text, int om);

/* Compare text with tests/core/golden/NAME (or rewrite it when
 * PROMSHIM_UPDATE_GOLDEN=1). */
void golden_check(const char *name, const char *text);

#endif
