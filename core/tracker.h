/* core/tracker.h — streaming HTTP/1.x exchange tracker for one connection.
 *
 * The caller owns a struct trk_conn per connection and feeds it the bytes the
 * server read (trk_read) and wrote (trk_write, trk_writev, trk_write_opaque),
 * with CLOCK_MONOTONIC timestamps, and finally the end of the connection
 * (trk_end). The tracker calls back into a struct trk_sink as it goes:
 * on_request when a request head has been parsed far enough to know method
 * and path, on_exchange when the matching response completed (or when the
 * connection ended first: TRK_X_ABORTED), on_error for every parse error,
 * on_unsupported once for traffic that is not HTTP/1.x.
 *
 * No allocation, no I/O, no global state. Fixed-size state per connection.
 * The read side (trk_read) and the write side (trk_write*) may run in two
 * threads at once; they share only a single-producer single-consumer queue of
 * pending requests and a few atomic flags. trk_end must not run concurrently
 * with either side.
 */
#ifndef PROMSHIM_CORE_TRACKER_H
#define PROMSHIM_CORE_TRACKER_H

#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

enum trk_method {
	TRK_M_OTHER = 0,
	TRK_M_GET,
	TRK_M_HEAD,
	TRK_M_POST,
	TRK_M_PUT,
	TRK_M_DELETE,
	TRK_M_CONNECT,
	TRK_M_OPTIONS,
	TRK_M_TRACE,
	TRK_M_PATCH,
	TRK_M_COUNT
};

/* Flags on a request (on_request) and on an exchange (on_exchange). */
#define TRK_R_INVALID   0x01u /* request could not be parsed: route _INVALID */
#define TRK_R_ASTERISK  0x02u /* OPTIONS * : route "*" */
#define TRK_R_CONNECT   0x04u /* CONNECT: route _CONNECT */
#define TRK_R_TRUNCATED 0x08u /* path longer than TRK_PATH_MAX, cut */
#define TRK_X_ABORTED   0x10u /* connection ended before the response completed */

/* Reasons given to on_unsupported. */
enum trk_unsupported { TRK_U_TLS = 0, TRK_U_H2C, TRK_U_OTHER, TRK_U_COUNT };

/* Bytes of path kept per request (query string already removed). */
#define TRK_PATH_MAX 256

/* Depth of the pending-request queue (requests read but not yet answered). */
#define TRK_PENDING 16

struct trk_exchange {
	uint32_t tag;       /* what on_request returned for this request */
	uint8_t method;     /* enum trk_method */
	uint8_t flags;      /* TRK_R_* | TRK_X_ABORTED */
	uint16_t status;    /* final status code sent; 0 when aborted before a status line */
	uint64_t req_body;  /* request body bytes (decoded length for chunked) */
	uint64_t resp_body; /* response body bytes (decoded length for chunked) */
	uint64_t t_start;   /* ns: return of the read that delivered the first byte */
	uint64_t t_end;     /* ns: return of the write that delivered the last byte */
};

struct trk_sink {
	/* Request head parsed: method, path (query removed, absolute-form
	 * reduced, not NUL-terminated, at most TRK_PATH_MAX bytes) and TRK_R_*
	 * flags. Returns a tag the tracker hands back in the exchange. For an
	 * unparsable request answered by the server, on_request is called with
	 * TRK_R_INVALID when the response starts, with an empty path: then it
	 * runs on the write side's thread. Called when the request line is
	 * complete; every request announced ends in exactly one on_exchange
	 * (completed or TRK_X_ABORTED) by the time trk_end returns. A request
	 * line cut across reads keeps TRK_RLINE bytes: method, SP and up to
	 * TRK_PATH_MAX path bytes (an absolute-form host eats into that). */
	uint32_t (*on_request)(void *ctx, unsigned method, const char *path, size_t len, unsigned flags);
	/* An exchange finished (response complete) or was cut off (TRK_X_ABORTED). */
	void (*on_exchange)(void *ctx, const struct trk_exchange *x);
	/* A parse error on either side. */
	void (*on_error)(void *ctx);
	/* The connection is not HTTP/1.x (reported once per connection). */
	void (*on_unsupported)(void *ctx, unsigned reason);
	void *ctx;
	/* Optional: the time now, in the unit of the calls' `now`. A write
	 * fed with now == 0 reads it here, only when an event needs a time
	 * (a response ends, a close-delimited body goes on); without it such
	 * events get time 0. */
	uint64_t (*now)(void *ctx);
	/* Optional: a request whose line is, byte for byte, the line of the
	 * connection's previous request that on_request returned tag for
	 * (same method, path and flags). Returns the tag to use, as
	 * on_request would have (never with TRK_TAG_ONCE): a sink whose
	 * on_request answers the same arguments with the same tag can skip
	 * its lookup here. Without it, on_request is called. */
	uint32_t (*on_again)(void *ctx, uint32_t tag);
};

/* A tag on_request returns with this bit set is used without it, and not
 * for again: a later request with the same line is asked of on_request.
 * For answers that may change for the same arguments. */
#define TRK_TAG_ONCE 0x80000000u

/* Per-connection state, embedded by the caller (the shim's fd table).
 * Fixed size (1,600 bytes); fields are internal to core/tracker.c. The
 * request side and the response side sit in separate cache lines; they share
 * only the ring of pending requests (single producer: the read side; single
 * consumer: the write side) and the rarely written flags in sh. */
struct trk_pend {
	uint64_t t_start;
	_Atomic uint64_t req_body; /* updated by the read side while the body arrives */
	uint32_t tag;
	uint8_t method;
	uint8_t flags;  /* TRK_R_* */
	_Atomic uint8_t xflags; /* framing facts the response side needs: published
				 * with the request line, completed at head end */
	uint8_t pad;
};

/* Framing state of one direction. */
struct trk_side {
	uint64_t rem;    /* body or chunk bytes still to come */
	uint64_t body;   /* decoded body bytes so far */
	uint64_t cl;     /* Content-Length value seen in this head */
	uint64_t t_mark; /* read side: first byte of the request; write side: last write */
	uint16_t llen;   /* bytes of a partial line held in the line buffer */
	uint8_t tlen;    /* bytes in tail */
	uint8_t state;
	uint8_t hf;    /* header findings */
	uint8_t over;  /* the held line outgrew the line buffer (bits, see tracker.c) */
	uint8_t ver;   /* HTTP minor version of this message (9 for 0.9) */
	uint8_t misc;  /* per-side bits */
	char tail[16]; /* last bytes of an overlong line (the version lives there) */
};

#define TRK_RLINE 272 /* request side line buffer: method, SP and TRK_PATH_MAX path bytes */
#define TRK_WLINE 40  /* response side line buffer: status line, header starts */
#define TRK_MEMO 256  /* bytes of a header section one side remembers */

/* The last header section (the lines after the start line, up to and
 * including the empty line) a side parsed whole, with what it found: a
 * section that equals it except inside the values of fields the tracker
 * ignores frames the same, without a parse. Those values are kept as
 * zeros, which nothing else in a kept section is. */
struct trk_memo {
	uint64_t cl;                    /* Content-Length found */
	uint16_t len;                   /* section length (0: none kept) */
	uint8_t hf;                     /* header findings */
	uint8_t seen;                   /* heads seen while none was kept */
	uint8_t miss;                   /* misses in a row */
	uint8_t skip;                   /* heads left before the next try */
	uint16_t nls;                   /* newlines in it */
	char sec[TRK_MEMO];             /* the section, 0 where it may differ */
};

#define TRK_LMEMO 96 /* bytes of a request line the read side remembers */
#define TRK_SMEMO 42 /* bytes of a status line the write side remembers */

/* The start line of a recent head a side took by its memo, byte for byte
 * with its line end (len 0: none), and what it gave: the next head that
 * starts with the same bytes skips the line's parse, and for a request the
 * sink's lookup of its path (trk_sink.on_again). After misses in a row it
 * is tried (and renewed) less often, as the section memo is. */
struct trk_lmemo {
	uint32_t tag;  /* what on_request returned for it */
	uint8_t len;   /* line bytes, LF included: 16 to TRK_LMEMO */
	uint8_t method;
	uint8_t ver;
	uint8_t poff;  /* the path: line + poff, plen bytes */
	uint8_t plen;
	uint8_t miss;  /* misses in a row */
	uint8_t skip;  /* heads left before the next try */
	uint8_t pad[5];
	char line[TRK_LMEMO];
};

struct trk_smemo {
	uint16_t status;
	uint8_t len;   /* line bytes, LF included: 16 to TRK_SMEMO */
	uint8_t ver;
	uint8_t miss, skip;
	char line[TRK_SMEMO];
};

struct trk_conn {
	struct {
		struct trk_side s;
		_Atomic uint32_t head; /* next ring slot to publish */
		uint8_t method, flags, xflags, kind;
		char line[TRK_RLINE];
		struct trk_memo memo;
		struct trk_lmemo lm;
	} rd;
	struct {
		_Atomic uint32_t ovf;    /* requests read that found the ring full, not yet answered */
		_Atomic uint8_t stop;    /* the tracker stopped following the connection */
		_Atomic uint8_t rd_done; /* the read side gave up (2: swamped by pipelining) */
		uint8_t ovw;             /* read side: next overflow queue entry to fill */
		/* methods of the ovf requests, 4 bits each, a queue of 64 */
		_Atomic uint64_t oq[4];
	} sh;
	struct {
		struct trk_side s;
		_Atomic uint32_t tail; /* next ring slot to answer */
		uint16_t status;
		uint8_t method, flags; /* the request being answered */
		uint32_t tag;
		uint8_t xflags, kind;
		uint8_t ovr; /* next overflow queue entry to answer */
		uint8_t pad;
		uint64_t t_start;
		uint64_t hb_rem; /* body bytes a HEAD response announced (a lenient skip) */
		char line[TRK_WLINE];
		struct trk_memo memo;
		struct trk_smemo sm;
	} wr __attribute__((aligned(64)));
	struct trk_pend ring[TRK_PENDING] __attribute__((aligned(64)));
};

/* Initialise (or re-initialise) a connection's state. Never fails. */
void trk_init(struct trk_conn *c);

/* How header sections are compared with the memo: on x86-64 with AVX2,
 * long ones 32 bytes at a time (on != 0: the default, set at the first
 * trk_init), or always 16 at a time (on == 0, for tests). The result is
 * the same. Returns whether the wide compare is in use. Not concurrent
 * with the tracker's other calls. */
int trk_set_wide(int on);

/* Feed n bytes the server read; n == 0 is the client's half-close. */
void trk_read(struct trk_conn *c, const void *buf, size_t n, uint64_t now, const struct trk_sink *s);

/* Feed n bytes the server wrote. */
void trk_write(struct trk_conn *c, const void *buf, size_t n, uint64_t now, const struct trk_sink *s);

/* Feed the first n bytes of a scatter list the server wrote. */
void trk_writev(struct trk_conn *c, const struct iovec *iov, int iovcnt, size_t n, uint64_t now,
		const struct trk_sink *s);

/* The server sent n bytes the tracker cannot see (sendfile, splice). */
void trk_write_opaque(struct trk_conn *c, uint64_t n, uint64_t now, const struct trk_sink *s);

/* Same as trk_read for a scatter list (readv, recvmsg): first n bytes. */
void trk_readv(struct trk_conn *c, const struct iovec *iov, int iovcnt, size_t n, uint64_t now,
	       const struct trk_sink *s);

/* The connection ended (closed or reset): a close-delimited response
 * completes (its end time is its last write), every other pending request is
 * reported with TRK_X_ABORTED. The state is left re-initialised. */
void trk_end(struct trk_conn *c, uint64_t now, const struct trk_sink *s);

/* Nonzero once the tracker stopped following the connection (tunnel,
 * unsupported protocol, unrecoverable error): callers may skip feeding it. */
int trk_idle(const struct trk_conn *c);

/* Method name for enum trk_method ("_OTHER" for TRK_M_OTHER). */
const char *trk_method_name(unsigned m);

#endif
