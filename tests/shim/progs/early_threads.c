/* tests/shim/progs/early_threads.c — a library whose constructor runs
 * before the shim's and starts four threads that make hooked calls for
 * 300 ms: the shim's constructor resolves the real functions while they
 * run, so every hook is called before, during and after the pointers are
 * published. Each call must give the right result and errno. The
 * constructor prints "EARLY-THREADS started" once they run; the destructor
 * joins them and prints "EARLY-THREADS ok N" (N: calls made) or the
 * failures. */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#define ET_THREADS 4
#define ET_MS 300

static pthread_t et_tid[ET_THREADS];
static int et_started;
static int et_bad;
static unsigned long et_calls;

static void et_fail(const char *what)
{
	char m[160];
	int n = snprintf(m, sizeof m, "EARLY-THREADS failed: %s (errno %d)\n", what, errno);
	(void)!write(2, m, (size_t)n);
	__atomic_add_fetch(&et_bad, 1, __ATOMIC_RELAXED);
}

#define ET_CHECK(c)               \
	do {                      \
		if (!(c))         \
			et_fail(#c); \
	} while (0)

static long et_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000L + ts.tv_nsec / 1000000L;
}

static void *et_run(void *arg)
{
	(void)arg;
	long end = et_ms() + ET_MS;
	unsigned long calls = 0;
	char buf[8];
	while (et_ms() < end) {
		int p[2], sp[2];
		ET_CHECK(pipe(p) == 0);
		ET_CHECK(write(p[1], "abc", 3) == 3);
		ET_CHECK(read(p[0], buf, 2) == 2 && memcmp(buf, "ab", 2) == 0);
		struct iovec v = { buf, sizeof buf };
		ET_CHECK(readv(p[0], &v, 1) == 1 && buf[0] == 'c');
		ET_CHECK(fcntl(p[0], F_SETFL, O_NONBLOCK) == 0);
		errno = 0;
		ET_CHECK(read(p[0], buf, sizeof buf) == -1 && errno == EAGAIN);
		int d = dup(p[1]);
		ET_CHECK(d >= 0 && close(d) == 0);
		errno = 0;
		ET_CHECK(close(-1) == -1 && errno == EBADF); /* another thread may own d by now */
		ET_CHECK(socketpair(AF_UNIX, SOCK_STREAM, 0, sp) == 0);
		ET_CHECK(send(sp[0], "xy", 2, 0) == 2);
		ET_CHECK(recv(sp[1], buf, 2, 0) == 2 && memcmp(buf, "xy", 2) == 0);
		ET_CHECK(shutdown(sp[0], SHUT_WR) == 0 && read(sp[1], buf, 1) == 0);
		ET_CHECK(close(sp[0]) == 0 && close(sp[1]) == 0);
		ET_CHECK(close(p[0]) == 0 && close(p[1]) == 0);
		calls += 19;
	}
	__atomic_add_fetch(&et_calls, calls, __ATOMIC_RELAXED);
	return NULL;
}

__attribute__((constructor)) static void et_start(void)
{
	for (int i = 0; i < ET_THREADS; i++)
		ET_CHECK(pthread_create(&et_tid[i], NULL, et_run, NULL) == 0);
	et_started = 1;
	ET_CHECK(write(1, "EARLY-THREADS started\n", 22) == 22);
}

__attribute__((destructor)) static void et_join(void)
{
	if (!et_started)
		return;
	for (int i = 0; i < ET_THREADS; i++)
		pthread_join(et_tid[i], NULL);
	if (!et_bad) {
		char m[64];
		int n = snprintf(m, sizeof m, "EARLY-THREADS ok %lu\n", et_calls);
		ET_CHECK(write(1, m, (size_t)n) == n);
	}
}
