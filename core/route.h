/* core/route.h — turning request paths into route labels.
 *
 * Three layers, applied in order to the path (query string already gone):
 *  1. PROMSHIM_EXCLUDE templates: a match means "do not record".
 *  2. PROMSHIM_ROUTES templates: `{name}` matches one segment, `*` one
 *     unnamed segment, a trailing `**` the rest; the first match's template
 *     text is the label.
 *  3. The heuristic (PROMSHIM_HEURISTIC=on): ID-like segments become `{id}`
 *     and a position that has seen more than collapse_after distinct literal
 *     segments under the same parent becomes `*` (table shared by the
 *     family, bounded, lock-free).
 * Otherwise the path as sent. Every label is valid UTF-8 (invalid bytes
 * become U+FFFD) and at most ROUTE_LABEL_MAX bytes (longer ones are cut and
 * end in "...").
 *
 * Matching rules: segments are the '/'-separated pieces after the leading
 * '/', compared byte for byte (case-sensitive, no percent-decoding). `{name}`
 * and `*` need a non-empty segment; `**` matches zero or more segments, so
 * `**` after `/static` matches `/static`, `/static/` and `/static/a/b`. A path that
 * does not start with '/' is read as if it did and an empty path is "/", so
 * every label starts with '/' and never equals a reserved route (`*`,
 * `_CONNECT`, `_INVALID`, `_OTHER`). A path the tracker truncated matches
 * only through a `**` covering its cut segment; otherwise its cut segment
 * becomes "..." (heuristic on) or the label ends in "..." (off).
 *
 * Template sets are compiled once (in the constructor; this allocates);
 * resolving a path is one pass over its segments, no backtracking, no
 * allocation, no lock, no system call.
 */
#ifndef PROMSHIM_CORE_ROUTE_H
#define PROMSHIM_CORE_ROUTE_H

#include <stddef.h>
#include <stdint.h>

#define ROUTE_LABEL_MAX 256
/* At most this many templates per set (the matcher keeps a bitset of
 * templates still matching on the stack). */
#define ROUTE_MAX_TEMPLATES 1024
/* Default size of the seen-segment table: 16 bytes a slot, 256 KiB. */
#define ROUTE_SEEN_DEFAULT_SLOTS 16384

struct route_set;  /* compiled templates, immutable once built */
struct route_seen; /* shared table of literal segments seen per position */

/* Compile templates from text: separated by commas or newlines, blanks
 * around each trimmed; blank lines and lines starting with '#' are ignored.
 * On error returns -1 and writes one line such as
 * "template '/users/{id': unbalanced '{'" into err (the caller prefixes the
 * variable). *out is NULL for an empty text. A template starts with '/', is
 * at most ROUTE_LABEL_MAX bytes, and holds only RFC 3986 path characters
 * and %XX escapes besides whole-segment `{name}`, `*` and a final `**`. */
int route_set_parse(struct route_set **out, const char *text, size_t len, char *err, size_t errlen);
void route_set_free(struct route_set *rs);

/* Bytes of shared memory a seen-segment table of `slots` entries needs
 * (slots is rounded up to a power of two, at least 16, at most 2^24; 0 means
 * ROUTE_SEEN_DEFAULT_SLOTS). */
size_t route_seen_size(unsigned slots);
/* Lay out the table in zeroed shared memory before any fork. Returns NULL
 * when mem is NULL or size is smaller than route_seen_size(slots). The table
 * is lock-free: any member may be stopped or killed mid-update without
 * blocking the others. */
struct route_seen *route_seen_init(void *mem, size_t size, unsigned slots, unsigned collapse_after);

struct route_ctx {
	const struct route_set *routes;  /* may be NULL */
	const struct route_set *exclude; /* may be NULL */
	int heuristic;                   /* PROMSHIM_HEURISTIC */
	struct route_seen *seen;         /* may be NULL: no collapsing */
};

/* Resolve path[0..len) into a label written to out (cap >= ROUTE_LABEL_MAX,
 * not NUL-terminated). Returns the label length, or -1 when the path is
 * excluded. truncated says the path was already cut by the tracker. */
int route_resolve(const struct route_ctx *rc, const char *path, size_t len, int truncated, char *out,
		  size_t cap);

/* route_resolve, also saying how the label came about in *how: ROUTE_COLLAPSED
 * when a segment became `*` because its position was full. That verdict is
 * not final: a member racing on the same new segment may have taken the last
 * place for it a moment before, and the segment then keeps its text from the
 * next resolution on (a cache of labels should not keep such a one). */
int route_resolve_how(const struct route_ctx *rc, const char *path, size_t len, int truncated, char *out,
		      size_t cap, unsigned *how);
#define ROUTE_COLLAPSED 0x1u

/* Nonzero when the heuristic turns segment s[0..n) into `{id}` (README:
 * "Route heuristic" gives the exact rule). */
int route_segment_is_id(const char *s, size_t n);

/* Make bytes a valid label: invalid UTF-8 replaced by U+FFFD, cut to
 * ROUTE_LABEL_MAX with a trailing "...". Returns the length written. */
size_t route_label_clean(const char *in, size_t len, int truncated, char *out, size_t cap);

#endif
