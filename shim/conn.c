/* shim/conn.c — owns tracked connections: the pool of connection objects,
 * their life across aliases, forks and exit, and the trk_sink that turns
 * the tracker's callbacks into registry records.
 *
 * Who ends a connection. Forks copy the fd table and every connection
 * object, so after a fork two processes hold the same socket and each has
 * its own copy of the tracker state. The rule: a connection's exchanges
 * belong to the process that last read or wrote it (io_pid). When a
 * process's last alias goes away (close, dup2 over it, exit) and io_pid is
 * that process, the connection ends there (trk_end: a close-delimited
 * response completes, pending requests count as aborted). Otherwise the
 * process only forgets its copy: the accepting parent of a
 * fork-per-connection server closes its copy before the child has read
 * anything and must not report the child's request as aborted; a child
 * that inherited live connections and closes them before exec (CGI) leaves
 * them to the parent serving them. A process that first reads or writes an
 * inherited connection adopts it. Known blind spot: a server that reads a
 * request, forks, and lets only the child answer reports it twice (aborted
 * in the parent at its close, completed in the child).
 *
 * The open-connections gauge follows the same idea: the accepting or
 * adopting process counts it in its member slot (counted_pid) and only that
 * process takes it back. Once the process exits, its member slot goes away
 * with its gauges: connections ended then only make family-wide records.
 *
 * Threads: the reading and the writing side of one connection may run at
 * once. They share only the tracker's split state, io_pid (CAS on
 * adoption) and the off flag; refs and claimed are atomic. Ending a
 * connection while another thread still drives it is the host's own race
 * (it would be using a closed fd).
 */
#include <errno.h>
#include <netinet/in.h>
#include <stdatomic.h>
#include <sys/single_threaded.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "conn.h"
#include "fdtable.h"
#include "rcache.h"
#include "shim.h"

#define CONN_POOL_MAX (1u << 17)

static struct shim_conn *conn_pool;
static unsigned conn_pool_n;
static uint64_t conn_untracked_n;
static int conn_exited;
/* Route ids of paths seen before (process-private, shared by threads). */
static struct rcache conn_routes;

/* ---- the sink ---- */

/* Once the process is exiting its member slot is (or is about to be)
 * dropped with its gauges, maybe reused by another process: only
 * family-wide records are made then. */
/* This process's in-flight gauge (shim_conn_member); NULL once exiting.
 * conn_inflight_own is the same word when no other process writes it
 * (not the spill slot), else NULL. */
static _Atomic int64_t *conn_inflight, *conn_inflight_own;

void shim_conn_member(void)
{
	_Atomic int64_t *w = NULL;
	if (!__atomic_load_n(&conn_exited, __ATOMIC_ACQUIRE))
		w = reg_member_inflight_word(shim.reg, shim.member_slot);
	int own = shim.member_slot >= 0 && shim.member_slot < REG_MAX_MEMBERS;
	__atomic_store_n(&conn_inflight_own, own ? w : NULL, __ATOMIC_RELAXED);
	__atomic_store_n(&conn_inflight, w, __ATOMIC_RELAXED);
}

static inline void conn_gauge_inflight(int64_t d)
{
#if defined(__x86_64__)
	/* The process's own word while it has one thread: an add without the
	 * lock prefix. One instruction, so a signal handler that records an
	 * exchange cannot come between its read and its write; the exporter
	 * in another process only loads the word. */
	_Atomic int64_t *o = __atomic_load_n(&conn_inflight_own, __ATOMIC_RELAXED);
	if (o && __libc_single_threaded) {
		__asm__ volatile("addq %1, %0" : "+m"(*(int64_t *)o) : "er"(d));
		return;
	}
#endif
	_Atomic int64_t *w = __atomic_load_n(&conn_inflight, __ATOMIC_RELAXED);
	if (w)
		atomic_fetch_add_explicit(w, d, memory_order_relaxed);
}

static inline void conn_gauge_conns(int64_t d)
{
	if (!__atomic_load_n(&conn_exited, __ATOMIC_RELAXED))
		reg_member_conns(shim.reg, shim.member_slot, d);
}

/* A path not in the route cache: the resolver and the registry's
 * interning, then the cache. Two verdicts are not remembered, being the
 * ones a racing member can still take back: a route table found full
 * (REG_ROUTE_OTHER) and a segment collapsed to `*` (ROUTE_COLLAPSED).
 * They carry TRK_TAG_ONCE, so that the tracker's line memo forgets them
 * too. */
static __attribute__((noinline)) uint32_t conn_route_slow(const char *path, size_t len, unsigned trunc,
							   const struct rcache_key *k)
{
	char label[ROUTE_LABEL_MAX];
	uint32_t id = SHIM_CONN_TAG_EXCLUDED;
	unsigned how;
	int n = route_resolve_how(&shim.routes, path, len, trunc != 0, label, sizeof label, &how);
	if (n >= 0)
		id = reg_route(shim.reg, label, (size_t)n);
	if (id == REG_ROUTE_OTHER || (how & ROUTE_COLLAPSED))
		return id | TRK_TAG_ONCE;
	rcache_put(&conn_routes, k, id);
	return id;
}

static uint32_t sink_request(void *ctx, unsigned method, const char *path, size_t len, unsigned flags)
{
	(void)ctx;
	(void)method;
	uint32_t id;
	if (__builtin_expect(!(flags & (TRK_R_INVALID | TRK_R_ASTERISK | TRK_R_CONNECT)), 1)) {
		struct rcache_key k;
		unsigned trunc = flags & TRK_R_TRUNCATED;
		if (!rcache_get(&conn_routes, path, len, trunc, &k, &id))
			id = conn_route_slow(path, len, trunc, &k);
		if (id == SHIM_CONN_TAG_EXCLUDED)
			return id;
	} else {
		id = flags & TRK_R_INVALID ? REG_ROUTE_INVALID
		     : flags & TRK_R_ASTERISK ? REG_ROUTE_ASTERISK
					       : REG_ROUTE_CONNECT;
	}
	conn_gauge_inflight(1);
	return id;
}

/* The connection's previous request line again: its route, already
 * resolved (routes of a path never change, see core/rcache.h). */
static uint32_t sink_again(void *ctx, uint32_t tag)
{
	(void)ctx;
	if (tag != SHIM_CONN_TAG_EXCLUDED)
		conn_gauge_inflight(1);
	return tag;
}

static void sink_exchange(void *ctx, const struct trk_exchange *x)
{
	(void)ctx;
	if (x->tag == SHIM_CONN_TAG_EXCLUDED)
		return;
	if (x->flags & TRK_X_ABORTED) {
		reg_abort(shim.reg, x->method, x->tag);
	} else {
		uint64_t dur = x->t_end > x->t_start ? x->t_end - x->t_start : 0;
		reg_observe(shim.reg, x->method, x->tag, x->status, dur, x->req_body, x->resp_body);
	}
	conn_gauge_inflight(-1);
}

static void sink_error(void *ctx)
{
	(void)ctx;
	reg_add(shim.reg, REG_C_PARSE_ERRORS, 1);
}

static void sink_unsupported(void *ctx, unsigned reason)
{
	(void)ctx;
	enum reg_counter c = reason == TRK_U_TLS ? REG_C_UNSUPPORTED_TLS
			     : reason == TRK_U_H2C ? REG_C_UNSUPPORTED_H2C
						   : REG_C_UNSUPPORTED_OTHER;
	reg_add(shim.reg, c, 1);
}

static inline uint64_t conn_now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static uint64_t sink_now(void *ctx)
{
	(void)ctx;
	return conn_now();
}

static const struct trk_sink conn_sink = {
	.on_request = sink_request,
	.on_exchange = sink_exchange,
	.on_error = sink_error,
	.on_unsupported = sink_unsupported,
	.now = sink_now,
	.on_again = sink_again,
	.ctx = NULL,
};

/* ---- the pool ---- */

int shim_conn_pool_init(unsigned n)
{
	if (n > CONN_POOL_MAX)
		n = CONN_POOL_MAX;
	void *m = mmap(NULL, (size_t)n * sizeof(struct shim_conn), PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (m == MAP_FAILED)
		return -1;
	conn_pool = m;
	conn_pool_n = n;
	/* An unpredictable seed: clients cannot line paths up on one key. */
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	uint64_t seed = (uint64_t)ts.tv_nsec ^ (uint64_t)ts.tv_sec << 32 ^ (uint64_t)(uintptr_t)&ts ^
			(uint64_t)(uintptr_t)m << 7 ^ (uint64_t)getpid() << 40;
	rcache_init(&conn_routes, seed);
	return 0;
}

/* The slot named after the fd is free in all but alias-heavy cases; else
 * take the next free one. */
static struct shim_conn *conn_claim(int fd, uint32_t *idx)
{
	uint32_t start = (uint32_t)fd % conn_pool_n;
	for (uint32_t k = 0; k < conn_pool_n; k++) {
		uint32_t i = start + k;
		if (i >= conn_pool_n)
			i -= conn_pool_n;
		int zero = 0;
		if (__atomic_load_n(&conn_pool[i].claimed, __ATOMIC_RELAXED) == 0 &&
		    __atomic_compare_exchange_n(&conn_pool[i].claimed, &zero, 1, 0, __ATOMIC_ACQUIRE,
						__ATOMIC_RELAXED)) {
			*idx = i;
			return &conn_pool[i];
		}
	}
	return NULL;
}

static inline struct shim_conn *conn_of(int fd)
{
	if ((unsigned)fd >= shim_fd_cap || !(__atomic_load_n(&shim_fd_state[fd], __ATOMIC_ACQUIRE) & SHIM_FD_CONN))
		return NULL;
	return &conn_pool[__atomic_load_n(&shim_fd_cid[fd], __ATOMIC_RELAXED)];
}

static inline int conn_is_off(struct shim_conn *c)
{
	return __atomic_load_n(&c->off, __ATOMIC_ACQUIRE) != 0;
}

/* First I/O by this process on a connection it did not touch before. */
static void conn_adopt(struct shim_conn *c, pid_t seen)
{
	pid_t me = shim_fd_pid;
	if (!__atomic_compare_exchange_n(&c->io_pid, &seen, me, 0, __ATOMIC_ACQ_REL, __ATOMIC_RELAXED))
		return; /* the other side of the connection adopted it first */
	if (__atomic_load_n(&c->counted_pid, __ATOMIC_RELAXED) != me) {
		__atomic_store_n(&c->counted_pid, me, __ATOMIC_RELAXED);
		conn_gauge_conns(1);
	}
}

static inline void conn_touch(struct shim_conn *c)
{
	pid_t seen = __atomic_load_n(&c->io_pid, __ATOMIC_RELAXED);
	if (__builtin_expect(seen != shim_fd_pid, 0))
		conn_adopt(c, seen);
}

static void conn_finish(struct shim_conn *c)
{
	pid_t me = shim_fd_pid;
	if (__atomic_load_n(&c->io_pid, __ATOMIC_RELAXED) == me && !conn_is_off(c))
		trk_end(&c->trk, conn_now(), &conn_sink);
	if (__atomic_load_n(&c->counted_pid, __ATOMIC_RELAXED) == me)
		conn_gauge_conns(-1);
	__atomic_store_n(&c->claimed, 0, __ATOMIC_RELEASE);
}

/* ---- listeners and accepted connections ---- */

static unsigned conn_classify(int fd, int *is_tcp, uint16_t *lport)
{
	struct sockaddr_storage ss;
	socklen_t sl = sizeof ss;
	int type = 0, proto = 0, acc = 0;
	socklen_t tl = sizeof type, pl = sizeof proto, al = sizeof acc;
	unsigned bits = SHIM_FD_LN;
	uint16_t port = 0;

	*is_tcp = 0;
	if (getsockname(fd, (struct sockaddr *)&ss, &sl) == 0 &&
	    (ss.ss_family == AF_INET || ss.ss_family == AF_INET6) &&
	    getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &tl) == 0 && type == SOCK_STREAM &&
	    getsockopt(fd, SOL_SOCKET, SO_PROTOCOL, &proto, &pl) == 0 && proto == IPPROTO_TCP &&
	    getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &acc, &al) == 0 && acc) {
		*is_tcp = 1;
		port = ntohs(ss.ss_family == AF_INET ? ((struct sockaddr_in *)&ss)->sin_port
						     : ((struct sockaddr_in6 *)&ss)->sin6_port);
		if (!shim_family_owns_fd(fd) && cfg_port_tracked(&shim.cfg, port))
			bits = SHIM_FD_LQ;
	}
	/* A listener's cid slot holds its local port. */
	shim_fd_set(fd, bits, port);
	*lport = port;
	return bits;
}

void shim_conn_listening(int fd)
{
	int is_tcp;
	uint16_t port;
	conn_classify(fd, &is_tcp, &port);
	if (is_tcp && !shim_family_owns_fd(fd))
		shim_family_listening();
}

uint32_t shim_conn_listener(int lfd)
{
	unsigned lb = shim_fd_bits(lfd) & (SHIM_FD_LQ | SHIM_FD_LN);
	uint16_t lport;
	if (lb) { /* cached: lfd is within the table */
		lport = (uint16_t)__atomic_load_n(&shim_fd_cid[lfd], __ATOMIC_RELAXED);
	} else {
		int is_tcp;
		lb = conn_classify(lfd, &is_tcp, &lport);
	}
	return lb | (uint32_t)lport << 8;
}

void shim_conn_accepted(uint32_t listener, int fd)
{
	unsigned lb = listener & 0xffu;
	uint16_t lport = (uint16_t)(listener >> 8);
	if (shim_fd_bits(fd))
		shim_conn_drop_fd(fd); /* closed behind our back (raw syscall, glibc internals) */
	if (!(lb & SHIM_FD_LQ))
		return;

	uint32_t idx;
	struct shim_conn *c = (unsigned)fd < shim_fd_cap ? conn_claim(fd, &idx) : NULL;
	if (!c) {
		if (__atomic_fetch_add(&conn_untracked_n, 1, __ATOMIC_RELAXED) == 0)
			shim_log(CFG_LOG_INFO, "fd %d is beyond the %u fds the shim follows: connection not tracked",
				 fd, shim_fd_cap);
		return;
	}
	trk_init(&c->trk);
	c->refs = 1;
	c->io_pid = 0;
	c->counted_pid = shim_fd_pid;
	c->lport = lport;
	c->off = 0;
	shim_fd_set(fd, SHIM_FD_CONN, idx);
	reg_add(shim.reg, REG_C_CONN_ACCEPTED, 1);
	conn_gauge_conns(1);
}

void shim_conn_drop_fd(int fd)
{
	if ((unsigned)fd >= shim_fd_cap)
		return;
	/* The exchange makes a double close from two threads drop one ref. */
	uint8_t old = __atomic_exchange_n(&shim_fd_state[fd], 0, __ATOMIC_ACQ_REL);
	if (!(old & SHIM_FD_CONN))
		return;
	struct shim_conn *c = &conn_pool[__atomic_load_n(&shim_fd_cid[fd], __ATOMIC_RELAXED)];
	if (__atomic_sub_fetch(&c->refs, 1, __ATOMIC_ACQ_REL) == 0)
		conn_finish(c);
}

void shim_conn_alias(int oldfd, int newfd)
{
	if (oldfd == newfd)
		return;
	if (shim_fd_bits(newfd))
		shim_conn_drop_fd(newfd);
	struct shim_conn *c = conn_of(oldfd);
	if (!c || (unsigned)newfd >= shim_fd_cap)
		return;
	__atomic_add_fetch(&c->refs, 1, __ATOMIC_ACQ_REL);
	shim_fd_set(newfd, SHIM_FD_CONN, (uint32_t)(c - conn_pool));
}

/* ---- bytes ---- */

/* The connection behind fd for one of the I/O calls below, adopted by this
 * process; NULL when there is nothing to follow. The hook already checked
 * fd against the table, so only the state is read again: another thread may
 * have closed fd while the real call ran. A connection the tracker stopped
 * following still gets its bytes (the tracker drops them at once): asking
 * it first would cost every live connection a call. */
static inline __attribute__((always_inline)) struct shim_conn *conn_live(int fd)
{
	if (!(__atomic_load_n(&shim_fd_state[fd], __ATOMIC_ACQUIRE) & SHIM_FD_CONN))
		return NULL;
	struct shim_conn *c = &conn_pool[__atomic_load_n(&shim_fd_cid[fd], __ATOMIC_RELAXED)];
	if (__builtin_expect(conn_is_off(c), 0))
		return NULL;
	conn_touch(c);
	return c;
}

void shim_conn_read(int fd, const void *buf, size_t n)
{
	struct shim_conn *c = conn_live(fd);
	if (c)
		trk_read(&c->trk, buf, n, conn_now(), &conn_sink);
}

void shim_conn_readv(int fd, const struct iovec *iov, int iovcnt, size_t n)
{
	struct shim_conn *c = conn_live(fd);
	if (c)
		trk_readv(&c->trk, iov, iovcnt, n, conn_now(), &conn_sink);
}

/* Writes pass no time: the tracker reads the clock (sink_now) only when
 * a response ends, and most writes end none (a head before its sendfile
 * body, the parts of a long body). */
void shim_conn_write(int fd, const void *buf, size_t n)
{
	struct shim_conn *c = conn_live(fd);
	if (c)
		trk_write(&c->trk, buf, n, 0, &conn_sink);
}

void shim_conn_writev(int fd, const struct iovec *iov, int iovcnt, size_t n)
{
	struct shim_conn *c = conn_live(fd);
	if (c)
		trk_writev(&c->trk, iov, iovcnt, n, 0, &conn_sink);
}

void shim_conn_write_opaque(int fd, uint64_t n)
{
	struct shim_conn *c = conn_live(fd);
	if (c)
		trk_write_opaque(&c->trk, n, 0, &conn_sink);
}

/* End what was pending and stop: after unseen bytes any further parse
 * would be of a shifted stream. */
static void conn_stop(struct shim_conn *c)
{
	if (__atomic_exchange_n(&c->off, 1, __ATOMIC_ACQ_REL))
		return;
	trk_end(&c->trk, conn_now(), &conn_sink);
}

void shim_conn_read_unseen(int fd, uint64_t n)
{
	struct shim_conn *c = conn_of(fd);
	if (!c || n == 0 || conn_is_off(c))
		return;
	conn_touch(c);
	conn_stop(c);
}

/* After SHUT_WR the server can send nothing more: the response in progress
 * is complete (close-delimited) or never will be, and what the server still
 * reads is a lingering close draining the client. */
void shim_conn_shutdown(int fd, int how)
{
	if (how != SHUT_WR && how != SHUT_RDWR)
		return;
	struct shim_conn *c = conn_of(fd);
	if (!c || conn_is_off(c))
		return;
	conn_touch(c);
	conn_stop(c);
}

void shim_conn_exit_all(void)
{
	if (__atomic_exchange_n(&conn_exited, 1, __ATOMIC_ACQ_REL))
		return;
	__atomic_store_n(&conn_inflight_own, NULL, __ATOMIC_RELAXED);
	__atomic_store_n(&conn_inflight, NULL, __ATOMIC_RELAXED);
	unsigned h = shim_fd_hwm();
	for (unsigned fd = 0; fd < h; fd++)
		if (shim_fd_bits((int)fd) & SHIM_FD_CONN)
			shim_conn_drop_fd((int)fd);
}

uint64_t shim_conn_untracked(void)
{
	return __atomic_load_n(&conn_untracked_n, __ATOMIC_RELAXED);
}

/* exit() and a return from main: vfork children share our memory and must
 * not end the parent's connections, hence the pid check. */
__attribute__((destructor)) static void conn_fini(void)
{
	if (shim_fd_cap && getpid() == shim_fd_pid)
		shim_conn_exit_all();
}
