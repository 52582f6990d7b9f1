/* tests/core/test_tracker.c — table tests for the HTTP/1.x stream tracker
 * (core/tracker.c): every case fed whole, byte by byte and in seeded random
 * splits (reads also as readv, writes also as writev with an unread iovec
 * past n), each piece right before a guard page. Expected timestamps name
 * the step and byte offset whose call must supply them, so they hold for
 * every split. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "guard.h"
#include "tracker.h"

#define TT_MAXREC 256
#define TT_TAG0 1000u

struct tt_req {
	unsigned method, flags;
	size_t len;
	char path[TRK_PATH_MAX + 1];
};

struct tt_rec {
	int nreq, nx, errors, nuns;
	unsigned uns[4];
	struct tt_req req[TT_MAXREC];
	struct trk_exchange x[TT_MAXREC];
};

static uint32_t tt_on_request(void *ctx, unsigned method, const char *path, size_t len, unsigned flags)
{
	struct tt_rec *r = ctx;
	cr_assert_leq(len, TRK_PATH_MAX);
	cr_assert_lt(r->nreq, TT_MAXREC);
	struct tt_req *q = &r->req[r->nreq];
	q->method = method;
	q->flags = flags;
	q->len = len;
	memcpy(q->path, path, len);
	q->path[len] = 0;
	return TT_TAG0 + (uint32_t)r->nreq++;
}

static void tt_on_exchange(void *ctx, const struct trk_exchange *x)
{
	struct tt_rec *r = ctx;
	cr_assert_lt(r->nx, TT_MAXREC);
	r->x[r->nx++] = *x;
}

static void tt_on_error(void *ctx)
{
	((struct tt_rec *)ctx)->errors++;
}

static void tt_on_unsupported(void *ctx, unsigned reason)
{
	struct tt_rec *r = ctx;
	if (r->nuns < 4)
		r->uns[r->nuns] = reason;
	r->nuns++;
}

/* A step of a conversation. */
struct tt_step {
	char k; /* r read, w write, o opaque write, h half-close, e end */
	const char *d;
	size_t n;
	uint64_t op;
};

#define RD(s) { 'r', s, sizeof(s) - 1, 0 }
#define WR(s) { 'w', s, sizeof(s) - 1, 0 }
#define OP(n) { 'o', NULL, 0, n }
#define HC { 'h', NULL, 0, 0 }
#define END { 'e', NULL, 0, 0 }

/* An expected exchange: t_start is the time of the call that fed byte so of
 * step ss, t_end that of byte eo of step es (eo -1: the step's last byte). */
struct tt_xp {
	unsigned m;
	const char *path;
	unsigned flags, status;
	uint64_t qb, rb;
	int ss, so, es, eo;
};

#define X(m, path, flags, status, qb, rb, ss, so, es, eo) \
	{ TRK_M_##m, path, flags, status, qb, rb, ss, so, es, eo }

#define TT_MAXSTEP 48

struct tt_case {
	const char *name;
	struct tt_step st[TT_MAXSTEP];
	struct tt_xp x[48];
	int nx;
	int errors;
	int uns;  /* expected unsupported reason, -1 none */
	int idle; /* trk_idle before the end step (or at the end), -1 unchecked */
};

enum tt_mode { TT_WHOLE, TT_BYTES, TT_RANDOM };

static const char *tt_mode_name[] = { "whole", "bytes", "random" };

static struct guard tt_g[4];

static void tt_guards(void)
{
	for (int i = 0; i < 4; i++)
		if (!tt_g[i].base)
			cr_assert_eq(guard_init(&tt_g[i], 1 << 17), 0);
}

static unsigned tt_rand(unsigned *s)
{
	*s = *s * 1103515245u + 12345u;
	return (*s >> 8) & 0xffffff;
}

/* Feeds one piece of a read or write step, whole or as a scatter list. */
static void tt_feed(struct trk_conn *c, int wr, const char *d, size_t n, uint64_t now, int mode, unsigned *seed,
		    const struct trk_sink *s)
{
	if (mode == TT_RANDOM && n >= 2 && tt_rand(seed) % 3 == 0) {
		struct iovec iov[4];
		size_t a = 1 + tt_rand(seed) % (n - 1);
		iov[0].iov_base = guard_place(&tt_g[0], d, a);
		iov[0].iov_len = a;
		iov[1].iov_base = guard_place(&tt_g[1], d + a, n - a);
		iov[1].iov_len = n - a;
		iov[2].iov_base = guard_place(&tt_g[2], "", 0);
		iov[2].iov_len = 0;
		/* past n: never to be parsed */
		iov[3].iov_base = guard_place(&tt_g[3], "HTTP/1.1 500 X\r\n\r\n", 18);
		iov[3].iov_len = 18;
		if (wr)
			trk_writev(c, iov, 4, n, now, s);
		else
			trk_readv(c, iov, 4, n, now, s);
		return;
	}
	const void *p = guard_place(&tt_g[0], d, n);
	if (wr)
		trk_write(c, p, n, now, s);
	else
		trk_read(c, p, n, now, s);
}

/* Runs one case in one mode; returns the recorded callbacks in *r. */
static void tt_run(const struct tt_case *tc, int mode, unsigned seed, struct tt_rec *r)
{
	static uint64_t *bt[TT_MAXSTEP];
	struct trk_conn c;
	struct trk_sink s = { tt_on_request, tt_on_exchange, tt_on_error, tt_on_unsupported, r, NULL, NULL };
	uint64_t now = 100;
	unsigned sd = seed;
	int idle_seen = -1;
	tt_guards();
	memset(r, 0, sizeof *r);
	trk_init(&c);
	for (int i = 0; i < TT_MAXSTEP && tc->st[i].k; i++) {
		const struct tt_step *st = &tc->st[i];
		free(bt[i]);
		bt[i] = calloc(st->n + 1, sizeof **bt);
		switch (st->k) {
		case 'r':
		case 'w': {
			size_t off = 0;
			while (off < st->n) {
				size_t k = st->n - off;
				if (mode == TT_BYTES)
					k = 1;
				else if (mode == TT_RANDOM) {
					unsigned x = tt_rand(&sd);
					k = (x & 1) ? 1 + (x >> 1) % 8 : 1 + (x >> 1) % k;
					if (k > st->n - off)
						k = st->n - off;
				}
				now += 10;
				for (size_t j = off; j < off + k; j++)
					bt[i][j] = now;
				tt_feed(&c, st->k == 'w', st->d + off, k, now, mode, &sd, &s);
				off += k;
			}
			break;
		}
		case 'o':
			now += 10;
			bt[i][0] = now;
			trk_write_opaque(&c, st->op, now, &s);
			break;
		case 'h':
			now += 10;
			bt[i][0] = now;
			trk_read(&c, guard_place(&tt_g[0], "", 0), 0, now, &s);
			break;
		case 'e':
			now += 10;
			bt[i][0] = now;
			idle_seen = trk_idle(&c);
			trk_end(&c, now, &s);
			break;
		}
	}
	if (idle_seen < 0)
		idle_seen = trk_idle(&c);

	char ctx[128];
	snprintf(ctx, sizeof ctx, "case %s, %s split, seed %u", tc->name, tt_mode_name[mode], seed);
	cr_assert_eq(r->nx, tc->nx, "%s: %d exchanges, want %d", ctx, r->nx, tc->nx);
	cr_assert_eq(r->errors, tc->errors, "%s: %d parse errors, want %d", ctx, r->errors, tc->errors);
	if (tc->uns < 0) {
		cr_assert_eq(r->nuns, 0, "%s: unexpected unsupported report (%u)", ctx, r->uns[0]);
	} else {
		cr_assert_eq(r->nuns, 1, "%s: %d unsupported reports, want 1", ctx, r->nuns);
		cr_assert_eq(r->uns[0], (unsigned)tc->uns, "%s: unsupported reason %u, want %d", ctx, r->uns[0],
			     tc->uns);
	}
	if (tc->idle >= 0)
		cr_assert_eq(idle_seen != 0, tc->idle != 0, "%s: idle %d, want %d", ctx, idle_seen, tc->idle);
	for (int i = 0; i < r->nx; i++) {
		const struct trk_exchange *x = &r->x[i];
		const struct tt_xp *w = &tc->x[i];
		cr_assert_geq(x->tag, TT_TAG0, "%s: exchange %d: tag %u", ctx, i, x->tag);
		cr_assert_lt(x->tag - TT_TAG0, (unsigned)r->nreq, "%s: exchange %d: tag %u", ctx, i, x->tag);
		const struct tt_req *q = &r->req[x->tag - TT_TAG0];
		cr_assert_eq(x->method, w->m, "%s: exchange %d: method %s, want %s", ctx, i, trk_method_name(x->method),
			     trk_method_name(w->m));
		cr_assert_eq(q->method, w->m, "%s: exchange %d: on_request method %u", ctx, i, q->method);
		cr_assert_str_eq(q->path, w->path, "%s: exchange %d: path '%s', want '%s'", ctx, i, q->path, w->path);
		cr_assert_eq(x->flags, w->flags, "%s: exchange %d: flags %#x, want %#x", ctx, i, x->flags, w->flags);
		cr_assert_eq(q->flags, w->flags & ~TRK_X_ABORTED, "%s: exchange %d: on_request flags %#x", ctx, i,
			     q->flags);
		cr_assert_eq(x->status, w->status, "%s: exchange %d: status %u, want %u", ctx, i, x->status, w->status);
		cr_assert_eq(x->req_body, w->qb, "%s: exchange %d: req_body %lu, want %lu", ctx, i,
			     (unsigned long)x->req_body, (unsigned long)w->qb);
		cr_assert_eq(x->resp_body, w->rb, "%s: exchange %d: resp_body %lu, want %lu", ctx, i,
			     (unsigned long)x->resp_body, (unsigned long)w->rb);
		const struct tt_step *ss = &tc->st[w->ss], *es = &tc->st[w->es];
		uint64_t ts = bt[w->ss][w->so];
		uint64_t te = bt[w->es][w->eo < 0 ? (es->n ? es->n - 1 : 0) : (size_t)w->eo];
		(void)ss;
		cr_assert_eq(x->t_start, ts, "%s: exchange %d: t_start %lu, want %lu", ctx, i,
			     (unsigned long)x->t_start, (unsigned long)ts);
		cr_assert_eq(x->t_end, te, "%s: exchange %d: t_end %lu, want %lu", ctx, i, (unsigned long)x->t_end,
			     (unsigned long)te);
	}
	/* every announced request ends in exactly one exchange once the connection ended */
	int ended = 0;
	for (int i = 0; i < TT_MAXSTEP && tc->st[i].k; i++)
		ended |= tc->st[i].k == 'e';
	if (ended)
		cr_assert_eq(r->nreq, r->nx, "%s: %d requests announced, %d exchanges", ctx, r->nreq, r->nx);
}

static void tt_all_modes(const struct tt_case *tc, int nseeds)
{
	struct tt_rec *r = malloc(sizeof *r);
	cr_assert_not_null(r);
	tt_run(tc, TT_WHOLE, 0, r);
	tt_run(tc, TT_BYTES, 0, r);
	for (int seed = 1; seed <= nseeds; seed++)
		tt_run(tc, TT_RANDOM, (unsigned)seed, r);
	free(r);
}

/* ---- the table ---- */

#define REQ_GET "GET /a?x=1 HTTP/1.1\r\nHost: h\r\nUser-Agent: t\r\n\r\n"
#define RSP_5 "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello"
#define REQ_B "GET /b HTTP/1.1\r\nHost: h\r\n\r\n"
#define RSP_B "HTTP/1.1 404 Not Found\r\nContent-Length: 3\r\n\r\nnop"
#define REQ_C "POST /c HTTP/1.1\r\nHost: h\r\nContent-Length: 4\r\n\r\nabcd"
#define RSP_C "HTTP/1.1 201 Created\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\r\n0\r\n\r\n"
#define L(s) (int)(sizeof(s) - 1)

#define P40 "/0123456789012345678901234567890123456789"
#define P280 P40 P40 P40 P40 P40 P40 P40
#define P256 P40 P40 P40 P40 P40 P40 "/012345678"

static const struct tt_case tt_cases[] = {
	{ .name = "content-length",
	  .st = { RD(REQ_GET), WR(RSP_5), END },
	  .x = { X(GET, "/a", 0, 200, 0, 5, 0, 0, 1, -1) },
	  .nx = 1, .uns = -1, .idle = 0 },
	{ .name = "keep-alive interleaved",
	  .st = { RD(REQ_GET), WR(RSP_5), RD(REQ_B), WR(RSP_B), RD(REQ_C), WR(RSP_C), END },
	  .x = { X(GET, "/a", 0, 200, 0, 5, 0, 0, 1, -1), X(GET, "/b", 0, 404, 0, 3, 2, 0, 3, -1),
		 X(POST, "/c", 0, 201, 4, 2, 4, 0, 5, -1) },
	  .nx = 3, .uns = -1, .idle = 0 },
	{ .name = "pipelined: all requests, then all responses",
	  .st = { RD(REQ_GET REQ_B REQ_C), WR(RSP_5 RSP_B RSP_C), END },
	  .x = { X(GET, "/a", 0, 200, 0, 5, 0, 0, 1, L(RSP_5) - 1),
		 X(GET, "/b", 0, 404, 0, 3, 0, L(REQ_GET), 1, L(RSP_5 RSP_B) - 1),
		 X(POST, "/c", 0, 201, 4, 2, 0, L(REQ_GET REQ_B), 1, -1) },
	  .nx = 3, .uns = -1, .idle = 0 },
	{ .name = "pipelined: responses in separate writes",
	  .st = { RD(REQ_GET REQ_B), RD(REQ_C), WR(RSP_5), WR(RSP_B RSP_C), END },
	  .x = { X(GET, "/a", 0, 200, 0, 5, 0, 0, 2, -1),
		 X(GET, "/b", 0, 404, 0, 3, 0, L(REQ_GET), 3, L(RSP_B) - 1),
		 X(POST, "/c", 0, 201, 4, 2, 1, 0, 3, -1) },
	  .nx = 3, .uns = -1, .idle = 0 },
	{ .name = "request body split across reads",
	  .st = { RD("PUT /up HTTP/1.1\r\nContent-Length: 10\r\n\r\n0123"), RD("456"), RD("789"),
		  WR("HTTP/1.1 204 No Content\r\n\r\n"), END },
	  .x = { X(PUT, "/up", 0, 204, 10, 0, 0, 0, 3, -1) },
	  .nx = 1, .uns = -1, .idle = 0 },
	{ .name = "chunked request with extensions and trailers",
	  .st = { RD("POST /up HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n5;ext=1\r\nhello\r\n6 ; foo=\"b;r\"\r\n "
		     "world\r\nA\r\n0123456789\r\n0\r\nX-Trailer: t\r\nX-Other: u\r\n\r\n"),
		  WR("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"), RD(REQ_B), WR(RSP_B), END },
	  .x = { X(POST, "/up", 0, 200, 21, 2, 0, 0, 1, -1), X(GET, "/b", 0, 404, 0, 3, 2, 0, 3, -1) },
	  .nx = 2, .uns = -1, .idle = 0 },
	{ .name = "chunked response with extensions and trailers",
	  .st = { RD(REQ_GET),
		  WR("HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n1a;name=val\r\nabcdefghijklmnopqrstuvwxyz\r\n"),
		  WR("3\r\nabc\r\n0;last\r\nExpires: never\r\n\r\n"), RD(REQ_B), WR(RSP_B), END },
	  .x = { X(GET, "/a", 0, 200, 0, 29, 0, 0, 2, -1), X(GET, "/b", 0, 404, 0, 3, 3, 0, 4, -1) },
	  .nx = 2, .uns = -1, .idle = 0 },
	{ .name = "close-delimited response",
	  .st = { RD(REQ_GET), WR("HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\nabc"), WR("defg"), END },
	  .x = { X(GET, "/a", 0, 200, 0, 7, 0, 0, 2, -1) },
	  .nx = 1, .uns = -1, .idle = 0 },
	{ .name = "close-delimited response with an empty body",
	  .st = { RD(REQ_GET), WR("HTTP/1.0 200 OK\r\n\r\n"), END },
	  .x = { X(GET, "/a", 0, 200, 0, 0, 0, 0, 1, -1) },
	  .nx = 1, .uns = -1, .idle = 0 },
	{ .name = "HEAD, 204, 304 have no body",
	  .st = { RD("HEAD /h HTTP/1.1\r\n\r\n"), WR("HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n"),
		  RD("DELETE /d HTTP/1.1\r\n\r\n"), WR("HTTP/1.1 204 No Content\r\nContent-Length: 7\r\n\r\n"),
		  RD("GET /n HTTP/1.1\r\nIf-None-Match: \"x\"\r\n\r\n"),
		  WR("HTTP/1.1 304 Not Modified\r\nTransfer-Encoding: chunked\r\n\r\n"), RD(REQ_B), WR(RSP_B), END },
	  .x = { X(HEAD, "/h", 0, 200, 0, 0, 0, 0, 1, -1), X(DELETE, "/d", 0, 204, 0, 0, 2, 0, 3, -1),
		 X(GET, "/n", 0, 304, 0, 0, 4, 0, 5, -1), X(GET, "/b", 0, 404, 0, 3, 6, 0, 7, -1) },
	  .nx = 4, .uns = -1, .idle = 0 },
	{ .name = "HEAD answered with a body anyway",
	  .st = { RD("HEAD /h HTTP/1.1\r\n\r\n"), WR("HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n"), WR("<html"),
		  RD(REQ_B), WR(RSP_B), END },
	  .x = { X(HEAD, "/h", 0, 200, 0, 0, 0, 0, 1, -1), X(GET, "/b", 0, 404, 0, 3, 3, 0, 4, -1) },
	  .nx = 2, .uns = -1, .idle = 0 },
	{ .name = "interim 1xx responses and Expect: 100-continue",
	  .st = { RD("POST /e HTTP/1.1\r\nExpect: 100-continue\r\nContent-Length: 3\r\n\r\n"),
		  WR("HTTP/1.1 100 Continue\r\n\r\n"), RD("xyz"),
		  WR("HTTP/1.1 103 Early Hints\r\nLink: </s.css>\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\n!"),
		  RD(REQ_B), WR(RSP_B), END },
	  .x = { X(POST, "/e", 0, 200, 3, 1, 0, 0, 3, -1), X(GET, "/b", 0, 404, 0, 3, 4, 0, 5, -1) },
	  .nx = 2, .uns = -1, .idle = 0 },
	{ .name = "HTTP/1.0 without keep-alive ends the connection",
	  .st = { RD("GET /old HTTP/1.0\r\n\r\n"), WR("HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\nhi"), END },
	  .x = { X(GET, "/old", 0, 200, 0, 2, 0, 0, 1, -1) },
	  .nx = 1, .uns = -1, .idle = 1 },
	{ .name = "HTTP/1.0 with keep-alive persists",
	  .st = { RD("GET /1 HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n"),
		  WR("HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nContent-Length: 2\r\n\r\nhi"),
		  RD("GET /2 HTTP/1.0\r\nConnection: keep-alive\r\n\r\n"),
		  WR("HTTP/1.0 200 OK\r\nContent-Length: 0\r\n\r\n"), END },
	  .x = { X(GET, "/1", 0, 200, 0, 2, 0, 0, 1, -1), X(GET, "/2", 0, 200, 0, 0, 2, 0, 3, -1) },
	  .nx = 2, .uns = -1, .idle = 1 },
	{ .name = "Connection: close on the request",
	  .st = { RD("GET /x HTTP/1.1\r\nConnection: close\r\n\r\n" REQ_B), WR(RSP_5), END },
	  .x = { X(GET, "/x", 0, 200, 0, 5, 0, 0, 1, -1) },
	  .nx = 1, .uns = -1, .idle = 0 },
	{ .name = "Connection: close on the response aborts the pipelined rest",
	  .st = { RD(REQ_GET REQ_B), WR("HTTP/1.1 503 Busy\r\nConnection: keep-alive, close\r\nContent-Length: 0\r\n\r\n"),
		  END },
	  .x = { X(GET, "/a", 0, 503, 0, 0, 0, 0, 1, -1),
		 X(GET, "/b", TRK_X_ABORTED, 0, 0, 0, 0, L(REQ_GET), 2, 0) },
	  .nx = 2, .uns = -1, .idle = 1 },
	{ .name = "Upgrade to websocket: report 101, stop at the tunnel",
	  .st = { RD("GET /ws HTTP/1.1\r\nHost: h\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n"),
		  WR("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n"),
		  RD("\x81\x85\x01\x02\x03\x04hello"), WR("\x81\x05hello"), END },
	  .x = { X(GET, "/ws", 0, 101, 0, 0, 0, 0, 1, -1) },
	  .nx = 1, .uns = -1, .idle = 1 },
	{ .name = "Upgrade declined: the connection stays HTTP/1.1",
	  .st = { RD("GET /u HTTP/1.1\r\nUpgrade: h2c\r\nConnection: Upgrade, HTTP2-Settings\r\nHTTP2-Settings: AAMAAABkAAQAoAAAAAIAAAAA\r\n\r\n"),
		  WR(RSP_5), RD(REQ_B), WR(RSP_B), END },
	  .x = { X(GET, "/u", 0, 200, 0, 5, 0, 0, 1, -1), X(GET, "/b", 0, 404, 0, 3, 2, 0, 3, -1) },
	  .nx = 2, .uns = -1, .idle = 0 },
	{ .name = "CONNECT: report the exchange, stop at the tunnel",
	  .st = { RD("CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n"),
		  WR("HTTP/1.1 200 Connection Established\r\n\r\n"), RD("\x16\x03\x01\x00\x05hello"),
		  WR("\x16\x03\x03\x00\x01x"), END },
	  .x = { X(CONNECT, "", TRK_R_CONNECT, 200, 0, 0, 0, 0, 1, -1) },
	  .nx = 1, .uns = -1, .idle = 1 },
	{ .name = "OPTIONS *, absolute-form, methods",
	  .st = { RD("OPTIONS * HTTP/1.1\r\n\r\n"), WR("HTTP/1.1 200 OK\r\nAllow: GET\r\nContent-Length: 0\r\n\r\n"),
		  RD("GET http://example.com/p/q?x=http://y/z HTTP/1.1\r\n\r\n"), WR(RSP_5),
		  RD("PATCH HTTP://Example.com HTTP/1.1\r\n\r\n"), WR(RSP_5),
		  RD("get /lower HTTP/1.1\r\n\r\n"), WR(RSP_5), RD("PROPFIND /dav#frag HTTP/1.1\r\n\r\n"), WR(RSP_5),
		  RD("TRACE /t HTTP/1.1\r\n\r\nPUT /p HTTP/1.1\r\n\r\nPOST /q?only HTTP/1.1\r\n\r\n"),
		  WR(RSP_5 RSP_5 RSP_5), END },
	  .x = { X(OPTIONS, "*", TRK_R_ASTERISK, 200, 0, 0, 0, 0, 1, -1), X(GET, "/p/q", 0, 200, 0, 5, 2, 0, 3, -1),
		 X(PATCH, "/", 0, 200, 0, 5, 4, 0, 5, -1), X(OTHER, "/lower", 0, 200, 0, 5, 6, 0, 7, -1),
		 X(OTHER, "/dav", 0, 200, 0, 5, 8, 0, 9, -1), X(TRACE, "/t", 0, 200, 0, 5, 10, 0, 11, L(RSP_5) - 1),
		 X(PUT, "/p", 0, 200, 0, 5, 10, 21, 11, 2 * L(RSP_5) - 1), X(POST, "/q", 0, 200, 0, 5, 10, 40, 11, -1) },
	  .nx = 8, .uns = -1, .idle = 0 },
	{ .name = "path longer than TRK_PATH_MAX",
	  .st = { RD("GET " P280 "?q=1 HTTP/1.1\r\n\r\n"), WR(RSP_5), RD("GET " P280 " HTTP/1.1\r\n\r\n"), WR(RSP_5),
		  RD("DELETE " P256 "?x HTTP/1.1\r\n\r\n"), WR(RSP_5), END },
	  .x = { X(GET, P256, TRK_R_TRUNCATED, 200, 0, 5, 0, 0, 1, -1),
		 X(GET, P256, TRK_R_TRUNCATED, 200, 0, 5, 2, 0, 3, -1), X(DELETE, P256, 0, 200, 0, 5, 4, 0, 5, -1) },
	  .nx = 3, .uns = -1, .idle = 0 },
	{ .name = "bare LF line ends and empty lines before requests",
	  .st = { RD("\r\n\r\nGET /lf HTTP/1.1\nHost: x\n\n"), WR("HTTP/1.1 200 OK\nContent-Length: 2\n\nok"),
		  RD("\n\r\n\nPOST /p HTTP/1.1\nTransfer-Encoding: chunked\n\n3\nabc\n0\n\n"),
		  WR("HTTP/1.1 200 OK\nTransfer-Encoding: chunked\n\n1\nz\n0\n\n"), END },
	  .x = { X(GET, "/lf", 0, 200, 0, 2, 0, 4, 1, -1), X(POST, "/p", 0, 200, 3, 1, 2, 4, 3, -1) },
	  .nx = 2, .uns = -1, .idle = 0 },
	{ .name = "empty and missing reason phrases",
	  .st = { RD(REQ_GET), WR("HTTP/1.1 200 \r\nContent-Length: 1\r\n\r\nx"), RD(REQ_B),
		  WR("HTTP/1.1 404\r\nContent-Length: 0\r\n\r\n"), END },
	  .x = { X(GET, "/a", 0, 200, 0, 1, 0, 0, 1, -1), X(GET, "/b", 0, 404, 0, 0, 2, 0, 3, -1) },
	  .nx = 2, .uns = -1, .idle = 0 },
	{ .name = "final response before the request body, then close",
	  .st = { RD("POST /big HTTP/1.1\r\nContent-Length: 10\r\n\r\n0123"),
		  WR("HTTP/1.1 413 Payload Too Large\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"), RD("456789"),
		  END },
	  .x = { X(POST, "/big", 0, 413, 4, 0, 0, 0, 1, -1) },
	  .nx = 1, .uns = -1, .idle = 1 },
	{ .name = "final response before the request body, kept alive",
	  .st = { RD("POST /auth HTTP/1.1\r\nContent-Length: 10\r\n\r\n01"),
		  WR("HTTP/1.1 401 Unauthorized\r\nContent-Length: 0\r\n\r\n"), RD("23456789" REQ_B), WR(RSP_B), END },
	  .x = { X(POST, "/auth", 0, 401, 2, 0, 0, 0, 1, -1), X(GET, "/b", 0, 404, 0, 3, 2, 8, 3, -1) },
	  .nx = 2, .uns = -1, .idle = 0 },
	{ .name = "HTTP/0.9",
	  .st = { RD("GET /nine\r\n"), WR("<html>nine</html>"), WR("\n"), END },
	  .x = { X(GET, "/nine", 0, 200, 0, 18, 0, 0, 2, -1) },
	  .nx = 1, .uns = -1, .idle = 0 },
	{ .name = "PROXY v1 header",
	  .st = { RD("PROXY TCP4 192.0.2.1 198.51.100.2 56324 443\r\n" REQ_GET), WR(RSP_5), END },
	  .x = { X(GET, "/a", 0, 200, 0, 5, 0, 45, 1, -1) },
	  .nx = 1, .uns = -1, .idle = 0 },
	{ .name = "PROXY v2 header",
	  .st = { RD("\r\n\r\n\0\r\nQUIT\n"
		     "\x21\x11\x00\x0c"
		     "\xc0\x00\x02\x01\xc6\x33\x64\x02\xdc\x04\x01\xbb" REQ_GET),
		  WR(RSP_5), END },
	  .x = { X(GET, "/a", 0, 200, 0, 5, 0, 28, 1, -1) },
	  .nx = 1, .uns = -1, .idle = 0 },
	{ .name = "garbage answered with 400",
	  .st = { RD("hello world\r\n\r\n"),
		  WR("HTTP/1.1 400 Bad Request\r\nContent-Length: 3\r\nConnection: close\r\n\r\nbad"), END },
	  .x = { X(OTHER, "", TRK_R_INVALID, 400, 0, 3, 0, 0, 1, -1) },
	  .nx = 1, .errors = 1, .uns = -1, .idle = 1 },
	{ .name = "bad version after a good request keeps the method",
	  .st = { RD(REQ_GET), WR(RSP_5), RD("GET /x HTTP/9.9\r\n\r\n"),
		  WR("HTTP/1.1 505 Version\r\nContent-Length: 0\r\n\r\n"), END },
	  .x = { X(GET, "/a", 0, 200, 0, 5, 0, 0, 1, -1), X(GET, "", TRK_R_INVALID, 505, 0, 0, 2, 0, 3, -1) },
	  .nx = 2, .errors = 1, .uns = -1, .idle = 0 },
	{ .name = "garbage never answered counts only as a parse error",
	  .st = { RD("hello world\r\n\r\n"), END },
	  .nx = 0, .errors = 1, .uns = -1, .idle = 0 },
	{ .name = "binary at the start is unsupported",
	  .st = { RD("\x7f\x45\x4c\x46"), RD(REQ_GET), WR(RSP_5), END },
	  .nx = 0, .uns = TRK_U_OTHER, .idle = 1 },
	{ .name = "TLS ClientHello",
	  .st = { RD("\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03"), WR("\x15\x03\x03\x00\x02\x02\x46"), END },
	  .nx = 0, .uns = TRK_U_TLS, .idle = 1 },
	{ .name = "HTTP/2 prior knowledge",
	  .st = { RD("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\x00\x00\x12\x04"), END },
	  .nx = 0, .uns = TRK_U_H2C, .idle = 1 },
	{ .name = "TLS behind PROXY v1",
	  .st = { RD("PROXY TCP6 ::1 ::1 1 2\r\n\x16\x03\x01"), END },
	  .nx = 0, .uns = TRK_U_TLS, .idle = 1 },
	{ .name = "negative Content-Length",
	  .st = { RD("POST /n HTTP/1.1\r\nContent-Length: -5\r\n\r\nxxxxx"),
		  WR("HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n"), END },
	  .x = { X(POST, "/n", 0, 400, 0, 0, 0, 0, 1, -1) },
	  .nx = 1, .errors = 1, .uns = -1, .idle = 0 },
	{ .name = "conflicting and overflowing Content-Length",
	  .st = { RD("POST /n HTTP/1.1\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nxxxxxx"),
		  WR("HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n"), END },
	  .x = { X(POST, "/n", 0, 400, 0, 0, 0, 0, 1, -1) },
	  .nx = 1, .errors = 1, .uns = -1, .idle = 0 },
	{ .name = "overflowing Content-Length",
	  .st = { RD("POST /o HTTP/1.1\r\nContent-Length: 184467440737095516160\r\n\r\n"),
		  WR("HTTP/1.1 413 Too Large\r\nContent-Length: 0\r\n\r\n"), END },
	  .x = { X(POST, "/o", 0, 413, 0, 0, 0, 0, 1, -1) },
	  .nx = 1, .errors = 1, .uns = -1, .idle = 0 },
	{ .name = "equal duplicate Content-Length is fine",
	  .st = { RD("POST /d HTTP/1.1\r\nContent-Length: 3\r\ncontent-length: 3\r\n\r\nabc"), WR(RSP_5), RD(REQ_B),
		  WR(RSP_B), END },
	  .x = { X(POST, "/d", 0, 200, 3, 5, 0, 0, 1, -1), X(GET, "/b", 0, 404, 0, 3, 2, 0, 3, -1) },
	  .nx = 2, .uns = -1, .idle = 0 },
	{ .name = "Transfer-Encoding and Content-Length on a request: chunked wins, then give up",
	  .st = { RD("POST /s HTTP/1.1\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n4\r\nabcd\r\n0\r\n\r\n"),
		  WR(RSP_5), RD(REQ_B), END },
	  .x = { X(POST, "/s", 0, 200, 4, 5, 0, 0, 1, -1) },
	  .nx = 1, .errors = 1, .uns = -1, .idle = 0 },
	{ .name = "conflicting Content-Length: the response drives the count",
	  .st = { RD("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello!"),
		  WR("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"),
		  WR("HTTP/1.1 400 Bad Request\r\nContent-Length: 3\r\nConnection: close\r\n\r\nbad"), END },
	  .x = { X(POST, "/", 0, 200, 0, 2, 0, 0, 1, -1), X(OTHER, "", TRK_R_INVALID, 400, 0, 3, 2, 0, 2, -1) },
	  .nx = 2, .errors = 2, .uns = -1, .idle = 1 },
	{ .name = "Content-Length with Transfer-Encoding: later responses still count",
	  .st = { RD("POST /s HTTP/1.1\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n4\r\nabcd\r\n0\r\n\r\n"),
		  WR(RSP_5), WR(RSP_B), WR("HTTP/1.0 400 Bad Request\r\n\r\nbye"), END },
	  .x = { X(POST, "/s", 0, 200, 4, 5, 0, 0, 1, -1), X(OTHER, "", TRK_R_INVALID, 404, 0, 3, 2, 0, 2, -1),
		 X(OTHER, "", TRK_R_INVALID, 400, 0, 3, 3, 0, 3, -1) },
	  .nx = 3, .errors = 3, .uns = -1, .idle = 0 },
	{ .name = "request Transfer-Encoding not ending in chunked",
	  .st = { RD("POST /g HTTP/1.1\r\nTransfer-Encoding: chunked, gzip\r\n\r\nxx"),
		  WR("HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n"), END },
	  .x = { X(POST, "/g", 0, 400, 0, 0, 0, 0, 1, -1) },
	  .nx = 1, .errors = 1, .uns = -1, .idle = 0 },
	{ .name = "response with Transfer-Encoding and Content-Length",
	  .st = { RD(REQ_GET), WR("HTTP/1.1 200 OK\r\nContent-Length: 100\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n"),
		  RD(REQ_B), WR(RSP_B), END },
	  .x = { X(GET, "/a", 0, 200, 0, 3, 0, 0, 1, -1), X(GET, "/b", 0, 404, 0, 3, 2, 0, 3, -1) },
	  .nx = 2, .errors = 1, .uns = -1, .idle = 0 },
	{ .name = "header line without a colon",
	  .st = { RD("GET /c HTTP/1.1\r\nThis is not a header\r\nContent-Length: 1\r\n\r\nz"), WR(RSP_5), END },
	  .x = { X(GET, "/c", 0, 200, 1, 5, 0, 0, 1, -1) },
	  .nx = 1, .errors = 1, .uns = -1, .idle = 0 },
	{ .name = "malformed chunk on the request side",
	  .st = { RD("POST /m HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabcX\r\n"),
		  WR("HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n"), END },
	  .x = { X(POST, "/m", 0, 400, 3, 0, 0, 0, 1, -1) },
	  .nx = 1, .errors = 1, .uns = -1, .idle = 0 },
	{ .name = "early 431 to an incomplete head: one request, one exchange",
	  .st = { RD("GET /big HTTP/1.1\r\nHost: x\r\nX-Long: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"),
		  WR("HTTP/1.1 431 Request Header Fields Too Large\r\nContent-Length: 4\r\nConnection: close\r\n\r\nlong"),
		  END },
	  .x = { X(GET, "/big", 0, 431, 0, 4, 0, 0, 1, -1) },
	  .nx = 1, .uns = -1, .idle = 1 },
	{ .name = "early 400 to an incomplete HEAD head keeps HEAD framing, then the head ends",
	  .st = { RD("HEAD /h HTTP/1.1\r\nX-A: b"), WR("HTTP/1.1 400 Bad Request\r\nContent-Length: 11\r\n\r\n"),
		  RD("\r\n\r\n" REQ_B), WR(RSP_B), END },
	  .x = { X(HEAD, "/h", 0, 400, 0, 0, 0, 0, 1, -1), X(GET, "/b", 0, 404, 0, 3, 2, 4, 3, -1) },
	  .nx = 2, .uns = -1, .idle = 0 },
	{ .name = "malformed status line: the rest is aborted",
	  .st = { RD(REQ_GET), WR("HTTP/1.1 abc\r\n\r\n"), END },
	  .x = { X(GET, "/a", TRK_X_ABORTED, 0, 0, 0, 0, 0, 2, 0) },
	  .nx = 1, .errors = 1, .uns = -1, .idle = 1 },
	{ .name = "response with no request",
	  .st = { WR(RSP_5), END },
	  .x = { X(OTHER, "", TRK_R_INVALID, 200, 0, 5, 0, 0, 0, -1) },
	  .nx = 1, .errors = 1, .uns = -1, .idle = 0 },
	{ .name = "aborted: no response, a partial response, a pending head",
	  .st = { RD(REQ_GET REQ_B "GET /c HTTP/1.1\r\nHost"),
		  WR("HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhelloHTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc"),
		  END },
	  .x = { X(GET, "/a", 0, 200, 0, 5, 0, 0, 1, L(RSP_5) - 1),
		 X(GET, "/b", TRK_X_ABORTED, 200, 0, 3, 0, L(REQ_GET), 2, 0),
		 X(GET, "/c", TRK_X_ABORTED, 0, 0, 0, 0, L(REQ_GET REQ_B), 2, 0) },
	  .nx = 3, .uns = -1, .idle = 0 },
	{ .name = "half-close: responses still complete",
	  .st = { RD(REQ_GET REQ_B), HC, WR(RSP_5), WR(RSP_B), END },
	  .x = { X(GET, "/a", 0, 200, 0, 5, 0, 0, 2, -1), X(GET, "/b", 0, 404, 0, 3, 0, L(REQ_GET), 3, -1) },
	  .nx = 2, .uns = -1, .idle = 0 },
	{ .name = "sendfile bodies",
	  .st = { RD(REQ_GET), WR("HTTP/1.1 200 OK\r\nContent-Length: 100000\r\n\r\n"), OP(60000), OP(40000),
		  RD(REQ_B), WR("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3e8\r\n"), OP(1000),
		  WR("\r\n0\r\n\r\n"), RD("GET /c HTTP/1.1\r\n\r\n"), WR("HTTP/1.1 200 OK\r\n\r\n"), OP(5), OP(7), END },
	  .x = { X(GET, "/a", 0, 200, 0, 100000, 0, 0, 3, 0), X(GET, "/b", 0, 200, 0, 1000, 4, 0, 7, -1),
		 X(GET, "/c", 0, 200, 0, 12, 8, 0, 11, 0) },
	  .nx = 3, .uns = -1, .idle = 0 },
	{ .name = "long header lines are kept by their start",
	  .st = { RD("GET /h HTTP/1.1\r\nCookie: " P280 P280 P280 "\r\nContent-Length: 2\r\n\r\nab"),
		  WR("HTTP/1.1 200 OK\r\nSet-Cookie: " P280 "\r\nTransfer-Encoding: gzip, gzip, gzip, gzip, gzip, gzip, gzip, chunked\r\n\r\n"
		     "2\r\nxy\r\n0\r\n\r\n"),
		  RD(REQ_B), WR(RSP_B), END },
	  .x = { X(GET, "/h", 0, 200, 2, 2, 0, 0, 1, -1), X(GET, "/b", 0, 404, 0, 3, 2, 0, 3, -1) },
	  .nx = 2, .uns = -1, .idle = 0 },
};

Test(tracker, table_whole_bytes_random)
{
	for (size_t i = 0; i < sizeof tt_cases / sizeof tt_cases[0]; i++)
		tt_all_modes(&tt_cases[i], 40);
}

Test(tracker, struct_size)
{
	cr_assert_leq(sizeof(struct trk_conn), 1600);
	cr_assert_eq(sizeof(struct trk_conn) % 64, 0);
}

Test(tracker, method_names)
{
	cr_assert_str_eq(trk_method_name(TRK_M_GET), "GET");
	cr_assert_str_eq(trk_method_name(TRK_M_PATCH), "PATCH");
	cr_assert_str_eq(trk_method_name(TRK_M_CONNECT), "CONNECT");
	cr_assert_str_eq(trk_method_name(TRK_M_OTHER), "_OTHER");
	cr_assert_str_eq(trk_method_name(99), "_OTHER");
}

/* Pipelining deeper than the ring: requests past TRK_PENDING are answered
 * in order with their method but route _INVALID, each with a parse error,
 * none lost. */
static char tt_reqs[2][4096], tt_rsps[2][4096];

static size_t tt_build(char *dst, int from, int to, int rsp, int *offs)
{
	size_t n = 0;
	for (int i = from; i < to; i++) {
		if (offs)
			offs[i - from] = (int)n;
		if (rsp)
			n += (size_t)sprintf(dst + n, "HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%0*d", i % 10 + 1,
					     i % 10 + 1, 0);
		else
			n += (size_t)sprintf(dst + n, "POST /r%d HTTP/1.1\r\nContent-Length: 2\r\n\r\nxy", i);
	}
	return n;
}

Test(tracker, pipelining_deeper_than_the_ring)
{
	static struct tt_case tc;
	static char paths[32][16];
	int qo[32], ro[32];
	memset(&tc, 0, sizeof tc);
	tc.name = "20 pipelined, then 20 answers";
	size_t qn = tt_build(tt_reqs[0], 0, 20, 0, qo);
	size_t rn = tt_build(tt_rsps[0], 0, 20, 1, ro);
	tc.st[0] = (struct tt_step){ 'r', tt_reqs[0], qn, 0 };
	tc.st[1] = (struct tt_step){ 'w', tt_rsps[0], rn, 0 };
	tc.st[2] = (struct tt_step){ 'e', NULL, 0, 0 };
	for (int i = 0; i < 20; i++) {
		sprintf(paths[i], "/r%d", i);
		int ovf = i >= TRK_PENDING;
		tc.x[i] = (struct tt_xp){ TRK_M_POST, ovf ? "" : paths[i], ovf ? TRK_R_INVALID : 0,
					  200, ovf ? 0 : 2, (uint64_t)(i % 10 + 1), ovf ? 1 : 0, ovf ? ro[i] : qo[i], 1,
					  (i < 19 ? ro[i + 1] : (int)rn) - 1 };
	}
	tc.nx = 20;
	tc.errors = 20 - TRK_PENDING;
	tc.uns = -1;
	tc.idle = 0;
	tt_all_modes(&tc, 20);

	/* The ring drains while later requests still queue behind the counted ones. */
	memset(&tc, 0, sizeof tc);
	tc.name = "20 pipelined, 10 answers, 5 more, 15 answers";
	qn = tt_build(tt_reqs[0], 0, 20, 0, qo);
	size_t qn2 = tt_build(tt_reqs[1], 20, 25, 0, qo + 20);
	rn = tt_build(tt_rsps[0], 0, 10, 1, ro);
	size_t rn2 = tt_build(tt_rsps[1], 10, 25, 1, ro + 10);
	tc.st[0] = (struct tt_step){ 'r', tt_reqs[0], qn, 0 };
	tc.st[1] = (struct tt_step){ 'w', tt_rsps[0], rn, 0 };
	tc.st[2] = (struct tt_step){ 'r', tt_reqs[1], qn2, 0 };
	tc.st[3] = (struct tt_step){ 'w', tt_rsps[1], rn2, 0 };
	tc.st[4] = (struct tt_step){ 'e', NULL, 0, 0 };
	for (int i = 0; i < 25; i++) {
		sprintf(paths[i], "/r%d", i);
		int ovf = i >= TRK_PENDING;
		int ws = i < 10 ? 1 : 3;
		int wend = i == 9 ? (int)rn : i == 24 ? (int)rn2 : ro[i + 1];
		tc.x[i] = (struct tt_xp){ TRK_M_POST, ovf ? "" : paths[i], ovf ? TRK_R_INVALID : 0,
					  200, ovf ? 0 : 2, (uint64_t)(i % 10 + 1), ovf ? ws : (i < 20 ? 0 : 2),
					  ovf ? ro[i] : qo[i], ws, wend - 1 };
	}
	tc.nx = 25;
	tc.errors = 25 - TRK_PENDING;
	tc.uns = -1;
	tc.idle = 0;
	tt_all_modes(&tc, 20);
}

/* GET and HEAD mixed, 40 deep: a HEAD past the ring still frames its
 * bodyless response, and every exchange keeps its method. */
static size_t tt_build_mixed(char *dst, int n, int rsp, int *offs)
{
	size_t k = 0;
	for (int i = 0; i < n; i++) {
		int head = i % 3 == 1;
		offs[i] = (int)k;
		if (rsp && head)
			k += (size_t)sprintf(dst + k, "HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n", i + 1);
		else if (rsp)
			k += (size_t)sprintf(dst + k, "HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%0*d", i % 10 + 1,
					     i % 10 + 1, 0);
		else
			k += (size_t)sprintf(dst + k, "%s /r%d HTTP/1.1\r\nHost: h\r\n\r\n", head ? "HEAD" : "GET", i);
	}
	return k;
}

Test(tracker, pipelined_head_past_the_ring)
{
	static struct tt_case tc;
	static char paths[40][16];
	int qo[40], ro[40];
	memset(&tc, 0, sizeof tc);
	tc.name = "40 pipelined GET and HEAD, then 40 answers";
	size_t qn = tt_build_mixed(tt_reqs[0], 40, 0, qo);
	size_t rn = tt_build_mixed(tt_rsps[0], 40, 1, ro);
	tc.st[0] = (struct tt_step){ 'r', tt_reqs[0], qn, 0 };
	tc.st[1] = (struct tt_step){ 'w', tt_rsps[0], rn, 0 };
	tc.st[2] = (struct tt_step){ 'e', NULL, 0, 0 };
	for (int i = 0; i < 40; i++) {
		sprintf(paths[i], "/r%d", i);
		int ovf = i >= TRK_PENDING, head = i % 3 == 1;
		tc.x[i] = (struct tt_xp){ head ? TRK_M_HEAD : TRK_M_GET, ovf ? "" : paths[i], ovf ? TRK_R_INVALID : 0,
					  200, 0, head ? 0 : (uint64_t)(i % 10 + 1), ovf ? 1 : 0, ovf ? ro[i] : qo[i], 1,
					  (i < 39 ? ro[i + 1] : (int)rn) - 1 };
	}
	tc.nx = 40;
	tc.errors = 40 - TRK_PENDING;
	tc.uns = -1;
	tc.idle = 0;
	tt_all_modes(&tc, 20);
}

/* Requests past the ring and the overflow queue (16 + 64): the read side
 * gives up with a parse error; everything before it keeps its method, the
 * responses to the rest are orphans framed blind, so the HEADs among them
 * (bodyless responses that announce a body) still leave every later
 * response counted. */
Test(tracker, pipelined_past_the_overflow_queue)
{
	static char q[16384], r[16384];
	int qo[128], ro[128];
	const int n = TRK_PENDING + 64 + 40, read = TRK_PENDING + 64;
	size_t qn = tt_build_mixed(q, n, 0, qo);
	size_t rn = tt_build_mixed(r, n, 1, ro);
	struct tt_rec *rec = calloc(1, sizeof *rec);
	cr_assert_not_null(rec);
	struct trk_sink s = { tt_on_request, tt_on_exchange, tt_on_error, tt_on_unsupported, rec, NULL, NULL };
	struct trk_conn c;
	trk_init(&c);
	trk_read(&c, q, qn, 10, &s);
	cr_assert_eq(rec->errors, 1);
	trk_write(&c, r, rn, 20, &s);
	cr_assert_eq(trk_idle(&c), 0);
	trk_end(&c, 30, &s);
	cr_assert_eq(rec->nx, n);
	cr_assert_eq(rec->nreq, n);
	cr_assert_eq(rec->errors, 1 + 64 + (n - read));
	for (int i = 0; i < n; i++) {
		unsigned want = i >= read ? TRK_M_OTHER : i % 3 == 1 ? TRK_M_HEAD : TRK_M_GET;
		cr_assert_eq(rec->x[i].method, want, "exchange %d: method %u", i, rec->x[i].method);
		cr_assert_eq(rec->x[i].flags, i < TRK_PENDING ? 0 : TRK_R_INVALID, "exchange %d", i);
		/* a blind response ends with its head: no body counted */
		uint64_t body = i >= read || i % 3 == 1 ? 0 : (uint64_t)(i % 10 + 1);
		cr_assert_eq(rec->x[i].resp_body, body, "exchange %d", i);
		cr_assert_eq(rec->x[i].status, 200, "exchange %d", i);
		cr_assert_eq(rec->x[i].t_end, 20);
	}
	free(rec);
}

/* A HEAD answered with a body that starts like "HTTP" but not like a status
 * line: the body is still passed over when its first write shows that. */
Test(tracker, head_body_starting_with_h)
{
	struct tt_rec *r = calloc(1, sizeof *r);
	cr_assert_not_null(r);
	struct trk_sink s = { tt_on_request, tt_on_exchange, tt_on_error, tt_on_unsupported, r, NULL, NULL };
	struct trk_conn c;
	trk_init(&c);
	trk_read(&c, "HEAD /h HTTP/1.1\r\n\r\nGET /b HTTP/1.1\r\n\r\n", 39, 10, &s);
	trk_write(&c, "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n", 38, 20, &s);
	trk_write(&c, "Hello", 5, 30, &s);
	trk_write(&c, "HTTP/1.1 404 Not Found\r\nContent-Length: 3\r\n\r\nno\n", 48, 40, &s);
	trk_end(&c, 50, &s);
	cr_assert_eq(r->errors, 0);
	cr_assert_eq(r->nx, 2);
	cr_assert_eq(r->x[0].method, TRK_M_HEAD);
	cr_assert_eq(r->x[0].status, 200);
	cr_assert_eq(r->x[1].method, TRK_M_GET);
	cr_assert_eq(r->x[1].status, 404);
	cr_assert_eq(r->x[1].resp_body, 3);
	cr_assert_eq(r->x[1].flags, 0);
	free(r);
}

/* Content-Length and Connection values in their usual spelling take a
 * short path; every other spelling must frame exactly as before. Each
 * case: two pipelined requests, the first answered with the header under
 * test and a 3-byte body, then a 204 that is only found if the first
 * response was framed right. */
Test(tracker, framing_header_spellings)
{
	static const struct {
		const char *hdr;
		int ver, errors, nx;
	} cases[] = {
		{"Content-Length: 3", 1, 0, 2},
		{"Content-Length: 000000000000000003", 1, 0, 2},  /* 18 digits */
		{"Content-Length: 0000000000000000003", 1, 0, 2}, /* 19 digits */
		{"Content-Length:\t3 ", 1, 0, 2},
		{"Content-Length:3", 1, 0, 2},
		{"content-length:   3\t", 1, 0, 2},
		{"Content-Length: 3x", 1, 1, 1},
		{"Content-Length: 3\r\nConnection: keep-alive", 0, 0, 2},
		{"Content-Length: 3\r\nConnection: Keep-Alive", 0, 0, 2},
		{"Content-Length: 3\r\nConnection:  keep-alive ", 0, 0, 2},
		{"Content-Length: 3\r\nConnection: keep-alive, x", 0, 0, 2},
		{"Content-Length: 3\r\nConnection: keep-alivex", 0, 0, 1},
		{"Content-Length: 3", 0, 0, 1}, /* HTTP/1.0 without keep-alive ends */
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		struct tt_rec *r = calloc(1, sizeof *r);
		cr_assert_not_null(r);
		struct trk_sink s = { tt_on_request, tt_on_exchange, tt_on_error, tt_on_unsupported, r, NULL, NULL };
		struct trk_conn c;
		char q[128], w[256];
		int v = cases[i].ver;
		int qn = snprintf(q, sizeof q, "GET /a HTTP/1.%d\r\nConnection: keep-alive\r\n\r\n"
					  "GET /b HTTP/1.%d\r\nConnection: keep-alive\r\n\r\n", v, v);
		int wn = snprintf(w, sizeof w, "HTTP/1.%d 200 OK\r\n%s\r\n\r\nabcHTTP/1.%d 204 No Content\r\n\r\n", v,
				  cases[i].hdr, v);
		trk_init(&c);
		trk_read(&c, q, (size_t)qn, 10, &s);
		trk_write(&c, w, (size_t)wn, 20, &s);
		trk_end(&c, 30, &s);
		int done = 0;
		for (int k = 0; k < r->nx; k++)
			done += !(r->x[k].flags & TRK_X_ABORTED);
		cr_assert_eq(r->errors, cases[i].errors, "%s: %d errors", cases[i].hdr, r->errors);
		cr_assert_eq(done, cases[i].nx, "%s: %d exchanges completed", cases[i].hdr, done);
		if (cases[i].nx == 2) {
			cr_assert_eq(r->x[0].resp_body, 3, "%s", cases[i].hdr);
			cr_assert_eq(r->x[1].status, 204, "%s", cases[i].hdr);
		}
		free(r);
	}
}

/* Timestamps follow the calls that carried the bytes, not the step. */
Test(tracker, timestamps_follow_the_calls)
{
	struct tt_rec *r = calloc(1, sizeof *r);
	struct trk_sink s = { tt_on_request, tt_on_exchange, tt_on_error, tt_on_unsupported, r, NULL, NULL };
	struct trk_conn c;
	trk_init(&c);
	trk_read(&c, "\r\n", 2, 5, &s);
	trk_read(&c, "GET /t HTTP/1.1\r\nHo", 19, 10, &s);
	trk_read(&c, "st: x\r\n\r\n", 9, 20, &s);
	trk_write(&c, "HTTP/1.1 200 OK\r\n\r\nab", 21, 30, &s);
	trk_write(&c, "cd", 2, 40, &s);
	trk_read(&c, "", 0, 45, &s);
	trk_end(&c, 50, &s);
	cr_assert_eq(r->nx, 1);
	cr_assert_eq(r->x[0].t_start, 10);
	cr_assert_eq(r->x[0].t_end, 40);
	cr_assert_eq(r->x[0].resp_body, 4);
	free(r);
}

/* Writes fed with now == 0 ask the sink's clock, and only when a time is
 * needed: when a response ends or a close-delimited body goes on, never for
 * a head whose body is still to come, nor for the parts of a body. */
static uint64_t tt_clock_value, tt_clock_calls;

static uint64_t tt_clock(void *ctx)
{
	(void)ctx;
	tt_clock_calls++;
	return tt_clock_value;
}

Test(tracker, writes_read_the_clock_only_when_a_time_is_needed)
{
	struct tt_rec *r = calloc(1, sizeof *r);
	struct trk_sink s = { tt_on_request, tt_on_exchange, tt_on_error, tt_on_unsupported, r, tt_clock, NULL };
	struct trk_conn c;
	trk_init(&c);
	tt_clock_calls = 0;
	trk_read(&c, "GET /a HTTP/1.1\r\nHost: x\r\n\r\nGET /b HTTP/1.1\r\nHost: x\r\n\r\n", 56, 10, &s);
	cr_assert_eq(tt_clock_calls, 0, "reads bring their own time");
	tt_clock_value = 20;
	trk_write(&c, "HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\n", 38, 0, &s);
	trk_write(&c, "ab", 2, 0, &s);
	cr_assert_eq(tt_clock_calls, 0, "a head and part of its body need no time");
	tt_clock_value = 30;
	trk_write_opaque(&c, 2, 0, &s);
	cr_assert_eq(tt_clock_calls, 1);
	cr_assert_eq(r->nx, 1);
	cr_assert_eq(r->x[0].t_start, 10);
	cr_assert_eq(r->x[0].t_end, 30);
	/* a close-delimited body: each part marks the time, the end uses the last */
	tt_clock_value = 40;
	trk_write(&c, "HTTP/1.1 200 OK\r\nConnection: close\r\n\r\nxy", 40, 0, &s);
	tt_clock_value = 50;
	trk_write(&c, "z", 1, 0, &s);
	trk_read(&c, "", 0, 55, &s);
	trk_end(&c, 60, &s);
	cr_assert_eq(r->nx, 2);
	cr_assert_eq(r->x[1].t_start, 10);
	cr_assert_eq(r->x[1].t_end, 50);
	cr_assert_eq(r->x[1].resp_body, 3);
	/* the same writes with a time given never ask the clock */
	uint64_t calls = tt_clock_calls;
	trk_init(&c);
	trk_read(&c, "GET /c HTTP/1.1\r\n\r\n", 19, 70, &s);
	trk_write(&c, "HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\nq", 39, 80, &s);
	cr_assert_eq(tt_clock_calls, calls);
	cr_assert_eq(r->x[2].t_end, 80);
	free(r);
}
