/* shim/procstat.c — per-member process figures from /proc: CPU, RSS, VSZ,
 * open fds, the soft fd limit and the start time; liveness that tells a
 * member from a later process that reused its pid.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "procstat.h"
#include "real.h"

/* A member's start time read back from /proc is truncated to clock ticks;
 * its recorded one (a fork child's clock reading) is a little later. */
#define PS_ALIVE_SLACK_US 1000000u

static long ps_hz(void)
{
	static long hz;
	if (hz <= 0) {
		long v = sysconf(_SC_CLK_TCK);
		hz = v > 0 ? v : 100;
	}
	return hz;
}

static long ps_page(void)
{
	static long pg;
	if (pg <= 0) {
		long v = sysconf(_SC_PAGESIZE);
		pg = v > 0 ? v : 4096;
	}
	return pg;
}

ssize_t procstat_slurp(const char *path, char *buf, size_t cap)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	size_t len = 0;
	while (len < cap - 1) {
		ssize_t n = shim_real.read(fd, buf + len, cap - 1 - len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			int e = errno;
			shim_real.close(fd);
			return -e;
		}
		if (n == 0)
			break;
		len += (size_t)n;
	}
	shim_real.close(fd);
	buf[len] = '\0';
	return (ssize_t)len;
}

struct ps_stat {
	char state;
	uint64_t utime, stime; /* ticks */
	uint64_t start;        /* ticks since boot */
	uint64_t vsize;        /* bytes */
	uint64_t rss;          /* pages */
};

/* /proc/PID/stat: the command name may hold spaces and parentheses, so the
 * fields are counted from the last ')'. */
static int ps_stat_read(pid_t pid, struct ps_stat *st)
{
	char path[64], buf[1024];
	snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
	ssize_t n = procstat_slurp(path, buf, sizeof buf);
	if (n < 0)
		return n == -ENOENT ? -ESRCH : (int)n;
	char *p = strrchr(buf, ')');
	if (!p || p[1] != ' ')
		return -EIO;
	p += 2;
	/* p is field 3 (state); fields are 1-based as in proc(5). */
	uint64_t v[53] = {0};
	int field = 3;
	st->state = *p;
	while (*p && field < 53) {
		while (*p == ' ')
			p++;
		if (!*p)
			break;
		if (field > 3)
			v[field] = strtoull(p, NULL, 10);
		while (*p && *p != ' ')
			p++;
		field++;
	}
	if (field <= 24)
		return -EIO;
	st->utime = v[14];
	st->stime = v[15];
	st->start = v[22];
	st->vsize = v[23];
	st->rss = v[24];
	return 0;
}

static uint64_t ps_ticks_to_us(uint64_t ticks)
{
	return ticks * 1000000u / (uint64_t)ps_hz();
}

uint64_t procstat_boot_now_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_BOOTTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

uint64_t procstat_boot_to_epoch_us(uint64_t boot_us)
{
	struct timespec rt;
	clock_gettime(CLOCK_REALTIME, &rt);
	uint64_t now_rt = (uint64_t)rt.tv_sec * 1000000u + (uint64_t)rt.tv_nsec / 1000u;
	uint64_t now_bt = procstat_boot_now_us();
	return now_rt - now_bt + boot_us;
}

int procstat_start(pid_t pid, uint64_t *boot_us)
{
	struct ps_stat st;
	int r = ps_stat_read(pid, &st);
	if (r < 0)
		return r;
	*boot_us = ps_ticks_to_us(st.start);
	return 0;
}

int procstat_alive(pid_t pid, uint64_t boot_us)
{
	struct ps_stat st;
	if (pid <= 0 || ps_stat_read(pid, &st) < 0)
		return 0;
	if (st.state == 'Z' || st.state == 'X')
		return 0;
	uint64_t s = ps_ticks_to_us(st.start);
	uint64_t d = s > boot_us ? s - boot_us : boot_us - s;
	return d <= PS_ALIVE_SLACK_US;
}

int procstat_max_fds(pid_t pid, uint64_t *max_fds)
{
	char path[64], buf[4096];
	snprintf(path, sizeof path, "/proc/%d/limits", (int)pid);
	ssize_t n = procstat_slurp(path, buf, sizeof buf);
	if (n < 0)
		return (int)n;
	char *p = strstr(buf, "Max open files");
	if (!p)
		return -EIO;
	p += strlen("Max open files");
	while (*p == ' ')
		p++;
	if (!strncmp(p, "unlimited", 9)) {
		*max_fds = UINT64_MAX;
		return 0;
	}
	char *end;
	unsigned long long v = strtoull(p, &end, 10);
	if (end == p)
		return -EIO;
	*max_fds = v;
	return 0;
}

long procstat_open_fds(pid_t pid)
{
	char path[64];
	snprintf(path, sizeof path, "/proc/%d/fd", (int)pid);
	DIR *d = opendir(path);
	if (!d)
		return -errno;
	long n = 0;
	struct dirent *e;
	while ((e = readdir(d)) != NULL)
		if (e->d_name[0] != '.')
			n++;
	/* The directory's own fd is one of ours when we count ourselves. */
	if (pid == getpid() && n > 0)
		n--;
	closedir(d);
	return n;
}

int procstat_read(pid_t pid, struct reg_member_figures *f)
{
	struct ps_stat st;
	int r = ps_stat_read(pid, &st);
	if (r < 0)
		return r;
	if (st.state == 'Z' || st.state == 'X')
		return -ESRCH;
	f->cpu_us = ps_ticks_to_us(st.utime + st.stime);
	f->vsz_bytes = st.vsize;
	f->rss_bytes = st.rss * (uint64_t)ps_page();
	f->start_time_us = procstat_boot_to_epoch_us(ps_ticks_to_us(st.start));
	long nfd = procstat_open_fds(pid);
	if (nfd >= 0)
		f->open_fds = (uint64_t)nfd;
	uint64_t mx;
	if (procstat_max_fds(pid, &mx) == 0)
		f->max_fds = mx;
	return 0;
}
