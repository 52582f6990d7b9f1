/* shim/shim.h — what the parts of the shim share: the process-wide state
 * set up by the constructor (shim/init.c), the calls between the hooks
 * (shim/hooks*.c, shim/conn.c, shim/fdtable.c) and the exporter side
 * (shim/family.c, shim/exporter.c), and logging.
 *
 * Nothing here is exported from the shared object: every symbol in shim/ is
 * hidden unless it is a hooked libc entry point listed in shim/exports.map.
 */
#ifndef PROMSHIM_SHIM_H
#define PROMSHIM_SHIM_H

#include <linux/futex.h>
#include <stdint.h>
#include <sys/types.h>

#include "config.h"
#include "registry.h"
#include "route.h"

/* The shim's own fds live at or above this number (F_DUPFD_CLOEXEC). */
#define SHIM_FD_FLOOR 900

struct shim_state {
	int enabled;              /* 1 once the constructor finished with a valid config */
	struct ps_config cfg;
	struct reg *reg;          /* family-wide, in MAP_SHARED memory */
	struct route_ctx routes;  /* seen-table in MAP_SHARED memory */
	int member_slot;          /* this process's reg member slot (-1: spill) */
	pid_t pid;                /* this process (updated in the atfork child) */
	char prog[64];            /* program name (otel service_name) */
};

extern struct shim_state shim;

/* shim/init.c: the constructor calls these in this order:
 * shim_real_init, config, registry, shim_fd_init, shim_family_init. */

/* shim/family.c: map the family's shared area (serving mutex), register
 * the fork handlers, and serve at once when a listening socket was
 * inherited across exec. start_boot_us: this process's start time since
 * boot. Returns 0, or -1 (nothing will be served). */
int shim_family_init(uint64_t start_boot_us);

/* shim/family.c: the destructor's part: this member leaves the registry
 * with its final CPU time. Never stops the exporter. */
void shim_family_exit(void);

/* shim/family.c: a member started holding a listening TCP socket (its own
 * listen() succeeded, or one was inherited across exec): the family must
 * serve /metrics. Cheap after the first call. */
void shim_family_listening(void);

/* shim/family.c: the host binds addr (from the bind hook, before the real
 * bind): when it is the metrics address, the exporter gives it up. */
void shim_family_host_binds(const struct sockaddr *addr, socklen_t len);

/* shim/family.c: nonzero when fd belongs to the exporter (its listening
 * socket, wake-up fd and scrape sockets, all >= SHIM_FD_FLOOR unless the fd
 * limit is lower). Never track such an fd. Lock-free; one compare for the
 * host's low fds. */
int shim_family_owns_fd(int fd);

/* Below this fd the exporter owns nothing (shim/exporter.c keeps it): the
 * hooks compare against it before calling shim_family_owns_fd. */
extern __attribute__((visibility("hidden"))) int shim_family_fd_floor;

/* shim/family.c: the host is about to close fds lo..hi (close, close_range,
 * closefrom, or dup2/dup3 onto hi == lo). Call it from those hooks BEFORE
 * the real call: for one fd when shim_family_owns_fd(fd), for a range
 * always (one compare when no owned fd is in it). Then do the real call as
 * asked: the host's close is never refused or faked. The exporter
 * forgets those fds and opens new ones (same port) within a second. */
void shim_family_fds_closing(unsigned lo, unsigned hi);

/* shim/family.c: a member starts its serving-or-standby thread lazily
 * (never in the atfork child handler), or watches its parent instead of
 * starting one (see the top of shim/family.c). The hooks call
 * shim_family_check before the real call: SHIM_CHECK_ACCEPT from
 * accept/accept4, SHIM_CHECK_WAIT from the waits that can be cut into
 * slices (epoll_wait, poll, ppoll and their kin), SHIM_CHECK_BLOCK from
 * the other calls a process sleeps in (select, pselect, sigsuspend,
 * waitpid, nanosleep... : shim/hooks_idle.c), SHIM_CHECK_FD from close
 * and dup2/dup3 (a daemon noticed there starts at its next wait). One
 * load and branch while nothing is pending, one more while watching.
 * errno is kept. */
enum { SHIM_CHECK_FD, SHIM_CHECK_ACCEPT, SHIM_CHECK_WAIT, SHIM_CHECK_BLOCK };
extern int shim_family_pending;
extern const int *shim_family_watch;
extern int shim_family_watch_lfd;
void shim_family_check_slow(int why, int lfd);
void shim_family_watch_slow(int why, int lfd);

/* While a process watches its parent or waits for its parent's thread to
 * start, a wait longer than this is cut into slices this long, with a
 * look at the parent between them: a dead parent is noticed within a
 * slice, with no traffic, and the 2 s failover of SPEC 6 holds. */
#define SHIM_WATCH_MS 500

static inline int shim_family_watching(void)
{
	return __atomic_load_n(&shim_family_watch, __ATOMIC_RELAXED) != 0;
}

/* Whether a long wait must be cut into slices. */
static inline int shim_family_slicing(void)
{
	return __atomic_load_n(&shim_family_pending, __ATOMIC_RELAXED) |
	       (__atomic_load_n(&shim_family_watch, __ATOMIC_RELAXED) != 0);
}

/* Watching a parent that lives, with nothing pending: the state of a
 * thread-free worker, in which shim_family_check(SHIM_CHECK_WAIT) has
 * nothing to do and long waits are sliced. */
static inline int shim_family_watch_quiet(void)
{
	const int *w = __atomic_load_n(&shim_family_watch, __ATOMIC_RELAXED);
	return !__atomic_load_n(&shim_family_pending, __ATOMIC_RELAXED) && w &&
	       (__atomic_load_n(w, __ATOMIC_RELAXED) & FUTEX_TID_MASK);
}

static inline void shim_family_check(int why, int lfd)
{
	if (__builtin_expect(__atomic_load_n(&shim_family_pending, __ATOMIC_RELAXED), 0)) {
		shim_family_check_slow(why, lfd);
		return;
	}
	const int *w = __atomic_load_n(&shim_family_watch, __ATOMIC_RELAXED);
	if (__builtin_expect(w != 0, 0) &&
	    (why == SHIM_CHECK_BLOCK || !(__atomic_load_n(w, __ATOMIC_RELAXED) & FUTEX_TID_MASK) ||
	     (why == SHIM_CHECK_ACCEPT && lfd != shim_family_watch_lfd)))
		shim_family_watch_slow(why, lfd);
}

/* shim/family.c: fd was just made by an epoll_create/epoll_create1 hook.
 * Called from the exporter's serving thread while it starts
 * libmicrohttpd, it returns the fd moved to the shim's high numbers and
 * owned by the exporter (or -1 with errno EMFILE, fd closed); from any
 * other thread, fd itself. errno is kept on success. */
int shim_family_fd_created(int fd);

/* Logging to stderr, "promshim[pid]: " prefixed, never from a hook's fast
 * path. level is enum cfg_log. */
void shim_log(int level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* shim/log.c: lines above this level (enum cfg_log) are dropped; warn until
 * the configuration is read. */
extern int shim_log_level;

#endif
