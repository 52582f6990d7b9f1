/* shim/conn.h — tracked connections: a pool of connection objects, each
 * embedding the tracker's per-connection state, shared by all the fds that
 * alias it, and the trk_sink that turns tracker callbacks into registry
 * records. Called from the hooks only when an fd's state byte is nonzero.
 */
#ifndef PROMSHIM_SHIM_CONN_H
#define PROMSHIM_SHIM_CONN_H

#include <stdint.h>
#include <sys/types.h>
#include <sys/uio.h>

#include "tracker.h"

struct shim_conn {
	struct trk_conn trk;
	int refs;          /* fds aliasing it, in this process */
	int claimed;       /* slot taken (CAS 0 -> 1) */
	pid_t io_pid;      /* process that last read or wrote it (0: none yet) */
	pid_t counted_pid; /* process whose open-connections gauge holds it */
	uint16_t lport;    /* local port of the listener it came from */
	uint8_t off;       /* no longer followed: shut down or bytes unseen */
} __attribute__((aligned(64)));

/* Map the pool for n connections (lazily touched). Returns 0 or -1. */
int shim_conn_pool_init(unsigned n);

/* What an accept needs to know of listener lfd (state bits | local port
 * << 8), classifying it on first sight. Read BEFORE the real accept: a
 * signal handler that runs as the accept returns (Apache prefork's
 * graceful restart closes its listeners from one) or another thread may
 * close lfd before the hook could look again. */
uint32_t shim_conn_listener(int lfd);

/* accept on a listener (what shim_conn_listener said of it) returned fd:
 * track it when the listener qualifies; an fd still marked live from a
 * close we never saw ends first. */
void shim_conn_accepted(uint32_t listener, int fd);

/* listen(fd) succeeded: classify fd and tell the family. */
void shim_conn_listening(int fd);

/* fd stops referring to whatever it referred to (close, dup2 over it,
 * close_range): the last alias of a connection ends it. */
void shim_conn_drop_fd(int fd);

/* newfd now refers to the same open file as oldfd (dup family). */
void shim_conn_alias(int oldfd, int newfd);

/* Bytes the server read from / wrote to tracked fd (n > 0, or n == 0 for a
 * read that met end of file). fd must have passed shim_fd_tracked before the
 * real call (it is within the table); it may have been closed since. */
void shim_conn_read(int fd, const void *buf, size_t n);
void shim_conn_readv(int fd, const struct iovec *iov, int iovcnt, size_t n);
void shim_conn_write(int fd, const void *buf, size_t n);
void shim_conn_writev(int fd, const struct iovec *iov, int iovcnt, size_t n);
/* n bytes sent without the shim seeing them (sendfile, splice); fd passed
 * the hook's shim_fd_tracked() check, as for the calls above. */
void shim_conn_write_opaque(int fd, uint64_t n);
/* n bytes consumed without the shim seeing them (MSG_TRUNC, splice out of
 * the socket): the stream cannot be followed any further. */
void shim_conn_read_unseen(int fd, uint64_t n);
/* shutdown(fd, how) succeeded. */
void shim_conn_shutdown(int fd, int how);

/* The process has its member slot (shim.member_slot, at start-up and in a
 * forked child): its in-flight gauge goes there from now on. */
void shim_conn_member(void);

/* The process is exiting: end every connection it served. Runs once. */
void shim_conn_exit_all(void);

/* Accepts left untracked because the fd table or pool had no room. */
uint64_t shim_conn_untracked(void);

/* Tag on_request returns for an excluded request: nothing is recorded. */
#define SHIM_CONN_TAG_EXCLUDED 0x7fffffffu

#endif
