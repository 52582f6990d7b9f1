/* tests/shim/progs/hk_prog.c — drives the hooks through one scenario per
 * argument (server and client in one process, loopback only), for the
 * interposition tests in tests/shim/. The library under test records what
 * it hands to core; this program checks return values and errno itself and
 * exits non-zero on any surprise. */
#include <arpa/inet.h>
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <poll.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/select.h>
#include <time.h>
#include <sys/sendfile.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sys/un.h>
#include <stddef.h>
#include <sys/wait.h>
#include <unistd.h>

#define REQ "GET /a HTTP/1.1\r\nHost: x\r\n\r\n"
#define RESP "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"
#define MAGIC_ERRNO 777

ssize_t __read_chk(int fd, void *buf, size_t n, size_t buflen);
ssize_t __recv_chk(int fd, void *buf, size_t n, size_t buflen, int flags);
ssize_t __recvfrom_chk(int fd, void *buf, size_t n, size_t buflen, int flags, struct sockaddr *a, socklen_t *l);

static int failures;
#define CHECK(cond)                                                                      \
	do {                                                                             \
		if (!(cond)) {                                                           \
			fprintf(stderr, "%s:%d: check failed: %s (errno %d)\n", __FILE__, \
				__LINE__, #cond, errno);                                 \
			failures++;                                                      \
		}                                                                        \
	} while (0)
#define MUST(cond)                                                                       \
	do {                                                                             \
		if (!(cond)) {                                                           \
			fprintf(stderr, "%s:%d: fatal: %s (errno %d)\n", __FILE__, __LINE__, \
				#cond, errno);                                           \
			exit(2);                                                         \
		}                                                                        \
	} while (0)
/* A call that succeeds must leave errno as it found it. */
#define KEEPS_ERRNO(call)                                 \
	({                                                \
		errno = MAGIC_ERRNO;                      \
		__auto_type r_ = (call);                  \
		CHECK(errno == MAGIC_ERRNO);              \
		r_;                                       \
	})

static int lst(unsigned port)
{
	int l = socket(AF_INET, SOCK_STREAM, 0);
	MUST(l >= 0);
	int one = 1;
	setsockopt(l, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	MUST(bind(l, (struct sockaddr *)&a, sizeof a) == 0);
	MUST(listen(l, 16) == 0);
	return l;
}

static unsigned port_of(int l)
{
	struct sockaddr_in a;
	socklen_t al = sizeof a;
	MUST(getsockname(l, (struct sockaddr *)&a, &al) == 0);
	return ntohs(a.sin_port);
}

static int cli(unsigned port)
{
	int c = socket(AF_INET, SOCK_STREAM, 0);
	MUST(c >= 0);
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	MUST(connect(c, (struct sockaddr *)&a, sizeof a) == 0);
	return c;
}

static void put(int fd, const char *s)
{
	size_t n = strlen(s);
	MUST(send(fd, s, n, 0) == (ssize_t)n);
}

/* Reads exactly strlen(want) bytes with read() and compares. */
static void expect(int fd, const char *want)
{
	char buf[512];
	size_t n = strlen(want), got = 0;
	while (got < n) {
		ssize_t r = read(fd, buf + got, n - got);
		MUST(r > 0);
		got += (size_t)r;
	}
	CHECK(memcmp(buf, want, n) == 0);
}

static void nonblock(int fd)
{
	int fl = fcntl(fd, F_GETFL);
	MUST(fl >= 0 && fcntl(fd, F_SETFL, fl | O_NONBLOCK) == 0);
}

/* Sends msg from the client and reads it on the server side (tracked). */
static void ping(int c, int s, const char *msg)
{
	put(c, msg);
	char buf[64];
	size_t n = strlen(msg), got = 0;
	while (got < n) {
		ssize_t r = recv(s, buf + got, n - got, 0);
		MUST(r > 0);
		got += (size_t)r;
	}
}

static int sc_basic(void)
{
	int l = lst(0), c = cli(port_of(l));
	int s = accept(l, NULL, NULL);
	MUST(s >= 0);
	put(c, REQ);
	char buf[256];
	ssize_t r = read(s, buf, sizeof buf);
	CHECK(r == (ssize_t)strlen(REQ));
	CHECK(write(s, RESP, strlen(RESP)) == (ssize_t)strlen(RESP));
	CHECK(close(s) == 0);
	expect(c, RESP);
	close(c);
	close(l);
	return 0;
}

static int sc_peek(void)
{
	int l = lst(0), c = cli(port_of(l));
	int s = accept4(l, NULL, NULL, SOCK_CLOEXEC);
	MUST(s >= 0);
	put(c, REQ);
	char buf[256];
	size_t n = strlen(REQ);
	/* Peeking never consumes: every peek sees the whole request. */
	usleep(20000);
	CHECK(recv(s, buf, sizeof buf, MSG_PEEK) == (ssize_t)n);
	CHECK(recvfrom(s, buf, sizeof buf, MSG_PEEK, NULL, NULL) == (ssize_t)n);
	struct iovec v = {buf, sizeof buf};
	struct msghdr m = {.msg_iov = &v, .msg_iovlen = 1};
	CHECK(recvmsg(s, &m, MSG_PEEK) == (ssize_t)n);
	CHECK(__recv_chk(s, buf, 4, sizeof buf, MSG_PEEK) == 4);
	CHECK(recv(s, buf, sizeof buf, 0) == (ssize_t)n);
	CHECK(memcmp(buf, REQ, n) == 0);
	close(s);
	close(c);
	close(l);
	return 0;
}

static int sc_partial(void)
{
	int l = lst(0), c = cli(port_of(l));
	int s = accept(l, NULL, NULL);
	MUST(s >= 0);
	put(c, "abcdefghij");
	char buf[64];
	usleep(20000);
	CHECK(read(s, buf, 4) == 4);
	CHECK(read(s, buf, 4) == 4);
	CHECK(read(s, buf, 4) == 2);
	nonblock(s);
	errno = 0;
	CHECK(read(s, buf, sizeof buf) == -1 && errno == EAGAIN);
	errno = 0;
	CHECK(recv(s, buf, sizeof buf, 0) == -1 && errno == EAGAIN);
	CHECK(read(s, buf, 0) == 0); /* an empty read is not end of file */
	shutdown(c, SHUT_WR);
	usleep(20000);
	CHECK(read(s, buf, sizeof buf) == 0); /* the client's half-close */

	/* Partial writes: fill the socket until EAGAIN; what the library saw
	 * must add up to what the kernel took, which we print. */
	int small = 4096;
	setsockopt(s, SOL_SOCKET, SO_SNDBUF, &small, sizeof small);
	setsockopt(c, SOL_SOCKET, SO_RCVBUF, &small, sizeof small);
	static char big[1 << 20];
	memset(big, 'x', sizeof big);
	long long sent = 0, writes = 0;
	for (int i = 0; i < 100; i++) {
		ssize_t r = i % 2 ? write(s, big, sizeof big)
				  : writev(s, (struct iovec[]){{big, 300000}, {big, 700000}}, 2);
		if (r < 0) {
			CHECK(errno == EAGAIN);
			break;
		}
		CHECK(r < (ssize_t)sizeof big);
		sent += r;
		writes++;
	}
	CHECK(writes >= 1);
	errno = 0;
	CHECK(write(s, big, sizeof big) == -1 && errno == EAGAIN);
	printf("SENT %lld\n", sent);
	close(s);
	close(c);
	close(l);
	return 0;
}

static int sc_vector(void)
{
	int l = lst(0), c = cli(port_of(l));
	int s = accept(l, NULL, NULL);
	MUST(s >= 0);
	put(c, "0123456789ab");
	usleep(20000);
	char a[5], b[100];
	struct iovec v[2] = {{a, sizeof a}, {b, sizeof b}};
	CHECK(readv(s, v, 2) == 12);
	put(c, "mm-one");
	usleep(20000);
	char m1[64], m2[64];
	struct iovec mv1 = {m1, sizeof m1}, mv2 = {m2, sizeof m2};
	struct mmsghdr mm[2] = {{.msg_hdr = {.msg_iov = &mv1, .msg_iovlen = 1}},
				{.msg_hdr = {.msg_iov = &mv2, .msg_iovlen = 1}}};
	CHECK(recvmmsg(s, mm, 2, MSG_DONTWAIT, NULL) == 1 && mm[0].msg_len == 6);
	put(c, "chk-read!");
	usleep(20000);
	CHECK(__read_chk(s, b, 4, sizeof b) == 4);
	CHECK(__recv_chk(s, b, 2, sizeof b, 0) == 2);
	CHECK(__recvfrom_chk(s, b, 3, sizeof b, 0, NULL, NULL) == 3);

	struct iovec w[3] = {{"HTTP/1.1 ", 9}, {"200 OK\r\n", 8}, {"\r\n", 2}};
	CHECK(writev(s, w, 3) == 19);
	struct msghdr sm = {.msg_iov = w, .msg_iovlen = 2};
	CHECK(sendmsg(s, &sm, 0) == 17);
	struct mmsghdr smm[2] = {{.msg_hdr = {.msg_iov = &w[0], .msg_iovlen = 1}},
				 {.msg_hdr = {.msg_iov = &w[2], .msg_iovlen = 1}}};
	CHECK(sendmmsg(s, smm, 2, 0) == 2);
	CHECK(sendto(s, "to", 2, 0, NULL, 0) == 2);
	close(s);
	close(c);
	close(l);
	return 0;
}

static int sc_errno(void)
{
	signal(SIGPIPE, SIG_IGN);
	int l = lst(0), c = cli(port_of(l));
	int s = KEEPS_ERRNO(accept(l, NULL, NULL));
	MUST(s >= 0);
	put(c, REQ);
	usleep(20000);
	char buf[256];
	CHECK(KEEPS_ERRNO(recv(s, buf, 4, 0)) == 4);
	CHECK(KEEPS_ERRNO(read(s, buf, 4)) == 4);
	struct iovec v = {buf, 4};
	CHECK(KEEPS_ERRNO(readv(s, &v, 1)) == 4);
	struct msghdr m = {.msg_iov = &v, .msg_iovlen = 1};
	CHECK(KEEPS_ERRNO(recvmsg(s, &m, 0)) == 4);
	CHECK(KEEPS_ERRNO(recvfrom(s, buf, 4, 0, NULL, NULL)) == 4);
	CHECK(KEEPS_ERRNO(write(s, "ab", 2)) == 2);
	CHECK(KEEPS_ERRNO(send(s, "cd", 2, 0)) == 2);
	CHECK(KEEPS_ERRNO(writev(s, &v, 1)) == 4);
	CHECK(KEEPS_ERRNO(sendmsg(s, &m, 0)) == 4);
	int d = KEEPS_ERRNO(dup(s));
	CHECK(d >= 0);
	CHECK(KEEPS_ERRNO(dup2(s, d)) == d); /* over a live alias of the same connection */
	int d2 = KEEPS_ERRNO(fcntl(s, F_DUPFD_CLOEXEC, 300));
	CHECK(d2 >= 300);
	CHECK(KEEPS_ERRNO(close(d)) == 0);
	CHECK(KEEPS_ERRNO(close(d2)) == 0);
	CHECK(KEEPS_ERRNO(shutdown(s, SHUT_RD)) == 0);
	CHECK(KEEPS_ERRNO(shutdown(s, SHUT_WR)) == 0); /* ends the connection */
	CHECK(KEEPS_ERRNO(close(s)) == 0);
	close(c);
	close(l);
	return failures ? 1 : 0;
}

static int sc_errno_fail(void)
{
	signal(SIGPIPE, SIG_IGN);
	int l = lst(0), c = cli(port_of(l));
	int s = accept(l, NULL, NULL);
	MUST(s >= 0);
	nonblock(s);
	char buf[16];
	errno = 0;
	CHECK(read(s, buf, sizeof buf) == -1 && errno == EAGAIN);
	errno = 0;
	CHECK(recvfrom(s, buf, sizeof buf, 0, NULL, NULL) == -1 && errno == EAGAIN);
	close(c);
	usleep(20000);
	CHECK(read(s, buf, sizeof buf) == 0);
	/* The peer is gone: the first write may still succeed, then EPIPE. */
	ssize_t r = 0;
	for (int i = 0; i < 10 && r >= 0; i++) {
		errno = 0;
		r = write(s, "x", 1);
		usleep(10000);
	}
	CHECK(r == -1 && (errno == EPIPE || errno == ECONNRESET));
	errno = 0;
	CHECK(shutdown(s, 99) == -1 && errno == EINVAL);
	errno = 0;
	CHECK(dup2(s, -1) == -1 && errno == EBADF);
	errno = 0;
	CHECK(close(1000000) == -1 && errno == EBADF);
	int notl = socket(AF_INET, SOCK_STREAM, 0);
	errno = 0;
	CHECK(accept(notl, NULL, NULL) == -1 && errno == EINVAL);
	errno = 0;
	CHECK(listen(-1, 1) == -1 && errno == EBADF);
	close(s);
	close(notl);
	close(l);
	return failures ? 1 : 0;
}

/* inetd style: the connection moves to fds 0 and 1, is read on one and
 * written on the other, and the process exits without closing either. */
static int sc_inetd(int use_exit)
{
	int l = lst(0), c = cli(port_of(l));
	int s = accept(l, NULL, NULL);
	MUST(s >= 0);
	MUST(dup2(s, 0) == 0);
	MUST(dup3(s, 1, 0) == 1);
	MUST(close(s) == 0);
	put(c, REQ);
	char buf[256];
	CHECK(read(0, buf, sizeof buf) == (ssize_t)strlen(REQ));
	CHECK(write(1, RESP, strlen(RESP)) == (ssize_t)strlen(RESP));
	if (failures)
		_exit(1);
	if (use_exit)
		exit(0);
	_exit(0);
}

static int sc_dupfd(void)
{
	int l = lst(0);
	int c1 = cli(port_of(l)), s1 = accept(l, NULL, NULL);
	int c2 = cli(port_of(l)), s2 = accept(l, NULL, NULL);
	MUST(s1 >= 0 && s2 >= 0);
	ping(c2, s2, "c2");
	int d1 = dup(s1);
	int d2 = fcntl(s1, F_DUPFD, 100);
	int d3 = dup3(s1, 50, O_CLOEXEC);
	int d4 = fcntl(s1, F_DUPFD_CLOEXEC, 200);
	MUST(d1 >= 0 && d2 >= 100 && d3 == 50 && d4 >= 200);
	CHECK(write(d3, "w3", 2) == 2);
	close(s1);
	close(d1);
	close(d2);
	close(d3);
	syscall(SYS_getpid); /* a syscall that is not a close passes through */
	put(c1, "r4");
	usleep(20000);
	char buf[8];
	CHECK(read(d4, buf, sizeof buf) == 2);
	close(d4); /* last alias: the connection ends here */
	/* dup2 over the only alias of connection 2 ends it; the fd then
	 * belongs to connection 3. */
	int c3 = cli(port_of(l)), s3 = accept(l, NULL, NULL);
	MUST(s3 >= 0);
	CHECK(dup2(s3, s2) == s2);
	CHECK(write(s2, "w2", 2) == 2);
	close(s3);
	close(s2);
	close(c1);
	close(c2);
	close(c3);
	close(l);
	return failures ? 1 : 0;
}

static int sc_sysclose(void)
{
	int l = lst(0), c = cli(port_of(l));
	int s = accept(l, NULL, NULL);
	MUST(s >= 0);
	ping(c, s, "one");
	errno = MAGIC_ERRNO;
	CHECK(syscall(SYS_close, s) == 0);
	CHECK(errno == MAGIC_ERRNO);
	int c2 = cli(port_of(l)), s2 = accept(l, NULL, NULL);
	MUST(s2 >= 0);
	ping(c2, s2, "two");
	CHECK(syscall(SYS_close_range, s2, s2, 0) == 0);
	errno = 0;
	CHECK(syscall(SYS_close, s2) == -1 && errno == EBADF);
	close(c);
	close(c2);
	close(l);
	return failures ? 1 : 0;
}

/* A close the shim cannot see (glibc internals, a raw system call): the
 * next accept that gets the same number ends the old connection first. */
static int sc_stale(void)
{
	int l = lst(0), c = cli(port_of(l));
	int s = accept(l, NULL, NULL);
	MUST(s >= 0);
	void *libc = dlopen("libc.so.6", RTLD_NOW | RTLD_NOLOAD);
	MUST(libc);
	int (*libc_close)(int) = (int (*)(int))dlsym(libc, "close");
	MUST(libc_close && libc_close != close);
	ping(c, s, "old");
	int c2 = cli(port_of(l));
	CHECK(libc_close(s) == 0);
	int s2 = accept(l, NULL, NULL);
	CHECK(s2 == s);
	ping(c2, s2, "new");
	close(s2);
	close(c);
	close(c2);
	close(l);
	return failures ? 1 : 0;
}

static int sc_closerange(void)
{
	int l = lst(0);
	int c1 = cli(port_of(l)), s1 = accept(l, NULL, NULL);
	int c2 = cli(port_of(l)), s2 = accept(l, NULL, NULL);
	int c3 = cli(port_of(l)), s3 = accept(l, NULL, NULL);
	MUST(s1 >= 0 && s2 > s1 && s3 > s2 && c3 < s3);
	ping(c1, s1, "s1");
	ping(c2, s2, "s2");
	ping(c3, s3, "s3");
	CHECK(close_range((unsigned)s1, (unsigned)s1, CLOSE_RANGE_CLOEXEC) == 0); /* closes nothing now */
	ping(c1, s1, "s1-again");
	CHECK(close_range((unsigned)s1, (unsigned)s2, 0) == 0);
	closefrom(s3);
	errno = 0;
	CHECK(write(s3, "x", 1) == -1 && errno == EBADF);
	return failures ? 1 : 0;
}

static int sc_nontcp(void)
{
	int u = socket(AF_UNIX, SOCK_STREAM, 0);
	struct sockaddr_un a = {.sun_family = AF_UNIX};
	snprintf(a.sun_path + 1, sizeof a.sun_path - 1, "promshim-test-%d", (int)getpid());
	socklen_t al = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + 1 + strlen(a.sun_path + 1));
	MUST(bind(u, (struct sockaddr *)&a, al) == 0);
	MUST(listen(u, 4) == 0);
	int uc = socket(AF_UNIX, SOCK_STREAM, 0);
	MUST(connect(uc, (struct sockaddr *)&a, al) == 0);
	int us = accept(u, NULL, NULL);
	MUST(us >= 0);
	put(uc, REQ);
	char buf[256];
	CHECK(read(us, buf, sizeof buf) == (ssize_t)strlen(REQ));
	CHECK(write(us, RESP, strlen(RESP)) == (ssize_t)strlen(RESP));
	close(us);
	/* A TCP socket that is not listening: accept fails, nothing tracked. */
	int t = socket(AF_INET6, SOCK_STREAM, 0);
	errno = 0;
	CHECK(accept(t, NULL, NULL) == -1 && errno == EINVAL);
	/* A socketpair's read and write are not connections either. */
	int sp[2];
	MUST(socketpair(AF_UNIX, SOCK_STREAM, 0, sp) == 0);
	CHECK(write(sp[0], "hi", 2) == 2 && read(sp[1], buf, 2) == 2);
	/* The exporter's listener is never tracked: PROMSHIM_TEST_FAMILY_FD
	 * names fd 900, where we put a listening TCP socket. */
	int l = lst(0);
	MUST(dup2(l, 900) == 900);
	int c = cli(port_of(l));
	int s = accept(900, NULL, NULL);
	MUST(s >= 0);
	put(c, REQ);
	CHECK(read(s, buf, sizeof buf) == (ssize_t)strlen(REQ));
	close(s);
	close(c);
	return failures ? 1 : 0;
}

static int sc_ports(unsigned pa, unsigned pb)
{
	int la = lst(pa), lb = lst(pb);
	int ca = cli(pa), cb = cli(pb);
	int sa = accept(la, NULL, NULL), sb = accept(lb, NULL, NULL);
	MUST(sa >= 0 && sb >= 0);
	put(ca, "on-a");
	put(cb, "on-b");
	usleep(20000);
	char buf[16];
	CHECK(read(sa, buf, sizeof buf) == 4);
	CHECK(read(sb, buf, sizeof buf) == 4);
	close(sa);
	close(sb);
	return failures ? 1 : 0;
}

/* IPv6 listeners are tracked like IPv4 ones. */
static int sc_ipv6(void)
{
	int l = socket(AF_INET6, SOCK_STREAM, 0);
	MUST(l >= 0);
	struct sockaddr_in6 a = {.sin6_family = AF_INET6, .sin6_addr = IN6ADDR_LOOPBACK_INIT};
	if (bind(l, (struct sockaddr *)&a, sizeof a) != 0)
		return 77;
	MUST(listen(l, 4) == 0);
	socklen_t al = sizeof a;
	MUST(getsockname(l, (struct sockaddr *)&a, &al) == 0);
	int c = socket(AF_INET6, SOCK_STREAM, 0);
	MUST(connect(c, (struct sockaddr *)&a, sizeof a) == 0);
	int s = accept(l, NULL, NULL);
	MUST(s >= 0);
	put(c, "v6");
	char buf[8];
	CHECK(read(s, buf, sizeof buf) == 2);
	close(s);
	return failures ? 1 : 0;
}

static int sc_trunc(void)
{
	int l = lst(0), c = cli(port_of(l));
	int s = accept(l, NULL, NULL);
	MUST(s >= 0);
	put(c, "discarded!");
	usleep(20000);
	char buf[4];
	/* On TCP, MSG_TRUNC throws the bytes away: the shim peeks them first. */
	CHECK(recv(s, buf, 4, MSG_TRUNC) == 4);
	put(c, "later");
	usleep(20000);
	char more[32];
	CHECK(read(s, more, sizeof more) == 11);
	close(s);
	close(c);
	close(l);
	return failures ? 1 : 0;
}

/* A discard of more bytes than the shim peeks ahead (1 KiB). */
static int sc_trunc_big(void)
{
	int l = lst(0), c = cli(port_of(l));
	int s = accept(l, NULL, NULL);
	MUST(s >= 0);
	static char big[3000];
	memset(big, 'x', sizeof big);
	MUST(write(c, big, sizeof big) == (ssize_t)sizeof big);
	usleep(20000);
	CHECK(recv(s, NULL, sizeof big, MSG_TRUNC) == (ssize_t)sizeof big);
	put(c, "later");
	usleep(20000);
	char more[32];
	CHECK(read(s, more, sizeof more) == 5);
	close(s);
	close(c);
	close(l);
	return failures ? 1 : 0;
}

static int sc_sendfile(void)
{
	int l = lst(0), c = cli(port_of(l));
	int s = accept(l, NULL, NULL);
	MUST(s >= 0);
	char path[] = "/tmp/promshim-sendfile-XXXXXX";
	int f = mkstemp(path);
	MUST(f >= 0);
	unlink(path);
	char blk[1000];
	memset(blk, 'z', sizeof blk);
	MUST(write(f, blk, sizeof blk) == (ssize_t)sizeof blk);
	off_t off = 0;
	CHECK(sendfile(s, f, &off, 1000) == 1000);
	off = 0;
	CHECK(sendfile64(s, f, &off, 300) == 300);
	int p[2];
	MUST(pipe(p) == 0);
	MUST(write(p[1], "pipe->sock", 10) == 10);
	CHECK(splice(p[0], NULL, s, NULL, 10, 0) == 10);
	put(c, "sock->pipe");
	usleep(20000);
	CHECK(splice(s, NULL, p[1], NULL, 10, 0) == 10);
	close(s);
	close(c);
	close(l);
	return failures ? 1 : 0;
}

static int sc_shutdown(void)
{
	int l = lst(0), c = cli(port_of(l));
	int s = accept(l, NULL, NULL);
	MUST(s >= 0);
	put(c, REQ);
	char buf[256];
	CHECK(read(s, buf, sizeof buf) == (ssize_t)strlen(REQ));
	CHECK(shutdown(s, SHUT_RD) == 0); /* the response can still come */
	CHECK(write(s, RESP, strlen(RESP)) == (ssize_t)strlen(RESP));
	CHECK(shutdown(s, SHUT_WR) == 0);
	put(c, "lingering");
	close(c);
	usleep(20000);
	/* 0, the bytes, or ECONNRESET (the client left data unread): the
	 * shim must record none of it after SHUT_WR. */
	ssize_t drained = read(s, buf, sizeof buf);
	(void)drained;
	close(s);
	close(l);
	return failures ? 1 : 0;
}

/* Fork per connection: the parent closes its copy at once, the child
 * serves. The exchange belongs to the child only. */
static int sc_fork(void)
{
	int l = lst(0), c = cli(port_of(l));
	int s = accept(l, NULL, NULL);
	MUST(s >= 0);
	fflush(stdout);
	pid_t pid = fork();
	MUST(pid >= 0);
	if (pid == 0) {
		close(l);
		char buf[256];
		CHECK(read(s, buf, sizeof buf) == (ssize_t)strlen(REQ));
		CHECK(write(s, RESP, strlen(RESP)) == (ssize_t)strlen(RESP));
		close(s);
		_exit(failures ? 1 : 0);
	}
	close(s);
	printf("CHILD %d\n", (int)pid);
	put(c, REQ);
	expect(c, RESP);
	int st;
	MUST(waitpid(pid, &st, 0) == pid);
	CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	close(c);
	close(l);
	return failures ? 1 : 0;
}

/* The server raises its fd limit after start (as nginx and Node do):
 * accepts whose fd lies beyond the table are counted, logged once, and
 * not tracked; those within it still are. */
static int sc_beyond(void)
{
	struct rlimit rl;
	MUST(getrlimit(RLIMIT_NOFILE, &rl) == 0);
	unsigned lim = (unsigned)rl.rlim_max;
	rl.rlim_cur = rl.rlim_max = lim * 4;
	if (setrlimit(RLIMIT_NOFILE, &rl) != 0)
		return 77;
	int l = lst(0);
	int c0 = cli(port_of(l)), s0 = accept(l, NULL, NULL);
	MUST(s0 >= 0 && (unsigned)s0 < lim);
	ping(c0, s0, "in");
	int filler = socket(AF_INET, SOCK_STREAM, 0);
	for (int fd = 0; fd < (int)lim + 2; fd++)
		if (fcntl(fd, F_GETFD) < 0)
			MUST(dup2(filler, fd) == fd);
	for (int i = 0; i < 2; i++) {
		int c = cli(port_of(l)), s = accept(l, NULL, NULL);
		MUST(s >= (int)lim);
		ping(c, s, "out");
		close(s);
	}
	close(s0);
	return failures ? 1 : 0;
}

/* A request read, then the connection closed without a response. */
static int sc_abort(void)
{
	int l = lst(0), c = cli(port_of(l));
	int s = accept(l, NULL, NULL);
	MUST(s >= 0);
	put(c, REQ);
	char buf[256];
	CHECK(read(s, buf, sizeof buf) == (ssize_t)strlen(REQ));
	close(s);
	close(c);
	return failures ? 1 : 0;
}

/* A request line the tracker cannot parse (bad version), answered with
 * 400 as nginx does. */
static int sc_garbage(void)
{
	int l = lst(0), c = cli(port_of(l));
	int s = accept(l, NULL, NULL);
	MUST(s >= 0);
	put(c, "GET /x HTTX/1.1\r\n\r\n");
	usleep(20000);
	char buf[256];
	CHECK(read(s, buf, sizeof buf) > 0);
	const char *r400 = "HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";
	CHECK(write(s, r400, strlen(r400)) == (ssize_t)strlen(r400));
	close(s);
	close(c);
	return failures ? 1 : 0;
}

/* A TLS ClientHello on a plain-HTTP port. */
static int sc_tls(void)
{
	int l = lst(0), c = cli(port_of(l));
	int s = accept(l, NULL, NULL);
	MUST(s >= 0);
	static const unsigned char hello[] = {0x16, 0x03, 0x01, 0x00, 0x2f, 0x01, 0x00, 0x00, 0x2b, 0x03, 0x03,
					      1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16};
	MUST(send(c, hello, sizeof hello, 0) == (ssize_t)sizeof hello);
	usleep(20000);
	char buf[256];
	CHECK(read(s, buf, sizeof buf) == (ssize_t)sizeof hello);
	close(s);
	close(c);
	return failures ? 1 : 0;
}

/* Every call a process waits or sleeps in, with timeouts that return at
 * once, then an accept and closes: the family hears of each (or not) with
 * its reason, before the real call (tests/shim/test_family_checks.sh). */
static int sc_waits(void)
{
	int l = lst(0);
	struct pollfd p = {.fd = l, .events = POLLIN};
	CHECK(poll(&p, 1, 0) == 0);
	struct timespec z = {0, 0};
	CHECK(ppoll(&p, 1, &z, NULL) == 0);
	int ep = epoll_create1(EPOLL_CLOEXEC);
	struct epoll_event ev;
	CHECK(epoll_wait(ep, &ev, 1, 0) == 0);
	CHECK(epoll_pwait(ep, &ev, 1, 0, NULL) == 0);
	CHECK(epoll_pwait2(ep, &ev, 1, &z, NULL) == 0);
	struct timeval tv = {0, 0};
	CHECK(select(0, NULL, NULL, NULL, &tv) == 0);
	CHECK(pselect(0, NULL, NULL, NULL, &z, NULL) == 0);
	CHECK(usleep(1) == 0);
	CHECK(nanosleep(&z, NULL) == 0);
	CHECK(clock_nanosleep(CLOCK_MONOTONIC, 0, &z, NULL) == 0);
	CHECK(sleep(0) == 0);
	errno = 0;
	CHECK(waitpid(-1, NULL, WNOHANG) == -1 && errno == ECHILD);
	CHECK(waitpid(-1, NULL, 0) == -1 && errno == ECHILD);
	CHECK(wait(NULL) == -1 && errno == ECHILD);
	sigset_t usr;
	sigemptyset(&usr);
	sigaddset(&usr, SIGUSR1);
	CHECK(sigtimedwait(&usr, NULL, &z) == -1 && errno == EAGAIN);
	int c = cli(port_of(l));
	int s = accept(l, NULL, NULL);
	MUST(s >= 0);
	CHECK(close(s) == 0);
	close(c);
	close(ep);
	close(l);
	return failures ? 1 : 0;
}

int main(int argc, char **argv)
{
	if (argc < 2)
		return 2;
	const char *sc = argv[1];
	int rc = 2;
	if (!strcmp(sc, "basic"))
		rc = sc_basic();
	else if (!strcmp(sc, "waits"))
		rc = sc_waits();
	else if (!strcmp(sc, "peek"))
		rc = sc_peek();
	else if (!strcmp(sc, "partial"))
		rc = sc_partial();
	else if (!strcmp(sc, "vector"))
		rc = sc_vector();
	else if (!strcmp(sc, "errno"))
		rc = sc_errno();
	else if (!strcmp(sc, "errno-fail"))
		rc = sc_errno_fail();
	else if (!strcmp(sc, "inetd-exit"))
		rc = sc_inetd(1);
	else if (!strcmp(sc, "inetd-_exit"))
		rc = sc_inetd(0);
	else if (!strcmp(sc, "dupfd"))
		rc = sc_dupfd();
	else if (!strcmp(sc, "sysclose"))
		rc = sc_sysclose();
	else if (!strcmp(sc, "stale"))
		rc = sc_stale();
	else if (!strcmp(sc, "closerange"))
		rc = sc_closerange();
	else if (!strcmp(sc, "nontcp"))
		rc = sc_nontcp();
	else if (!strcmp(sc, "ports") && argc == 4)
		rc = sc_ports((unsigned)atoi(argv[2]), (unsigned)atoi(argv[3]));
	else if (!strcmp(sc, "ipv6"))
		rc = sc_ipv6();
	else if (!strcmp(sc, "trunc"))
		rc = sc_trunc();
	else if (!strcmp(sc, "trunc_big"))
		rc = sc_trunc_big();
	else if (!strcmp(sc, "sendfile"))
		rc = sc_sendfile();
	else if (!strcmp(sc, "shutdown"))
		rc = sc_shutdown();
	else if (!strcmp(sc, "abort"))
		rc = sc_abort();
	else if (!strcmp(sc, "garbage"))
		rc = sc_garbage();
	else if (!strcmp(sc, "tls"))
		rc = sc_tls();
	else if (!strcmp(sc, "beyond"))
		rc = sc_beyond();
	else if (!strcmp(sc, "fork"))
		rc = sc_fork();
	if (failures && rc == 0)
		rc = 1;
	/* HK_HOLD=N: stay alive up to N seconds so the family's /metrics can be
	 * scraped (the test kills us once it has). */
	const char *hold = getenv("HK_HOLD");
	if (hold && rc == 0) {
		printf("READY\n");
		fflush(stdout);
		sleep((unsigned)atoi(hold));
	}
	return rc;
}
