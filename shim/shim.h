/* shim/shim.h — what the parts of the shim share: the process-wide state
 * set up by the constructor (shim/init.c), the calls between the hooks
 * (shim/hooks*.c, shim/conn.c, shim/fdtable.c) and the exporter side
 * (shim/family.c, shim/exporter.c), and logging.
 *
 * Nothing here is exported from the shared object: every symbol in shim/ is
 * hidden unless it is a hooked libc entry point listed in shim/exports.map.
 */
#ifndef PROMSHIM_SHIM_H
#define PROMSHIM_SHIM_H

#include <stdint.h>
#include <sys/types.h>

#include "config.h"
#include "registry.h"
#include "route.h"

/* The shim's own fds live at or above this number (F_DUPFD_CLOEXEC). */
#define SHIM_FD_FLOOR 900

struct shim_state {
	int enabled;              /* 1 once the constructor finished with a valid config */
	struct ps_config cfg;
	struct reg *reg;          /* family-wide, in MAP_SHARED memory */
	struct route_ctx routes;  /* seen-table in MAP_SHARED memory */
	int member_slot;          /* this process's reg member slot (-1: spill) */
	pid_t pid;                /* this process (updated in the atfork child) */
	char prog[64];            /* program name (otel service_name) */
};

extern struct shim_state shim;

/* shim/init.c: the constructor calls these in this order:
 * shim_real_init, config, registry, shim_fd_init, shim_family_init. */

/* shim/family.c: a member started holding a listening TCP socket (its own
 * listen() succeeded, or one was inherited across exec): the family must
 * serve /metrics. Cheap after the first call. */
void shim_family_listening(void);

/* shim/family.c: the host binds addr (from the bind hook, before the real
 * bind): when it is the metrics address, the exporter gives it up. */
void shim_family_host_binds(const struct sockaddr *addr, socklen_t len);

/* shim/family.c: nonzero when fd belongs to the exporter (never tracked,
 * protected from the host's dup2/close of "all fds"). */
int shim_family_owns_fd(int fd);

/* Logging to stderr, "promshim[pid]: " prefixed, never from a hook's fast
 * path. level is enum cfg_log. */
void shim_log(int level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#endif
