/* tests/shim/progs/early.c — a library whose constructor runs before the
 * shim's (it comes after it in LD_PRELOAD) and makes hooked calls: they
 * must work through the raw-syscall fallbacks, with the right results and
 * errno, and without resolving anything. Prints "EARLY ok" or the failures. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <unistd.h>

static int bad;
#define CHECK(c)                                                  \
	do {                                                      \
		if (!(c)) {                                       \
			char m_[160];                             \
			int n_ = snprintf(m_, sizeof m_, "EARLY failed: %s (errno %d)\n", #c, errno); \
			(void)!write(2, m_, (size_t)n_);          \
			bad++;                                    \
		}                                                 \
	} while (0)

__attribute__((constructor)) static void early(void)
{
	int p[2];
	CHECK(pipe(p) == 0);
	CHECK(write(p[1], "abc", 3) == 3);
	char buf[8];
	CHECK(read(p[0], buf, 2) == 2 && memcmp(buf, "ab", 2) == 0);
	struct iovec v = {buf, sizeof buf};
	CHECK(readv(p[0], &v, 1) == 1 && buf[0] == 'c');
	CHECK(fcntl(p[0], F_SETFL, O_NONBLOCK) == 0);
	CHECK((fcntl(p[0], F_GETFL) & O_NONBLOCK) == O_NONBLOCK);
	errno = 0;
	CHECK(read(p[0], buf, sizeof buf) == -1 && errno == EAGAIN);
	int d = fcntl(p[1], F_DUPFD_CLOEXEC, 500);
	CHECK(d >= 500 && (fcntl(d, F_GETFD) & FD_CLOEXEC));
	CHECK(dup2(d, d) == d);
	CHECK(dup2(p[1], d) == d);
	CHECK(dup3(p[1], d, O_CLOEXEC) == d);
	CHECK(syscall(SYS_close, d) == 0);
	errno = 0;
	CHECK(close(d) == -1 && errno == EBADF);
	CHECK(syscall(SYS_getpid) == getpid());
	int sp[2];
	CHECK(socketpair(AF_UNIX, SOCK_STREAM, 0, sp) == 0);
	CHECK(send(sp[0], "xy", 2, 0) == 2);
	CHECK(recv(sp[1], buf, 2, MSG_PEEK) == 2 && recv(sp[1], buf, 2, 0) == 2);
	CHECK(shutdown(sp[0], SHUT_WR) == 0 && read(sp[1], buf, 1) == 0);
	CHECK(close_range((unsigned)sp[0], (unsigned)sp[1], 0) == 0);
	close(p[0]);
	close(p[1]);
	if (!bad)
		CHECK(write(1, "EARLY ok\n", 9) == 9);
}
