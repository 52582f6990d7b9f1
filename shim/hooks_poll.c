/* shim/hooks_poll.c — owns the hooked event waits (poll, ppoll, select,
 * pselect, epoll_wait, epoll_pwait, epoll_pwait2 and the fortified
 * __poll_chk, __ppoll_chk) and epoll_create/epoll_create1.
 *
 * A server blocks in one of the waits with no traffic; a forked member
 * that must start serving (glibc daemon() after listen(): fork, setsid and
 * _exit happen inside libc, no hook sees them) notices it here, before
 * the real call, and so does a process that watches its parent instead of
 * running a thread (shim/family.c): its long waits are cut into slices.
 * While nothing is pending and nobody is watched, one load and a branch.
 * The epoll_create hooks only move libmicrohttpd's epoll fd to the
 * exporter's high numbers; the host's calls are passed through.
 */
#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <sys/epoll.h>
#include <sys/select.h>
#include <time.h>

#include "real.h"
#include "shim.h"

#define EXPORT __attribute__((visibility("default")))
#define UNLIKELY(x) __builtin_expect(!!(x), 0)

int __poll_chk(struct pollfd *fds, nfds_t n, int ms, size_t fdslen);
int __ppoll_chk(struct pollfd *fds, nfds_t n, const struct timespec *t, const sigset_t *ss,
		size_t fdslen);

/* ---- sliced waits ----
 * While this process watches its parent, or waits for its parent's thread
 * to start (shim/family.c), a wait longer than SHIM_WATCH_MS is made of
 * slices of at most that long, with a look at the parent after each slice
 * that times out. The host sees the wait it asked for: it ends early only
 * with events, an error or a signal, as it would have, and with a timeout
 * only once its time is up. The first slice reads no clock (a busy
 * server's waits end with events): when it times out, at least
 * SHIM_WATCH_MS have gone, so the wait may run late by one slice's timer
 * slack at most. */

#define HK_SLICE_NS ((int64_t)SHIM_WATCH_MS * 1000000)

enum hk_kind { HK_POLL, HK_POLL_CHK, HK_PPOLL, HK_PPOLL_CHK, HK_EPOLL, HK_EPOLL_P, HK_EPOLL_P2 };

struct hk_wait {
	enum hk_kind kind;
	void *fds;               /* struct pollfd * or struct epoll_event * */
	unsigned long n;         /* nfds, or maxevents */
	const sigset_t *ss;
	size_t fdslen;
	int ep;
};

static inline int hk_ms(int64_t ns)
{
	if (ns < 0)
		return -1;
	int64_t ms = (ns + 999999) / 1000000;
	return ms > INT_MAX ? INT_MAX : (int)ms;
}

/* One real wait of ns (negative: no limit). */
static int hk_wait_once(const struct hk_wait *w, int64_t ns)
{
	struct timespec ts = {ns / 1000000000, ns % 1000000000}, *t = ns < 0 ? NULL : &ts;
	switch (w->kind) {
	case HK_POLL:
		return SHIM_REAL(poll)(w->fds, (nfds_t)w->n, hk_ms(ns));
	case HK_POLL_CHK:
		return SHIM_REAL(poll_chk)(w->fds, (nfds_t)w->n, hk_ms(ns), w->fdslen);
	case HK_PPOLL:
		return SHIM_REAL(ppoll)(w->fds, (nfds_t)w->n, t, w->ss);
	case HK_PPOLL_CHK:
		return SHIM_REAL(ppoll_chk)(w->fds, (nfds_t)w->n, t, w->ss, w->fdslen);
	case HK_EPOLL:
		return SHIM_REAL(epoll_wait)(w->ep, w->fds, (int)w->n, hk_ms(ns));
	case HK_EPOLL_P:
		return SHIM_REAL(epoll_pwait)(w->ep, w->fds, (int)w->n, hk_ms(ns), w->ss);
	case HK_EPOLL_P2:
		return SHIM_REAL(epoll_pwait2)(w->ep, w->fds, (int)w->n, t, w->ss);
	}
	return -1;
}

static int64_t hk_now_ns(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (int64_t)t.tv_sec * 1000000000 + t.tv_nsec;
}

/* The rest of a wait of total_ns (negative: no limit) whose first slice
 * timed out. */
static int hk_wait_rest(const struct hk_wait *w, int64_t total_ns)
{
	int64_t end = 0, slice;
	for (int clocked = 0;;) {
		shim_family_check(SHIM_CHECK_WAIT, -1);
		int64_t now = hk_now_ns();
		if (!clocked) {
			end = now - HK_SLICE_NS + total_ns;
			clocked = 1;
		}
		int64_t left = total_ns < 0 ? -1 : end - now;
		if (total_ns >= 0 && left <= 0)
			return 0;
		slice = !shim_family_slicing() || (left >= 0 && left < HK_SLICE_NS) ? left : HK_SLICE_NS;
		int r = hk_wait_once(w, slice);
		if (r != 0 || slice < 0)
			return r;
	}
}

/* Whether a wait of *t must be sliced (a bad timespec goes to the kernel
 * as it is); its length in ns, negative for no limit. */
static inline int hk_long_ts(const struct timespec *t, int64_t *ns)
{
	if (!shim_family_slicing())
		return 0;
	if (!t) {
		*ns = -1;
		return 1;
	}
	if (t->tv_sec < 0 || t->tv_nsec < 0 || t->tv_nsec >= 1000000000 ||
	    t->tv_sec > INT64_MAX / 1000000000 - 1)
		return 0;
	*ns = (int64_t)t->tv_sec * 1000000000 + t->tv_nsec;
	return *ns > HK_SLICE_NS;
}

/* The hooks: one load and a branch unless slicing; then the look at the
 * family, and a long wait starts with a plain slice. */

static __attribute__((noinline)) int hk_poll_sliced(struct pollfd *fds, nfds_t n, int ms)
{
	shim_family_check(SHIM_CHECK_WAIT, -1);
	if ((unsigned)ms <= SHIM_WATCH_MS || !shim_family_slicing())
		return SHIM_REAL(poll)(fds, n, ms);
	int r = SHIM_REAL(poll)(fds, n, SHIM_WATCH_MS);
	if (r != 0)
		return r;
	struct hk_wait w = {.kind = HK_POLL, .fds = fds, .n = n};
	return hk_wait_rest(&w, ms < 0 ? -1 : (int64_t)ms * 1000000);
}

EXPORT int poll(struct pollfd *fds, nfds_t n, int ms)
{
	if (UNLIKELY(shim_family_slicing()))
		return hk_poll_sliced(fds, n, ms);
	return SHIM_REAL(poll)(fds, n, ms);
}

static __attribute__((noinline)) int hk_poll_chk_sliced(struct pollfd *fds, nfds_t n, int ms,
							 size_t fdslen)
{
	shim_family_check(SHIM_CHECK_WAIT, -1);
	if ((unsigned)ms <= SHIM_WATCH_MS || !shim_family_slicing())
		return SHIM_REAL(poll_chk)(fds, n, ms, fdslen);
	int r = SHIM_REAL(poll_chk)(fds, n, SHIM_WATCH_MS, fdslen);
	if (r != 0)
		return r;
	struct hk_wait w = {.kind = HK_POLL_CHK, .fds = fds, .n = n, .fdslen = fdslen};
	return hk_wait_rest(&w, ms < 0 ? -1 : (int64_t)ms * 1000000);
}

EXPORT int __poll_chk(struct pollfd *fds, nfds_t n, int ms, size_t fdslen)
{
	if (UNLIKELY(shim_family_slicing()))
		return hk_poll_chk_sliced(fds, n, ms, fdslen);
	return SHIM_REAL(poll_chk)(fds, n, ms, fdslen);
}

static const struct timespec hk_slice_ts = {SHIM_WATCH_MS / 1000, (SHIM_WATCH_MS % 1000) * 1000000L};

static __attribute__((noinline)) int hk_ppoll_sliced(struct pollfd *fds, nfds_t n,
						      const struct timespec *t, const sigset_t *ss)
{
	int64_t ns;
	shim_family_check(SHIM_CHECK_WAIT, -1);
	if (!hk_long_ts(t, &ns))
		return SHIM_REAL(ppoll)(fds, n, t, ss);
	int r = SHIM_REAL(ppoll)(fds, n, &hk_slice_ts, ss);
	if (r != 0)
		return r;
	struct hk_wait w = {.kind = HK_PPOLL, .fds = fds, .n = n, .ss = ss};
	return hk_wait_rest(&w, ns);
}

EXPORT int ppoll(struct pollfd *fds, nfds_t n, const struct timespec *t, const sigset_t *ss)
{
	if (UNLIKELY(shim_family_slicing()))
		return hk_ppoll_sliced(fds, n, t, ss);
	return SHIM_REAL(ppoll)(fds, n, t, ss);
}

static __attribute__((noinline)) int hk_ppoll_chk_sliced(struct pollfd *fds, nfds_t n,
							  const struct timespec *t, const sigset_t *ss,
							  size_t fdslen)
{
	int64_t ns;
	shim_family_check(SHIM_CHECK_WAIT, -1);
	if (!hk_long_ts(t, &ns))
		return SHIM_REAL(ppoll_chk)(fds, n, t, ss, fdslen);
	int r = SHIM_REAL(ppoll_chk)(fds, n, &hk_slice_ts, ss, fdslen);
	if (r != 0)
		return r;
	struct hk_wait w = {.kind = HK_PPOLL_CHK, .fds = fds, .n = n, .ss = ss, .fdslen = fdslen};
	return hk_wait_rest(&w, ns);
}

EXPORT int __ppoll_chk(struct pollfd *fds, nfds_t n, const struct timespec *t, const sigset_t *ss,
		       size_t fdslen)
{
	if (UNLIKELY(shim_family_slicing()))
		return hk_ppoll_chk_sliced(fds, n, t, ss, fdslen);
	return SHIM_REAL(ppoll_chk)(fds, n, t, ss, fdslen);
}

/* select and pselect change their sets when they time out, so a wait
 * there cannot be sliced: a child starts its thread. */
EXPORT int select(int n, fd_set *r, fd_set *w, fd_set *x, struct timeval *tv)
{
	if (UNLIKELY(shim_family_slicing()))
		shim_family_check(SHIM_CHECK_BLOCK, -1);
	return SHIM_REAL(select)(n, r, w, x, tv);
}

EXPORT int pselect(int n, fd_set *r, fd_set *w, fd_set *x, const struct timespec *t,
		   const sigset_t *ss)
{
	if (UNLIKELY(shim_family_slicing()))
		shim_family_check(SHIM_CHECK_BLOCK, -1);
	return SHIM_REAL(pselect)(n, r, w, x, t, ss);
}

/* After a first slice that timed out: kept apart, so that a watching
 * worker's busy waits (the first slice ends with events) need a small
 * frame. */
static __attribute__((noinline)) int hk_epoll_more(int ep, struct epoll_event *ev, int max, int ms)
{
	struct hk_wait w = {.kind = HK_EPOLL, .fds = ev, .n = (unsigned long)max, .ep = ep};
	return hk_wait_rest(&w, ms < 0 ? -1 : (int64_t)ms * 1000000);
}

static __attribute__((noinline)) int hk_epoll_sliced(int ep, struct epoll_event *ev, int max, int ms)
{
	if (!shim_family_watch_quiet() || (unsigned)ms <= SHIM_WATCH_MS) {
		shim_family_check(SHIM_CHECK_WAIT, -1);
		if ((unsigned)ms <= SHIM_WATCH_MS || !shim_family_slicing())
			return SHIM_REAL(epoll_wait)(ep, ev, max, ms);
	}
	int r = SHIM_REAL(epoll_wait)(ep, ev, max, SHIM_WATCH_MS);
	if (r != 0)
		return r;
	return hk_epoll_more(ep, ev, max, ms);
}

EXPORT int epoll_wait(int ep, struct epoll_event *ev, int max, int ms)
{
	if (UNLIKELY(shim_family_slicing()))
		return hk_epoll_sliced(ep, ev, max, ms);
	return SHIM_REAL(epoll_wait)(ep, ev, max, ms);
}

static __attribute__((noinline)) int hk_epoll_p_more(int ep, struct epoll_event *ev, int max, int ms,
						    const sigset_t *ss)
{
	struct hk_wait w = {.kind = HK_EPOLL_P, .fds = ev, .n = (unsigned long)max, .ss = ss, .ep = ep};
	return hk_wait_rest(&w, ms < 0 ? -1 : (int64_t)ms * 1000000);
}

static __attribute__((noinline)) int hk_epoll_p_sliced(int ep, struct epoll_event *ev, int max, int ms,
							const sigset_t *ss)
{
	shim_family_check(SHIM_CHECK_WAIT, -1);
	if ((unsigned)ms <= SHIM_WATCH_MS || !shim_family_slicing())
		return SHIM_REAL(epoll_pwait)(ep, ev, max, ms, ss);
	int r = SHIM_REAL(epoll_pwait)(ep, ev, max, SHIM_WATCH_MS, ss);
	if (r != 0)
		return r;
	return hk_epoll_p_more(ep, ev, max, ms, ss);
}

EXPORT int epoll_pwait(int ep, struct epoll_event *ev, int max, int ms, const sigset_t *ss)
{
	if (UNLIKELY(shim_family_slicing()))
		return hk_epoll_p_sliced(ep, ev, max, ms, ss);
	return SHIM_REAL(epoll_pwait)(ep, ev, max, ms, ss);
}

static __attribute__((noinline)) int hk_epoll_p2_sliced(int ep, struct epoll_event *ev, int max,
							 const struct timespec *t, const sigset_t *ss)
{
	int64_t ns;
	shim_family_check(SHIM_CHECK_WAIT, -1);
	if (!hk_long_ts(t, &ns))
		return SHIM_REAL(epoll_pwait2)(ep, ev, max, t, ss);
	int r = SHIM_REAL(epoll_pwait2)(ep, ev, max, &hk_slice_ts, ss);
	if (r != 0)
		return r;
	struct hk_wait w = {.kind = HK_EPOLL_P2, .fds = ev, .n = (unsigned long)max, .ss = ss, .ep = ep};
	return hk_wait_rest(&w, ns);
}

EXPORT int epoll_pwait2(int ep, struct epoll_event *ev, int max, const struct timespec *t,
			const sigset_t *ss)
{
	if (UNLIKELY(shim_family_slicing()))
		return hk_epoll_p2_sliced(ep, ev, max, t, ss);
	return SHIM_REAL(epoll_pwait2)(ep, ev, max, t, ss);
}

EXPORT int epoll_create(int size)
{
	int fd = SHIM_REAL(epoll_create)(size);
	return fd >= 0 ? shim_family_fd_created(fd) : fd;
}

EXPORT int epoll_create1(int flags)
{
	int fd = SHIM_REAL(epoll_create1)(flags);
	return fd >= 0 ? shim_family_fd_created(fd) : fd;
}
