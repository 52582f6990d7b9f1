/* tests/core/test_registry.h — helpers shared by the registry tests. */
#ifndef PROMSHIM_TESTS_REGISTRY_H
#define PROMSHIM_TESTS_REGISTRY_H

#include <stddef.h>
#include <stdint.h>

#include "registry.h"

/* A registry with the default buckets in a fresh shared anonymous mapping. */
struct reg *treg_new(unsigned max_series, size_t *size_out);

/* NULL when the snapshot is internally consistent, else what is wrong. */
const char *treg_check(const struct reg_snapshot *s);

/* Sum of all series counts. */
uint64_t treg_total(const struct reg_snapshot *s);

/* The series with these labels, or NULL. */
const struct reg_snap_series *treg_find(const struct reg_snapshot *s, unsigned m, const char *route,
					unsigned status);

#endif
