/* shim/family.c — the process family (SPEC 6): which member serves
 * /metrics, failover when it dies, fork handling, member figures.
 *
 * Election: a robust, process-shared mutex in a small shared area mapped by
 * the constructor before any fork. The serving process holds it from its
 * serving thread; every other member that may serve has one standby thread
 * blocked on it. When the holder dies (SIGKILL included) the kernel hands
 * EOWNERDEAD to one waiter, which makes the mutex consistent and serves: no
 * polling, no traffic needed.
 *
 * Threads do not survive fork, so a child starts its standby thread later,
 * never in the atfork child handler (a fork-per-connection server would pay
 * a thread per connection, and fork+exec a thread per exec):
 *  - when it listens itself (shim_family_listening);
 *  - when it forks children of its own (the atfork parent handler: the
 *    master after nginx `daemon on`, `apachectl start`);
 *  - when it accepts connections (shim_family_check(1) from the accept
 *    hooks: a prefork worker);
 *  - when its parent is gone, or is the session leader of a daemon's
 *    fork-setsid-fork and does not serve, or it made a session of its own
 *    (shim_family_check(0) from close, dup2 and the event waits a server
 *    blocks in: a daemon that never forks again, lighttpd without -D, a
 *    server after glibc daemon(), whose fork, setsid and _exit no hook
 *    sees).
 * A process must have been able to listen (it listened, inherited a
 * listening socket across exec, or descends from one that did) to qualify.
 *
 * A thread costs the host: once a process has had one, glibc takes its
 * multi-threaded paths for good (cancellation wrappers around recv, writev
 * and epoll_wait, locked malloc), and a child forked from it inherits that.
 * So a single-threaded member starts its thread only when it settles in
 * its loop: at an event wait or accept when it listened itself, and at
 * the calls a master sleeps in (sigsuspend, waitpid, select...: shim/
 * hooks_idle.c), never before or after a fork: nginx's master forks all
 * its workers single-threaded. A single-threaded child whose parent's
 * thread holds `alive` does not start one at all while it waits in
 * epoll_wait, poll or ppoll, or accepts from a non-blocking listener: it
 * watches. Its waits are cut into slices of at most SHIM_WATCH_MS
 * (shim/hooks_poll.c), and each wait looks at the futex word of the
 * parent's `alive` mutex, which the kernel clears of its owner when the
 * parent's thread dies with it (death or exec). Then, or once it sleeps
 * where no wait is sliced (select, sigsuspend, nanosleep...) or accepts
 * from a blocking listener, it starts its thread; a child seen sleeping
 * so before it could watch starts it when it accepts. A busy watcher
 * pays one load per wait for all this. A child whose parent's thread has
 * not started yet slices its waits too and looks again; after
 * FAM_PARENT_WAIT_MS it stops waiting for it. A multi-threaded member
 * pays glibc's costs already: one that listened starts its thread at
 * once, a child at its first accept, as before. Children forked after
 * their parent's thread started (nginx's workers after a reload) are
 * multi-threaded from birth.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/futex.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/single_threaded.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "conn.h"
#include "exporter.h"
#include "procstat.h"
#include "real.h"
#include "shim.h"

#define FAM_STACK (256 * 1024)
/* A child's thread may start before its parent's has taken the parent's
 * `alive` mutex (both start right after the fork): it looks again this
 * often until it has. */
#define FAM_PARENT_START_MS 10
/* A parent that has not started its thread this long after a child first
 * looked (it starts it only when its own loop begins) is not waited for:
 * the child starts its own, which queues to serve. */
#define FAM_PARENT_WAIT_MS 1000
/* A thread taking over the `alive` mutex of a dead member's slot first
 * lets that member's waiting children through. */
#define FAM_SLOT_HANDOVER_MS 20

/* Shared by the family (MAP_SHARED, made before any fork). */
struct fam_shared {
	pthread_mutex_t serve;   /* robust, process-shared: held by the server */
	int server_pid;          /* informational */
	int host_took;           /* the host bound the metrics address */
	/* Which process each registry member slot holds and when it started
	 * (since boot), to tell a live member from a reused pid. */
	struct {
		int pid;
		int standby;     /* has, or is about to start, its serving thread */
		int holding;     /* that thread holds `alive` */
		uint64_t boot_us;
		pthread_mutex_t alive; /* robust: held by the member's thread */
	} member[REG_MAX_MEMBERS];
};

static struct fam_shared *F;
int shim_family_pending;        /* may serve, has no thread yet, does not watch */
const int *shim_family_watch;   /* watching: the parent's `alive` futex word */
int shim_family_watch_lfd = -1; /* watching: a listener known non-blocking */
static int fam_capable;         /* may serve: has been able to listen */
static int fam_listened;        /* listened itself; its thread waits for its loop */
static int fam_thread_started;  /* this process has its thread */
static int fam_blocked;         /* a child seen sleeping in a wait not sliced */
static pid_t fam_parent;        /* the member this process was forked from */
static int fam_parent_slot = -1; /* its member slot */
static struct reg_member_figures fam_figs[REG_MAX_MEMBERS]; /* last figures read */

int fam_host_took(void)
{
	return F && __atomic_load_n(&F->host_took, __ATOMIC_ACQUIRE);
}

static void fam_sleep_forever(void)
{
	for (;;)
		SHIM_REAL(sleep)(3600);
}

static void fam_sleep_ms(unsigned ms)
{
	struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
	while (SHIM_REAL(nanosleep)(&ts, &ts) < 0 && errno == EINTR)
		;
}

static void fam_member_standby(int on)
{
	int slot = shim.member_slot;
	if (F && slot >= 0 && slot < REG_MAX_MEMBERS)
		__atomic_store_n(&F->member[slot].standby, on, __ATOMIC_RELEASE);
}

/* Take this member's `alive` mutex for the life of the process. A dead
 * member that had the slot before may have left children queued on it:
 * they go first. */
static void fam_hold_alive(void)
{
	int slot = shim.member_slot;
	if (slot < 0 || slot >= REG_MAX_MEMBERS)
		return;
	pthread_mutex_t *m = &F->member[slot].alive;
	int r = pthread_mutex_lock(m);
	if (r == EOWNERDEAD) {
		pthread_mutex_consistent(m);
		pthread_mutex_unlock(m);
		fam_sleep_ms(FAM_SLOT_HANDOVER_MS);
		r = pthread_mutex_lock(m);
		if (r == EOWNERDEAD)
			pthread_mutex_consistent(m);
	}
	if (r == 0 || r == EOWNERDEAD)
		__atomic_store_n(&F->member[slot].holding, 1, __ATOMIC_RELEASE);
}

static int64_t fam_now_ms(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (int64_t)t.tv_sec * 1000 + t.tv_nsec / 1000000;
}

/* A child at a wait it can slice, whose parent's thread has not started:
 * whether it has waited for it long enough (since its first look, reset
 * in the atfork child handler). */
static int64_t fam_parent_since;

/* Wait while the member this process was forked from lives and serves or
 * stands by: it lived longer, and it is preferred. */
static void fam_defer_to_parent(void)
{
	pid_t p = fam_parent;
	int slot = fam_parent_slot;
	if (p <= 0 || slot < 0 || slot >= REG_MAX_MEMBERS)
		return;
	pthread_mutex_t *m = &F->member[slot].alive;
	/* a parent whose thread has not started is waited for at most
	 * FAM_PARENT_WAIT_MS from the child's first look at it */
	int64_t since = __atomic_load_n(&fam_parent_since, __ATOMIC_RELAXED);
	if (!since)
		since = fam_now_ms();
	for (;;) {
		if (__atomic_load_n(&F->member[slot].pid, __ATOMIC_ACQUIRE) != (int)p ||
		    !__atomic_load_n(&F->member[slot].standby, __ATOMIC_ACQUIRE) || getppid() != p)
			return;
		int r = pthread_mutex_lock(m);
		if (r == EOWNERDEAD)
			pthread_mutex_consistent(m);
		else if (r != 0)
			return;
		/* Free with its thread gone (died, or exec'd: the same pid in a
		 * new image) when it had taken it; free before that only while
		 * the parent's thread is starting. */
		int started = __atomic_load_n(&F->member[slot].holding, __ATOMIC_ACQUIRE);
		pthread_mutex_unlock(m);
		if (r == EOWNERDEAD || started || fam_now_ms() - since >= FAM_PARENT_WAIT_MS)
			return;
		fam_sleep_ms(FAM_PARENT_START_MS);
	}
}

static void *fam_main(void *arg)
{
	(void)arg;
	pthread_setname_np(pthread_self(), "promshim");
	fam_hold_alive();
	fam_defer_to_parent();
	int r = pthread_mutex_lock(&F->serve);
	if (r == EOWNERDEAD) {
		pthread_mutex_consistent(&F->serve);
		shim_log(CFG_LOG_INFO, "the serving process (pid %d) is gone; serving here",
			 __atomic_load_n(&F->server_pid, __ATOMIC_RELAXED));
	} else if (r != 0) {
		shim_log(CFG_LOG_ERROR, "family mutex: %s", strerror(r));
		return NULL;
	}
	__atomic_store_n(&F->server_pid, (int)getpid(), __ATOMIC_RELEASE);
	exp_serve();
	__atomic_store_n(&F->server_pid, -(int)getpid(), __ATOMIC_RELEASE);
	/* Serving is over for good (the host took the address, or no
	 * libmicrohttpd): keep the mutex, so no other member tries again. */
	fam_sleep_forever();
	return NULL;
}

/* Start this process's serving-or-standby thread, once. Its signals are
 * all blocked (pthread_sigmask keeps glibc's internal ones deliverable). */
static void fam_start_thread(void)
{
	if (!F || !shim.enabled || __atomic_exchange_n(&fam_thread_started, 1, __ATOMIC_ACQ_REL))
		return;
	__atomic_store_n(&shim_family_pending, 0, __ATOMIC_RELEASE);
	__atomic_store_n(&shim_family_watch, NULL, __ATOMIC_RELEASE);
	fam_member_standby(1);
	sigset_t all, old;
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	pthread_attr_t at;
	pthread_attr_init(&at);
	pthread_attr_setdetachstate(&at, PTHREAD_CREATE_DETACHED);
	pthread_attr_setstacksize(&at, FAM_STACK);
	pthread_t t;
	int r = pthread_create(&t, &at, fam_main, NULL);
	pthread_attr_destroy(&at);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (r != 0) {
		shim_log(CFG_LOG_ERROR, "cannot start the exporter thread: %s", strerror(r));
		fam_member_standby(0);
		__atomic_store_n(&fam_thread_started, 0, __ATOMIC_RELEASE);
		__atomic_store_n(&shim_family_pending, fam_capable, __ATOMIC_RELEASE);
	}
}

static void fam_set_capable(void)
{
	fam_capable = 1;
	if (!fam_thread_started)
		__atomic_store_n(&shim_family_pending, 1, __ATOMIC_RELEASE);
}

void shim_family_listening(void)
{
	if (!F || !shim.enabled || shim.cfg.listen_off || fam_thread_started)
		return;
	fam_set_capable();
	fam_listened = 1;
	/* a multi-threaded host pays glibc's thread costs already */
	if (!__libc_single_threaded)
		fam_start_thread();
}

/* The owner of the parent's `alive` mutex, from its futex word: zero once
 * the parent's thread is gone (the kernel clears it at the thread's death,
 * the process's or an exec). */
static int fam_alive_owner(const int *word)
{
	return __atomic_load_n(word, __ATOMIC_ACQUIRE) & FUTEX_TID_MASK;
}

/* A listener whose accept would block: a process that sleeps in accept
 * passes no hook that could watch its parent. */
static int fam_blocking(int lfd)
{
	int fl = SHIM_REAL(fcntl)(lfd, F_GETFL);
	return fl < 0 || !(fl & O_NONBLOCK);
}

enum fam_parent_state { FAM_PARENT_NONE, FAM_PARENT_STARTING, FAM_PARENT_RUNNING };

/* The member this process was forked from: still its parent, standing by
 * or serving, and whether its thread holds `alive` yet. */
static enum fam_parent_state fam_parent_state(void)
{
	int ps = fam_parent_slot;
	if (fam_parent <= 0 || ps < 0 || ps >= REG_MAX_MEMBERS ||
	    __atomic_load_n(&F->member[ps].pid, __ATOMIC_ACQUIRE) != (int)fam_parent ||
	    !__atomic_load_n(&F->member[ps].standby, __ATOMIC_ACQUIRE))
		return FAM_PARENT_NONE;
	if (__atomic_load_n(&F->member[ps].holding, __ATOMIC_ACQUIRE) &&
	    fam_alive_owner(&F->member[ps].alive.__data.__lock))
		return FAM_PARENT_RUNNING;
	return FAM_PARENT_STARTING;
}

static int fam_parent_late(void)
{
	int64_t now = fam_now_ms(), since = __atomic_load_n(&fam_parent_since, __ATOMIC_RELAXED);
	if (!since)
		__atomic_store_n(&fam_parent_since, since = now, __ATOMIC_RELAXED);
	return now - since >= FAM_PARENT_WAIT_MS;
}

static void fam_check(int why, int lfd)
{
	/* a vfork child runs in our memory: it starts nothing */
	if (!__atomic_load_n(&shim_family_pending, __ATOMIC_ACQUIRE) || getpid() != shim.pid)
		return;
	if (fam_listened) {
		if (why != SHIM_CHECK_FD)
			fam_start_thread();
		return;
	}
	/* A member whose parent is gone, or that made its own session after
	 * its fork (glibc daemon(), nginx's master after `daemon on`), has no
	 * one to defer to. */
	if (getppid() != fam_parent || (fam_parent > 0 && getsid(0) == shim.pid)) {
		if (why != SHIM_CHECK_FD)
			fam_start_thread();
		return;
	}
	if (why == SHIM_CHECK_FD)
		return;
	/* A child that sleeps where no wait is sliced cannot watch: it starts
	 * its thread when it accepts, as one that sleeps in accept does. */
	if (why == SHIM_CHECK_BLOCK) {
		fam_blocked = 1;
		return;
	}
	/* Only a single-threaded child can watch: one with threads already
	 * pays nothing more for one of ours. */
	int st1 = __libc_single_threaded;
	enum fam_parent_state st = fam_parent_state();
	if (why == SHIM_CHECK_ACCEPT &&
	    (!st1 || fam_blocked || st == FAM_PARENT_NONE || fam_blocking(lfd))) {
		fam_start_thread();
		return;
	}
	if (st == FAM_PARENT_STARTING && fam_parent_late()) {
		fam_start_thread();
		return;
	}
	if (st == FAM_PARENT_RUNNING && st1) {
		if (why == SHIM_CHECK_ACCEPT)
			shim_family_watch_lfd = lfd;
		__atomic_store_n(&shim_family_watch, &F->member[fam_parent_slot].alive.__data.__lock,
				 __ATOMIC_RELEASE);
		__atomic_store_n(&shim_family_pending, 0, __ATOMIC_RELEASE);
	}
}

__attribute__((noinline, cold)) void shim_family_check_slow(int why, int lfd)
{
	int e = errno;
	fam_check(why, lfd);
	errno = e;
}

static void fam_watch(int why, int lfd)
{
	const int *word = __atomic_load_n(&shim_family_watch, __ATOMIC_ACQUIRE);
	if (!word || getpid() != shim.pid)
		return;
	if (why == SHIM_CHECK_ACCEPT && fam_blocking(lfd))
		why = SHIM_CHECK_BLOCK;
	if (why == SHIM_CHECK_BLOCK || !fam_alive_owner(word) ||
	    __atomic_load_n(&F->member[fam_parent_slot].pid, __ATOMIC_ACQUIRE) != (int)fam_parent) {
		fam_start_thread();
		return;
	}
	if (why == SHIM_CHECK_ACCEPT)
		shim_family_watch_lfd = lfd;
}

__attribute__((noinline, cold)) void shim_family_watch_slow(int why, int lfd)
{
	int e = errno;
	fam_watch(why, lfd);
	errno = e;
}

/* ---- host calls ---- */

static int fam_is_any(const struct sockaddr *a)
{
	if (a->sa_family == AF_INET)
		return ((const struct sockaddr_in *)a)->sin_addr.s_addr == htonl(INADDR_ANY);
	return !memcmp(&((const struct sockaddr_in6 *)a)->sin6_addr, &in6addr_any,
		       sizeof in6addr_any);
}

static int fam_port(const struct sockaddr *a)
{
	return a->sa_family == AF_INET ? ((const struct sockaddr_in *)a)->sin_port
				       : ((const struct sockaddr_in6 *)a)->sin6_port;
}

/* Same port, and the addresses overlap (equal, or one is a wildcard). */
static int fam_same_endpoint(const struct sockaddr *a, socklen_t alen, const struct sockaddr *b)
{
	if (!a || (a->sa_family != AF_INET && a->sa_family != AF_INET6))
		return 0;
	if ((a->sa_family == AF_INET && alen < sizeof(struct sockaddr_in)) ||
	    (a->sa_family == AF_INET6 && alen < sizeof(struct sockaddr_in6)))
		return 0;
	if (fam_port(a) != fam_port(b) || fam_port(a) == 0)
		return 0;
	if (fam_is_any(a) || fam_is_any(b))
		return 1;
	if (a->sa_family != b->sa_family)
		return 0;
	if (a->sa_family == AF_INET)
		return ((const struct sockaddr_in *)a)->sin_addr.s_addr ==
		       ((const struct sockaddr_in *)b)->sin_addr.s_addr;
	return !memcmp(&((const struct sockaddr_in6 *)a)->sin6_addr,
		       &((const struct sockaddr_in6 *)b)->sin6_addr, sizeof(struct in6_addr));
}

void shim_family_host_binds(const struct sockaddr *addr, socklen_t len)
{
	if (!F || !shim.enabled || shim.cfg.listen_off ||
	    !fam_same_endpoint(addr, len, (const struct sockaddr *)&shim.cfg.listen))
		return;
	if (!__atomic_exchange_n(&F->host_took, 1, __ATOMIC_ACQ_REL))
		shim_log(CFG_LOG_WARN,
			 "the server binds the PROMSHIM_LISTEN address itself; "
			 "promshim stops serving /metrics there");
	/* Free the port before the host's bind: here, or in the serving
	 * member, which sees host_took within a tick. */
	exp_give_up();
	int server = __atomic_load_n(&F->server_pid, __ATOMIC_ACQUIRE);
	if (server > 0 && server != getpid())
		for (int i = 0; i < 100 && kill(server, 0) == 0; i++) {
			struct timespec ts = {0, 10 * 1000 * 1000};
			SHIM_REAL(nanosleep)(&ts, NULL);
			if (__atomic_load_n(&F->server_pid, __ATOMIC_ACQUIRE) == -server)
				break;
		}
}

int shim_family_owns_fd(int fd)
{
	return exp_owns_fd(fd);
}

void shim_family_fds_closing(unsigned lo, unsigned hi)
{
	exp_fds_closing(lo, hi);
}

int shim_family_fd_created(int fd)
{
	return exp_fd_created(fd);
}

/* ---- members ---- */

static void fam_member_record(int slot, pid_t pid, uint64_t boot_us)
{
	if (!F || slot < 0 || slot >= REG_MAX_MEMBERS)
		return;
	F->member[slot].standby = 0;
	F->member[slot].holding = 0;
	F->member[slot].boot_us = boot_us;
	__atomic_store_n(&F->member[slot].pid, (int)pid, __ATOMIC_RELEASE);
}

void fam_refresh_members(void)
{
	for (int slot = 0; slot < REG_MAX_MEMBERS; slot++) {
		int pid = reg_member_pid(shim.reg, slot);
		if (pid <= 0)
			continue;
		int alive;
		if (__atomic_load_n(&F->member[slot].pid, __ATOMIC_ACQUIRE) == pid)
			alive = procstat_alive(pid, F->member[slot].boot_us);
		else /* still joining: its start time is not written yet */
			alive = kill(pid, 0) == 0 || errno != ESRCH;
		struct reg_member_figures *f = &fam_figs[slot];
		if (alive && procstat_read(pid, f) == 0) {
			reg_member_set_figures(shim.reg, slot, f);
			continue;
		}
		if (alive)
			continue;
		reg_member_leave(shim.reg, slot, f->cpu_us);
		memset(f, 0, sizeof *f);
	}
}

/* ---- fork ---- */

static void fam_atfork_prepare(void)
{
	/* The child must see that it has a parent to defer to before its
	 * own thread can start: the parent's starts only after the fork. */
	if (fam_capable && shim.enabled)
		fam_member_standby(1);
	exp_atfork_prepare();
}

static void fam_atfork_parent(void)
{
	exp_atfork_parent();
	/* A member that forks children of its own is a master: the best
	 * standby there is. Normal context here, unlike the child handler.
	 * A single-threaded one starts when it settles in its loop instead,
	 * so that the children it forks next are single-threaded too. */
	if (fam_capable && !fam_thread_started && !__libc_single_threaded)
		fam_start_thread();
}

static void fam_atfork_child(void)
{
	fam_parent = shim.pid;
	fam_parent_slot = shim.member_slot;
	shim.pid = getpid();
	exp_atfork_child();
	fam_thread_started = 0;
	fam_listened = 0;
	fam_blocked = 0;
	fam_parent_since = 0;
	shim_family_pending = fam_capable;
	shim_family_watch = NULL;
	shim_family_watch_lfd = -1;
	if (shim.enabled) {
		uint64_t boot = procstat_boot_now_us();
		shim.member_slot = reg_member_join(shim.reg, (int)shim.pid,
						   procstat_boot_to_epoch_us(boot));
		shim_conn_member();
		fam_member_record(shim.member_slot, shim.pid, boot);
	}
}

/* ---- start-up ---- */

/* A listening TCP socket inherited across exec (nginx's binary upgrade,
 * socket activation) makes this process able to serve from the start. */
static int fam_inherited_listener(void)
{
	DIR *d = opendir("/proc/self/fd");
	if (!d)
		return 0;
	int self = dirfd(d), found = 0;
	struct dirent *e;
	while (!found && (e = readdir(d)) != NULL) {
		char *end;
		long fd = strtol(e->d_name, &end, 10);
		if (*end || fd == self)
			continue;
		int v = 0;
		socklen_t l = sizeof v;
		if (getsockopt((int)fd, SOL_SOCKET, SO_ACCEPTCONN, &v, &l) < 0 || !v)
			continue;
		l = sizeof v;
		if (getsockopt((int)fd, SOL_SOCKET, SO_TYPE, &v, &l) < 0 || v != SOCK_STREAM)
			continue;
		l = sizeof v;
		if (getsockopt((int)fd, SOL_SOCKET, SO_DOMAIN, &v, &l) < 0)
			continue;
		found = v == AF_INET || v == AF_INET6;
	}
	closedir(d);
	return found;
}

int shim_family_init(uint64_t start_boot_us)
{
	F = mmap(NULL, sizeof *F, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (F == MAP_FAILED) {
		F = NULL;
		return -1;
	}
	pthread_mutexattr_t ma;
	pthread_mutexattr_init(&ma);
	pthread_mutexattr_setpshared(&ma, PTHREAD_PROCESS_SHARED);
	pthread_mutexattr_setrobust(&ma, PTHREAD_MUTEX_ROBUST);
	int r = pthread_mutex_init(&F->serve, &ma);
	for (int i = 0; r == 0 && i < REG_MAX_MEMBERS; i++)
		r = pthread_mutex_init(&F->member[i].alive, &ma);
	pthread_mutexattr_destroy(&ma);
	if (r != 0) {
		munmap(F, sizeof *F);
		F = NULL;
		return -1;
	}
	fam_member_record(shim.member_slot, shim.pid, start_boot_us);
	pthread_atfork(fam_atfork_prepare, fam_atfork_parent, fam_atfork_child);
	if (!shim.cfg.listen_off && fam_inherited_listener())
		shim_family_listening();
	return 0;
}

void shim_family_exit(void)
{
	if (!F || !shim.enabled)
		return;
	struct rusage ru;
	/* A vfork child that calls exit() runs this in its parent's memory:
	 * the slot is the parent's, not ours. */
	if (shim.member_slot < 0 || getpid() != shim.pid || getrusage(RUSAGE_SELF, &ru) != 0)
		return;
	uint64_t cpu = (uint64_t)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1000000u +
		       (uint64_t)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec);
	reg_member_leave(shim.reg, shim.member_slot, cpu);
}
