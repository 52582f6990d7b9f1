/* shim/init.c — the library constructor and destructor: read the
 * configuration (and the files it names) once, map the family's shared
 * registry and route table before any fork, set up logging, the fd table,
 * this process's member slot and the family (serving, fork handling).
 * A bad configuration leaves the process running uninstrumented.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fdtable.h"
#include "procstat.h"
#include "real.h"
#include "shim.h"

#define INIT_SEEN_SLOTS 4096        /* literal segments remembered per family */
#define INIT_FILE_MAX (16u << 20)   /* largest configuration file read */

struct shim_state shim = {.member_slot = -1};

static const char *init_getenv(const char *name)
{
	return getenv(name);
}

/* cfg_readfile_fn: the whole file, with the real read and close. */
static int init_readfile(const char *path, char **text, size_t *len, unsigned *mode, char *err,
			 size_t errlen)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		snprintf(err, errlen, "cannot open '%s': %s", path, strerror(errno));
		return -1;
	}
	struct stat st;
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || (size_t)st.st_size > INIT_FILE_MAX) {
		snprintf(err, errlen, "'%s' is not a regular file of at most %u bytes", path,
			 INIT_FILE_MAX);
		shim_real.close(fd);
		return -1;
	}
	size_t cap = (size_t)st.st_size + 1, n = 0;
	char *buf = malloc(cap);
	if (!buf) {
		snprintf(err, errlen, "'%s': out of memory", path);
		shim_real.close(fd);
		return -1;
	}
	for (;;) {
		if (n == cap - 1) {
			/* the file grew since fstat: read what fits, stop there */
			break;
		}
		ssize_t r = shim_real.read(fd, buf + n, cap - 1 - n);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			snprintf(err, errlen, "cannot read '%s': %s", path, strerror(errno));
			free(buf);
			shim_real.close(fd);
			return -1;
		}
		if (r == 0)
			break;
		n += (size_t)r;
	}
	shim_real.close(fd);
	buf[n] = '\0';
	*text = buf;
	*len = n;
	*mode = (unsigned)st.st_mode;
	return 0;
}

static void *init_map(size_t size)
{
	void *p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	return p == MAP_FAILED ? NULL : p;
}

static void init_prog_name(void)
{
	const char *p = program_invocation_short_name;
	snprintf(shim.prog, sizeof shim.prog, "%s", p && *p ? p : "unknown");
}

__attribute__((constructor)) static void shim_init(void)
{
	shim_real_init();
	shim.pid = getpid();
	init_prog_name();

	char err[CFG_ERR_MAX];
	if (cfg_load(&shim.cfg, init_getenv, init_readfile, err, sizeof err) < 0) {
		const char *lv = getenv("PROMSHIM_LOG");
		if (!lv || strcmp(lv, "off") != 0)
			shim_log(CFG_LOG_ERROR, "%s; this process is not instrumented", err);
		return;
	}
	shim_log_level = (int)shim.cfg.log;

	size_t rsz = reg_size(&shim.cfg.reg);
	void *rmem = init_map(rsz);
	shim.reg = rmem ? reg_init(rmem, rsz, &shim.cfg.reg) : NULL;
	size_t ssz = route_seen_size(INIT_SEEN_SLOTS);
	void *smem = init_map(ssz);
	struct route_seen *seen =
		smem ? route_seen_init(smem, ssz, INIT_SEEN_SLOTS, shim.cfg.collapse_after) : NULL;
	if (!shim.reg || !seen) {
		shim_log(CFG_LOG_ERROR, "cannot map the shared registry; this process is not instrumented");
		return;
	}
	shim.routes.routes = shim.cfg.routes;
	shim.routes.exclude = shim.cfg.exclude;
	shim.routes.heuristic = shim.cfg.heuristic;
	shim.routes.seen = seen;

	if (shim_fd_init() < 0) {
		shim_log(CFG_LOG_ERROR, "cannot map the fd table; this process is not instrumented");
		return;
	}

	uint64_t boot_us;
	if (procstat_start(shim.pid, &boot_us) < 0)
		boot_us = procstat_boot_now_us();
	shim.member_slot = reg_member_join(shim.reg, (int)shim.pid, procstat_boot_to_epoch_us(boot_us));
	shim.enabled = 1;
	if (shim_family_init(boot_us) < 0)
		shim_log(CFG_LOG_ERROR, "cannot map the family area; /metrics will not be served");
}

__attribute__((destructor)) static void shim_fini(void)
{
	shim_family_exit();
}
