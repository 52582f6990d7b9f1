/* tests/shim/progs/core_rec.c — a recording stand-in for core/ and for the
 * other half of the shim (constructor, family, logging), linked with the
 * interposition layer into a test library. Every call the hooks make into
 * core is appended as one line to $PROMSHIM_TEST_LOG, so a test can assert
 * exactly what the layer handed on. Each stub clobbers errno, so a hook
 * that forgets to restore it is caught.
 *
 * Lines: "<pid> I <id>" trk_init, "<pid> R|RV|W|WV <id> <n> <bytes>",
 * "<pid> WO <id> <n>", "<pid> E <id>", "<pid> ACCEPTED", "<pid> CONNS <d>",
 * "<pid> LISTENING", "<pid> BINDS <port>", "<pid> LOG <text>",
 * "<pid> CLOSING <lo> <hi>", "<pid> CHECK <why>" (enum SHIM_CHECK_*),
 * "<pid> WATCH <why> <lfd>".
 */
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "config.h"
#include "registry.h"
#include "route.h"
#include "tracker.h"

#include "fdtable.h"
#include "real.h"
#include "shim.h"

struct shim_state shim;
static const char *rec_path;
static int rec_family_fd = -1;
static unsigned rec_next_id;

static void rec_line(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void rec_line(const char *fmt, ...)
{
	char line[4096];
	int n = snprintf(line, sizeof line, "%d ", (int)getpid());
	va_list ap;
	va_start(ap, fmt);
	n += vsnprintf(line + n, sizeof line - (size_t)n - 1, fmt, ap);
	va_end(ap);
	if (n > (int)sizeof line - 2)
		n = (int)sizeof line - 2;
	line[n++] = '\n';
	if (!rec_path)
		return;
	/* Opened per line: the programs under test close fds wholesale. */
	long fd = shim_raw_syscall(SYS_openat, AT_FDCWD, (long)rec_path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC,
				   0644, 0, 0);
	if (fd < 0)
		return;
	shim_raw_syscall(SYS_write, fd, (long)line, n, 0, 0, 0);
	shim_raw_syscall(SYS_close, fd, 0, 0, 0, 0, 0);
	errno = EDOM;
}

static void rec_bytes(char *out, size_t cap, const unsigned char *p, size_t n)
{
	size_t o = 0;
	for (size_t i = 0; i < n && o + 5 < cap; i++) {
		unsigned char ch = p[i];
		if (ch == '\r') {
			out[o++] = '\\';
			out[o++] = 'r';
		} else if (ch == '\n') {
			out[o++] = '\\';
			out[o++] = 'n';
		} else if (ch < 32 || ch > 126 || ch == '\\') {
			o += (size_t)snprintf(out + o, cap - o, "\\x%02x", ch);
		} else {
			out[o++] = (char)ch;
		}
	}
	out[o] = 0;
}

/* The real tracker is not linked: its state is ours to use. The first
 * byte numbers the connection. */
static unsigned rec_id(const struct trk_conn *c)
{
	return *(const unsigned char *)(const void *)c;
}

void trk_init(struct trk_conn *c)
{
	*(unsigned char *)(void *)c = (unsigned char)(++rec_next_id);
	rec_line("I %u", rec_id(c));
}

void trk_read(struct trk_conn *c, const void *buf, size_t n, uint64_t now, const struct trk_sink *s)
{
	(void)now, (void)s;
	char b[3000];
	rec_bytes(b, sizeof b, buf, n);
	rec_line("R %u %zu %s", rec_id(c), n, b);
}

static void rec_vec(const char *tag, struct trk_conn *c, const struct iovec *iov, int cnt, size_t n)
{
	unsigned char flat[2048];
	size_t got = 0;
	for (int i = 0; i < cnt && got < n && got < sizeof flat; i++) {
		size_t k = iov[i].iov_len;
		if (k > n - got)
			k = n - got;
		if (k > sizeof flat - got)
			k = sizeof flat - got;
		memcpy(flat + got, iov[i].iov_base, k);
		got += k;
	}
	char b[3000];
	rec_bytes(b, sizeof b, flat, got);
	rec_line("%s %u %zu %s", tag, rec_id(c), n, b);
}

void trk_readv(struct trk_conn *c, const struct iovec *iov, int iovcnt, size_t n, uint64_t now,
	       const struct trk_sink *s)
{
	(void)now, (void)s;
	rec_vec("RV", c, iov, iovcnt, n);
}

void trk_write(struct trk_conn *c, const void *buf, size_t n, uint64_t now, const struct trk_sink *s)
{
	(void)now, (void)s;
	char b[3000];
	rec_bytes(b, sizeof b, buf, n);
	rec_line("W %u %zu %s", rec_id(c), n, b);
}

void trk_writev(struct trk_conn *c, const struct iovec *iov, int iovcnt, size_t n, uint64_t now,
		const struct trk_sink *s)
{
	(void)now, (void)s;
	rec_vec("WV", c, iov, iovcnt, n);
}

void trk_write_opaque(struct trk_conn *c, uint64_t n, uint64_t now, const struct trk_sink *s)
{
	(void)now, (void)s;
	rec_line("WO %u %llu", rec_id(c), (unsigned long long)n);
}

void trk_end(struct trk_conn *c, uint64_t now, const struct trk_sink *s)
{
	(void)now, (void)s;
	rec_line("E %u", rec_id(c));
}

int trk_idle(const struct trk_conn *c)
{
	(void)c;
	errno = EDOM;
	return 0;
}

const char *trk_method_name(unsigned m)
{
	(void)m;
	return "_OTHER";
}

/* ---- registry, routes, config: only what conn.c calls ---- */

uint32_t reg_route(struct reg *r, const char *label, size_t len)
{
	(void)r;
	rec_line("ROUTE %.*s", (int)len, label);
	return REG_ROUTE_FIRST;
}

void reg_observe(struct reg *r, unsigned method, uint32_t route, unsigned status, uint64_t dur_ns,
		 uint64_t req_bytes, uint64_t resp_bytes)
{
	(void)r, (void)dur_ns;
	rec_line("OBSERVE %u %u %u %llu %llu", method, route, status, (unsigned long long)req_bytes,
		 (unsigned long long)resp_bytes);
}

void reg_abort(struct reg *r, unsigned method, uint32_t route)
{
	(void)r;
	rec_line("ABORT %u %u", method, route);
}

void reg_add(struct reg *r, enum reg_counter c, uint64_t n)
{
	(void)r, (void)n;
	if (c == REG_C_CONN_ACCEPTED)
		rec_line("ACCEPTED");
	else
		rec_line("COUNTER %d", (int)c);
}

/* The shim adds to the in-flight word itself: a word of its own here. */
_Atomic int64_t *reg_member_inflight_word(struct reg *r, int slot)
{
	static _Atomic int64_t word;
	(void)r, (void)slot;
	return &word;
}

void reg_member_conns(struct reg *r, int slot, int64_t delta)
{
	(void)r, (void)slot;
	rec_line("CONNS %+lld", (long long)delta);
}

int route_resolve_how(const struct route_ctx *rc, const char *path, size_t len, int truncated, char *out,
		      size_t cap, unsigned *how)
{
	(void)rc, (void)truncated;
	if (len > cap)
		len = cap;
	memcpy(out, path, len);
	*how = 0;
	errno = EDOM;
	return (int)len;
}

int cfg_port_tracked(const struct ps_config *c, uint16_t port)
{
	errno = EDOM;
	if (c->n_ports == 0)
		return 1;
	for (unsigned i = 0; i < c->n_ports; i++)
		if (c->ports[i] == port)
			return 1;
	return 0;
}

/* ---- the family and the constructor ---- */

void shim_family_listening(void)
{
	rec_line("LISTENING");
}

void shim_family_host_binds(const struct sockaddr *addr, socklen_t len)
{
	unsigned port = 0;
	if (addr->sa_family == AF_INET && len >= sizeof(struct sockaddr_in))
		port = ntohs(((const struct sockaddr_in *)(const void *)addr)->sin_port);
	rec_line("BINDS %u", port);
}

void shim_family_fds_closing(unsigned lo, unsigned hi)
{
	rec_line("CLOSING %u %u", lo, hi);
}

int shim_family_pending;
const int *shim_family_watch;
int shim_family_watch_lfd = -1;

/* The real slow paths keep errno: so do these. */
void shim_family_check_slow(int why, int lfd)
{
	int e = errno;
	(void)lfd;
	rec_line("CHECK %d", why);
	errno = e;
}

void shim_family_watch_slow(int why, int lfd)
{
	int e = errno;
	rec_line("WATCH %d %d", why, lfd);
	errno = e;
}

int shim_family_fd_created(int fd)
{
	return fd;
}

/* 0: every close asks shim_family_owns_fd, which clobbers errno here. */
int shim_family_fd_floor;

int shim_family_owns_fd(int fd)
{
	errno = EDOM;
	return fd >= 0 && fd == rec_family_fd;
}

void shim_log(int level, const char *fmt, ...)
{
	char text[512];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(text, sizeof text, fmt, ap);
	va_end(ap);
	rec_line("LOG %d %s", level, text);
}

__attribute__((constructor)) static void rec_init(void)
{
	shim_real_init();
	rec_path = getenv("PROMSHIM_TEST_LOG");
	const char *ff = getenv("PROMSHIM_TEST_FAMILY_FD");
	if (ff)
		rec_family_fd = atoi(ff);
	shim_family_pending = getenv("PROMSHIM_TEST_PENDING") != NULL;
	/* watching a parent whose alive mutex has no owner: every check that
	 * looks at it goes to the slow path */
	static const int dead_owner;
	if (getenv("PROMSHIM_TEST_WATCH"))
		shim_family_watch = &dead_owner;
	const char *ports = getenv("PROMSHIM_PORTS");
	while (ports && *ports && shim.cfg.n_ports < CFG_MAX_PORTS) {
		char *end;
		unsigned long p = strtoul(ports, &end, 10);
		if (end == ports)
			break;
		shim.cfg.ports[shim.cfg.n_ports++] = (uint16_t)p;
		ports = *end == ',' ? end + 1 : end;
	}
	static char fake_reg;
	shim.reg = (struct reg *)(void *)&fake_reg;
	shim.member_slot = 0;
	shim.pid = getpid();
	if (shim_fd_init() == 0)
		shim.enabled = 1;
	if (getenv("PROMSHIM_TEST_SAY_INIT"))
		shim_raw_syscall(SYS_write, 1, (long)"INIT\n", 5, 0, 0, 0);
}
