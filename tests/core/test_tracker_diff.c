/* tests/core/test_tracker_diff.c — differential test of the tracker's
 * framing against Debian's libhttp-parser: on generated well-formed requests
 * and responses (random methods, versions, Content-Length or chunked bodies
 * with random chunk sizes, extensions and trailers, Connection headers,
 * HEAD/204/304/1xx), both must agree on where each message ends (its body
 * length), on the status and method, and on whether the connection
 * persists. Each case is fed to the tracker whole and in seeded random
 * splits. */
#include <criterion/criterion.h>
#include <http_parser.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "guard.h"
#include "tracker.h"

#define DF_CASES 1500
#define DF_BUF 65536

static unsigned df_rand(unsigned *s)
{
	*s = *s * 1103515245u + 12345u;
	return (*s >> 8) & 0xffffff;
}

struct df_msg {
	char buf[DF_BUF];
	size_t len;
	char path[64];
	const char *method;
	int head;      /* response to a HEAD request */
	int needs_eof; /* body runs to the end of the connection */
};

static size_t df_put(struct df_msg *m, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static size_t df_put(struct df_msg *m, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(m->buf + m->len, DF_BUF - m->len, fmt, ap);
	va_end(ap);
	cr_assert(n >= 0 && (size_t)n < DF_BUF - m->len);
	m->len += (size_t)n;
	return (size_t)n;
}

static void df_body_bytes(struct df_msg *m, unsigned *s, size_t n)
{
	cr_assert_lt(m->len + n, DF_BUF);
	for (size_t i = 0; i < n; i++)
		m->buf[m->len++] = (char)('a' + df_rand(s) % 26);
}

/* Headers after the start line; framing: 0 none, 1 Content-Length, 2 chunked. */
static void df_headers_and_body(struct df_msg *m, unsigned *s, int framing, int body_allowed)
{
	static const char *conn[] = { NULL, NULL, "close", "keep-alive", "Close", "Keep-Alive" };
	const char *cv = conn[df_rand(s) % 6];
	if (df_rand(s) % 2)
		df_put(m, "Host: example.test\r\n");
	if (cv)
		df_put(m, "Connection: %s\r\n", cv);
	if (df_rand(s) % 3 == 0)
		df_put(m, "X-Pad: %0*u\r\n", (int)(df_rand(s) % 300), 7u);
	size_t body = df_rand(s) % 3 == 0 ? 0 : df_rand(s) % 2000;
	if (framing == 1) {
		df_put(m, "content-length: %zu\r\n\r\n", body);
		if (body_allowed)
			df_body_bytes(m, s, body);
	} else if (framing == 2) {
		df_put(m, "Transfer-Encoding: chunked\r\n\r\n");
		if (!body_allowed)
			return;
		int nchunks = (int)(df_rand(s) % 5);
		for (int i = 0; i < nchunks; i++) {
			size_t k = 1 + df_rand(s) % 700;
			df_put(m, df_rand(s) % 2 ? "%zx" : "%zX", k);
			if (df_rand(s) % 3 == 0)
				df_put(m, ";ext%d=v%u", i, df_rand(s) % 100);
			df_put(m, "\r\n");
			df_body_bytes(m, s, k);
			df_put(m, "\r\n");
		}
		df_put(m, "0\r\n");
		if (df_rand(s) % 2)
			df_put(m, "X-Trailer: t%u\r\n", df_rand(s) % 10);
		df_put(m, "\r\n");
	} else {
		df_put(m, "\r\n");
		if (body_allowed)
			df_body_bytes(m, s, body);
	}
}

static void df_gen_request(struct df_msg *m, unsigned *s)
{
	static const char *meth[] = { "GET", "POST", "PUT", "DELETE", "PATCH", "OPTIONS", "HEAD", "TRACE" };
	m->len = 0;
	m->method = meth[df_rand(s) % 8];
	snprintf(m->path, sizeof m->path, "/p%u/x", df_rand(s) % 100000);
	df_put(m, "%s %s%s HTTP/1.%u\r\n", m->method, m->path, df_rand(s) % 2 ? "?q=1" : "", df_rand(s) % 4 ? 1 : 0);
	int framing = (int)(df_rand(s) % 3);
	/* a request without framing has no body: what follows is the next request */
	df_headers_and_body(m, s, framing, framing != 0);
}

static void df_gen_response(struct df_msg *m, unsigned *s)
{
	static const unsigned st[] = { 200, 201, 204, 301, 304, 404, 500, 200, 200, 206 };
	m->len = 0;
	m->head = df_rand(s) % 5 == 0;
	m->needs_eof = 0;
	if (df_rand(s) % 6 == 0)
		df_put(m, "HTTP/1.1 100 Continue\r\n\r\n");
	unsigned code = st[df_rand(s) % 10];
	unsigned minor = df_rand(s) % 4 ? 1 : 0;
	df_put(m, "HTTP/1.%u %u %s\r\n", minor, code, df_rand(s) % 4 ? "Reason" : "");
	int nobody = m->head || code == 204 || code == 304;
	int framing = code == 204 || code == 304 ? 0 : (int)(df_rand(s) % 3);
	if (!nobody && framing == 0)
		m->needs_eof = 1;
	df_headers_and_body(m, s, framing, !nobody);
}

/* ---- libhttp-parser's view ---- */

struct df_hp {
	int messages;    /* final messages completed */
	size_t body[4];  /* body bytes per final message */
	int keep[4];     /* http_should_keep_alive at each final message's end */
	unsigned status[4];
	unsigned method[4];
	int skip_body;
	int interim;
};

static int df_hp_headers(http_parser *p)
{
	struct df_hp *h = p->data;
	h->interim = p->type == HTTP_RESPONSE && p->status_code / 100 == 1;
	return h->skip_body && !h->interim ? 1 : 0;
}

static int df_hp_body(http_parser *p, const char *at, size_t n)
{
	struct df_hp *h = p->data;
	(void)at;
	if (h->messages < 4)
		h->body[h->messages] += n;
	return 0;
}

static int df_hp_done(http_parser *p)
{
	struct df_hp *h = p->data;
	if (h->interim)
		return 0;
	if (h->messages < 4) {
		h->keep[h->messages] = http_should_keep_alive(p);
		h->status[h->messages] = p->status_code;
		h->method[h->messages] = p->method;
	}
	h->messages++;
	return 0;
}

static void df_hp_run(enum http_parser_type type, const char *d, size_t n, int skip_body, int eof, struct df_hp *h)
{
	http_parser p;
	http_parser_settings cb;
	memset(&cb, 0, sizeof cb);
	memset(h, 0, sizeof *h);
	cb.on_headers_complete = df_hp_headers;
	cb.on_body = df_hp_body;
	cb.on_message_complete = df_hp_done;
	http_parser_init(&p, type);
	p.data = h;
	h->skip_body = skip_body;
	http_parser_execute(&p, &cb, d, n);
	if (eof)
		http_parser_execute(&p, &cb, d + n, 0);
}

/* ---- the tracker's view ---- */

struct df_trk {
	int nreq, nx, errors, uns;
	char path[4][TRK_PATH_MAX + 1];
	unsigned rmethod[4];
	struct trk_exchange x[4];
};

static uint32_t df_t_request(void *ctx, unsigned m, const char *path, size_t len, unsigned flags)
{
	struct df_trk *t = ctx;
	(void)flags;
	if (t->nreq < 4) {
		memcpy(t->path[t->nreq], path, len);
		t->path[t->nreq][len] = 0;
		t->rmethod[t->nreq] = m;
	}
	return (uint32_t)t->nreq++;
}

static void df_t_exchange(void *ctx, const struct trk_exchange *x)
{
	struct df_trk *t = ctx;
	if (t->nx < 4)
		t->x[t->nx] = *x;
	t->nx++;
}

static void df_t_error(void *ctx)
{
	((struct df_trk *)ctx)->errors++;
}

static void df_t_unsupported(void *ctx, unsigned r)
{
	(void)r;
	((struct df_trk *)ctx)->uns++;
}

static struct guard df_g;

/* Feeds d..n to one side in pieces (whole when seed is 0), each piece at the guard page. */
static void df_feed(struct trk_conn *c, int wr, const char *d, size_t n, unsigned seed, uint64_t *now,
		    const struct trk_sink *s)
{
	unsigned sd = seed;
	size_t off = 0;
	while (off < n) {
		size_t k = n - off;
		if (seed) {
			unsigned x = df_rand(&sd);
			k = (x & 1) ? 1 + (x >> 1) % 16 : 1 + (x >> 1) % k;
			if (k > n - off)
				k = n - off;
		}
		const void *p = guard_place(&df_g, d + off, k);
		if (wr)
			trk_write(c, p, k, (*now)++, s);
		else
			trk_read(c, p, k, (*now)++, s);
		off += k;
	}
}

static const char *df_method_name(unsigned hp_method)
{
	return http_method_str((enum http_method)hp_method);
}

static const char df_next_req[] = "GET /next HTTP/1.1\r\n\r\n";
static const char df_next_rsp[] = "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n";

Test(tracker, differential_requests_vs_http_parser, .timeout = 120)
{
	static struct df_msg m;
	static char both[DF_BUF + 64];
	int n_keep = 0, n_close = 0, n_body = 0, n_chunked = 0;
	cr_assert_eq(guard_init(&df_g, DF_BUF + 4096), 0);
	for (unsigned seed = 1; seed <= DF_CASES; seed++) {
		unsigned s = seed * 2654435761u;
		df_gen_request(&m, &s);
		memcpy(both, m.buf, m.len);
		memcpy(both + m.len, df_next_req, sizeof df_next_req - 1);
		size_t bn = m.len + sizeof df_next_req - 1;
		struct df_hp h;
		df_hp_run(HTTP_REQUEST, both, bn, 0, 0, &h);
		cr_assert_geq(h.messages, 1, "seed %u: http_parser rejected the generated request:\n%.*s", seed, (int)m.len,
			      m.buf);
		n_keep += h.keep[0] != 0;
		n_close += h.keep[0] == 0;
		n_body += h.body[0] != 0;
		n_chunked += memmem(m.buf, m.len, "chunked", 7) != NULL;
		for (int split = 0; split < 2; split++) {
			struct df_trk t;
			memset(&t, 0, sizeof t);
			struct trk_sink sk = { df_t_request, df_t_exchange, df_t_error, df_t_unsupported, &t, NULL, NULL };
			struct trk_conn c;
			uint64_t now = 1;
			trk_init(&c);
			df_feed(&c, 0, both, bn, split ? seed : 0, &now, &sk);
			df_feed(&c, 1, df_next_rsp, sizeof df_next_rsp - 1, 0, &now, &sk);
			df_feed(&c, 1, df_next_rsp, sizeof df_next_rsp - 1, 0, &now, &sk);
			trk_end(&c, now, &sk);
			/* a second response after a non-persistent request answers
			 * nothing: counted as an orphan with its parse error */
			cr_assert_eq(t.errors, h.keep[0] ? 0 : 1, "seed %u split %d: parse errors\n%.*s", seed, split,
				     (int)m.len, m.buf);
			cr_assert_eq(t.uns, 0);
			cr_assert_geq(t.nx, 1, "seed %u", seed);
			cr_assert_str_eq(trk_method_name(t.x[0].method), df_method_name(h.method[0]), "seed %u", seed);
			cr_assert_str_eq(t.path[0], m.path, "seed %u", seed);
			cr_assert_eq(t.x[0].flags, 0, "seed %u split %d: flags %#x", seed, split, t.x[0].flags);
			cr_assert_eq(t.x[0].req_body, h.body[0], "seed %u split %d: body %lu, http_parser %zu\n%.*s", seed,
				     split, (unsigned long)t.x[0].req_body, h.body[0], (int)m.len, m.buf);
			/* persistence: the next request is followed only on a persistent connection */
			if (h.keep[0]) {
				cr_assert_eq(t.nreq, 2, "seed %u split %d: next request not seen (persistent)\n%.*s", seed,
					     split, (int)m.len, m.buf);
				cr_assert_str_eq(t.path[1], "/next", "seed %u", seed);
				cr_assert_eq(t.x[1].flags, 0, "seed %u", seed);
			} else {
				cr_assert_eq(t.nreq, 2, "seed %u split %d: request after a non-persistent one\n%.*s", seed,
					     split, (int)m.len, m.buf);
				cr_assert_eq(t.nx, 2, "seed %u", seed);
				cr_assert_str_eq(t.path[1], "", "seed %u", seed);
				cr_assert_eq(t.x[1].method, TRK_M_OTHER, "seed %u", seed);
				cr_assert_eq(t.x[1].flags, TRK_R_INVALID, "seed %u", seed);
				cr_assert_eq(t.x[1].status, 200, "seed %u", seed);
			}
		}
	}
	guard_free(&df_g);
	/* the generator covers what it claims */
	cr_assert_gt(n_keep, DF_CASES / 4);
	cr_assert_gt(n_close, DF_CASES / 10);
	cr_assert_gt(n_body, DF_CASES / 4);
	cr_assert_gt(n_chunked, DF_CASES / 10);
}

Test(tracker, differential_responses_vs_http_parser, .timeout = 120)
{
	static struct df_msg m;
	static char both[DF_BUF + 64];
	int n_keep = 0, n_close = 0, n_eof = 0, n_head = 0, n_interim = 0, n_chunked = 0;
	cr_assert_eq(guard_init(&df_g, DF_BUF + 4096), 0);
	for (unsigned seed = 1; seed <= DF_CASES; seed++) {
		unsigned s = seed * 2246822519u;
		df_gen_response(&m, &s);
		memcpy(both, m.buf, m.len);
		size_t bn = m.len;
		if (!m.needs_eof) {
			memcpy(both + m.len, df_next_rsp, sizeof df_next_rsp - 1);
			bn += sizeof df_next_rsp - 1;
		}
		struct df_hp h;
		df_hp_run(HTTP_RESPONSE, both, bn, m.head, m.needs_eof, &h);
		cr_assert_geq(h.messages, 1, "seed %u: http_parser rejected the generated response:\n%.*s", seed,
			      (int)m.len, m.buf);
		n_keep += h.keep[0] != 0;
		n_close += h.keep[0] == 0;
		n_eof += m.needs_eof;
		n_head += m.head;
		n_interim += memmem(m.buf, m.len, " 100 ", 5) != NULL;
		n_chunked += memmem(m.buf, m.len, "chunked", 7) != NULL;
		const char *req = m.head ? "HEAD /r HTTP/1.1\r\n\r\nGET /s HTTP/1.1\r\n\r\n"
					 : "GET /r HTTP/1.1\r\n\r\nGET /s HTTP/1.1\r\n\r\n";
		for (int split = 0; split < 2; split++) {
			struct df_trk t;
			memset(&t, 0, sizeof t);
			struct trk_sink sk = { df_t_request, df_t_exchange, df_t_error, df_t_unsupported, &t, NULL, NULL };
			struct trk_conn c;
			uint64_t now = 1;
			trk_init(&c);
			df_feed(&c, 0, req, strlen(req), 0, &now, &sk);
			df_feed(&c, 1, both, bn, split ? seed : 0, &now, &sk);
			int idle = trk_idle(&c);
			trk_end(&c, now, &sk);
			cr_assert_eq(t.errors, 0, "seed %u split %d: parse errors\n%.*s", seed, split, (int)m.len, m.buf);
			cr_assert_eq(t.nx, 2, "seed %u", seed);
			cr_assert_eq(t.x[0].flags, 0, "seed %u split %d: first exchange flags %#x\n%.*s", seed, split,
				     t.x[0].flags, (int)m.len, m.buf);
			cr_assert_eq(t.x[0].status, h.status[0], "seed %u", seed);
			cr_assert_eq(t.x[0].resp_body, h.body[0], "seed %u split %d: body %lu, http_parser %zu\n%.*s", seed,
				     split, (unsigned long)t.x[0].resp_body, h.body[0], (int)m.len, m.buf);
			if (m.needs_eof) {
				cr_assert_eq(h.keep[0], 0, "seed %u", seed);
				cr_assert_eq(t.x[1].flags, TRK_X_ABORTED, "seed %u", seed);
			} else if (h.keep[0]) {
				/* the next response is matched to the next request */
				cr_assert_eq(idle, 0, "seed %u split %d: stopped on a persistent connection\n%.*s", seed,
					     split, (int)m.len, m.buf);
				cr_assert_eq(t.x[1].flags, 0, "seed %u split %d\n%.*s", seed, split, (int)m.len, m.buf);
				cr_assert_eq(t.x[1].status, 200, "seed %u", seed);
			} else {
				cr_assert_neq(idle, 0, "seed %u split %d: still following a closing connection\n%.*s",
					      seed, split, (int)m.len, m.buf);
				cr_assert_eq(t.x[1].flags, TRK_X_ABORTED, "seed %u", seed);
			}
		}
	}
	guard_free(&df_g);
	cr_assert_gt(n_keep, DF_CASES / 4);
	cr_assert_gt(n_close, DF_CASES / 10);
	cr_assert_gt(n_eof, DF_CASES / 10);
	cr_assert_gt(n_head, DF_CASES / 10);
	cr_assert_gt(n_interim, DF_CASES / 10);
	cr_assert_gt(n_chunked, DF_CASES / 10);
}
