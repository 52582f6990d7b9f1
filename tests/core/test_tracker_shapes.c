/* tests/core/test_tracker_shapes.c — header sections of many shapes for the
 * tracker's header-line scanning (core/tracker.c): the fields it acts on at
 * every byte offset and at the very end of a buffer, names that share a
 * length or a first letter with them, long lines, late colons and lines
 * that are not fields. Each message is fed whole right before a guard page,
 * cut in two at every offset, and byte by byte. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

#include "guard.h"
#include "tracker.h"

struct ts_rec {
	int nreq, nx, errors;
	struct trk_exchange x[8];
};

static uint32_t ts_on_request(void *ctx, unsigned method, const char *path, size_t len, unsigned flags)
{
	(void)method;
	(void)path;
	(void)len;
	(void)flags;
	return (uint32_t)((struct ts_rec *)ctx)->nreq++;
}

static void ts_on_exchange(void *ctx, const struct trk_exchange *x)
{
	struct ts_rec *r = ctx;
	cr_assert_lt(r->nx, 8);
	r->x[r->nx++] = *x;
}

static void ts_on_error(void *ctx)
{
	((struct ts_rec *)ctx)->errors++;
}

static void ts_on_unsupported(void *ctx, unsigned reason)
{
	(void)ctx;
	cr_assert_fail("unsupported %u", reason);
}

static struct guard ts_g;

/* Feeds d (n bytes) to one side: whole (cut 0), cut in two at cut, or byte
 * by byte (cut SIZE_MAX); every piece ends at the guard page. */
static void ts_feed(struct trk_conn *c, int wr, const char *d, size_t n, size_t cut, uint64_t now,
		    const struct trk_sink *s)
{
	if (!ts_g.base)
		cr_assert_eq(guard_init(&ts_g, 1 << 16), 0);
	size_t i = 0;
	while (i < n) {
		size_t k = cut == SIZE_MAX ? 1 : (cut && i == 0 && cut < n ? cut : n - i);
		const char *b = guard_place(&ts_g, d + i, k);
		if (wr)
			trk_write(c, b, k, now, s);
		else
			trk_read(c, b, k, now, s);
		i += k;
	}
}

/* One exchange: request head req, response head rsp, then body (fed as a
 * write of its own, the way servers write a head and a body). */
static void ts_run(struct ts_rec *r, struct trk_conn *c, const char *req, const char *rsp, const char *body,
		   size_t cut)
{
	struct trk_sink s = { ts_on_request, ts_on_exchange, ts_on_error, ts_on_unsupported, r, NULL, NULL };
	memset(r, 0, sizeof *r);
	trk_init(c);
	ts_feed(c, 0, req, strlen(req), cut, 1, &s);
	ts_feed(c, 1, rsp, strlen(rsp), cut, 2, &s);
	if (*body)
		ts_feed(c, 1, body, strlen(body), cut, 3, &s);
}

static const size_t ts_cuts[] = { 0, SIZE_MAX, 1, 7, 16, 31, 32, 33, 63, 64, 65, 100 };
#define TS_NCUTS (sizeof ts_cuts / sizeof ts_cuts[0])

/* "X-Pad: aaa..." with pad letters, so the next line starts at any offset. */
static void ts_pad(char *o, size_t pad)
{
	strcpy(o, "X-Pad: ");
	memset(o + 7, 'a', pad);
	strcpy(o + 7 + pad, "\r\n");
}

Test(tracker, content_length_at_every_offset)
{
	static struct trk_conn c;
	struct ts_rec r;
	char pad[256], rsp[512];
	for (size_t p = 0; p < 90; p++) {
		ts_pad(pad, p);
		for (int last = 0; last < 2; last++) {
			/* last: Content-Length is the head's last line, so the
			 * buffer ends 21 bytes after it starts */
			snprintf(rsp, sizeof rsp, "HTTP/1.1 200 OK\r\n%s%sContent-Length: 5\r\n%s\r\n", pad,
				 p % 3 ? "Date: Wed, 25 Nov 2026 21:00:00 GMT\r\n" : "", last ? "" : "Server: t\r\n");
			for (size_t ci = 0; ci < TS_NCUTS; ci++) {
				ts_run(&r, &c, "GET /a HTTP/1.1\r\nHost: h\r\n\r\n", rsp, "hello", ts_cuts[ci]);
				cr_assert_eq(r.nx, 1, "pad %zu last %d cut %zu", p, last, ts_cuts[ci]);
				cr_assert_eq(r.x[0].status, 200);
				cr_assert_eq(r.x[0].resp_body, 5, "pad %zu last %d cut %zu", p, last, ts_cuts[ci]);
				cr_assert_eq(r.x[0].flags, 0);
				cr_assert_eq(r.errors, 0);
				cr_assert_eq(trk_idle(&c), 0);
			}
		}
	}
}

Test(tracker, chunked_and_close_at_every_offset)
{
	static struct trk_conn c;
	struct ts_rec r;
	char pad[256], rsp[512], req[512];
	for (size_t p = 0; p < 80; p++) {
		ts_pad(pad, p);
		snprintf(rsp, sizeof rsp, "HTTP/1.1 200 OK\r\n%sTRANSFER-ENCODING: gzip, chunked\r\n\r\n", pad);
		snprintf(req, sizeof req, "POST /u HTTP/1.1\r\n%sContent-Length: 3\r\nconnection:  close \r\n\r\nabc", pad);
		for (size_t ci = 0; ci < TS_NCUTS; ci++) {
			ts_run(&r, &c, req, rsp, "5\r\nhello\r\n0\r\n\r\n", ts_cuts[ci]);
			cr_assert_eq(r.nx, 1, "pad %zu cut %zu", p, ts_cuts[ci]);
			cr_assert_eq(r.x[0].req_body, 3);
			cr_assert_eq(r.x[0].resp_body, 5, "pad %zu cut %zu", p, ts_cuts[ci]);
			cr_assert_eq(r.errors, 0);
			/* the request asked to close, but only the response's own
			 * framing ends the write side: it still follows */
			cr_assert_eq(trk_idle(&c), 0, "pad %zu cut %zu", p, ts_cuts[ci]);
		}
	}
}

/* Names of the same length as a field of interest, or with its first
 * letter, change nothing: the response stays close-delimited. */
Test(tracker, look_alike_names_are_ignored)
{
	static const char *const lines[] = {
		"Content-Lengtx: 5\r\n", "Xontent-Length: 5\r\n", "Content-Length : 5\r\n", "Content-Type: 5\r\n",
		"Referer: chunked\r\n",   "Upgradx: h2c\r\n",      "Set-Cookie: close\r\n",  "User-Agent: close\r\n",
		"Connectiom: close\r\n",  "Transfer-Encodinx: chunked\r\n", "XTransfer-Encoding: chunked\r\n",
	};
	static struct trk_conn c;
	struct ts_rec r;
	char rsp[256];
	for (size_t i = 0; i < sizeof lines / sizeof lines[0]; i++) {
		snprintf(rsp, sizeof rsp, "HTTP/1.1 200 OK\r\n%s\r\n", lines[i]);
		for (size_t ci = 0; ci < TS_NCUTS; ci++) {
			struct trk_sink s = { ts_on_request, ts_on_exchange, ts_on_error, ts_on_unsupported, &r, NULL, NULL };
			ts_run(&r, &c, "GET / HTTP/1.1\r\n\r\n", rsp, "0123456789", ts_cuts[ci]);
			cr_assert_eq(r.nx, 0, "%s", lines[i]);
			trk_end(&c, 9, &s);
			cr_assert_eq(r.nx, 1);
			cr_assert_eq(r.x[0].resp_body, 10, "%s cut %zu", lines[i], ts_cuts[ci]);
			cr_assert_eq(r.x[0].flags, 0, "%s", lines[i]);
			cr_assert_eq(r.errors, 0, "%s", lines[i]);
		}
	}
}

/* Lines that are not fields count one error each; folded lines, late
 * colons and long values do not. */
Test(tracker, long_lines_late_colons_and_non_fields)
{
	static struct trk_conn c;
	struct ts_rec r;
	char rsp[2048], longv[300], longn[300], nocolon[300];
	memset(longv, 'v', 200);
	longv[200] = 0;
	/* a colon past the 32 bytes the scan looks at for names, yet inside the
	 * start of a line the write side keeps when a line is cut (TRK_WLINE) */
	memset(longn, 'n', 36);
	longn[36] = 0;
	memset(nocolon, 'z', 120);
	nocolon[120] = 0;
	snprintf(rsp, sizeof rsp,
		 "HTTP/1.1 200 OK\r\n"
		 "X-Long: %s\r\n"
		 "%s: late colon\r\n"
		 " folded continuation\r\n"
		 "%s\r\n"
		 ":starts with a colon\r\n"
		 "x\r\n"
		 "Content-Length: 2\r\n"
		 "\r\n",
		 longv, longn, nocolon);
	for (size_t ci = 0; ci < TS_NCUTS; ci++) {
		ts_run(&r, &c, "GET / HTTP/1.1\r\n\r\n", rsp, "ok", ts_cuts[ci]);
		cr_assert_eq(r.errors, 3, "cut %zu", ts_cuts[ci]);
		cr_assert_eq(r.nx, 1);
		cr_assert_eq(r.x[0].resp_body, 2);
	}
}
