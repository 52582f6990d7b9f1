/* shim/hooks_fd.c — owns the hooks that create, alias and end sockets:
 * listen, bind, accept, accept4, close, close_range, closefrom, shutdown,
 * dup, dup2, dup3, fcntl (F_DUPFD*), syscall (SYS_close, SYS_close_range)
 * and _exit/_Exit.
 *
 * Whatever the host asked is done, exactly: the bookkeeping never changes a
 * return value or errno. Before a real close the fd leaves the table, so an
 * accept in another thread that gets the same number back finds it clean.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "conn.h"
#include "fdtable.h"
#include "real.h"
#include "shim.h"

#define EXPORT __attribute__((visibility("default")))
#define UNLIKELY(x) __builtin_expect(!!(x), 0)

#ifndef CLOSE_RANGE_CLOEXEC
#define CLOSE_RANGE_CLOEXEC (1U << 2)
#endif

/* A vfork child runs in our memory until it execs, and no fork handler
 * told it so: its closes and dups (a CGI set-up, Python's subprocess
 * closing every fd with close_range) change only its own fd table, never
 * our connections or the exporter's fds. A system call: slow paths only. */
static inline int hk_vfork_child(void)
{
	return getpid() != shim_fd_pid;
}

/* The exporter must hear of a close of its own fds before it happens; the
 * close itself is done as asked. */
static inline void hk_family_closing(int fd)
{
	if (UNLIKELY(fd >= __atomic_load_n(&shim_family_fd_floor, __ATOMIC_RELAXED))) {
		int e = errno;
		if (shim_family_owns_fd(fd) && !hk_vfork_child())
			shim_family_fds_closing((unsigned)fd, (unsigned)fd);
		errno = e;
	}
}

/* shim_family_check before the real call (the slow paths keep errno and
 * leave a vfork child alone); a close or dup concerns no watcher. */
static inline void hk_family_check(int why, int lfd)
{
	if (UNLIKELY(__atomic_load_n(&shim_family_pending, __ATOMIC_RELAXED)) ||
	    (why != SHIM_CHECK_FD && UNLIKELY(shim_family_watching())))
		shim_family_check(why, lfd);
}

static void hk_drop_range(unsigned first, unsigned last)
{
	unsigned h = shim_fd_hwm();
	if (h == 0 || first >= h)
		return;
	if (last >= h)
		last = h - 1;
	for (unsigned fd = first; fd <= last; fd++)
		if (shim_fd_bits((int)fd))
			shim_conn_drop_fd((int)fd);
}

EXPORT int listen(int fd, int backlog)
{
	int r = SHIM_REAL(listen)(fd, backlog);
	if (r == 0 && shim_fd_cap) {
		int e = errno;
		shim_conn_listening(fd);
		errno = e;
	}
	return r;
}

EXPORT int bind(int fd, const struct sockaddr *addr, socklen_t len)
{
	if (shim.enabled && addr) {
		int e = errno;
		shim_family_host_binds(addr, len);
		errno = e;
	}
	return SHIM_REAL(bind)(fd, addr, len);
}

/* The listener is looked at before the real accept: the kernel runs a
 * pending signal's handler as the accept returns, before this hook sees the
 * new fd, and Apache prefork's graceful-restart handler closes the
 * listeners; looked at afterwards, lfd is gone and its connection untracked. */
static inline uint32_t hk_listener(int lfd)
{
	if (!shim_fd_cap)
		return 0;
	int e = errno;
	uint32_t l = shim_conn_listener(lfd);
	errno = e;
	return l;
}

EXPORT int accept(int lfd, struct sockaddr *addr, socklen_t *len)
{
	hk_family_check(SHIM_CHECK_ACCEPT, lfd);
	uint32_t l = hk_listener(lfd);
	int fd = SHIM_REAL(accept)(lfd, addr, len);
	if (fd >= 0 && shim_fd_cap) {
		int e = errno;
		shim_conn_accepted(l, fd);
		errno = e;
	}
	return fd;
}

EXPORT int accept4(int lfd, struct sockaddr *addr, socklen_t *len, int flags)
{
	hk_family_check(SHIM_CHECK_ACCEPT, lfd);
	uint32_t l = hk_listener(lfd);
	int fd = SHIM_REAL(accept4)(lfd, addr, len, flags);
	if (fd >= 0 && shim_fd_cap) {
		int e = errno;
		shim_conn_accepted(l, fd);
		errno = e;
	}
	return fd;
}

/* A close that concerns the shim: a tracked fd, one of the exporter's, or
 * a process whose thread is pending. */
static __attribute__((noinline)) int hk_close_slow(int fd)
{
	if (shim_fd_bits(fd) && !hk_vfork_child()) {
		int e = errno;
		shim_conn_drop_fd(fd);
		errno = e;
	}
	hk_family_closing(fd);
	hk_family_check(SHIM_CHECK_FD, -1);
	return SHIM_REAL(close)(fd);
}

EXPORT int close(int fd)
{
	if (UNLIKELY(shim_fd_bits(fd) || fd >= __atomic_load_n(&shim_family_fd_floor, __ATOMIC_RELAXED) ||
		     __atomic_load_n(&shim_family_pending, __ATOMIC_RELAXED)))
		return hk_close_slow(fd);
	return SHIM_REAL(close)(fd);
}

EXPORT int close_range(unsigned int first, unsigned int last, int flags)
{
	if (!(flags & CLOSE_RANGE_CLOEXEC) && first <= last && !hk_vfork_child()) {
		int e = errno;
		hk_drop_range(first, last);
		shim_family_fds_closing(first, last);
		errno = e;
	}
	return SHIM_REAL(close_range)(first, last, flags);
}

EXPORT void closefrom(int lowfd)
{
	if (lowfd >= 0 && !hk_vfork_child()) {
		int e = errno;
		hk_drop_range((unsigned)lowfd, ~0u);
		shim_family_fds_closing((unsigned)lowfd, ~0u);
		errno = e;
	}
	SHIM_REAL(closefrom)(lowfd);
}

EXPORT int shutdown(int fd, int how)
{
	if (!UNLIKELY(shim_fd_tracked(fd)))
		return SHIM_REAL(shutdown)(fd, how);
	int r = SHIM_REAL(shutdown)(fd, how);
	int e = errno;
	if (r == 0)
		shim_conn_shutdown(fd, how);
	errno = e;
	return r;
}

/* After a successful dup of oldfd onto newfd. */
static int hk_dup_done(int oldfd, int newfd)
{
	if (newfd >= 0 && (shim_fd_bits(oldfd) | shim_fd_bits(newfd)) && !hk_vfork_child()) {
		int e = errno;
		shim_conn_alias(oldfd, newfd);
		errno = e;
	}
	return newfd;
}

EXPORT int dup(int fd)
{
	return hk_dup_done(fd, SHIM_REAL(dup)(fd));
}

/* dup2/dup3 onto an exporter fd closes it. */
static inline void hk_dup_onto(int oldfd, int newfd)
{
	if (oldfd != newfd) {
		hk_family_closing(newfd);
		hk_family_check(SHIM_CHECK_FD, -1);
	}
}

EXPORT int dup2(int oldfd, int newfd)
{
	hk_dup_onto(oldfd, newfd);
	int r = SHIM_REAL(dup2)(oldfd, newfd);
	return r >= 0 && oldfd != newfd ? hk_dup_done(oldfd, r) : r;
}

EXPORT int dup3(int oldfd, int newfd, int flags)
{
	hk_dup_onto(oldfd, newfd);
	return hk_dup_done(oldfd, SHIM_REAL(dup3)(oldfd, newfd, flags));
}

/* fcntl is variadic; its third argument is an int, a pointer or absent.
 * Reading it as unsigned long and passing it on is what glibc itself does
 * (va_arg of void *), and is harmless where the command ignores it. */
EXPORT int fcntl(int fd, int cmd, ...)
{
	va_list ap;
	va_start(ap, cmd);
	unsigned long arg = va_arg(ap, unsigned long);
	va_end(ap);
	int r = SHIM_REAL(fcntl)(fd, cmd, arg);
	if (UNLIKELY(cmd == F_DUPFD || cmd == F_DUPFD_CLOEXEC))
		return hk_dup_done(fd, r);
	return r;
}

EXPORT int fcntl64(int fd, int cmd, ...)
{
	va_list ap;
	va_start(ap, cmd);
	unsigned long arg = va_arg(ap, unsigned long);
	va_end(ap);
	int r = SHIM_REAL(fcntl64)(fd, cmd, arg);
	if (UNLIKELY(cmd == F_DUPFD || cmd == F_DUPFD_CLOEXEC))
		return hk_dup_done(fd, r);
	return r;
}

/* libuv closes sockets with syscall(SYS_close, fd). The six longs are read
 * whatever the call, as glibc's own syscall() does: unused ones are
 * harmless garbage. On x86-64 the sixth comes from the caller's stack frame
 * (always mapped), which AddressSanitizer would call an underflow. */
EXPORT __attribute__((no_sanitize("address"))) long syscall(long nr, ...)
{
	va_list ap;
	va_start(ap, nr);
	long a = va_arg(ap, long), b = va_arg(ap, long), c = va_arg(ap, long);
	long d = va_arg(ap, long), e = va_arg(ap, long), f = va_arg(ap, long);
	va_end(ap);
	if (UNLIKELY(nr == SYS_close || nr == SYS_close_range) && !hk_vfork_child()) {
		int saved = errno;
		if (nr == SYS_close) {
			if (shim_fd_bits((int)a))
				shim_conn_drop_fd((int)a);
			hk_family_closing((int)a);
		} else if (!((unsigned)c & CLOSE_RANGE_CLOEXEC) && (unsigned)a <= (unsigned)b) {
			hk_drop_range((unsigned)a, (unsigned)b);
			shim_family_fds_closing((unsigned)a, (unsigned)b);
		}
		errno = saved;
	}
	return SHIM_REAL(syscall)(nr, a, b, c, d, e, f);
}

static void hk_exiting(void)
{
	/* A vfork child shares our memory: its exit must not touch it. */
	if (shim_fd_cap && getpid() == shim_fd_pid)
		shim_conn_exit_all();
}

EXPORT void _exit(int status)
{
	hk_exiting();
	SHIM_REAL(exit_)(status);
}

EXPORT void _Exit(int status)
{
	hk_exiting();
	SHIM_REAL(Exit_)(status);
}
