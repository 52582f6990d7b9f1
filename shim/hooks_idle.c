/* shim/hooks_idle.c — owns the hooks on the calls a process sleeps in
 * that are not event waits: sigsuspend, sigwait, sigwaitinfo,
 * sigtimedwait, pause, wait, waitpid, wait3, wait4, waitid, sleep,
 * usleep, nanosleep and clock_nanosleep.
 *
 * A master that forks its workers and then sleeps here (nginx in
 * sigsuspend, a prefork server in waitpid) has settled in its loop: a
 * member that may serve and has no thread starts it here, before the real
 * call (shim/family.c). A call that cannot sleep (WNOHANG, a zero
 * timeout: what a SIGCHLD handler does) is no such sign, and a thread is
 * never started from a signal handler that way. The call itself is passed
 * through as it is. While nothing is pending and nobody is watched, one
 * load and a branch.
 */
#include <errno.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "real.h"
#include "shim.h"

#define EXPORT __attribute__((visibility("default")))
#define UNLIKELY(x) __builtin_expect(!!(x), 0)

/* Before the real call (errno is kept). */
static inline void hk_idle(void)
{
	if (UNLIKELY(shim_family_slicing()))
		shim_family_check(SHIM_CHECK_BLOCK, -1);
}

EXPORT int sigsuspend(const sigset_t *set)
{
	hk_idle();
	return SHIM_REAL(sigsuspend)(set);
}

EXPORT int sigwait(const sigset_t *set, int *sig)
{
	hk_idle();
	return SHIM_REAL(sigwait)(set, sig);
}

EXPORT int sigwaitinfo(const sigset_t *set, siginfo_t *info)
{
	hk_idle();
	return SHIM_REAL(sigwaitinfo)(set, info);
}

EXPORT int sigtimedwait(const sigset_t *set, siginfo_t *info, const struct timespec *t)
{
	if (!t || t->tv_sec || t->tv_nsec)
		hk_idle();
	return SHIM_REAL(sigtimedwait)(set, info, t);
}

EXPORT int pause(void)
{
	hk_idle();
	return SHIM_REAL(pause)();
}

EXPORT pid_t wait(int *st)
{
	hk_idle();
	return SHIM_REAL(wait)(st);
}

EXPORT pid_t waitpid(pid_t pid, int *st, int opt)
{
	if (!(opt & WNOHANG))
		hk_idle();
	return SHIM_REAL(waitpid)(pid, st, opt);
}

EXPORT pid_t wait3(int *st, int opt, struct rusage *ru)
{
	if (!(opt & WNOHANG))
		hk_idle();
	return SHIM_REAL(wait3)(st, opt, ru);
}

EXPORT pid_t wait4(pid_t pid, int *st, int opt, struct rusage *ru)
{
	if (!(opt & WNOHANG))
		hk_idle();
	return SHIM_REAL(wait4)(pid, st, opt, ru);
}

EXPORT int waitid(idtype_t type, id_t id, siginfo_t *info, int opt)
{
	if (!(opt & WNOHANG))
		hk_idle();
	return SHIM_REAL(waitid)(type, id, info, opt);
}

EXPORT unsigned int sleep(unsigned int s)
{
	hk_idle();
	return SHIM_REAL(sleep)(s);
}

EXPORT int usleep(useconds_t us)
{
	hk_idle();
	return SHIM_REAL(usleep)(us);
}

EXPORT int nanosleep(const struct timespec *req, struct timespec *rem)
{
	hk_idle();
	return SHIM_REAL(nanosleep)(req, rem);
}

EXPORT int clock_nanosleep(clockid_t clk, int fl, const struct timespec *req, struct timespec *rem)
{
	hk_idle();
	return SHIM_REAL(clock_nanosleep)(clk, fl, req, rem);
}
