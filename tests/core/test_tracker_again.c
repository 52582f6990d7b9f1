/* tests/core/test_tracker_again.c — the start-line memos of core/tracker.c:
 * a request line equal to the connection's previous one is announced
 * through on_again (or on_request with the right path), a status line
 * equal to the previous one gives its status and version, and neither
 * memo ever stands in for a line that differs. Also the short ways out of
 * a head that both the memos and the engine take (rd_head_end,
 * wr_head_end): only the common case takes them. Every read and write is
 * placed right before a guard page, so a compare that reads too far
 * faults. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

#include "guard.h"
#include "tracker.h"

#define TA_MAX 128
#define TA_TAG0 500u

struct ta_rec {
	int nreq, nagain, nx, errors;
	int once;               /* on_request returns tags with TRK_TAG_ONCE */
	uint32_t again_tag[TA_MAX];
	char path[TA_MAX][128];
	uint32_t req_tag[TA_MAX];
	struct trk_exchange x[TA_MAX];
};

static struct guard ta_g;

static uint32_t ta_request(void *ctx, unsigned method, const char *path, size_t len, unsigned flags)
{
	struct ta_rec *r = ctx;
	(void)method;
	(void)flags;
	cr_assert_lt(r->nreq, TA_MAX);
	cr_assert_lt(len, sizeof r->path[0]);
	memcpy(r->path[r->nreq], path, len);
	r->path[r->nreq][len] = 0;
	uint32_t tag = TA_TAG0 + (uint32_t)r->nreq;
	r->req_tag[r->nreq++] = tag;
	return r->once ? tag | TRK_TAG_ONCE : tag;
}

static uint32_t ta_again(void *ctx, uint32_t tag)
{
	struct ta_rec *r = ctx;
	cr_assert_lt(r->nagain, TA_MAX);
	r->again_tag[r->nagain++] = tag;
	return tag;
}

static void ta_exchange(void *ctx, const struct trk_exchange *x)
{
	struct ta_rec *r = ctx;
	cr_assert_lt(r->nx, TA_MAX);
	r->x[r->nx++] = *x;
}

static void ta_error(void *ctx)
{
	((struct ta_rec *)ctx)->errors++;
}

static void ta_unsupported(void *ctx, unsigned reason)
{
	(void)ctx;
	cr_assert_fail("unsupported %u", reason);
}

/* One connection under test with its sink and what the sink saw. */
struct ta {
	struct ta_rec r;
	struct trk_sink s;
	struct trk_conn c;
};

static void ta_start(struct ta *t, int with_again)
{
	memset(t, 0, sizeof *t);
	t->s.on_request = ta_request;
	t->s.on_exchange = ta_exchange;
	t->s.on_error = ta_error;
	t->s.on_unsupported = ta_unsupported;
	t->s.on_again = with_again ? ta_again : NULL;
	t->s.ctx = &t->r;
	trk_init(&t->c);
	if (!ta_g.base)
		cr_assert_eq(guard_init(&ta_g, 1 << 16), 0);
}

static void ta_read(struct trk_conn *c, const char *d, uint64_t now, const struct trk_sink *s)
{
	size_t n = strlen(d);
	trk_read(c, guard_place(&ta_g, d, n), n, now, s);
}

static void ta_write(struct trk_conn *c, const char *d, uint64_t now, const struct trk_sink *s)
{
	size_t n = strlen(d);
	trk_write(c, guard_place(&ta_g, d, n), n, now, s);
}

static const char ta_req[] = "GET /tiny HTTP/1.1\r\nHost: 127.0.0.1:8080\r\nUser-Agent: test\r\n\r\n";
static const char ta_resp[] = "HTTP/1.1 200 OK\r\nServer: t\r\nContent-Length: 2\r\n\r\nok";

/* One exchange of req and resp, at times 10 * i and 10 * i + 5. */
static void ta_exchange_once(struct trk_conn *c, const char *req, const char *resp, int i,
			     const struct trk_sink *s)
{
	ta_read(c, req, 10 * (uint64_t)i + 10, s);
	ta_write(c, resp, 10 * (uint64_t)i + 15, s);
}

/* Exchanges from..to-1 of req and resp. */
static void ta_run(struct ta *t, const char *req, const char *resp, int from, int to)
{
	for (int i = from; i < to; i++)
		ta_exchange_once(&t->c, req, resp, i, &t->s);
}

/* The first head goes through the line engine, the second is kept as the
 * section memo, the third parses its line and keeps it: from the fourth
 * on, the same line comes from the memo. */
Test(tracker_again, a_repeated_request_line_is_announced_through_on_again)
{
	struct ta t;
	ta_start(&t, 1);
	ta_run(&t, ta_req, ta_resp, 0, 10);
	cr_assert_eq(t.r.nreq, 3);
	cr_assert_eq(t.r.nagain, 7);
	for (int i = 0; i < t.r.nagain; i++)
		cr_assert_eq(t.r.again_tag[i], t.r.req_tag[2], "again %d", i);
	cr_assert_eq(t.r.nx, 10);
	for (int i = 0; i < 10; i++) {
		cr_assert_eq(t.r.x[i].tag, i < 3 ? t.r.req_tag[i] : t.r.req_tag[2], "exchange %d", i);
		cr_assert_eq(t.r.x[i].method, TRK_M_GET);
		cr_assert_eq(t.r.x[i].status, 200);
		cr_assert_eq(t.r.x[i].resp_body, 2);
		cr_assert_eq(t.r.x[i].t_start, 10 * (uint64_t)i + 10);
		cr_assert_eq(t.r.x[i].t_end, 10 * (uint64_t)i + 15);
	}
	cr_assert_eq(t.r.errors, 0);
}

Test(tracker_again, without_on_again_each_request_gives_its_path)
{
	struct ta t;
	ta_start(&t, 0);
	ta_run(&t, ta_req, ta_resp, 0, 10);
	cr_assert_eq(t.r.nreq, 10);
	cr_assert_eq(t.r.nx, 10);
	for (int i = 0; i < 10; i++) {
		cr_assert_str_eq(t.r.path[i], "/tiny", "request %d", i);
		cr_assert_eq(t.r.x[i].tag, t.r.req_tag[i]);
	}
}

Test(tracker_again, a_tag_given_once_is_asked_for_again)
{
	struct ta t;
	ta_start(&t, 1);
	t.r.once = 1;
	ta_run(&t, ta_req, ta_resp, 0, 10);
	cr_assert_eq(t.r.nagain, 0);
	cr_assert_eq(t.r.nreq, 10);
	for (int i = 0; i < 10; i++)
		cr_assert_eq(t.r.x[i].tag, t.r.req_tag[i], "exchange %d: the bit is dropped", i);
}

/* Lines of the memo's length that differ in one byte, anywhere. */
Test(tracker_again, a_line_that_differs_in_one_byte_is_parsed)
{
	static const char *const reqs[] = {
		"GET /tinz HTTP/1.1\r\nHost: 127.0.0.1:8080\r\nUser-Agent: test\r\n\r\n",
		"PUT /tiny HTTP/1.1\r\nHost: 127.0.0.1:8080\r\nUser-Agent: test\r\n\r\n",
		"GET /tiny HTTP/1.0\r\nHost: 127.0.0.1:8080\r\nUser-Agent: test\r\n\r\n",
		"GET /tinY HTTP/1.1\r\nHost: 127.0.0.1:8080\r\nUser-Agent: test\r\n\r\n",
	};
	static const char *const paths[] = {"/tinz", "/tiny", "/tiny", "/tinY"};
	static const unsigned methods[] = {TRK_M_GET, TRK_M_PUT, TRK_M_GET, TRK_M_GET};
	for (unsigned k = 0; k < sizeof reqs / sizeof reqs[0]; k++) {
		struct ta t;
		ta_start(&t, 1);
		ta_run(&t, ta_req, ta_resp, 0, 5);
		int nreq = t.r.nreq, nagain = t.r.nagain;
		cr_assert_eq(nagain, 2);
		ta_read(&t.c, reqs[k], 100, &t.s);
		ta_write(&t.c, ta_resp, 105, &t.s);
		cr_assert_eq(t.r.nagain, nagain, "case %u: not from the memo", k);
		cr_assert_eq(t.r.nx, 6);
		cr_assert_eq(t.r.x[5].method, methods[k], "case %u", k);
		cr_assert_eq(t.r.nreq, nreq + 1, "case %u", k);
		cr_assert_str_eq(t.r.path[nreq], paths[k], "case %u", k);
		cr_assert_eq(t.r.x[5].tag, t.r.req_tag[nreq]);
		cr_assert_eq(t.r.errors, 0);
	}
}

/* Varied lines push the memo's tries apart; the same line again brings it
 * back within a few requests, and every request keeps its own path. */
Test(tracker_again, varied_lines_back_off_and_a_repeated_one_comes_back)
{
	struct ta t;
	char req[160];
	ta_start(&t, 1);
	int i = 0;
	for (; i < 40; i++) {
		snprintf(req, sizeof req, "GET /item/%d HTTP/1.1\r\nHost: 127.0.0.1:8080\r\nUser-Agent: test\r\n\r\n", i);
		ta_exchange_once(&t.c, req, ta_resp, i, &t.s);
	}
	cr_assert_eq(t.r.nagain, 0);
	cr_assert_eq(t.r.nreq, 40);
	for (int k = 0; k < 40; k++) {
		snprintf(req, sizeof req, "/item/%d", k);
		cr_assert_str_eq(t.r.path[k], req);
	}
	ta_run(&t, ta_req, ta_resp, i, 60);
	/* at most 7 heads skip the memo, one keeps the line */
	cr_assert_geq(t.r.nagain, 12, "%d", t.r.nagain);
	cr_assert_eq(t.r.nreq + t.r.nagain, 60);
	cr_assert_eq(t.r.nx, 60);
	for (int k = 0; k < 60; k++)
		cr_assert_eq(t.r.x[k].status, 200);
}

/* A line longer than the memo holds is never kept. */
Test(tracker_again, a_long_line_is_not_kept)
{
	struct ta t;
	char req[256];
	char path[TRK_LMEMO + 1];
	memset(path, 'a', sizeof path - 1);
	path[0] = '/';
	path[sizeof path - 1] = 0;
	snprintf(req, sizeof req, "GET %s HTTP/1.1\r\nHost: 127.0.0.1:8080\r\nUser-Agent: test\r\n\r\n", path);
	ta_start(&t, 1);
	ta_run(&t, req, ta_resp, 0, 8);
	cr_assert_eq(t.r.nagain, 0);
	cr_assert_eq(t.r.nreq, 8);
	cr_assert_str_eq(t.r.path[7], path);
}

/* The status memo: a different status line with the same header section
 * gives its own status, and a version change its own framing. */
Test(tracker_again, a_status_line_is_taken_from_the_memo_only_when_equal)
{
	struct ta t;
	ta_start(&t, 1);
	int i = 6;
	ta_run(&t, ta_req, ta_resp, 0, i);
	ta_exchange_once(&t.c, ta_req, "HTTP/1.1 404 Not Found\r\nServer: t\r\nContent-Length: 2\r\n\r\nno", i++, &t.s);
	ta_exchange_once(&t.c, ta_req, "HTTP/1.1 201 OK\r\nServer: t\r\nContent-Length: 2\r\n\r\nok", i++, &t.s);
	ta_run(&t, ta_req, ta_resp, i, i + 9);
	i += 9;
	cr_assert_eq(t.r.nx, 17);
	for (int k = 0; k < 17; k++)
		cr_assert_eq(t.r.x[k].status, k == 6 ? 404 : k == 7 ? 201 : 200, "exchange %d", k);
	/* HTTP/1.0 without keep-alive: the connection ends with it */
	cr_assert_not(trk_idle(&t.c));
	ta_exchange_once(&t.c, ta_req, "HTTP/1.0 200 OK\r\nServer: t\r\nContent-Length: 2\r\n\r\nok", i++, &t.s);
	cr_assert_eq(t.r.nx, 18);
	cr_assert_eq(t.r.x[17].status, 200);
	cr_assert(trk_idle(&t.c), "a 1.0 response without keep-alive ends the connection");
	cr_assert_eq(t.r.errors, 0);
}

/* A head cut right after its line: the memo needs the whole head in one
 * buffer, so the engine takes it, and the counts stay exact. */
Test(tracker_again, a_head_cut_after_its_line_is_parsed_whole)
{
	struct ta t;
	ta_start(&t, 1);
	ta_run(&t, ta_req, ta_resp, 0, 5);
	size_t ll = strlen("GET /tiny HTTP/1.1\r\n");
	trk_read(&t.c, guard_place(&ta_g, ta_req, ll), ll, 100, &t.s);
	trk_read(&t.c, guard_place(&ta_g, ta_req + ll, strlen(ta_req) - ll), strlen(ta_req) - ll, 101, &t.s);
	ta_write(&t.c, "HTTP/1.1 200 O", 105, &t.s);
	ta_write(&t.c, ta_resp + 14, 106, &t.s);
	ta_exchange_once(&t.c, ta_req, ta_resp, 20, &t.s);
	cr_assert_eq(t.r.nx, 7);
	cr_assert_eq(t.r.x[5].t_start, 100);
	cr_assert_eq(t.r.x[5].t_end, 106);
	cr_assert_eq(t.r.x[5].status, 200);
	cr_assert_str_eq(t.r.path[t.r.nreq - 1], "/tiny");
	cr_assert_eq(t.r.x[6].status, 200);
	cr_assert_eq(t.r.x[6].t_start, 210);
	cr_assert_eq(t.r.errors, 0);
}

/* A 304 carries the length of the body it does not send: the next
 * response starts right after its head, whether the head came from the
 * memo (its header section is the one kept) or from the engine. */
Test(tracker_again, a_304_with_a_length_has_no_body)
{
	struct ta t;
	ta_start(&t, 1);
	ta_run(&t, ta_req, ta_resp, 0, 5);
	ta_exchange_once(&t.c, ta_req, "HTTP/1.1 304 Not Modified\r\nServer: t\r\nContent-Length: 2\r\n\r\n", 5,
			 &t.s);
	ta_run(&t, ta_req, ta_resp, 6, 8);
	ta_exchange_once(&t.c, ta_req, "HTTP/1.1 304 Not Modified\r\nDate: x\r\nContent-Length: 9\r\n\r\n", 8, &t.s);
	ta_run(&t, ta_req, ta_resp, 9, 11);
	cr_assert_eq(t.r.nx, 11);
	for (int k = 0; k < 11; k++) {
		cr_assert_eq(t.r.x[k].status, k == 5 || k == 8 ? 304 : 200, "exchange %d", k);
		cr_assert_eq(t.r.x[k].resp_body, k == 5 || k == 8 ? 0 : 2, "exchange %d", k);
		cr_assert_eq(t.r.x[k].t_end, 10 * (uint64_t)k + 15, "exchange %d", k);
	}
	cr_assert_eq(t.r.errors, 0);
}

/* A request that asks for an upgrade waits for its answer before the
 * bytes after it are read as a request: after a 101 they are the new
 * protocol's. */
Test(tracker_again, an_upgrade_request_waits_for_its_answer)
{
	struct ta t;
	ta_start(&t, 1);
	ta_run(&t, ta_req, ta_resp, 0, 4);
	ta_read(&t.c,
		"GET /ws HTTP/1.1\r\nHost: 127.0.0.1:8080\r\nUpgrade: websocket\r\n"
		"Connection: Upgrade\r\n\r\n\x81\x07hi\r\n\r\n",
		100, &t.s);
	ta_write(&t.c, "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n", 105,
		 &t.s);
	ta_read(&t.c, "\x81\x05world", 110, &t.s);
	cr_assert_eq(t.r.nx, 5);
	cr_assert_eq(t.r.x[4].status, 101);
	cr_assert_eq(t.r.x[4].t_start, 100);
	cr_assert_eq(t.r.x[4].t_end, 105);
	cr_assert_str_eq(t.r.path[t.r.nreq - 1], "/ws");
	cr_assert_eq(t.r.errors, 0);
}

/* CONNECT: the bytes after the request are the tunnel's once a 2xx
 * answers it, never a request of their own. */
Test(tracker_again, a_connect_request_waits_for_its_answer)
{
	struct ta t;
	ta_start(&t, 1);
	ta_run(&t, ta_req, ta_resp, 0, 4);
	ta_read(&t.c, "CONNECT example.com:80 HTTP/1.1\r\nHost: example.com:80\r\n\r\ntunnel\r\nbytes\r\n\r\n", 100,
		&t.s);
	ta_write(&t.c, "HTTP/1.1 200 Connection Established\r\n\r\n", 105, &t.s);
	ta_read(&t.c, "more tunnel bytes", 110, &t.s);
	cr_assert_eq(t.r.nx, 5);
	cr_assert_eq(t.r.x[4].status, 200);
	cr_assert_eq(t.r.x[4].method, TRK_M_CONNECT);
	cr_assert_eq(t.r.x[4].t_end, 105);
	cr_assert_eq(t.r.errors, 0);
}
