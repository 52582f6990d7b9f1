/* shim/real.c — owns the table of real libc functions (shim_real): raw
 * system-call fallbacks for the time before the constructor, and their
 * one-time replacement by the functions dlsym(RTLD_NEXT) finds. */
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stddef.h>
#include <sys/sendfile.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "real.h"

#ifndef CLOSE_RANGE_CLOEXEC
#define CLOSE_RANGE_CLOEXEC (1U << 2)
#endif

/* Neither libc's syscall() nor errno-setting wrappers: inside this library
 * the name syscall binds to our own hook. */
long shim_raw_syscall(long nr, long a, long b, long c, long d, long e, long f)
{
#if defined(__x86_64__)
	long ret;
	register long r10 __asm__("r10") = d;
	register long r8 __asm__("r8") = e;
	register long r9 __asm__("r9") = f;
	__asm__ volatile("syscall"
			 : "=a"(ret)
			 : "a"(nr), "D"(a), "S"(b), "d"(c), "r"(r10), "r"(r8), "r"(r9)
			 : "rcx", "r11", "memory");
	return ret;
#elif defined(__aarch64__)
	register long x8 __asm__("x8") = nr;
	register long x0 __asm__("x0") = a;
	register long x1 __asm__("x1") = b;
	register long x2 __asm__("x2") = c;
	register long x3 __asm__("x3") = d;
	register long x4 __asm__("x4") = e;
	register long x5 __asm__("x5") = f;
	__asm__ volatile("svc 0"
			 : "+r"(x0)
			 : "r"(x8), "r"(x1), "r"(x2), "r"(x3), "r"(x4), "r"(x5)
			 : "memory");
	return x0;
#else
#error "promshim: raw system calls are written for x86-64 and aarch64 only"
#endif
}

static long fb_ret(long r)
{
	if ((unsigned long)r > -4096UL) {
		errno = (int)-r;
		return -1;
	}
	return r;
}

#define RAW(nr, a, b, c, d, e, f) \
	fb_ret(shim_raw_syscall((nr), (long)(a), (long)(b), (long)(c), (long)(d), (long)(e), (long)(f)))

static int fb_listen(int fd, int backlog) { return (int)RAW(SYS_listen, fd, backlog, 0, 0, 0, 0); }
static int fb_bind(int fd, const struct sockaddr *a, socklen_t l) { return (int)RAW(SYS_bind, fd, a, l, 0, 0, 0); }
static int fb_accept4(int fd, struct sockaddr *a, socklen_t *l, int fl)
{
	return (int)RAW(SYS_accept4, fd, a, l, fl, 0, 0);
}
static int fb_accept(int fd, struct sockaddr *a, socklen_t *l) { return fb_accept4(fd, a, l, 0); }
static ssize_t fb_read(int fd, void *b, size_t n) { return RAW(SYS_read, fd, b, n, 0, 0, 0); }
static ssize_t fb_readv(int fd, const struct iovec *v, int c) { return RAW(SYS_readv, fd, v, c, 0, 0, 0); }
static ssize_t fb_recvfrom(int fd, void *b, size_t n, int fl, struct sockaddr *a, socklen_t *l)
{
	return RAW(SYS_recvfrom, fd, b, n, fl, a, l);
}
static ssize_t fb_recv(int fd, void *b, size_t n, int fl) { return fb_recvfrom(fd, b, n, fl, NULL, NULL); }
static ssize_t fb_recvmsg(int fd, struct msghdr *m, int fl) { return RAW(SYS_recvmsg, fd, m, fl, 0, 0, 0); }
static int fb_recvmmsg(int fd, struct mmsghdr *m, unsigned int n, int fl, struct timespec *t)
{
	return (int)RAW(SYS_recvmmsg, fd, m, n, fl, t, 0);
}
static ssize_t fb_write(int fd, const void *b, size_t n) { return RAW(SYS_write, fd, b, n, 0, 0, 0); }
static ssize_t fb_writev(int fd, const struct iovec *v, int c) { return RAW(SYS_writev, fd, v, c, 0, 0, 0); }
static ssize_t fb_sendto(int fd, const void *b, size_t n, int fl, const struct sockaddr *a, socklen_t l)
{
	return RAW(SYS_sendto, fd, b, n, fl, a, l);
}
static ssize_t fb_send(int fd, const void *b, size_t n, int fl) { return fb_sendto(fd, b, n, fl, NULL, 0); }
static ssize_t fb_sendmsg(int fd, const struct msghdr *m, int fl) { return RAW(SYS_sendmsg, fd, m, fl, 0, 0, 0); }
static int fb_sendmmsg(int fd, struct mmsghdr *m, unsigned int n, int fl)
{
	return (int)RAW(SYS_sendmmsg, fd, m, n, fl, 0, 0);
}
static ssize_t fb_sendfile(int o, int i, off_t *off, size_t n) { return RAW(SYS_sendfile, o, i, off, n, 0, 0); }
static ssize_t fb_splice(int i, off_t *oi, int o, off_t *oo, size_t n, unsigned int fl)
{
	return RAW(SYS_splice, i, oi, o, oo, n, fl);
}
static int fb_close(int fd) { return (int)RAW(SYS_close, fd, 0, 0, 0, 0, 0); }
static int fb_close_range(unsigned int a, unsigned int b, int fl) { return (int)RAW(SYS_close_range, a, b, fl, 0, 0, 0); }
static void fb_closefrom(int lowfd)
{
	if (lowfd < 0)
		return;
	shim_raw_syscall(SYS_close_range, lowfd, ~0L & 0xffffffffL, 0, 0, 0, 0);
}
static int fb_shutdown(int fd, int how) { return (int)RAW(SYS_shutdown, fd, how, 0, 0, 0, 0); }
static int fb_dup(int fd) { return (int)RAW(SYS_dup, fd, 0, 0, 0, 0, 0); }
static int fb_dup3(int a, int b, int fl) { return (int)RAW(SYS_dup3, a, b, fl, 0, 0, 0); }
static int fb_dup2(int a, int b)
{
	if (a == b) /* dup3 refuses equal fds; dup2 only checks a is open */
		return (int)RAW(SYS_fcntl, a, F_GETFD, 0, 0, 0, 0) < 0 ? -1 : b;
	return fb_dup3(a, b, 0);
}
static int fb_fcntl(int fd, int cmd, ...)
{
	va_list ap;
	va_start(ap, cmd);
	unsigned long arg = va_arg(ap, unsigned long);
	va_end(ap);
	return (int)RAW(SYS_fcntl, fd, cmd, arg, 0, 0, 0);
}
static long fb_syscall(long nr, ...)
{
	va_list ap;
	va_start(ap, nr);
	long a = va_arg(ap, long), b = va_arg(ap, long), c = va_arg(ap, long);
	long d = va_arg(ap, long), e = va_arg(ap, long), f = va_arg(ap, long);
	va_end(ap);
	return RAW(nr, a, b, c, d, e, f);
}

extern void __chk_fail(void) __attribute__((noreturn));

#ifndef SYS_epoll_pwait2
#define SYS_epoll_pwait2 441
#endif
#define FB_SIGSET_BYTES 8 /* the kernel's sigset_t */

static int fb_ppoll(struct pollfd *p, nfds_t n, const struct timespec *t, const sigset_t *ss)
{
	return (int)RAW(SYS_ppoll, p, n, t, ss, FB_SIGSET_BYTES, 0);
}
static int fb_poll(struct pollfd *p, nfds_t n, int ms)
{
	struct timespec t = {ms / 1000, (long)(ms % 1000) * 1000000L};
	return fb_ppoll(p, n, ms < 0 ? NULL : &t, NULL);
}
static int fb_poll_chk(struct pollfd *p, nfds_t n, int ms, size_t cap)
{
	if (cap / sizeof *p < n)
		__chk_fail();
	return fb_poll(p, n, ms);
}
static int fb_ppoll_chk(struct pollfd *p, nfds_t n, const struct timespec *t, const sigset_t *ss,
			size_t cap)
{
	if (cap / sizeof *p < n)
		__chk_fail();
	return fb_ppoll(p, n, t, ss);
}
static int fb_pselect(int n, fd_set *r, fd_set *w, fd_set *x, const struct timespec *t,
		      const sigset_t *ss)
{
	struct {
		const sigset_t *ss;
		size_t len;
	} arg = {ss, FB_SIGSET_BYTES};
	return (int)RAW(SYS_pselect6, n, r, w, x, t, ss ? &arg : NULL);
}
static int fb_select(int n, fd_set *r, fd_set *w, fd_set *x, struct timeval *tv)
{
	struct timespec t;
	if (tv) {
		t.tv_sec = tv->tv_sec;
		t.tv_nsec = tv->tv_usec * 1000L;
	}
	return fb_pselect(n, r, w, x, tv ? &t : NULL, NULL);
}
static int fb_epoll_pwait(int ep, struct epoll_event *ev, int max, int ms, const sigset_t *ss)
{
	return (int)RAW(SYS_epoll_pwait, ep, ev, max, ms, ss, FB_SIGSET_BYTES);
}
static int fb_epoll_wait(int ep, struct epoll_event *ev, int max, int ms)
{
	return fb_epoll_pwait(ep, ev, max, ms, NULL);
}
static int fb_epoll_pwait2(int ep, struct epoll_event *ev, int max, const struct timespec *t,
			   const sigset_t *ss)
{
	return (int)RAW(SYS_epoll_pwait2, ep, ev, max, t, ss, FB_SIGSET_BYTES);
}
static int fb_epoll_create1(int fl) { return (int)RAW(SYS_epoll_create1, fl, 0, 0, 0, 0, 0); }
static int fb_epoll_create(int size)
{
	if (size <= 0) {
		errno = EINVAL;
		return -1;
	}
	return fb_epoll_create1(0);
}

static ssize_t fb_read_chk(int fd, void *b, size_t n, size_t cap)
{
	if (n > cap)
		__chk_fail();
	return fb_read(fd, b, n);
}
static ssize_t fb_recv_chk(int fd, void *b, size_t n, size_t cap, int fl)
{
	if (n > cap)
		__chk_fail();
	return fb_recv(fd, b, n, fl);
}
static ssize_t fb_recvfrom_chk(int fd, void *b, size_t n, size_t cap, int fl, struct sockaddr *a, socklen_t *l)
{
	if (n > cap)
		__chk_fail();
	return fb_recvfrom(fd, b, n, fl, a, l);
}
static int fb_sigtimedwait(const sigset_t *set, siginfo_t *info, const struct timespec *t)
{
	return (int)RAW(SYS_rt_sigtimedwait, set, info, t, FB_SIGSET_BYTES, 0, 0);
}
static int fb_sigwaitinfo(const sigset_t *set, siginfo_t *info) { return fb_sigtimedwait(set, info, NULL); }
/* sigwait returns an error number and leaves errno alone */
static int fb_sigwait(const sigset_t *set, int *sig)
{
	long r;
	do
		r = shim_raw_syscall(SYS_rt_sigtimedwait, (long)set, 0, 0, FB_SIGSET_BYTES, 0, 0);
	while (r == -EINTR);
	if (r < 0)
		return (int)-r;
	*sig = (int)r;
	return 0;
}
static int fb_sigsuspend(const sigset_t *set) { return (int)RAW(SYS_rt_sigsuspend, set, FB_SIGSET_BYTES, 0, 0, 0, 0); }
static int fb_pause(void) { return (int)RAW(SYS_pause, 0, 0, 0, 0, 0, 0); }
static pid_t fb_wait4(pid_t pid, int *st, int opt, struct rusage *ru)
{
	return (pid_t)RAW(SYS_wait4, pid, st, opt, ru, 0, 0);
}
static pid_t fb_wait(int *st) { return fb_wait4(-1, st, 0, NULL); }
static pid_t fb_waitpid(pid_t pid, int *st, int opt) { return fb_wait4(pid, st, opt, NULL); }
static pid_t fb_wait3(int *st, int opt, struct rusage *ru) { return fb_wait4(-1, st, opt, ru); }
static int fb_waitid(idtype_t type, id_t id, siginfo_t *info, int opt)
{
	return (int)RAW(SYS_waitid, type, id, info, opt, NULL, 0);
}
static int fb_nanosleep(const struct timespec *req, struct timespec *rem)
{
	return (int)RAW(SYS_nanosleep, req, rem, 0, 0, 0, 0);
}
/* clock_nanosleep returns an error number and leaves errno alone */
static int fb_clock_nanosleep(clockid_t clk, int fl, const struct timespec *req, struct timespec *rem)
{
	return (int)-shim_raw_syscall(SYS_clock_nanosleep, clk, fl, (long)req, (long)rem, 0, 0);
}
static unsigned int fb_sleep(unsigned int s)
{
	struct timespec t = {(time_t)s, 0};
	if (fb_nanosleep(&t, &t) < 0)
		return (unsigned int)t.tv_sec + (t.tv_nsec > 0);
	return 0;
}
static int fb_usleep(useconds_t us)
{
	struct timespec t = {(time_t)(us / 1000000), (long)(us % 1000000) * 1000};
	return fb_nanosleep(&t, NULL);
}
static __attribute__((noreturn)) void fb_exit(int status)
{
	for (;;)
		shim_raw_syscall(SYS_exit_group, status, 0, 0, 0, 0, 0);
}

struct shim_real_fns shim_real = {
	.listen = fb_listen,
	.bind = fb_bind,
	.accept = fb_accept,
	.accept4 = fb_accept4,
	.read = fb_read,
	.readv = fb_readv,
	.recv = fb_recv,
	.recvfrom = fb_recvfrom,
	.recvmsg = fb_recvmsg,
	.recvmmsg = fb_recvmmsg,
	.write = fb_write,
	.writev = fb_writev,
	.send = fb_send,
	.sendto = fb_sendto,
	.sendmsg = fb_sendmsg,
	.sendmmsg = fb_sendmmsg,
	.sendfile = fb_sendfile,
	.sendfile64 = fb_sendfile,
	.splice = fb_splice,
	.close = fb_close,
	.close_range = fb_close_range,
	.closefrom = fb_closefrom,
	.shutdown = fb_shutdown,
	.dup = fb_dup,
	.dup2 = fb_dup2,
	.dup3 = fb_dup3,
	.fcntl = fb_fcntl,
	.fcntl64 = fb_fcntl,
	.syscall = fb_syscall,
	.read_chk = fb_read_chk,
	.recv_chk = fb_recv_chk,
	.recvfrom_chk = fb_recvfrom_chk,
	.poll = fb_poll,
	.ppoll = fb_ppoll,
	.poll_chk = fb_poll_chk,
	.ppoll_chk = fb_ppoll_chk,
	.select = fb_select,
	.pselect = fb_pselect,
	.epoll_wait = fb_epoll_wait,
	.epoll_pwait = fb_epoll_pwait,
	.epoll_pwait2 = fb_epoll_pwait2,
	.epoll_create = fb_epoll_create,
	.epoll_create1 = fb_epoll_create1,
	.sigsuspend = fb_sigsuspend,
	.sigwait = fb_sigwait,
	.sigwaitinfo = fb_sigwaitinfo,
	.sigtimedwait = fb_sigtimedwait,
	.pause = fb_pause,
	.wait = fb_wait,
	.waitpid = fb_waitpid,
	.wait3 = fb_wait3,
	.wait4 = fb_wait4,
	.waitid = fb_waitid,
	.sleep = fb_sleep,
	.usleep = fb_usleep,
	.nanosleep = fb_nanosleep,
	.clock_nanosleep = fb_clock_nanosleep,
	.exit_ = fb_exit,
	.Exit_ = fb_exit,
};

/* A slot is replaced only by a non-NULL result, so a concurrent caller sees
 * either the fallback or the real function, both correct. */
#define RESOLVE(field, sym)                                               \
	do {                                                              \
		void *p_ = dlsym(RTLD_NEXT, sym);                         \
		if (p_)                                                   \
			__atomic_store_n((void **)(void *)&shim_real.field, p_, \
					 __ATOMIC_RELEASE);               \
	} while (0)

void shim_real_init(void)
{
	RESOLVE(listen, "listen");
	RESOLVE(bind, "bind");
	RESOLVE(accept, "accept");
	RESOLVE(accept4, "accept4");
	RESOLVE(read, "read");
	RESOLVE(readv, "readv");
	RESOLVE(recv, "recv");
	RESOLVE(recvfrom, "recvfrom");
	RESOLVE(recvmsg, "recvmsg");
	RESOLVE(recvmmsg, "recvmmsg");
	RESOLVE(write, "write");
	RESOLVE(writev, "writev");
	RESOLVE(send, "send");
	RESOLVE(sendto, "sendto");
	RESOLVE(sendmsg, "sendmsg");
	RESOLVE(sendmmsg, "sendmmsg");
	RESOLVE(sendfile, "sendfile");
	RESOLVE(sendfile64, "sendfile64");
	RESOLVE(splice, "splice");
	RESOLVE(close, "close");
	RESOLVE(close_range, "close_range");
	RESOLVE(closefrom, "closefrom");
	RESOLVE(shutdown, "shutdown");
	RESOLVE(dup, "dup");
	RESOLVE(dup2, "dup2");
	RESOLVE(dup3, "dup3");
	RESOLVE(fcntl, "fcntl");
	RESOLVE(fcntl64, "fcntl64");
	RESOLVE(syscall, "syscall");
	RESOLVE(read_chk, "__read_chk");
	RESOLVE(recv_chk, "__recv_chk");
	RESOLVE(recvfrom_chk, "__recvfrom_chk");
	RESOLVE(poll, "poll");
	RESOLVE(ppoll, "ppoll");
	RESOLVE(poll_chk, "__poll_chk");
	RESOLVE(ppoll_chk, "__ppoll_chk");
	RESOLVE(select, "select");
	RESOLVE(pselect, "pselect");
	RESOLVE(epoll_wait, "epoll_wait");
	RESOLVE(epoll_pwait, "epoll_pwait");
	RESOLVE(epoll_pwait2, "epoll_pwait2");
	RESOLVE(epoll_create, "epoll_create");
	RESOLVE(epoll_create1, "epoll_create1");
	RESOLVE(sigsuspend, "sigsuspend");
	RESOLVE(sigwait, "sigwait");
	RESOLVE(sigwaitinfo, "sigwaitinfo");
	RESOLVE(sigtimedwait, "sigtimedwait");
	RESOLVE(pause, "pause");
	RESOLVE(wait, "wait");
	RESOLVE(waitpid, "waitpid");
	RESOLVE(wait3, "wait3");
	RESOLVE(wait4, "wait4");
	RESOLVE(waitid, "waitid");
	RESOLVE(sleep, "sleep");
	RESOLVE(usleep, "usleep");
	RESOLVE(nanosleep, "nanosleep");
	RESOLVE(clock_nanosleep, "clock_nanosleep");
	RESOLVE(exit_, "_exit");
	RESOLVE(Exit_, "_Exit");
}
