/* tests/core/test_tracker_split.c — the tracker reports the same whatever
 * the reads and writes look like: generated conversations (valid and broken
 * requests and responses: odd methods, targets and versions, fields of
 * interest in any case and spacing, lines without a colon, folded lines,
 * bare LF, conflicting lengths, chunked and close-delimited bodies, HEAD,
 * 1xx, 204 and 304, pipelining) are fed once with every message in one
 * call, once with all pipelined requests in one call, and once cut at
 * random points down to single bytes. The three runs must call back with
 * exactly the same sequence: requests with their method, path and flags,
 * exchanges with every field, parse errors and unsupported reports, in
 * order. The whole-buffer runs take the tracker's fast paths and the cut
 * ones its line engine, so this pins one to the other. A second generator
 * repeats one request and one response with small changes in their header
 * sections (values, names, newlines, colons), which is what the header
 * section memo sees on a keep-alive connection.
 *
 * Fields of interest stay inside the line buffers (TRK_WLINE for
 * responses): past them the tracker keeps only a line's start and end, by
 * design, and a cut line may then be judged on less than a whole one (an
 * unknown method longer than 15 bytes leaves less of a cut path). A
 * broken status line starts with a wrong first byte: after a HEAD response
 * that announced a body, bytes that might still become "HTTP/1." are taken
 * for the next response, so a first piece like "HTT" of "HTTQ" decides
 * differently from the whole line. */
#include <criterion/criterion.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "guard.h"
#include "tracker.h"

#define SP_CASES 20000
#define SP_BUF 16384
#define SP_MSGS 8
#define SP_EVENTS 256

enum { EV_REQ = 1, EV_X, EV_ERR, EV_UNS };

struct sp_ev {
	int type;
	unsigned method, flags, status, reason;
	uint32_t tag;
	uint64_t req_body, resp_body, t_start, t_end;
	size_t plen;
	char path[TRK_PATH_MAX];
};

struct sp_log {
	struct sp_ev ev[SP_EVENTS];
	unsigned n;
	uint32_t tags;
};

static struct sp_ev *sp_push(struct sp_log *l, int type)
{
	cr_assert_lt(l->n, SP_EVENTS);
	struct sp_ev *e = &l->ev[l->n++];
	memset(e, 0, sizeof *e);
	e->type = type;
	return e;
}

static uint32_t sp_req(void *ctx, unsigned m, const char *path, size_t len, unsigned flags)
{
	struct sp_log *l = ctx;
	struct sp_ev *e = sp_push(l, EV_REQ);
	e->method = m;
	e->flags = flags;
	e->plen = len;
	cr_assert_leq(len, TRK_PATH_MAX);
	memcpy(e->path, path, len);
	e->tag = l->tags++;
	return e->tag;
}

static void sp_x(void *ctx, const struct trk_exchange *x)
{
	struct sp_ev *e = sp_push(ctx, EV_X);
	e->tag = x->tag;
	e->method = x->method;
	e->flags = x->flags;
	e->status = x->status;
	e->req_body = x->req_body;
	e->resp_body = x->resp_body;
	e->t_start = x->t_start;
	e->t_end = x->t_end;
}

static void sp_err(void *ctx)
{
	sp_push(ctx, EV_ERR);
}

static void sp_uns(void *ctx, unsigned reason)
{
	sp_push(ctx, EV_UNS)->reason = reason;
}

static unsigned sp_rand(unsigned *s)
{
	*s = *s * 1103515245u + 12345u;
	return (*s >> 8) & 0xffffff;
}

static int sp_pick(unsigned *s, unsigned n)
{
	return (int)(sp_rand(s) % n);
}

struct sp_msg {
	char b[SP_BUF];
	size_t n;
};

static void sp_put(struct sp_msg *m, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void sp_put(struct sp_msg *m, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int k = vsnprintf(m->b + m->n, sizeof m->b - m->n, fmt, ap);
	va_end(ap);
	cr_assert(k >= 0 && (size_t)k < sizeof m->b - m->n);
	m->n += (size_t)k;
}

/* A name in random case. */
static void sp_name(struct sp_msg *m, unsigned *s, const char *name)
{
	for (const char *p = name; *p; p++) {
		char ch = *p;
		if (ch >= 'a' && ch <= 'z' && sp_pick(s, 3) == 0)
			ch = (char)(ch - 32);
		else if (ch >= 'A' && ch <= 'Z' && sp_pick(s, 3) == 0)
			ch = (char)(ch + 32);
		sp_put(m, "%c", ch);
	}
}

static const char *sp_eol(unsigned *s)
{
	return sp_pick(s, 12) == 0 ? "\n" : "\r\n";
}

/* A run of filler bytes: no CR, LF or colon; spaces unless nosp. */
static void sp_fill_set(struct sp_msg *m, unsigned *s, unsigned n, int nosp)
{
	static const char set[] = "abcdefghijklmnopqrstuvwxyz0123456789;,=/.-_() ";
	for (unsigned i = 0; i < n; i++)
		sp_put(m, "%c", set[sp_pick(s, sizeof set - 1 - (nosp != 0))]);
}

static void sp_fill(struct sp_msg *m, unsigned *s, unsigned n)
{
	sp_fill_set(m, s, n, 0);
}

/* Header lines; *cl, *chunked: the framing a well-behaved peer meant. */
static void sp_fields(struct sp_msg *m, unsigned *s, int resp, long *cl, int *chunked, int *close)
{
	int nf = sp_pick(s, 7);
	for (int i = 0; i < nf; i++) {
		switch (sp_pick(s, 16)) {
		case 0:
		case 1:
			sp_name(m, s, "Content-Length");
			*cl = sp_pick(s, 40);
			sp_put(m, ":%s%ld%s", sp_pick(s, 4) ? " " : "", *cl, sp_pick(s, 5) ? "" : " ");
			break;
		case 2: {
			static const char *const bad[] = { " 5, 5", " 5,6", " abc", " -1", "", " 0x10", " 1 2" };
			sp_name(m, s, "Content-Length");
			sp_put(m, ":%s", bad[sp_pick(s, 7)]);
			break;
		}
		case 3: {
			static const char *const te[] = { " chunked", " gzip, chunked", " gzip", " Chunked", " chunked , gzip",
							  "chunked", " identity" };
			sp_name(m, s, "Transfer-Encoding");
			int k = sp_pick(s, 7);
			sp_put(m, ":%s", te[k]);
			*chunked = k == 0 || k == 1 || k == 3 || k == 5;
			break;
		}
		case 4:
		case 5: {
			static const char *const cv[] = { " keep-alive", " close", " Keep-Alive", " CLOSE", " upgrade",
							  " te, close", "keep-alive ", " foo" };
			sp_name(m, s, "Connection");
			int k = sp_pick(s, 8);
			sp_put(m, ":%s", cv[k]);
			if (k == 1 || k == 3 || k == 5)
				*close = 1;
			break;
		}
		case 6:
			sp_name(m, s, "Upgrade");
			sp_put(m, ": websocket");
			break;
		case 7:
			/* not a field: no colon, or a colon first, or folding */
			switch (sp_pick(s, 3)) {
			case 0:
				sp_fill(m, s, 1 + (unsigned)sp_pick(s, 20));
				break;
			case 1:
				sp_put(m, ":x");
				break;
			default:
				sp_put(m, " folded");
				break;
			}
			break;
		case 8:
			/* names of the right length that are not of interest */
			sp_name(m, s, resp ? "Content-Type" : "Content-Lengtx");
			sp_put(m, ": 12");
			break;
		case 9:
			sp_name(m, s, "Cache-Control");
			sp_put(m, ": no-cache");
			break;
		default: {
			/* an ordinary field, short or long (a cookie, a user agent) */
			static const char *const names[] = { "Host", "User-Agent", "Accept", "Date", "Server", "X-Id",
							     "Set-Cookie", "Referer" };
			sp_name(m, s, names[sp_pick(s, 8)]);
			sp_put(m, ":%s", sp_pick(s, 4) ? " " : "");
			sp_fill(m, s, (unsigned)(sp_pick(s, 4) ? sp_pick(s, 40) : sp_pick(s, 400)));
			if (sp_pick(s, 4) == 0)
				sp_put(m, "12:00:01");
			break;
		}
		}
		sp_put(m, "%s", sp_eol(s));
	}
}

/* A body framed as announced (Content-Length or chunked). */
static void sp_body(struct sp_msg *m, unsigned *s, long cl, int chunked)
{
	if (chunked) {
		int nc = sp_pick(s, 4);
		for (int i = 0; i < nc; i++) {
			unsigned k = 1 + (unsigned)sp_pick(s, 30);
			sp_put(m, "%x%s\r\n", k, sp_pick(s, 4) ? "" : ";ext=1");
			sp_fill(m, s, k);
			sp_put(m, "\r\n");
		}
		sp_put(m, "0\r\n%s\r\n", sp_pick(s, 4) ? "" : "Trailer: x\r\n");
	} else if (cl > 0) {
		sp_fill(m, s, (unsigned)cl);
	}
}

static void sp_request(struct sp_msg *m, unsigned *s, int *head)
{
	static const char *const methods[] = { "GET", "GET", "GET", "HEAD", "POST", "PUT", "DELETE", "OPTIONS", "PATCH",
					       "TRACE", "FOO", "G@T", "CONNECT" };
	int mi = sp_pick(s, 13);
	*head = mi == 3;
	sp_put(m, "%s", methods[mi]);
	sp_put(m, "%s", sp_pick(s, 10) ? " " : "  ");
	switch (sp_pick(s, 11)) {
	case 0:
		sp_put(m, "*");
		break;
	case 1:
		sp_put(m, "http://example.com/abs/%d?q=1", sp_pick(s, 100));
		break;
	case 2:
		/* long: past the line buffer when cut, so no space in it (the
		 * middle of an overlong line is not seen) */
		sp_put(m, "/");
		sp_fill_set(m, s, 200 + (unsigned)sp_pick(s, 100), 1);
		break;
	case 9:
		sp_put(m, "/with space/%d", sp_pick(s, 10));
		break;
	case 10:
		/* a space early in a long target: seen in any feed */
		sp_put(m, "/early space/");
		sp_fill_set(m, s, 250 + (unsigned)sp_pick(s, 50), 1);
		break;
	case 3:
		sp_put(m, "example.com:443");
		break;
	default:
		sp_put(m, "/api/v%d/items/%d%s", sp_pick(s, 3), sp_pick(s, 1000),
		       sp_pick(s, 3) ? "" : (sp_pick(s, 2) ? "?page=2&x=y" : "#frag"));
		break;
	}
	static const char *const vers[] = { " HTTP/1.1", " HTTP/1.1", " HTTP/1.1", " HTTP/1.0", " HTTP/2.0", " HTTP/1.1 ",
					    "", " HTTX/1.1" };
	sp_put(m, "%s%s", vers[sp_pick(s, 8)], sp_eol(s));
	long cl = 0;
	int chunked = 0, close = 0;
	sp_fields(m, s, 0, &cl, &chunked, &close);
	sp_put(m, "%s", sp_eol(s));
	sp_body(m, s, cl, chunked);
}

/* A response; returns nonzero when the connection ends after it. */
static int sp_response(struct sp_msg *m, unsigned *s, int head)
{
	if (sp_pick(s, 10) == 0)
		sp_put(m, "HTTP/1.1 100 Continue\r\n\r\n");
	static const int codes[] = { 200, 200, 200, 404, 204, 304, 500, 301 };
	int code = codes[sp_pick(s, 8)];
	switch (sp_pick(s, 12)) {
	case 0:
		sp_put(m, "HTTP/1.1 %d%s", code, sp_eol(s));
		break;
	case 1:
		sp_put(m, "HTTP/1.0 %d OK%s", code, sp_eol(s));
		break;
	case 2:
		sp_put(m, "HTTP/1.1  %d OK%s", code, sp_eol(s));
		break;
	case 3:
		sp_put(m, "XTTP/1.1 %d OK\r\n", code);
		break;
	default:
		sp_put(m, "HTTP/1.1 %d Some Reason%s", code, sp_eol(s));
		break;
	}
	long cl = -1;
	int chunked = 0, close = 0;
	sp_fields(m, s, 1, &cl, &chunked, &close);
	int bodyless = head || code == 204 || code == 304;
	if (!bodyless && !chunked && cl < 0) {
		if (sp_pick(s, 3) == 0) {
			sp_put(m, "\r\n");
			sp_fill(m, s, (unsigned)sp_pick(s, 50));
			return 1; /* close-delimited */
		}
		cl = sp_pick(s, 60);
		sp_put(m, "Content-Length: %ld\r\n", cl);
	}
	sp_put(m, "%s", sp_eol(s));
	if (!bodyless)
		sp_body(m, s, cl, chunked);
	return close;
}

struct sp_conv {
	struct sp_msg req[SP_MSGS], rsp[SP_MSGS];
	int n;    /* exchanges */
	int pipe; /* requests sent ahead of the first response */
};

static void sp_conv(struct sp_conv *cv, unsigned seed)
{
	unsigned s = seed;
	cv->n = 1 + sp_pick(&s, SP_MSGS);
	cv->pipe = sp_pick(&s, 4) == 0 ? cv->n : 1;
	for (int i = 0; i < cv->n; i++) {
		int head;
		cv->req[i].n = cv->rsp[i].n = 0;
		sp_request(&cv->req[i], &s, &head);
		if (sp_response(&cv->rsp[i], &s, head)) {
			cv->n = i + 1;
			break;
		}
	}
	if (cv->pipe > cv->n)
		cv->pipe = cv->n;
}

enum { FEED_WHOLE, FEED_CUT };

/* Feeds b..b+n in pieces (whole, or cut at random points) placed against a
 * guard page; wr picks the direction, writev cuts as a scatter list. */
static void sp_feed(struct trk_conn *c, struct guard *g, const char *b, size_t n, int wr, int mode, unsigned *s,
		    uint64_t now, const struct trk_sink *sk)
{
	while (n) {
		size_t k = n;
		if (mode == FEED_CUT)
			k = sp_pick(s, 3) == 0 ? 1 : 1 + (size_t)sp_pick(s, (unsigned)(n < 64 ? n : 64));
		if (k > n)
			k = n;
		const char *p = guard_place(g, b, k);
		if (!wr) {
			trk_read(c, p, k, now, sk);
		} else if (mode == FEED_CUT && k > 1 && sp_pick(s, 2)) {
			struct iovec iov[2] = { { (void *)p, k / 2 }, { (void *)(p + k / 2), k - k / 2 } };
			trk_writev(c, iov, 2, k, now, sk);
		} else {
			trk_write(c, p, k, now, sk);
		}
		b += k;
		n -= k;
	}
}

/* Plays the conversation: the first pipe requests in one read, then each
 * response followed by the next request not sent yet. */
static void sp_run(const struct sp_conv *cv, int mode, unsigned seed, struct guard *g, struct sp_log *l)
{
	static struct trk_conn c;
	static struct {
		char b[SP_BUF * SP_MSGS];
		size_t n;
	} first;
	unsigned s = seed;
	struct trk_sink sk = { sp_req, sp_x, sp_err, sp_uns, l, NULL, NULL };
	memset(l, 0, sizeof *l);
	trk_init(&c);
	uint64_t now = 10;
	first.n = 0;
	for (int j = 0; j < cv->pipe; j++) {
		memcpy(first.b + first.n, cv->req[j].b, cv->req[j].n);
		first.n += cv->req[j].n;
	}
	sp_feed(&c, g, first.b, first.n, 0, mode, &s, now, &sk);
	for (int i = 0; i < cv->n; i++) {
		sp_feed(&c, g, cv->rsp[i].b, cv->rsp[i].n, 1, mode, &s, now += 10, &sk);
		if (i + cv->pipe < cv->n)
			sp_feed(&c, g, cv->req[i + cv->pipe].b, cv->req[i + cv->pipe].n, 0, mode, &s, now += 10, &sk);
	}
	trk_end(&c, now + 10, &sk);
}

static void sp_dump(const struct sp_log *l, const char *what)
{
	for (unsigned i = 0; i < l->n; i++) {
		const struct sp_ev *e = &l->ev[i];
		fprintf(stderr, "%s %u: type %d m %u fl %#x st %u tag %u rb %lu sb %lu t %lu-%lu path '%.*s'\n", what, i,
			e->type, e->method, e->flags, e->status, e->tag, (unsigned long)e->req_body,
			(unsigned long)e->resp_body, (unsigned long)e->t_start, (unsigned long)e->t_end, (int)e->plen,
			e->path);
	}
}

static int sp_same(const struct sp_log *a, const struct sp_log *b)
{
	if (a->n != b->n)
		return 0;
	for (unsigned i = 0; i < a->n; i++) {
		const struct sp_ev *x = &a->ev[i], *y = &b->ev[i];
		size_t plen = x->plen;
		if (x->method == TRK_M_OTHER && (x->flags & TRK_R_TRUNCATED) && (y->flags & TRK_R_TRUNCATED) &&
		    y->plen < plen)
			plen = y->plen; /* a long unknown method ate into the kept line */
		else if (x->plen != y->plen)
			return 0;
		if (x->type != y->type || x->method != y->method || x->flags != y->flags || x->status != y->status ||
		    x->reason != y->reason || x->tag != y->tag || x->req_body != y->req_body ||
		    x->resp_body != y->resp_body || x->t_start != y->t_start || x->t_end != y->t_end ||
		    memcmp(x->path, y->path, plen) != 0)
			return 0;
	}
	return 1;
}

/* The header section of a message: after its first line, up to and
 * including the first empty line. Returns 0 when there is none. */
static int sp_section(const struct sp_msg *m, size_t *a, size_t *b)
{
	const char *nl = memchr(m->b, '\n', m->n);
	if (!nl)
		return 0;
	size_t i = (size_t)(nl - m->b) + 1;
	*a = i;
	for (; i < m->n; i++) {
		if (m->b[i - 1] == '\n' && (m->b[i] == '\n' || (m->b[i] == '\r' && i + 1 < m->n && m->b[i + 1] == '\n'))) {
			*b = i;
			return *b > *a;
		}
	}
	return 0;
}

/* A copy of base with a few bytes of its header section changed. */
static void sp_mutate(struct sp_msg *out, const struct sp_msg *base, unsigned *s)
{
	static const char set[] = "a0Z :\n\r\t,-";
	*out = *base;
	size_t a, b;
	if (sp_pick(s, 2) == 0 || !sp_section(out, &a, &b))
		return;
	int k = 1 + sp_pick(s, 3);
	for (int i = 0; i < k; i++) {
		size_t at = a + (size_t)sp_pick(s, (unsigned)(b - a));
		if (out->b[at] == '\n' || (at + 1 < out->n && out->b[at + 1] == '\n'))
			continue; /* keep the lines: a merged line could outgrow the line buffer */
		out->b[at] = set[sp_pick(s, sizeof set - 1)];
	}
}

static void sp_conv_repeat(struct sp_conv *cv, unsigned seed)
{
	static struct sp_msg breq, brsp;
	unsigned s = seed;
	int head, close;
	breq.n = brsp.n = 0;
	sp_request(&breq, &s, &head);
	close = sp_response(&brsp, &s, head);
	cv->n = close ? 1 : 2 + sp_pick(&s, SP_MSGS - 1);
	cv->pipe = sp_pick(&s, 4) == 0 ? cv->n : 1;
	for (int i = 0; i < cv->n; i++) {
		sp_mutate(&cv->req[i], &breq, &s);
		sp_mutate(&cv->rsp[i], &brsp, &s);
		if (i >= 2 && sp_pick(&s, 16) == 0) {
			/* an HTTP/0.9 request after known heads: its answer is all body */
			cv->req[i].n = 0;
			sp_put(&cv->req[i], "GET /nine\r\n");
		}
	}
}

static void sp_check(struct sp_conv *cv, unsigned seed, struct guard *g, struct sp_log *whole, struct sp_log *cut)
{
	sp_run(cv, FEED_WHOLE, seed, g, whole);
	for (unsigned k = 0; k < 3; k++) {
		sp_run(cv, FEED_CUT, seed * 7919u + k, g, cut);
		if (!sp_same(whole, cut)) {
			sp_dump(whole, "whole");
			sp_dump(cut, "cut");
			for (int i = 0; i < cv->n; i++)
				fprintf(stderr, "req %d: %.*s\nrsp %d: %.*s\n", i, (int)cv->req[i].n, cv->req[i].b, i,
					(int)cv->rsp[i].n, cv->rsp[i].b);
			cr_assert_fail("seed %u, cut %u: the cut feed called back differently", seed, k);
		}
	}
}

Test(tracker_split, repeated_heads_with_changes_agree)
{
	static struct sp_conv cv;
	static struct sp_log whole, cut;
	struct guard g;
	cr_assert_eq(guard_init(&g, SP_BUF * SP_MSGS), 0);
	unsigned exchanges = 0;
	for (unsigned seed = 1; seed <= SP_CASES; seed++) {
		sp_conv_repeat(&cv, seed);
		sp_check(&cv, seed, &g, &whole, &cut);
		for (unsigned i = 0; i < whole.n; i++)
			exchanges += whole.ev[i].type == EV_X;
	}
	guard_free(&g);
	cr_assert_gt(exchanges, SP_CASES * 2);
}

/* The memo's 32-byte compare (AVX2) and its 16-byte one call back the
 * same on the repeated heads, whose changed bytes include newlines. */
Test(tracker_split, wide_and_narrow_memo_compares_agree)
{
	static struct sp_conv cv;
	static struct sp_log narrow, wide;
	struct guard g;
	if (!trk_set_wide(1))
		cr_skip_test("no AVX2 on this CPU: only the 16-byte compare exists");
	cr_assert_eq(guard_init(&g, SP_BUF * SP_MSGS), 0);
	unsigned long_sections = 0;
	for (unsigned seed = 1; seed <= SP_CASES; seed++) {
		sp_conv_repeat(&cv, seed);
		for (int i = 0; i < cv.n; i++) {
			size_t a, b;
			long_sections += sp_section(&cv.req[i], &a, &b) && b - a >= 64;
			long_sections += sp_section(&cv.rsp[i], &a, &b) && b - a >= 64;
		}
		trk_set_wide(0);
		sp_run(&cv, FEED_WHOLE, seed, &g, &narrow);
		trk_set_wide(1);
		sp_run(&cv, FEED_WHOLE, seed, &g, &wide);
		if (!sp_same(&narrow, &wide)) {
			sp_dump(&narrow, "narrow");
			sp_dump(&wide, "wide");
			cr_assert_fail("seed %u: the 32-byte compare called back differently", seed);
		}
	}
	guard_free(&g);
	cr_assert_gt(long_sections, SP_CASES);
}

Test(tracker_split, whole_pipelined_and_cut_feeds_agree)
{
	static struct sp_conv cv;
	static struct sp_log whole, cut;
	struct guard g;
	cr_assert_eq(guard_init(&g, SP_BUF * SP_MSGS), 0);
	unsigned exchanges = 0, errors = 0, pipelined = 0;
	for (unsigned seed = 1; seed <= SP_CASES; seed++) {
		sp_conv(&cv, seed);
		pipelined += cv.pipe > 1;
		sp_check(&cv, seed, &g, &whole, &cut);
		for (unsigned i = 0; i < whole.n; i++) {
			exchanges += whole.ev[i].type == EV_X;
			errors += whole.ev[i].type == EV_ERR;
		}
	}
	guard_free(&g);
	/* the generator really covers both outcomes */
	cr_assert_gt(exchanges, SP_CASES);
	cr_assert_gt(errors, SP_CASES / 10);
	cr_assert_gt(pipelined, SP_CASES / 8);
}
