/* shim/fdtable.h — the per-fd table: one state byte per fd (the hot check
 * every hook makes), the connection each alias fd refers to, and the
 * per-process facts the connection rules need (pid, fork handling).
 *
 * The table is process-private (copied on fork) and sized from the hard fd
 * limit in a lazily touched MAP_NORESERVE mapping. Before shim_fd_init (or
 * when the shim is disabled) shim_fd_cap is 0 and every fd reads as
 * untracked.
 */
#ifndef PROMSHIM_SHIM_FDTABLE_H
#define PROMSHIM_SHIM_FDTABLE_H

#include <stdint.h>
#include <sys/types.h>

#define SHIM_FD_CONN 0x01u /* alias of a tracked connection */
#define SHIM_FD_LQ 0x02u   /* listening TCP socket whose accepts are tracked */
#define SHIM_FD_LN 0x04u   /* socket whose accepts are never tracked */

#define SHIM_FD_MAX (1u << 20) /* cap on the table, whatever the limit says */

/* Hidden in the declarations too, so that every hook reaches them with one
 * PC-relative load instead of going through the GOT. */
#define SHIM_FD_HIDDEN __attribute__((visibility("hidden")))
extern SHIM_FD_HIDDEN unsigned shim_fd_cap;   /* fds 0..cap-1 have an entry; 0 until init */
extern SHIM_FD_HIDDEN uint8_t *shim_fd_state; /* cap+1 bytes: [cap] is always 0 */
extern SHIM_FD_HIDDEN uint32_t *shim_fd_cid;  /* connection index per fd (valid with CONN) */
extern SHIM_FD_HIDDEN pid_t shim_fd_pid;      /* this process, refreshed in the atfork child */

/* Size the table and the connection pool; called by the constructor after
 * the registry exists. Returns 0, or -1 when memory could not be mapped
 * (nothing is tracked then). */
int shim_fd_init(void);

/* State bits of fd: one load, the bounds check folded into the index. */
static inline unsigned shim_fd_bits(int fd)
{
	unsigned i = (unsigned)fd < shim_fd_cap ? (unsigned)fd : shim_fd_cap;
	return __atomic_load_n(&shim_fd_state[i], __ATOMIC_RELAXED);
}

static inline int shim_fd_tracked(int fd)
{
	return (shim_fd_bits(fd) & SHIM_FD_CONN) != 0;
}

/* Store fd's state (fd < shim_fd_cap); cid is published before the bits. */
void shim_fd_set(int fd, unsigned bits, uint32_t cid);

/* One past the highest fd that ever had a state: bounds every scan. */
unsigned shim_fd_hwm(void);

#endif
