/* shim/fdtable.c — owns the per-fd state table and the process facts it
 * depends on (pid across fork). */
#include <pthread.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <unistd.h>

#include "conn.h"
#include "fdtable.h"

static uint8_t fd_nothing; /* what every fd reads before init */

unsigned shim_fd_cap;
uint8_t *shim_fd_state = &fd_nothing;
uint32_t *shim_fd_cid;
pid_t shim_fd_pid;

static unsigned fd_hwm;

static void fd_atfork_child(void)
{
	shim_fd_pid = getpid();
}

int shim_fd_init(void)
{
	if (shim_fd_cap)
		return 0;
	struct rlimit rl;
	rlim_t lim = SHIM_FD_MAX;
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_max != RLIM_INFINITY && rl.rlim_max < lim)
		lim = rl.rlim_max;
	if (lim < 64)
		lim = 64;
	unsigned cap = (unsigned)lim;

	size_t st_bytes = ((size_t)cap + 1 + 7) & ~(size_t)7;
	size_t bytes = st_bytes + (size_t)cap * sizeof(uint32_t);
	void *m = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1,
		       0);
	if (m == MAP_FAILED)
		return -1;
	if (shim_conn_pool_init(cap) != 0) {
		munmap(m, bytes);
		return -1;
	}
	shim_fd_pid = getpid();
	shim_fd_cid = (uint32_t *)(void *)((char *)m + st_bytes);
	shim_fd_state = m;
	/* Last: from here on hooks index the new table. */
	__atomic_store_n(&shim_fd_cap, cap, __ATOMIC_RELEASE);
	pthread_atfork(NULL, NULL, fd_atfork_child);
	return 0;
}

void shim_fd_set(int fd, unsigned bits, uint32_t cid)
{
	if ((unsigned)fd >= shim_fd_cap)
		return;
	__atomic_store_n(&shim_fd_cid[fd], cid, __ATOMIC_RELAXED);
	__atomic_store_n(&shim_fd_state[fd], (uint8_t)bits, __ATOMIC_RELEASE);
	if (bits) {
		unsigned h = __atomic_load_n(&fd_hwm, __ATOMIC_RELAXED);
		while ((unsigned)fd + 1 > h &&
		       !__atomic_compare_exchange_n(&fd_hwm, &h, (unsigned)fd + 1, 1, __ATOMIC_RELAXED,
						    __ATOMIC_RELAXED))
			;
	}
}

unsigned shim_fd_hwm(void)
{
	return __atomic_load_n(&fd_hwm, __ATOMIC_RELAXED);
}
