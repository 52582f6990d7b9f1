/* core/registry.h — the family-wide metric registry in shared memory.
 *
 * The caller maps one zeroed region (an anonymous MAP_SHARED mapping made
 * before any fork, reg_size() bytes) and calls reg_init() on it once; every
 * process of the family then records into it. Recording (reg_observe,
 * reg_abort, reg_add, gauges) and creating series or routes are lock-free:
 * atomic counters, compare-and-swap claims in open-addressed tables, no
 * allocation, no formatting, never a wait on another process, even one that
 * is stopped or was killed half-way through a store.
 *
 * Series are keyed by (method, route id, status code). Route labels are
 * interned once by reg_route() into route ids. At most cfg.max_series
 * regular series exist; past the cap an observation is recorded under route
 * _OTHER with its method and status (at most REG_OVERFLOW_SERIES of those),
 * past that under one all-_OTHER series; promshim_series_overflow_total
 * counts them. Nothing is ever dropped.
 *
 * Readers (the exporter) take a snapshot with reg_snapshot_take(): each
 * histogram in it is consistent (cumulative buckets, monotonic, last finite
 * bucket <= count, count used for the counter, _count and +Inf alike).
 *
 * Conventions the renderer relies on:
 * - The all-_OTHER overflow series is method TRK_M_OTHER (0), route
 *   REG_ROUTE_OTHER, status 0; status 0 renders as "_OTHER". reg_observe
 *   stores a status above 999 as 0 too, and a method at or above TRK_M_COUNT
 *   as TRK_M_OTHER, so no two series ever render alike.
 * - An observation given route REG_ROUTE_OTHER (the route table was full)
 *   goes straight to the overflow area and counts as overflow.
 * - Durations are compared in integer nanoseconds: a duration equal to a
 *   bound lands in that bucket (le means <=). Sums of durations are kept in
 *   microseconds, each duration rounded to the nearest microsecond.
 * - Body-size bounds are 100 B, 1 kB, 10 kB, 100 kB, 1 MB, 10 MB, 100 MB
 *   (decimal decades: request bodies are mostly tiny, responses span pages
 *   to downloads), plus +Inf.
 * - Route interning claims a slot with a BUSY word holding the label's 63-bit
 *   hash, copies the label, then publishes it. A lookup meeting a BUSY slot
 *   with the same hash takes that slot's id without waiting: probing on
 *   would intern the label twice (two series rendering alike), while a
 *   63-bit collision between labels of one family is vanishingly unlikely.
 *   A slot left BUSY by a process killed mid-copy renders as "_OTHER"; the
 *   snapshot merges series whose labels render alike, so the output never
 *   holds a duplicate.
 * - The route table admits max_series + max_series/8 + 64 labels (a label
 *   may serve several series; the rest is room for labels whose series went
 *   to the overflow area); then reg_route returns REG_ROUTE_OTHER. The
 *   reserved labels ("_OTHER", "_INVALID", "*", "_CONNECT") always map to
 *   their reserved ids.
 * - Aborted requests have their own table of max_series (method, route)
 *   entries and their own overflow area; the all-_OTHER aborted entry is
 *   method TRK_M_OTHER, route REG_ROUTE_OTHER. snapshot.overflow counts both
 *   kinds of observation recorded under _OTHER.
 * - Memory: about 270 bytes a route slot and 8 + (32 + 8 * (n_buckets + 14),
 *   rounded to 64) bytes a series slot, both tables sized to a power of two
 *   at least twice their cap; 3.5 MB for the defaults, touched sparsely.
 * - The family's start time is the earliest non-zero start time any member
 *   reported (reg_member_join or reg_member_set_figures), kept after that
 *   member is gone.
 * - The series cap is enforced with a shared reservation counter taken
 *   before a slot is claimed. A process killed between the two leaks one
 *   reservation (one series less for the family's life); two processes
 *   racing to create the same label set at the cap may briefly send one
 *   observation to the overflow area. Both are bounded and lose nothing.
 */
#ifndef PROMSHIM_CORE_REGISTRY_H
#define PROMSHIM_CORE_REGISTRY_H

#include <stddef.h>
#include <stdint.h>

#define REG_MAX_BUCKETS 32     /* duration buckets, +Inf not included */
#define REG_SIZE_BUCKETS 7     /* body-size buckets, +Inf not included (8 in all) */
#define REG_OVERFLOW_SERIES 64 /* reserved (method, _OTHER, status) series */
#define REG_MAX_MEMBERS 1024   /* process slots for per-process gauges */
#define REG_ROUTE_MAX 256      /* bytes of a route label */

/* Upper bounds of the body-size buckets, in bytes (documented in README). */
extern const uint64_t reg_size_bounds[REG_SIZE_BUCKETS];

/* Reserved route ids. */
enum reg_route_id {
	REG_ROUTE_OTHER = 0,   /* "_OTHER" */
	REG_ROUTE_INVALID = 1, /* "_INVALID" */
	REG_ROUTE_ASTERISK = 2,/* "*" */
	REG_ROUTE_CONNECT = 3, /* "_CONNECT" */
	REG_ROUTE_FIRST = 4
};

struct reg_config {
	unsigned max_series;            /* regular series cap (PROMSHIM_MAX_SERIES) */
	unsigned n_buckets;             /* duration buckets, 1..REG_MAX_BUCKETS */
	double bucket_s[REG_MAX_BUCKETS]; /* upper bounds in seconds, increasing */
};

/* Family-wide counters (reg_add). */
enum reg_counter {
	REG_C_PARSE_ERRORS = 0,
	REG_C_UNSUPPORTED_TLS,
	REG_C_UNSUPPORTED_H2C,
	REG_C_UNSUPPORTED_OTHER,
	REG_C_SCRAPES,
	REG_C_AUTH_FAILURES,
	REG_C_CONN_ACCEPTED,
	REG_C_COUNT
};

/* Per-process gauges and figures, one slot per live member. The shim owns
 * the process figures and refreshes them before a snapshot. */
struct reg_member_figures {
	uint64_t cpu_us;        /* user+system CPU of the process */
	uint64_t rss_bytes;
	uint64_t vsz_bytes;
	uint64_t open_fds;
	uint64_t max_fds;
	uint64_t start_time_us; /* since the Unix epoch */
};

struct reg;

/* Bytes of shared memory a registry with this configuration needs. */
size_t reg_size(const struct reg_config *cfg);

/* Lay out a registry in mem (size bytes, zeroed, shared). Returns NULL when
 * size is too small or cfg is invalid. Call once, before any fork. */
struct reg *reg_init(void *mem, size_t size, const struct reg_config *cfg);

/* The configuration the registry was built with. */
const struct reg_config *reg_config(const struct reg *r);

/* Intern a route label (at most REG_ROUTE_MAX bytes, valid UTF-8 already)
 * and return its id; REG_ROUTE_OTHER when the route table is full. */
uint32_t reg_route(struct reg *r, const char *label, size_t len);

/* Label of a route id; *len receives its length. */
const char *reg_route_name(const struct reg *r, uint32_t route, size_t *len);

/* Record one completed exchange. method is enum trk_method. */
void reg_observe(struct reg *r, unsigned method, uint32_t route, unsigned status, uint64_t dur_ns,
		 uint64_t req_bytes, uint64_t resp_bytes);

/* Record one aborted request (http_requests_aborted_total). */
void reg_abort(struct reg *r, unsigned method, uint32_t route);

/* Add n to a family-wide counter. */
void reg_add(struct reg *r, enum reg_counter c, uint64_t n);

/* Claim a member slot for process pid; returns the slot index, or -1 when
 * every slot is taken (gauges then go to a shared spill slot that is never
 * dropped). Never blocks. */
int reg_member_join(struct reg *r, int pid, uint64_t start_time_us);

/* Gauges of the calling process's slot (slot from reg_member_join, or -1). */
void reg_member_inflight(struct reg *r, int slot, int64_t delta);
void reg_member_conns(struct reg *r, int slot, int64_t delta);

/* The in-flight gauge word of a slot, for a caller that adds to it on
 * every request (what reg_member_inflight adds to). */
_Atomic int64_t *reg_member_inflight_word(struct reg *r, int slot);

/* Store the process figures of a slot (the shim reads them from /proc). */
void reg_member_set_figures(struct reg *r, int slot, const struct reg_member_figures *f);

/* Pid of a slot's process, 0 when free. Lets the shim find dead members. */
int reg_member_pid(const struct reg *r, int slot);

/* Drop a member that exited or was found dead: its gauges stop counting,
 * its last CPU figure (final_cpu_us, or the stored one when larger) moves
 * to the family's exited-CPU total. Safe to call twice. Figures of
 * processes in the spill slot (-1) are not counted; leaving it is a no-op. */
void reg_member_leave(struct reg *r, int slot, uint64_t final_cpu_us);

/* Same as reg_member_leave, but only while the slot still belongs to pid:
 * use it to reap a dead member, so that a slot reclaimed meanwhile by a new
 * process is left alone. Returns 1 when the slot was dropped, else 0. */
int reg_member_drop(struct reg *r, int slot, int pid, uint64_t final_cpu_us);

/* ---- snapshots (exporter thread only; these allocate) ---- */

struct reg_snap_series {
	uint8_t method;  /* enum trk_method */
	uint16_t status;
	uint32_t route;
	const char *route_label; /* stays valid while the registry is mapped */
	size_t route_len;
	uint64_t count;
	uint64_t dur_cum[REG_MAX_BUCKETS];   /* cumulative, n_buckets used */
	uint64_t dur_sum_us;
	uint64_t req_cum[REG_SIZE_BUCKETS];  /* cumulative */
	uint64_t req_sum;
	uint64_t resp_cum[REG_SIZE_BUCKETS]; /* cumulative */
	uint64_t resp_sum;
};

struct reg_snap_abort {
	uint8_t method;
	uint32_t route;
	const char *route_label;
	size_t route_len;
	uint64_t count;
};

struct reg_snapshot {
	const struct reg *reg;
	size_t n_series;
	struct reg_snap_series *series; /* sorted by (route label, method, status) */
	size_t n_aborted;
	struct reg_snap_abort *aborted; /* sorted by (route label, method) */
	uint64_t counters[REG_C_COUNT];
	uint64_t overflow;              /* promshim_series_overflow_total: series + aborts under _OTHER */
	uint64_t overflow_aborted;      /* the aborts among them */
	uint64_t series_regular;        /* promshim_series */
	uint64_t aborted_regular;       /* regular (method, route) aborted series in use */
	int64_t in_flight;              /* sum over live members */
	int64_t conns_open;             /* sum over live members */
	uint64_t members;               /* promshim_family_processes */
	uint64_t cpu_us;                /* live members + exited members, never decreasing */
	uint64_t rss_bytes, vsz_bytes, open_fds, max_fds; /* sums over live members */
	uint64_t start_time_us;         /* first member's */
};

/* Take a consistent snapshot. Returns 0, or -1 when out of memory. */
int reg_snapshot_take(struct reg *r, struct reg_snapshot *s);
void reg_snapshot_free(struct reg_snapshot *s);

/* The sorted order of the series of a previous snapshot, kept by the caller
 * (process-private, zero to start). While the same series with the same
 * labels come out of the registry, the next snapshot takes their order from
 * here instead of sorting them again. */
struct reg_snap_order {
	size_t n, cap;
	uint64_t *key;       /* series in the order the registry yields them */
	const char **label; /* and their route labels */
	uint32_t *pos;       /* where the j-th series in sorted order came from */
};

/* reg_snapshot_take, reading and renewing o (NULL: sort). Same result. */
int reg_snapshot_take_ordered(struct reg *r, struct reg_snapshot *s, struct reg_snap_order *o);
void reg_snap_order_free(struct reg_snap_order *o);

#endif
