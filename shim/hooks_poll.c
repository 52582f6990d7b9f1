/* shim/hooks_poll.c — owns the hooked event waits (poll, ppoll, select,
 * pselect, epoll_wait, epoll_pwait, epoll_pwait2 and the fortified
 * __poll_chk, __ppoll_chk) and epoll_create/epoll_create1.
 *
 * A server blocks in one of the waits with no traffic; a forked member
 * that must start serving (glibc daemon() after listen(): fork, setsid and
 * _exit happen inside libc, no hook sees them) notices it here, before
 * the real call. While nothing is pending that is one load and a branch.
 * The epoll_create hooks only move libmicrohttpd's epoll fd to the
 * exporter's high numbers; the host's calls are passed through.
 */
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <sys/epoll.h>
#include <sys/select.h>

#include "real.h"
#include "shim.h"

#define EXPORT __attribute__((visibility("default")))
#define UNLIKELY(x) __builtin_expect(!!(x), 0)

int __poll_chk(struct pollfd *fds, nfds_t n, int ms, size_t fdslen);
int __ppoll_chk(struct pollfd *fds, nfds_t n, const struct timespec *t, const sigset_t *ss,
		size_t fdslen);

/* Before the real wait, with errno kept. */
static inline void hk_wait_check(void)
{
	if (UNLIKELY(__atomic_load_n(&shim_family_pending, __ATOMIC_RELAXED))) {
		int e = errno;
		shim_family_check_slow(0);
		errno = e;
	}
}

EXPORT int poll(struct pollfd *fds, nfds_t n, int ms)
{
	hk_wait_check();
	return SHIM_REAL(poll)(fds, n, ms);
}

EXPORT int __poll_chk(struct pollfd *fds, nfds_t n, int ms, size_t fdslen)
{
	hk_wait_check();
	return SHIM_REAL(poll_chk)(fds, n, ms, fdslen);
}

EXPORT int ppoll(struct pollfd *fds, nfds_t n, const struct timespec *t, const sigset_t *ss)
{
	hk_wait_check();
	return SHIM_REAL(ppoll)(fds, n, t, ss);
}

EXPORT int __ppoll_chk(struct pollfd *fds, nfds_t n, const struct timespec *t, const sigset_t *ss,
		       size_t fdslen)
{
	hk_wait_check();
	return SHIM_REAL(ppoll_chk)(fds, n, t, ss, fdslen);
}

EXPORT int select(int n, fd_set *r, fd_set *w, fd_set *x, struct timeval *tv)
{
	hk_wait_check();
	return SHIM_REAL(select)(n, r, w, x, tv);
}

EXPORT int pselect(int n, fd_set *r, fd_set *w, fd_set *x, const struct timespec *t,
		   const sigset_t *ss)
{
	hk_wait_check();
	return SHIM_REAL(pselect)(n, r, w, x, t, ss);
}

EXPORT int epoll_wait(int ep, struct epoll_event *ev, int max, int ms)
{
	hk_wait_check();
	return SHIM_REAL(epoll_wait)(ep, ev, max, ms);
}

EXPORT int epoll_pwait(int ep, struct epoll_event *ev, int max, int ms, const sigset_t *ss)
{
	hk_wait_check();
	return SHIM_REAL(epoll_pwait)(ep, ev, max, ms, ss);
}

EXPORT int epoll_pwait2(int ep, struct epoll_event *ev, int max, const struct timespec *t,
			const sigset_t *ss)
{
	hk_wait_check();
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
