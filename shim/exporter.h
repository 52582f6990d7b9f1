/* shim/exporter.h — between the family (shim/family.c: who serves, the
 * shared family area, member figures) and the exporter (shim/exporter.c:
 * the listening socket, libmicrohttpd, /metrics). Private to the shim.
 */
#ifndef PROMSHIM_SHIM_EXPORTER_H
#define PROMSHIM_SHIM_EXPORTER_H

/* ---- exporter.c ---- */

/* Serve /metrics from the calling thread (the family's serving thread, all
 * signals blocked, holding the family's serving mutex): load
 * libmicrohttpd, bind PROMSHIM_LISTEN (retrying quietly while the port is
 * held), answer scrapes. Returns only when serving is over for good (the
 * host bound the metrics address, or libmicrohttpd is missing). */
void exp_serve(void);

/* Nonzero when fd is one of the exporter's fds in this process. */
int exp_owns_fd(int fd);

/* The host is about to close (or dup over) fds lo..hi. The exporter forgets
 * whichever of them it owns and rebuilds what it needs elsewhere. */
void exp_fds_closing(unsigned lo, unsigned hi);

/* shim_family_fd_created, for the exporter's own thread. */
int exp_fd_created(int fd);

/* Close the listening socket now (the host binds the metrics address). */
void exp_give_up(void);

/* Fork handlers: the child closes every exporter fd and forgets the
 * parent's libmicrohttpd daemon (its thread is not there to stop). */
void exp_atfork_prepare(void);
void exp_atfork_parent(void);
void exp_atfork_child(void);

/* ---- family.c ---- */

/* Nonzero once the host bound the metrics address: the family stops
 * serving for good. */
int fam_host_took(void);

/* Refresh every live member's process figures in the registry and drop
 * members that are gone. Serving thread only, before a snapshot. */
void fam_refresh_members(void);

#endif
