/* tests/shim/progs/procstat_test.c — shim/procstat against processes with
 * known figures: a child that holds exactly K fds, runs with a soft fd
 * limit of 123, has touched 64 MiB and burnt about 0.3 s of CPU; start time
 * and liveness, including a pid whose recorded start time does not match
 * (a reused pid) and a child that exited. Exit 0 pass, 1 fail.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "procstat.h"
#include "real.h"

#define K_FDS 7
#define TOUCH (64u << 20)

static int failures;
#define CHECK(cond, ...)                                        \
	do {                                                    \
		if (!(cond)) {                                  \
			printf("FAIL %s:%d: ", __FILE__, __LINE__); \
			printf(__VA_ARGS__);                    \
			printf("\n");                           \
			failures++;                             \
		}                                               \
	} while (0)

static uint64_t cpu_of_self_us(void)
{
	struct rusage ru;
	getrusage(RUSAGE_SELF, &ru);
	return (uint64_t)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1000000u +
	       (uint64_t)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec);
}

static uint64_t epoch_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

int main(void)
{
	shim_real_init();
	int ready[2], go[2];
	if (pipe(ready) < 0 || pipe(go) < 0)
		return 2;
	uint64_t t_fork = epoch_us();
	pid_t c = fork();
	if (c == 0) {
		struct rlimit rl = {123, 4096};
		setrlimit(RLIMIT_NOFILE, &rl);
		/* exactly 0,1,2 + the two pipe ends below + K_FDS - 2 more */
		int w = fcntl(ready[1], F_DUPFD, 100), r = fcntl(go[0], F_DUPFD, 100);
		close_range(3, 99, 0);
		if (dup2(w, 3) != 3 || dup2(r, 4) != 4)
			_exit(6);
		close_range(5, ~0u, 0);
		for (int i = 0; i < K_FDS - 2; i++)
			open("/dev/null", O_RDONLY);
		volatile char *m = malloc(TOUCH);
		for (size_t i = 0; i < TOUCH; i += 4096)
			m[i] = 1;
		uint64_t start = cpu_of_self_us();
		while (cpu_of_self_us() - start < 300000)
			;
		if (write(3, "r", 1) != 1)
			_exit(3);
		char b;
		if (read(4, &b, 1) < 0)
			_exit(4);
		m[1] = b;
		_exit(m[1] == 'g' ? 0 : 5);
	}
	char b;
	close(ready[1]);
	CHECK(read(ready[0], &b, 1) == 1, "child not ready");

	struct reg_member_figures f;
	memset(&f, 0, sizeof f);
	CHECK(procstat_read(c, &f) == 0, "procstat_read of a live child");
	CHECK(f.open_fds == 3 + K_FDS, "open_fds %llu, want %d", (unsigned long long)f.open_fds, 3 + K_FDS);
	CHECK(f.max_fds == 123, "max_fds %llu, want 123", (unsigned long long)f.max_fds);
	CHECK(f.rss_bytes >= TOUCH && f.rss_bytes < TOUCH + (32u << 20), "rss %llu, want 64..96 MiB",
	      (unsigned long long)f.rss_bytes);
	CHECK(f.vsz_bytes >= f.rss_bytes, "vsz %llu below rss", (unsigned long long)f.vsz_bytes);
	CHECK(f.cpu_us >= 250000 && f.cpu_us < 2000000, "cpu %llu us, want about 300000",
	      (unsigned long long)f.cpu_us);
	uint64_t d = f.start_time_us > t_fork ? f.start_time_us - t_fork : t_fork - f.start_time_us;
	CHECK(d < 50000, "start time %llu is %llu us from the fork", (unsigned long long)f.start_time_us,
	      (unsigned long long)d);

	uint64_t boot;
	CHECK(procstat_start(c, &boot) == 0, "procstat_start");
	uint64_t now_boot = procstat_boot_now_us();
	CHECK(boot <= now_boot && now_boot - boot < 5000000, "start since boot %llu, now %llu",
	      (unsigned long long)boot, (unsigned long long)now_boot);
	CHECK(procstat_alive(c, boot), "live child not alive");
	CHECK(!procstat_alive(c, boot + 5000000), "a pid with another start time (reuse) is alive");
	CHECK(!procstat_alive(c, boot > 5000000 ? boot - 5000000 : 0), "reuse, earlier start");

	long self = procstat_open_fds(getpid());
	long want = 0;
	for (int fd = 0; fd < 1024; fd++)
		if (fcntl(fd, F_GETFD) >= 0)
			want++;
	CHECK(self == want, "own open fds %ld, want %ld", self, want);

	CHECK(write(go[1], "g", 1) == 1, "go");
	int st;
	CHECK(waitpid(c, &st, 0) == c && WIFEXITED(st) && WEXITSTATUS(st) == 0, "child status %d", st);
	CHECK(!procstat_alive(c, boot), "a reaped child is alive");
	CHECK(procstat_read(c, &f) == -ESRCH, "procstat_read of a gone pid is not -ESRCH");
	CHECK(procstat_start(c, &boot) == -ESRCH, "procstat_start of a gone pid is not -ESRCH");

	/* A zombie is not alive either. */
	pid_t z = fork();
	if (z == 0)
		_exit(0);
	uint64_t zb = 0;
	procstat_start(z, &zb);
	for (int i = 0; i < 200; i++) {
		char path[64], s[512];
		snprintf(path, sizeof path, "/proc/%d/stat", (int)z);
		FILE *fp = fopen(path, "r");
		int zombie = fp && fgets(s, sizeof s, fp) && strstr(s, ") Z ");
		if (fp)
			fclose(fp);
		if (zombie)
			break;
		usleep(5000);
	}
	CHECK(!procstat_alive(z, zb), "a zombie is alive");
	waitpid(z, NULL, 0);

	printf("%s: %d failure(s)\n", failures ? "FAIL" : "ok", failures);
	return failures ? 1 : 0;
}
