/* tests/shim/progs/sig_below.c — a preload library placed after the shim
 * (LD_PRELOAD="shim sig_below"), so the shim's "real" accept and accept4
 * are these. After the real call returns a connection they raise
 * $SIG_BELOW_SIGNAL (a number) in the calling thread: the handler runs
 * before the shim's hook sees the result, exactly as the kernel runs a
 * handler whose signal is pending when an accept returns to user space
 * (Apache prefork's graceful restart: SIGUSR1, whose handler closes the
 * listeners). Deterministic where sending the signal from outside is a
 * race. */
#include <dlfcn.h>
#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/socket.h>

static int below_sig(void)
{
	const char *s = getenv("SIG_BELOW_SIGNAL");
	return s ? atoi(s) : 0;
}

static int below_done(int fd)
{
	int sig = below_sig();
	if (fd >= 0 && sig > 0) {
		int e = errno;
		raise(sig);
		errno = e;
	}
	return fd;
}

int accept(int lfd, struct sockaddr *addr, socklen_t *len)
{
	int (*real)(int, struct sockaddr *, socklen_t *) =
		(int (*)(int, struct sockaddr *, socklen_t *))dlsym(RTLD_NEXT, "accept");
	return below_done(real(lfd, addr, len));
}

int accept4(int lfd, struct sockaddr *addr, socklen_t *len, int flags)
{
	int (*real)(int, struct sockaddr *, socklen_t *, int) =
		(int (*)(int, struct sockaddr *, socklen_t *, int))dlsym(RTLD_NEXT, "accept4");
	return below_done(real(lfd, addr, len, flags));
}
