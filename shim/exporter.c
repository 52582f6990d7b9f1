/* shim/exporter.c — the /metrics endpoint (SPEC 6): the listening socket,
 * libmicrohttpd (loaded with dlopen only when this process starts serving),
 * content negotiation, gzip with a one-second cache, and the exporter's
 * fds, which live at high numbers and are closed in a fork child.
 *
 * libmicrohttpd runs in "external epoll" mode without a listening socket,
 * driven by the family's serving thread: that thread accepts scrapes itself
 * with the real accept4, moves each socket above SHIM_FD_FLOOR and hands it
 * over with MHD_add_connection. So libmicrohttpd starts no thread, opens no
 * wake-up fd, its one epoll fd is moved high as it is made (the
 * epoll_create1 hook), and it never holds the listening socket: when the
 * host closes or dups over one of our fds we can forget it and build a new
 * one without libmicrohttpd closing a number the host reuses.
 *
 * Nothing here uses select(): a server with a thousand connections holds
 * every fd from 900 to 1023, and our fds may then sit at any number (epoll
 * is libmicrohttpd 0.9.75's only external mode that takes fds above
 * FD_SETSIZE; the serving thread waits in poll()).
 */
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/resource.h>
#include <poll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <microhttpd.h>

#include "auth_glue.h"
#include "expose.h"
#include "exporter.h"
#include "procstat.h"
#include "real.h"
#include "shim.h"

#ifndef PROMSHIM_VERSION
#define PROMSHIM_VERSION "0.1.0"
#endif

#define EXP_LIB "libmicrohttpd.so.12"
#define EXP_CONN_LIMIT 16      /* concurrent scrape connections */
#define EXP_CONN_TIMEOUT_S 10  /* idle or slow scrape connection */
#define EXP_TICK_MS 250        /* longest wait: flags are seen this fast */
#define EXP_RETRY_MS 500       /* port held by someone else: try again */
#define EXP_GZIP_REUSE_NS 1000000000ull
/* Our fds stay below this: the kernel's default fs.nr_open, so any fd a
 * host can open without raising it. 128 KiB of zero pages until used. */
#define EXP_FD_BITS (1 << 20)
#define EXP_OWN_FDS 3          /* listening, wake-up and epoll fds */

/* libmicrohttpd entry points, resolved from the dlopen'd library; the
 * header gives their types, the library is never linked. */
static struct {
	__typeof__(MHD_start_daemon) *start_daemon;
	__typeof__(MHD_add_connection) *add_connection;
	__typeof__(MHD_get_daemon_info) *get_daemon_info;
	__typeof__(MHD_get_timeout) *get_timeout;
	__typeof__(MHD_run) *run;
	__typeof__(MHD_get_connection_info) *get_connection_info;
	__typeof__(MHD_lookup_connection_value) *lookup_connection_value;
	__typeof__(MHD_create_response_from_buffer) *create_response_from_buffer;
	__typeof__(MHD_add_response_header) *add_response_header;
	__typeof__(MHD_queue_response) *queue_response;
	__typeof__(MHD_destroy_response) *destroy_response;
	/* optional (0.9.73 on): without it every body is copied */
	__typeof__(MHD_create_response_from_buffer_with_free_callback_cls) *create_response_held;
} mhd;
static void *exp_lib;

/* Everything below is guarded by exp_lock, except the fd bitmap, which the
 * hooks read lock-free. The serving thread takes the lock around each step
 * of work, never while it waits in poll().
 *
 * exp_fork_lock is what the fork handlers take: held only while an fd is
 * created and marked ours (or closed and unmarked) and during dlopen, so a
 * fork never waits for a render, a child's bitmap names every exporter fd
 * it inherited, and no child inherits a half-loaded library. */
static pthread_mutex_t exp_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_mutex_t exp_fork_lock = PTHREAD_MUTEX_INITIALIZER;
static int exp_listen_fd = -1;
static int exp_wake_fd = -1;
static int exp_epoll_fd = -1; /* libmicrohttpd's */
static struct MHD_Daemon *exp_d;
static unsigned exp_gen; /* bumped whenever an fd is forgotten */
/* The serving thread sits in poll(), which holds a reference to every
 * file it waits on: a socket closed meanwhile stays bound until poll()
 * returns. exp_seq counts the returns, so exp_give_up can wait for one. */
static int exp_in_wait;
static unsigned exp_seq;
static uint64_t exp_bits[EXP_FD_BITS / 64];
int shim_family_fd_floor = EXP_FD_BITS; /* below it nothing is ours: one compare (shim.h) */
static int exp_highest = -1;         /* nothing of ours above it */
static __thread int exp_self;        /* set in the serving thread */
static __thread int exp_starting;    /* ... while it starts libmicrohttpd */

struct exp_gz_cache {
	struct expo_buf gz;
	uint64_t at_ns;
	int valid;
};
static struct exp_gz_cache exp_gzc[2]; /* per format */

/* The order of the series, from one render to the next. */
static struct reg_snap_order exp_order;

/* Uncompressed bodies (6 MB for 2,000 series) go to libmicrohttpd without a
 * copy: each is rendered into a buffer that is free, which the responses
 * sending it then hold (refs) until libmicrohttpd releases them. The lowest
 * free one is taken, so one stays warm while scrapes come one at a time;
 * when every one is held, the body is rendered into exp_text and copied. */
#define EXP_HELD_BUFS 4
struct exp_held {
	struct expo_buf b;
	unsigned refs;
};
static struct exp_held exp_held[EXP_HELD_BUFS];
static struct expo_buf exp_text;
/* net.core.wmem_max in bytes (exp_fit_sndbuf); 0: unknown, never used */
static size_t exp_wmem_max;

static uint64_t exp_now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static void exp_sleep_ms(unsigned ms)
{
	struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
	while (SHIM_REAL(nanosleep)(&ts, &ts) < 0 && errno == EINTR)
		;
}

/* ---- fds ---- */

static void exp_bit_set(int fd, int on)
{
	if (fd < 0 || fd >= EXP_FD_BITS)
		return;
	uint64_t m = 1ull << (fd % 64);
	if (on) {
		if (fd > __atomic_load_n(&exp_highest, __ATOMIC_RELAXED))
			__atomic_store_n(&exp_highest, fd, __ATOMIC_RELEASE);
		__atomic_fetch_or(&exp_bits[fd / 64], m, __ATOMIC_RELEASE);
		if (fd < __atomic_load_n(&shim_family_fd_floor, __ATOMIC_RELAXED))
			__atomic_store_n(&shim_family_fd_floor, fd, __ATOMIC_RELEASE);
	} else {
		__atomic_fetch_and(&exp_bits[fd / 64], ~m, __ATOMIC_RELEASE);
	}
}

int exp_owns_fd(int fd)
{
	if (fd < __atomic_load_n(&shim_family_fd_floor, __ATOMIC_ACQUIRE) || fd >= EXP_FD_BITS)
		return 0;
	return (__atomic_load_n(&exp_bits[fd / 64], __ATOMIC_ACQUIRE) >> (fd % 64)) & 1;
}

/* Owned fds are at most exp_highest: loops over them stop there. */
static int exp_scan_end(void)
{
	int h = __atomic_load_n(&exp_highest, __ATOMIC_ACQUIRE);
	return h < 0 ? 0 : h + 1;
}

static unsigned exp_owned_count(void)
{
	unsigned n = 0;
	for (int i = 0; i < (exp_scan_end() + 63) / 64; i++)
		n += (unsigned)__builtin_popcountll(__atomic_load_n(&exp_bits[i], __ATOMIC_RELAXED));
	return n;
}

/* Our fds go between floor and ceiling: high enough to stay clear of the
 * host's numbers, below the soft limit and the bitmap's end. */
static void exp_fd_window(int *floor, int *ceiling)
{
	struct rlimit rl;
	long soft = EXP_FD_BITS;
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY &&
	    rl.rlim_cur < (rlim_t)soft)
		soft = (long)rl.rlim_cur;
	int f = SHIM_FD_FLOOR;
	if (f > soft - 32)
		f = soft > 96 ? (int)soft - 32 : (int)soft / 2;
	*floor = f;
	*ceiling = (int)soft;
}

/* Move fd to the high window (close-on-exec) and mark it ours. Returns the
 * new fd, or -1 (fd closed; said once in the log). Under exp_fork_lock. */
static int exp_move_high(int fd)
{
	int floor, ceiling;
	exp_fd_window(&floor, &ceiling);
	int nfd = shim_real.fcntl(fd, F_DUPFD_CLOEXEC, floor);
	int e = errno;
	shim_real.close(fd);
	if (nfd >= ceiling) {
		shim_real.close(nfd);
		nfd = -1;
		e = EMFILE;
	}
	if (nfd < 0) {
		static int said;
		if (!said++)
			shim_log(CFG_LOG_WARN, "no free fd between %d and %d for the exporter (%s); "
				 "a scrape is refused until one is free", floor, ceiling - 1, strerror(e));
		errno = e;
		return -1;
	}
	exp_bit_set(nfd, 1);
	return nfd;
}

int exp_fd_created(int fd)
{
	if (!exp_starting)
		return fd;
	int e = errno;
	int nfd = exp_move_high(fd);
	if (nfd >= 0)
		errno = e;
	return nfd;
}

static void exp_close_owned(int fd)
{
	if (fd < 0)
		return;
	pthread_mutex_lock(&exp_fork_lock);
	exp_bit_set(fd, 0);
	shim_real.close(fd);
	pthread_mutex_unlock(&exp_fork_lock);
}

/* Forget the daemon (never stopped: after a fork its state is the parent's,
 * and after the host closed one of its sockets stopping it would close a
 * number the host may reuse) and close every owned fd outside lo..hi. */
static void exp_drop_locked(unsigned lo, unsigned hi)
{
	/* The daemon is abandoned, never run again: nothing it holds is sent. */
	exp_d = NULL;
	for (int i = 0; i < EXP_HELD_BUFS; i++)
		exp_held[i].refs = 0;
	exp_listen_fd = -1;
	exp_epoll_fd = -1;
	__atomic_store_n(&exp_wake_fd, -1, __ATOMIC_RELEASE);
	exp_gen++;
	for (int fd = 0, end = exp_scan_end(); fd < end; fd++) {
		if (!exp_owns_fd(fd))
			continue;
		if ((unsigned)fd >= lo && (unsigned)fd <= hi)
			exp_bit_set(fd, 0);
		else
			exp_close_owned(fd);
	}
}

static void exp_wake(void)
{
	int fd = __atomic_load_n(&exp_wake_fd, __ATOMIC_ACQUIRE);
	uint64_t one = 1;
	if (fd >= 0 && shim_real.write(fd, &one, sizeof one) < 0) {
		/* full or gone: the serving thread looks again within a tick */
	}
}

void exp_fds_closing(unsigned lo, unsigned hi)
{
	unsigned end = (unsigned)exp_scan_end();
	if (hi < (unsigned)__atomic_load_n(&shim_family_fd_floor, __ATOMIC_ACQUIRE) || lo >= end)
		return;
	if (exp_self) {
		/* libmicrohttpd closing a scrape socket from the serving thread */
		for (unsigned fd = lo; fd <= hi && fd < end; fd++)
			exp_bit_set((int)fd, 0);
		return;
	}
	pthread_mutex_lock(&exp_lock);
	int hit_conn = 0, hit = 0;
	for (unsigned fd = lo; fd <= hi && fd < end; fd++) {
		if (!exp_owns_fd((int)fd))
			continue;
		hit = 1;
		if ((int)fd == exp_listen_fd)
			exp_listen_fd = -1;
		else if ((int)fd == exp_wake_fd)
			__atomic_store_n(&exp_wake_fd, -1, __ATOMIC_RELEASE);
		else
			hit_conn = 1;
		exp_bit_set((int)fd, 0);
	}
	if (hit_conn)
		exp_drop_locked(lo, hi);
	if (hit) {
		exp_gen++;
		shim_log(CFG_LOG_INFO, "the server closed the exporter's fds; reopening them");
	}
	pthread_mutex_unlock(&exp_lock);
	if (hit)
		exp_wake();
}

void exp_give_up(void)
{
	pthread_mutex_lock(&exp_lock);
	int waiting = exp_in_wait && !exp_self;
	unsigned seq = exp_seq;
	if (waiting)
		exp_wake();
	exp_drop_locked(1, 0);
	pthread_mutex_unlock(&exp_lock);
	/* The port is free only once poll() let go of the socket: the
	 * wake-up makes that immediate. */
	for (int i = 0; waiting && i < 1000; i++) {
		if (__atomic_load_n(&exp_seq, __ATOMIC_ACQUIRE) != seq)
			break;
		exp_sleep_ms(1);
	}
}

void exp_atfork_prepare(void)
{
	pthread_mutex_lock(&exp_fork_lock);
}

void exp_atfork_parent(void)
{
	pthread_mutex_unlock(&exp_fork_lock);
}

void exp_atfork_child(void)
{
	/* No thread serves here: close the parent's listening and scrape
	 * sockets, or scrapes would queue on a socket nobody accepts from.
	 * The parent's thread may have held exp_lock: start afresh. */
	pthread_mutex_init(&exp_lock, NULL);
	pthread_mutex_init(&exp_fork_lock, NULL);
	exp_in_wait = 0;
	exp_drop_locked(1, 0);
	memset(exp_gzc, 0, sizeof exp_gzc);
	memset(exp_held, 0, sizeof exp_held);
	memset(&exp_text, 0, sizeof exp_text);
}

/* ---- libmicrohttpd ---- */

static int exp_load(void)
{
	if (exp_lib)
		return 0;
	void *h = dlopen(EXP_LIB, RTLD_NOW | RTLD_LOCAL);
	if (!h) {
		shim_log(CFG_LOG_ERROR, "cannot serve /metrics: %s", dlerror());
		return -1;
	}
#define EXP_SYM(field, name)                                                              \
	do {                                                                               \
		*(void **)(&mhd.field) = dlsym(h, name);                                   \
		if (!mhd.field) {                                                          \
			shim_log(CFG_LOG_ERROR, "cannot serve /metrics: %s lacks %s", EXP_LIB, name); \
			return -1;                                                         \
		}                                                                          \
	} while (0)
	EXP_SYM(start_daemon, "MHD_start_daemon");
	EXP_SYM(add_connection, "MHD_add_connection");
	EXP_SYM(get_daemon_info, "MHD_get_daemon_info");
	EXP_SYM(get_timeout, "MHD_get_timeout");
	EXP_SYM(run, "MHD_run");
	EXP_SYM(get_connection_info, "MHD_get_connection_info");
	EXP_SYM(lookup_connection_value, "MHD_lookup_connection_value");
	EXP_SYM(create_response_from_buffer, "MHD_create_response_from_buffer");
	EXP_SYM(add_response_header, "MHD_add_response_header");
	EXP_SYM(queue_response, "MHD_queue_response");
	EXP_SYM(destroy_response, "MHD_destroy_response");
#undef EXP_SYM
	*(void **)(&mhd.create_response_held) = dlsym(h, "MHD_create_response_from_buffer_with_free_callback_cls");
	char wm[32];
	if (procstat_slurp("/proc/sys/net/core/wmem_max", wm, sizeof wm) > 0) {
		long v = strtol(wm, NULL, 10);
		exp_wmem_max = v > 0 && v <= INT_MAX ? (size_t)v : 0;
	}
	exp_lib = h;
	return 0;
}

static void exp_mhd_log(void *cls, const char *fmt, va_list ap)
{
	(void)cls;
	char msg[256];
	vsnprintf(msg, sizeof msg, fmt, ap);
	size_t n = strlen(msg);
	while (n && (msg[n - 1] == '\n' || msg[n - 1] == '\r'))
		msg[--n] = '\0';
	shim_log(CFG_LOG_DEBUG, "libmicrohttpd: %s", msg);
}

static void exp_notify(void *cls, struct MHD_Connection *c, void **socket_ctx,
		       enum MHD_ConnectionNotificationCode toe)
{
	(void)cls;
	(void)socket_ctx;
	if (toe != MHD_CONNECTION_NOTIFY_CLOSED)
		return;
	const union MHD_ConnectionInfo *ci =
		mhd.get_connection_info(c, MHD_CONNECTION_INFO_CONNECTION_FD);
	if (ci)
		exp_bit_set(ci->connect_fd, 0);
}

/* libmicrohttpd is done with a response that held hb's body. */
static void exp_held_release(void *cls)
{
	struct exp_held *hb = cls;
	if (hb->refs)
		hb->refs--;
}

/* body is copied unless hb holds it (then the response keeps hb). */
static enum MHD_Result exp_reply(struct MHD_Connection *c, unsigned status, const char *ctype,
				 const char *enc, const void *body, size_t len, int allow, struct exp_held *hb)
{
	struct MHD_Response *r;
	if (hb && mhd.create_response_held) {
		r = mhd.create_response_held(len, (void *)body, exp_held_release, hb);
		if (r)
			hb->refs++;
	} else {
		r = mhd.create_response_from_buffer(len, (void *)body, MHD_RESPMEM_MUST_COPY);
	}
	if (!r)
		return MHD_NO;
	mhd.add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, ctype);
	if (enc)
		mhd.add_response_header(r, MHD_HTTP_HEADER_CONTENT_ENCODING, enc);
	if (allow)
		mhd.add_response_header(r, MHD_HTTP_HEADER_ALLOW, "GET, HEAD");
	if (status == MHD_HTTP_OK)
		mhd.add_response_header(r, MHD_HTTP_HEADER_VARY, "Accept-Encoding");
	enum MHD_Result ret = mhd.queue_response(c, status, r);
	mhd.destroy_response(r);
	return ret;
}

static enum MHD_Result exp_plain(struct MHD_Connection *c, unsigned status, const char *msg,
				 int allow)
{
	return exp_reply(c, status, "text/plain; charset=utf-8", NULL, msg, strlen(msg), allow, NULL);
}

/* Render the exposition for fmt, gzipped when gz. Returns the body or NULL
 * when out of memory. An uncompressed body in a free held buffer comes with
 * *hb set (the reply then holds it); any other body is valid until the next
 * render only. */
static const char *exp_render(enum expo_format fmt, int gz, size_t *len, struct exp_held **hb)
{
	*hb = NULL;
	struct exp_gz_cache *gc = &exp_gzc[fmt == EXPO_OPENMETRICS];
	uint64_t now = exp_now_ns();
	if (gz && gc->valid && now - gc->at_ns < EXP_GZIP_REUSE_NS) {
		*len = gc->gz.len;
		return gc->gz.data;
	}
	fam_refresh_members();
	struct reg_snapshot snap;
	if (reg_snapshot_take_ordered(shim.reg, &snap, &exp_order) < 0)
		return NULL;
	struct expo_opts o = {
		.format = fmt,
		.naming = shim.cfg.naming,
		.n_labels = shim.cfg.n_labels,
		.labels = shim.cfg.labels,
		.service_name = shim.prog,
		.version = PROMSHIM_VERSION,
	};
	struct expo_buf *text = &exp_text;
	if (!gz) {
		for (int i = 0; i < EXP_HELD_BUFS && mhd.create_response_held; i++) {
			if (!exp_held[i].refs) {
				*hb = &exp_held[i];
				text = &exp_held[i].b;
				break;
			}
		}
	}
	int r = expo_render(&snap, &o, text);
	reg_snapshot_free(&snap);
	if (r < 0) {
		*hb = NULL;
		return NULL;
	}
	if (!gz) {
		*len = text->len;
		return text->data;
	}
	gc->valid = 0;
	if (expo_gzip(text->data, text->len, &gc->gz) < 0)
		return NULL;
	gc->valid = 1;
	gc->at_ns = now;
	*len = gc->gz.len;
	return gc->gz.data;
}

/* A body of megabytes that the socket's send buffer holds whole goes out
 * in one send: this thread queues it and is done, and the client's reads
 * drive the rest of the transfer. Otherwise the thread waits for the
 * client to read and, on a loaded core, for its turn again, once per
 * buffer's worth. The buffer grows only where the system lets it exceed
 * what TCP's own tuning would give (net.core.wmem_max is read once, when
 * the library is loaded); setting a smaller one would shrink it. */
static void exp_fit_sndbuf(struct MHD_Connection *c, size_t len)
{
	const size_t slack = 64 * 1024; /* the head and the kernel's overhead */
	if (!exp_wmem_max)
		return;
	const union MHD_ConnectionInfo *ci = mhd.get_connection_info(c, MHD_CONNECTION_INFO_CONNECTION_FD);
	int cur;
	socklen_t sl = sizeof cur;
	if (!ci || getsockopt(ci->connect_fd, SOL_SOCKET, SO_SNDBUF, &cur, &sl) < 0 || cur < 0 ||
	    (size_t)cur >= len + slack)
		return;
	/* the kernel doubles the value it is given, up to twice wmem_max */
	size_t want = (len + slack) / 2 + 1;
	if (want > exp_wmem_max)
		want = exp_wmem_max;
	if (2 * want <= (size_t)cur)
		return;
	int v = (int)want;
	setsockopt(ci->connect_fd, SOL_SOCKET, SO_SNDBUF, &v, sizeof v);
}

/* PROMSHIM_AUTH_FILE (core/auth.c through shim/auth_glue.c): returns
 * nonzero when the request may proceed; otherwise the refusal is queued
 * in *ret and counted: 401 with a challenge, or 429 while the client is
 * throttled (no hash was computed for it). */
static int exp_authorized(struct MHD_Connection *c, enum MHD_Result *ret)
{
	if (!shim.cfg.n_auth)
		return 1;
	const char *h =
		mhd.lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_AUTHORIZATION);
	const union MHD_ConnectionInfo *ci =
		mhd.get_connection_info(c, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
	enum auth_result r = shim_auth_check(h, ci ? ci->client_addr : NULL);
	if (r == AUTH_OK)
		return 1;
	reg_add(shim.reg, REG_C_AUTH_FAILURES, 1);
	int throttled = r == AUTH_THROTTLED;
	const char *msg = throttled ? "Too Many Requests\n" : "Unauthorized\n";
	struct MHD_Response *resp =
		mhd.create_response_from_buffer(strlen(msg), (void *)msg, MHD_RESPMEM_PERSISTENT);
	*ret = MHD_NO;
	if (!resp)
		return 0;
	mhd.add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, "text/plain; charset=utf-8");
	_Static_assert(AUTH_FAIL_WINDOW_NS == 10000000000ull, "Retry-After is the window");
	if (throttled)
		mhd.add_response_header(resp, MHD_HTTP_HEADER_RETRY_AFTER, "10");
	else
		mhd.add_response_header(resp, MHD_HTTP_HEADER_WWW_AUTHENTICATE,
					"Basic realm=\"promshim\"");
	*ret = mhd.queue_response(c, throttled ? MHD_HTTP_TOO_MANY_REQUESTS : MHD_HTTP_UNAUTHORIZED,
				  resp);
	mhd.destroy_response(resp);
	return 0;
}

static enum MHD_Result exp_handle(void *cls, struct MHD_Connection *c, const char *url,
				  const char *method, const char *version, const char *upload,
				  size_t *upload_size, void **req_ctx)
{
	(void)cls;
	(void)version;
	(void)upload;
	/* Answer once the whole request is in (the first call only has its
	 * head, a body is discarded): a response queued earlier makes
	 * libmicrohttpd close the connection, and scrapers keep theirs alive. */
	static int seen_head;
	if (!*req_ctx) {
		*req_ctx = &seen_head;
		return MHD_YES;
	}
	if (*upload_size) {
		*upload_size = 0;
		return MHD_YES;
	}
	if (strcmp(url, "/metrics") != 0)
		return exp_plain(c, MHD_HTTP_NOT_FOUND, "Not Found\n", 0);
	if (strcmp(method, "GET") != 0 && strcmp(method, "HEAD") != 0)
		return exp_plain(c, MHD_HTTP_METHOD_NOT_ALLOWED, "Method Not Allowed\n", 1);
	enum MHD_Result refused;
	if (!exp_authorized(c, &refused))
		return refused;
	reg_add(shim.reg, REG_C_SCRAPES, 1);
	const char *accept = mhd.lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_ACCEPT);
	const char *ae =
		mhd.lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_ACCEPT_ENCODING);
	enum expo_format fmt = expo_negotiate(accept);
	int gz = expo_accepts_gzip(ae);
	size_t len = 0;
	struct exp_held *hb;
	const char *body = exp_render(fmt, gz, &len, &hb);
	if (!body)
		return exp_plain(c, MHD_HTTP_INTERNAL_SERVER_ERROR, "out of memory\n", 0);
	exp_fit_sndbuf(c, len);
	return exp_reply(c, MHD_HTTP_OK, expo_content_type(fmt), gz ? "gzip" : NULL, body, len, 0, hb);
}

/* ---- the serving loop ---- */

static void exp_addr_str(char *out, size_t cap)
{
	const struct sockaddr_storage *ss = &shim.cfg.listen;
	char ip[INET6_ADDRSTRLEN] = "?";
	unsigned port = 0;
	if (ss->ss_family == AF_INET6) {
		const struct sockaddr_in6 *a = (const void *)ss;
		inet_ntop(AF_INET6, &a->sin6_addr, ip, sizeof ip);
		port = ntohs(a->sin6_port);
		snprintf(out, cap, "[%s]:%u", ip, port);
		return;
	}
	const struct sockaddr_in *a = (const void *)ss;
	inet_ntop(AF_INET, &a->sin_addr, ip, sizeof ip);
	port = ntohs(a->sin_port);
	snprintf(out, cap, "%s:%u", ip, port);
}

/* Open the listening socket. Returns 0 or -errno. Under exp_lock. */
static int exp_open_listener_locked(void)
{
	if (fam_host_took())
		return -EADDRINUSE;
	pthread_mutex_lock(&exp_fork_lock);
	int fd = socket(shim.cfg.listen.ss_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd >= 0)
		fd = exp_move_high(fd);
	int e = errno;
	pthread_mutex_unlock(&exp_fork_lock);
	if (fd < 0)
		return -e;
	int one = 1;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
	if (shim_real.bind(fd, (const struct sockaddr *)&shim.cfg.listen, shim.cfg.listen_len) < 0 ||
	    shim_real.listen(fd, 64) < 0) {
		int e = errno;
		exp_close_owned(fd);
		return -e;
	}
	exp_listen_fd = fd;
	return 0;
}

static int exp_open_wake_locked(void)
{
	pthread_mutex_lock(&exp_fork_lock);
	int fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (fd >= 0)
		fd = exp_move_high(fd);
	int e = errno;
	pthread_mutex_unlock(&exp_fork_lock);
	if (fd < 0)
		return -e;
	__atomic_store_n(&exp_wake_fd, fd, __ATOMIC_RELEASE);
	return 0;
}

static int exp_start_daemon_locked(void)
{
	/* PROMSHIM_TLS_CERT/KEY: HTTPS only. libmicrohttpd (GnuTLS) runs the
	 * handshake on the sockets we hand it; nothing else changes. */
	unsigned tls = shim.cfg.tls_cert && shim.cfg.tls_key ? MHD_USE_TLS : 0;
	struct MHD_OptionItem tls_opts[] = {
		{tls ? MHD_OPTION_HTTPS_MEM_CERT : MHD_OPTION_END, 0, shim.cfg.tls_cert},
		{MHD_OPTION_HTTPS_MEM_KEY, 0, shim.cfg.tls_key},
		{MHD_OPTION_END, 0, NULL},
	};
	/* The epoll fd libmicrohttpd makes comes back through our
	 * epoll_create1 hook, which moves it high (exp_fd_created). */
	pthread_mutex_lock(&exp_fork_lock);
	exp_starting = 1;
	exp_d = mhd.start_daemon(MHD_USE_EPOLL | MHD_USE_NO_LISTEN_SOCKET | MHD_USE_ERROR_LOG | tls,
				 0, NULL, NULL,
				 exp_handle, NULL,
				 MHD_OPTION_ARRAY, tls_opts,
				 MHD_OPTION_EXTERNAL_LOGGER, exp_mhd_log, NULL,
				 MHD_OPTION_CONNECTION_LIMIT, (unsigned)EXP_CONN_LIMIT,
				 MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)EXP_CONN_TIMEOUT_S,
				 MHD_OPTION_NOTIFY_CONNECTION, exp_notify, NULL,
				 MHD_OPTION_END);
	exp_starting = 0;
	pthread_mutex_unlock(&exp_fork_lock);
	if (exp_d) {
		const union MHD_DaemonInfo *di = mhd.get_daemon_info(exp_d, MHD_DAEMON_INFO_EPOLL_FD);
		exp_epoll_fd = di ? di->epoll_fd : -1;
		static int low_said;
		if (exp_epoll_fd >= 0 && !exp_owns_fd(exp_epoll_fd) && !low_said++)
			shim_log(CFG_LOG_WARN, "libmicrohttpd's epoll fd %d could not be moved high",
				 exp_epoll_fd);
	}
	static int tls_said;
	if (!exp_d && tls && !tls_said++)
		shim_log(CFG_LOG_ERROR, "PROMSHIM_TLS_CERT/PROMSHIM_TLS_KEY: libmicrohttpd refused "
			 "the certificate or key (or was built without TLS)");
	return exp_d ? 0 : -1;
}

/* Accept every pending scrape, move it high and give it to the daemon. */
static void exp_accept_locked(void)
{
	for (;;) {
		/* the listening and wake-up fds are owned too */
		if (exp_owned_count() >= EXP_CONN_LIMIT + EXP_OWN_FDS)
			return;
		struct sockaddr_storage sa;
		socklen_t salen = sizeof sa;
		pthread_mutex_lock(&exp_fork_lock);
		int c = shim_real.accept4(exp_listen_fd, (struct sockaddr *)&sa, &salen,
					  SOCK_NONBLOCK | SOCK_CLOEXEC);
		int again = c >= 0;
		if (c >= 0)
			c = exp_move_high(c);
		pthread_mutex_unlock(&exp_fork_lock);
		if (!again)
			return;
		if (c < 0)
			continue;
		/* On failure the daemon closes the socket itself. */
		if (mhd.add_connection(exp_d, c, (struct sockaddr *)&sa, salen) != MHD_YES)
			exp_bit_set(c, 0);
	}
}

/* One pass: wait up to a tick for scrapes, then serve them. */
static void exp_pass(void)
{
	struct pollfd pf[EXP_OWN_FDS];
	nfds_t n = 0;
	int il = -1, iw = -1;
	unsigned ms = EXP_TICK_MS;

	pthread_mutex_lock(&exp_lock);
	unsigned gen = exp_gen;
	int lfd = exp_listen_fd, wfd = exp_wake_fd;
	struct MHD_Daemon *d = exp_d;
	if (lfd >= 0) {
		il = (int)n;
		pf[n++] = (struct pollfd){lfd, POLLIN, 0};
	}
	if (wfd >= 0) {
		iw = (int)n;
		pf[n++] = (struct pollfd){wfd, POLLIN, 0};
	}
	if (d) {
		MHD_UNSIGNED_LONG_LONG to;
		if (exp_epoll_fd >= 0)
			pf[n++] = (struct pollfd){exp_epoll_fd, POLLIN, 0};
		if (mhd.get_timeout(d, &to) == MHD_YES && to < ms)
			ms = (unsigned)to;
	}
	exp_in_wait = 1;
	pthread_mutex_unlock(&exp_lock);

	if (SHIM_REAL(poll)(pf, n, (int)ms) < 0)
		/* the host closed one of our fds under us: the next pass rebuilds */
		for (nfds_t i = 0; i < n; i++)
			pf[i].revents = 0;

	pthread_mutex_lock(&exp_lock);
	exp_in_wait = 0;
	__atomic_store_n(&exp_seq, exp_seq + 1, __ATOMIC_RELEASE);
	if (gen == exp_gen) {
		if (iw >= 0 && (pf[iw].revents & POLLIN)) {
			uint64_t v;
			while (shim_real.read(wfd, &v, sizeof v) > 0)
				;
		}
		if (il >= 0 && d && (pf[il].revents & POLLIN))
			exp_accept_locked();
		/* libmicrohttpd's own epoll_wait, with no wait: its timeouts and
		 * whatever the poll saw */
		if (d)
			mhd.run(d);
	}
	pthread_mutex_unlock(&exp_lock);
}

void exp_serve(void)
{
	exp_self = 1;
	/* Under the lock the fork handlers take: a fork in the middle of
	 * dlopen would leave the child a half-loaded library. */
	pthread_mutex_lock(&exp_fork_lock);
	int loaded = exp_load();
	shim_auth_load();
	pthread_mutex_unlock(&exp_fork_lock);
	if (loaded < 0)
		return;
	char where[80];
	exp_addr_str(where, sizeof where);
	int last_err = 0, serving = 0;
	for (;;) {
		if (fam_host_took()) {
			exp_give_up();
			return;
		}
		pthread_mutex_lock(&exp_lock);
		int err = 0;
		if (!exp_d && exp_start_daemon_locked() < 0)
			err = -ENOMEM;
		if (!err && exp_wake_fd < 0)
			err = exp_open_wake_locked();
		if (!err && exp_listen_fd < 0)
			err = exp_open_listener_locked();
		pthread_mutex_unlock(&exp_lock);
		if (err) {
			if (err != last_err) {
				if (err == -EADDRINUSE)
					shim_log(CFG_LOG_WARN,
						 "PROMSHIM_LISTEN %s is in use by another process; "
						 "will serve /metrics once it is free", where);
				else
					shim_log(CFG_LOG_ERROR, "cannot serve /metrics on %s: %s", where,
						 strerror(-err));
				last_err = err;
			}
			serving = 0;
			exp_sleep_ms(EXP_RETRY_MS);
			continue;
		}
		if (!serving) {
			shim_log(CFG_LOG_INFO, "serving /metrics on %s", where);
			serving = 1;
			last_err = 0;
		}
		exp_pass();
	}
}
