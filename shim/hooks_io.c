/* shim/hooks_io.c — owns the hooked read and write families: each hook
 * checks the fd's state byte, calls the real function, hands what the
 * kernel reported to the connection, and gives errno back untouched.
 *
 * No locks, no allocation, no stdio: write() is called from signal
 * handlers. Only ret > 0 carries data (0 is end of file for a read of a
 * non-empty buffer); a vector is parsed for its first ret bytes only.
 */
#include <errno.h>
#include <sys/sendfile.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>
#include <fcntl.h>

#include "conn.h"
#include "fdtable.h"
#include "real.h"

#define EXPORT __attribute__((visibility("default")))
#define UNLIKELY(x) __builtin_expect(!!(x), 0)

/* Flags under which a recv does not consume stream data. */
#define HK_NOT_CONSUMED (MSG_PEEK | MSG_ERRQUEUE | MSG_OOB)

ssize_t __read_chk(int fd, void *buf, size_t n, size_t buflen);
ssize_t __recv_chk(int fd, void *buf, size_t n, size_t buflen, int flags);
ssize_t __recvfrom_chk(int fd, void *buf, size_t n, size_t buflen, int flags, struct sockaddr *addr,
		       socklen_t *alen);

static size_t hk_iov_len(const struct iovec *iov, int cnt)
{
	size_t t = 0;
	for (int i = 0; i < cnt; i++)
		t += iov[i].iov_len;
	return t;
}

static inline __attribute__((always_inline)) void hk_read(int fd, const void *buf, size_t asked, ssize_t r)
{
	if (r > 0 || (r == 0 && asked > 0))
		shim_conn_read(fd, buf, (size_t)r);
}

static inline __attribute__((always_inline)) void hk_recv(int fd, const void *buf, size_t asked, ssize_t r, int flags)
{
	if (flags & HK_NOT_CONSUMED)
		return;
	hk_read(fd, buf, asked, r);
}

/* Bytes peeked ahead of a MSG_TRUNC recv; a PROXY v2 header fits. */
#define HK_PEEK_MAX 1024

/* On TCP, recv with MSG_TRUNC discards the bytes instead of copying them
 * (lighttpd drops a PROXY header it peeked this way). They are peeked first,
 * without blocking, so that the tracker still sees them; only when the
 * discard took more than the peek saw is the stream given up. recv and
 * __recv_chk are recvfrom and __recvfrom_chk without an address. */
static __attribute__((noinline, cold)) ssize_t hk_recv_trunc(int fd, void *buf, size_t n, size_t buflen, int flags,
							     struct sockaddr *addr, socklen_t *alen, int chk)
{
	char pk[HK_PEEK_MAX];
	ssize_t p = -1, r;
	int e = errno;

	if (!(flags & HK_NOT_CONSUMED))
		p = SHIM_REAL(recv)(fd, pk, n < sizeof pk ? n : sizeof pk, MSG_PEEK | MSG_DONTWAIT);
	errno = e;
	r = chk ? SHIM_REAL(recvfrom_chk)(fd, buf, n, buflen, flags, addr, alen)
		: SHIM_REAL(recvfrom)(fd, buf, n, flags, addr, alen);
	e = errno;
	if (r > 0 && !(flags & HK_NOT_CONSUMED)) {
		if (p >= r)
			shim_conn_read(fd, pk, (size_t)r);
		else
			shim_conn_read_unseen(fd, (uint64_t)r);
	}
	errno = e;
	return r;
}

static void hk_recvmsg(int fd, const struct msghdr *m, ssize_t r, int flags)
{
	if (flags & HK_NOT_CONSUMED)
		return;
	if (flags & MSG_TRUNC) {
		if (r > 0)
			shim_conn_read_unseen(fd, (uint64_t)r);
		return;
	}
	int cnt = (int)m->msg_iovlen;
	if (r > 0 || (r == 0 && hk_iov_len(m->msg_iov, cnt) > 0))
		shim_conn_readv(fd, m->msg_iov, cnt, (size_t)r);
}

EXPORT ssize_t read(int fd, void *buf, size_t n)
{
	if (!UNLIKELY(shim_fd_tracked(fd)))
		return SHIM_REAL(read)(fd, buf, n);
	ssize_t r = SHIM_REAL(read)(fd, buf, n);
	int e = errno;
	hk_read(fd, buf, n, r);
	errno = e;
	return r;
}

EXPORT ssize_t __read_chk(int fd, void *buf, size_t n, size_t buflen)
{
	if (!UNLIKELY(shim_fd_tracked(fd)))
		return SHIM_REAL(read_chk)(fd, buf, n, buflen);
	ssize_t r = SHIM_REAL(read_chk)(fd, buf, n, buflen);
	int e = errno;
	hk_read(fd, buf, n, r);
	errno = e;
	return r;
}

EXPORT ssize_t readv(int fd, const struct iovec *iov, int cnt)
{
	if (!UNLIKELY(shim_fd_tracked(fd)))
		return SHIM_REAL(readv)(fd, iov, cnt);
	ssize_t r = SHIM_REAL(readv)(fd, iov, cnt);
	int e = errno;
	if (r > 0 || (r == 0 && hk_iov_len(iov, cnt) > 0))
		shim_conn_readv(fd, iov, cnt, (size_t)r);
	errno = e;
	return r;
}

EXPORT ssize_t recv(int fd, void *buf, size_t n, int flags)
{
	if (!UNLIKELY(shim_fd_tracked(fd)))
		return SHIM_REAL(recv)(fd, buf, n, flags);
	if (UNLIKELY(flags & MSG_TRUNC))
		return hk_recv_trunc(fd, buf, n, n, flags, NULL, NULL, 0);
	ssize_t r = SHIM_REAL(recv)(fd, buf, n, flags);
	int e = errno;
	hk_recv(fd, buf, n, r, flags);
	errno = e;
	return r;
}

EXPORT ssize_t __recv_chk(int fd, void *buf, size_t n, size_t buflen, int flags)
{
	if (!UNLIKELY(shim_fd_tracked(fd)))
		return SHIM_REAL(recv_chk)(fd, buf, n, buflen, flags);
	if (UNLIKELY(flags & MSG_TRUNC))
		return hk_recv_trunc(fd, buf, n, buflen, flags, NULL, NULL, 1);
	ssize_t r = SHIM_REAL(recv_chk)(fd, buf, n, buflen, flags);
	int e = errno;
	hk_recv(fd, buf, n, r, flags);
	errno = e;
	return r;
}

EXPORT ssize_t recvfrom(int fd, void *buf, size_t n, int flags, struct sockaddr *addr, socklen_t *alen)
{
	if (!UNLIKELY(shim_fd_tracked(fd)))
		return SHIM_REAL(recvfrom)(fd, buf, n, flags, addr, alen);
	if (UNLIKELY(flags & MSG_TRUNC))
		return hk_recv_trunc(fd, buf, n, n, flags, addr, alen, 0);
	ssize_t r = SHIM_REAL(recvfrom)(fd, buf, n, flags, addr, alen);
	int e = errno;
	hk_recv(fd, buf, n, r, flags);
	errno = e;
	return r;
}

EXPORT ssize_t __recvfrom_chk(int fd, void *buf, size_t n, size_t buflen, int flags, struct sockaddr *addr,
			      socklen_t *alen)
{
	if (!UNLIKELY(shim_fd_tracked(fd)))
		return SHIM_REAL(recvfrom_chk)(fd, buf, n, buflen, flags, addr, alen);
	if (UNLIKELY(flags & MSG_TRUNC))
		return hk_recv_trunc(fd, buf, n, buflen, flags, addr, alen, 1);
	ssize_t r = SHIM_REAL(recvfrom_chk)(fd, buf, n, buflen, flags, addr, alen);
	int e = errno;
	hk_recv(fd, buf, n, r, flags);
	errno = e;
	return r;
}

EXPORT ssize_t recvmsg(int fd, struct msghdr *m, int flags)
{
	if (!UNLIKELY(shim_fd_tracked(fd)))
		return SHIM_REAL(recvmsg)(fd, m, flags);
	ssize_t r = SHIM_REAL(recvmsg)(fd, m, flags);
	int e = errno;
	hk_recvmsg(fd, m, r, flags);
	errno = e;
	return r;
}

EXPORT int recvmmsg(int fd, struct mmsghdr *v, unsigned int vlen, int flags, struct timespec *timeout)
{
	if (!UNLIKELY(shim_fd_tracked(fd)))
		return SHIM_REAL(recvmmsg)(fd, v, vlen, flags, timeout);
	int r = SHIM_REAL(recvmmsg)(fd, v, vlen, flags, timeout);
	int e = errno;
	for (int i = 0; i < r; i++)
		hk_recvmsg(fd, &v[i].msg_hdr, (ssize_t)v[i].msg_len, flags);
	errno = e;
	return r;
}

EXPORT ssize_t write(int fd, const void *buf, size_t n)
{
	if (!UNLIKELY(shim_fd_tracked(fd)))
		return SHIM_REAL(write)(fd, buf, n);
	ssize_t r = SHIM_REAL(write)(fd, buf, n);
	int e = errno;
	if (r > 0)
		shim_conn_write(fd, buf, (size_t)r);
	errno = e;
	return r;
}

EXPORT ssize_t writev(int fd, const struct iovec *iov, int cnt)
{
	if (!UNLIKELY(shim_fd_tracked(fd)))
		return SHIM_REAL(writev)(fd, iov, cnt);
	ssize_t r = SHIM_REAL(writev)(fd, iov, cnt);
	int e = errno;
	if (r > 0)
		shim_conn_writev(fd, iov, cnt, (size_t)r);
	errno = e;
	return r;
}

EXPORT ssize_t send(int fd, const void *buf, size_t n, int flags)
{
	if (!UNLIKELY(shim_fd_tracked(fd)))
		return SHIM_REAL(send)(fd, buf, n, flags);
	ssize_t r = SHIM_REAL(send)(fd, buf, n, flags);
	int e = errno;
	if (r > 0)
		shim_conn_write(fd, buf, (size_t)r);
	errno = e;
	return r;
}

EXPORT ssize_t sendto(int fd, const void *buf, size_t n, int flags, const struct sockaddr *addr,
		      socklen_t alen)
{
	if (!UNLIKELY(shim_fd_tracked(fd)))
		return SHIM_REAL(sendto)(fd, buf, n, flags, addr, alen);
	ssize_t r = SHIM_REAL(sendto)(fd, buf, n, flags, addr, alen);
	int e = errno;
	if (r > 0)
		shim_conn_write(fd, buf, (size_t)r);
	errno = e;
	return r;
}

EXPORT ssize_t sendmsg(int fd, const struct msghdr *m, int flags)
{
	if (!UNLIKELY(shim_fd_tracked(fd)))
		return SHIM_REAL(sendmsg)(fd, m, flags);
	ssize_t r = SHIM_REAL(sendmsg)(fd, m, flags);
	int e = errno;
	if (r > 0)
		shim_conn_writev(fd, m->msg_iov, (int)m->msg_iovlen, (size_t)r);
	errno = e;
	return r;
}

EXPORT int sendmmsg(int fd, struct mmsghdr *v, unsigned int vlen, int flags)
{
	if (!UNLIKELY(shim_fd_tracked(fd)))
		return SHIM_REAL(sendmmsg)(fd, v, vlen, flags);
	int r = SHIM_REAL(sendmmsg)(fd, v, vlen, flags);
	int e = errno;
	for (int i = 0; i < r; i++)
		if (v[i].msg_len > 0)
			shim_conn_writev(fd, v[i].msg_hdr.msg_iov, (int)v[i].msg_hdr.msg_iovlen, v[i].msg_len);
	errno = e;
	return r;
}

EXPORT ssize_t sendfile(int out, int in, off_t *off, size_t n)
{
	if (!UNLIKELY(shim_fd_tracked(out)))
		return SHIM_REAL(sendfile)(out, in, off, n);
	ssize_t r = SHIM_REAL(sendfile)(out, in, off, n);
	int e = errno;
	if (r > 0)
		shim_conn_write_opaque(out, (uint64_t)r);
	errno = e;
	return r;
}

EXPORT ssize_t sendfile64(int out, int in, off_t *off, size_t n)
{
	if (!UNLIKELY(shim_fd_tracked(out)))
		return SHIM_REAL(sendfile64)(out, in, off, n);
	ssize_t r = SHIM_REAL(sendfile64)(out, in, off, n);
	int e = errno;
	if (r > 0)
		shim_conn_write_opaque(out, (uint64_t)r);
	errno = e;
	return r;
}

EXPORT ssize_t splice(int in, off_t *off_in, int out, off_t *off_out, size_t n, unsigned int flags)
{
	if (!UNLIKELY((shim_fd_bits(in) | shim_fd_bits(out)) & SHIM_FD_CONN))
		return SHIM_REAL(splice)(in, off_in, out, off_out, n, flags);
	ssize_t r = SHIM_REAL(splice)(in, off_in, out, off_out, n, flags);
	int e = errno;
	if (r > 0) {
		shim_conn_read_unseen(in, (uint64_t)r);
		if (shim_fd_tracked(out))
			shim_conn_write_opaque(out, (uint64_t)r);
	}
	errno = e;
	return r;
}
