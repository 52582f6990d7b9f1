/* shim/procstat.h — process figures of a family member from /proc (CPU,
 * memory, fds, fd limit, start time) and a liveness check that survives pid
 * reuse. Used by the exporter thread before each scrape and by the
 * constructor; allocates nothing that outlives a call, never from a hook.
 */
#ifndef PROMSHIM_SHIM_PROCSTAT_H
#define PROMSHIM_SHIM_PROCSTAT_H

#include <stdint.h>
#include <sys/types.h>

#include "registry.h"

/* Read a small /proc or /sys file into buf (NUL-terminated). Returns its
 * length or -errno. */
ssize_t procstat_slurp(const char *path, char *buf, size_t cap);

/* Read pid's figures into f. Returns 0; -ESRCH when the process is gone (or
 * a zombie); another -errno when /proc could not be read. Figures that are
 * unreadable for permission reasons (another user's fd directory) are left
 * as f held them, so a caller can pass the previous figures in. */
int procstat_read(pid_t pid, struct reg_member_figures *f);

/* Start time of pid in microseconds since boot (CLOCK_BOOTTIME, the clock
 * the kernel keeps it in: immune to wall-clock steps). Returns 0, or -errno
 * (-ESRCH: no such process). */
int procstat_start(pid_t pid, uint64_t *boot_us);

/* CLOCK_BOOTTIME now, in microseconds: a fork child's start time. */
uint64_t procstat_boot_now_us(void);

/* A time since boot as microseconds since the Unix epoch. */
uint64_t procstat_boot_to_epoch_us(uint64_t boot_us);

/* Nonzero when pid is alive and is the process that started at boot_us
 * (within the kernel's clock-tick granularity): a pid reused by a later
 * process has a different start time. */
int procstat_alive(pid_t pid, uint64_t boot_us);

/* Soft RLIMIT_NOFILE of pid as /proc/PID/limits shows it ("unlimited":
 * UINT64_MAX). Returns 0 or -errno. */
int procstat_max_fds(pid_t pid, uint64_t *max_fds);

/* Number of open fds of pid (entries of /proc/PID/fd). Returns the count or
 * -errno. */
long procstat_open_fds(pid_t pid);

#endif
