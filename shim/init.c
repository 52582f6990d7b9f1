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

#include "conn.h"
#include "fdtable.h"
#include "procstat.h"
#include "real.h"
#include "cfgfile.h"
#include "shim.h"

#define INIT_SEEN_SLOTS 4096        /* literal segments remembered per family */

struct shim_state shim = {.member_slot = -1};

static const char *init_getenv(const char *name)
{
	return getenv(name);
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
	if (cfg_load(&shim.cfg, init_getenv, cfgfile_read, err, sizeof err) < 0) {
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
	shim_conn_member();
	shim.enabled = 1;
	if (shim_family_init(boot_us) < 0)
		shim_log(CFG_LOG_ERROR, "cannot map the family area; /metrics will not be served");
}

__attribute__((destructor)) static void shim_fini(void)
{
	shim_family_exit();
}
