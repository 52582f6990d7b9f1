/* core/tracker.c — owns the HTTP/1.x stream tracker: framing of requests and
 * responses on one connection, matching responses to requests in order, and
 * the exchanges, parse errors and unsupported-protocol reports that follow.
 *
 * Both directions run the same engine over struct trk_side: lines are found
 * 16 bytes at a time (SSE2, a scalar fallback elsewhere) and handled in
 * place: a header line costs one pass of newline and colon masks and, unless
 * its name's length and first letter match a field of interest, nothing
 * more (trk_hdrs); the usual request and status lines take a short path.
 * Only a line cut by the end of a buffer is copied into the side's line
 * buffer (its start, plus its last 16 bytes in tail when it outgrows the
 * buffer). Bodies are skipped by count; response body bytes that stay
 * inside the body do not enter the engine at all.
 *
 * Each side remembers the last header section it parsed whole (struct
 * trk_memo): the next section that equals it outside the values of fields
 * no rule reads is framed by a compare instead of a parse (trk_memo_try),
 * with the findings the parse gave. A head that matches it before the
 * engine runs (rd_head_memo, wr_head_memo) also skips the engine, and the
 * start line of the last such head is kept byte for byte (struct
 * trk_lmemo, trk_smemo): the same line again is taken from there, a
 * request's with the route the sink gave it (trk_sink.on_again).
 *
 * The read side owns rd and publishes a ring entry as soon as the request
 * line is announced, so a response the server sends before the head is
 * complete (a 431 to an overlong head) is matched to its request; the
 * head-end facts reach the entry later through its atomic xflags. The write
 * side owns wr, takes the oldest entry when a response starts and frees it
 * when the response completes. Requests read while the ring is full are
 * counted (sh.ovf) with only their method kept, 4 bits each in sh.oq (up to
 * OQ_CAP), so their responses are framed right (HEAD, CONNECT, HTTP/0.9)
 * and reported with the method but route _INVALID, in order: once one
 * request went to ovf, later ones follow it there until the write side has
 * drained it. Past OQ_CAP the read side gives up, and the responses to
 * what it no longer reads are framed blind: one that announces a body ends
 * with its head (it may answer a HEAD), and a body that follows is passed
 * over unless it starts like a status line.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* memmem, memrchr */
#endif
#include <stdatomic.h>
#include <string.h>
#ifdef __SSE2__
#include <emmintrin.h>
#endif
#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>
#define TRK_WIDE 1 /* a 32-byte memo compare, for CPUs with AVX2 */
#endif

#include "tracker.h"

enum {
	S_PV2,     /* read side, connection start: PROXY v2 signature or empty lines */
	S_IDLE,    /* between messages: skip empty lines */
	S_START,   /* request or status line */
	S_HDR,     /* header lines */
	S_BODY,    /* Content-Length body: rem bytes */
	S_CSIZE,   /* chunk-size line */
	S_CDATA,   /* chunk data: rem bytes */
	S_CEND,    /* the CRLF after chunk data */
	S_TRAILER, /* trailer lines */
	S_CLOSE,   /* write side: body until the connection ends */
	S_SKIP,    /* rem bytes to pass over (PROXY v2 body, a HEAD response's stray body) */
	S_WAIT,    /* read side: request asked for a tunnel; next bytes decide */
	S_DEAD,
};

/* hf: what the header section said. */
#define HF_CL 0x01u
#define HF_CLBAD 0x02u
#define HF_TE 0x04u
#define HF_CHUNKED 0x08u
#define HF_CLOSE 0x10u
#define HF_KEEP 0x20u
#define HF_UPGRADE 0x40u

/* xflags of a ring entry. */
#define X_HEAD 0x01u
#define X_CONNECT 0x02u
#define X_UPGRADE 0x04u
#define X_CLOSE 0x08u /* the connection ends after this exchange */
#define X_V09 0x10u
#define X_UNANN 0x20u /* on_request not called yet (unparsable request) */
#define X_BLIND 0x40u /* write side only: answers a request nobody read (see wr_take) */

/* Where the request being read or answered lives. */
enum { K_NONE, K_RING, K_OVF, K_ORPHAN };

/* Overflow queue: entries of 4 bits in sh.oq, a method or OQ_V09. */
#define OQ_CAP 64
#define OQ_V09 15u /* GET over HTTP/0.9 */
_Static_assert(OQ_CAP == 16 * sizeof(((struct trk_conn *)0)->sh.oq) / sizeof(uint64_t), "oq holds OQ_CAP nibbles");
_Static_assert(TRK_M_COUNT <= OQ_V09, "methods fit in 4 bits");

/* trk_side.over */
#define TRK_OVER 0x01u       /* the held line outgrew the line buffer */
#define TRK_OVER_COLON 0x02u /* and a colon was among the bytes not kept */

/* rd.s.misc */
#define RM_SEEN 0x01u  /* a request line was seen: no more protocol sniffing */
#define RM_PROXY 0x02u /* PROXY v1 line already skipped */

/* wr.s.misc */
#define WM_CUR 0x01u      /* wr holds the request being answered */
#define WM_CLOSE 0x02u    /* the connection ends after this response */
#define WM_DISCARD 0x04u  /* the chunked body being skipped belongs to no exchange */
#define WM_HBCHUNK 0x08u  /* the last HEAD response announced a chunked body */

_Static_assert(sizeof(struct trk_conn) <= 1600, "trk_conn must stay within 25 cache lines");

static const char trk_names[TRK_M_COUNT][8] = {
	"_OTHER", "GET", "HEAD", "POST", "PUT", "DELETE", "CONNECT", "OPTIONS", "TRACE", "PATCH",
};

const char *trk_method_name(unsigned m)
{
	return trk_names[m < TRK_M_COUNT ? m : TRK_M_OTHER];
}

/* RFC 9110 tchar. */
static const unsigned char trk_tchar[256] = {
	['!'] = 1, ['#'] = 1, ['$'] = 1, ['%'] = 1, ['&'] = 1, ['\''] = 1, ['*'] = 1, ['+'] = 1,
	['-'] = 1, ['.'] = 1, ['^'] = 1, ['_'] = 1, ['`'] = 1, ['|'] = 1, ['~'] = 1,
	['0' ... '9'] = 1, ['A' ... 'Z'] = 1, ['a' ... 'z'] = 1,
};

static const unsigned char trk_pv2_sig[12] = {
	0x0D, 0x0A, 0x0D, 0x0A, 0x00, 0x0D, 0x0A, 0x51, 0x55, 0x49, 0x54, 0x0A,
};

#ifdef TRK_WIDE
/* 1: the CPU has AVX2 and long sections are compared 32 bytes at a time;
 * 0: 16 at a time; -1: not known yet (trk_init asks the CPU). */
static _Atomic int trk_wide = -1;
#endif

void trk_init(struct trk_conn *c)
{
#ifdef TRK_WIDE
	if (atomic_load_explicit(&trk_wide, memory_order_relaxed) < 0)
		trk_set_wide(-1);
#endif
	memset(c, 0, sizeof *c);
	c->rd.s.state = S_PV2;
	c->wr.s.state = S_IDLE;
}

int trk_idle(const struct trk_conn *c)
{
	return atomic_load_explicit(&c->sh.stop, memory_order_acquire) != 0;
}

static void trk_stop(struct trk_conn *c)
{
	atomic_store_explicit(&c->sh.stop, 1, memory_order_release);
}

static int trk_stopped(struct trk_conn *c)
{
	return atomic_load_explicit(&c->sh.stop, memory_order_acquire) != 0;
}

/* ---- small text helpers ---- */

static inline uint64_t trk_ld8(const char *p)
{
	uint64_t x;
	memcpy(&x, p, 8);
	return x;
}

static inline uint32_t trk_ld4(const char *p)
{
	uint32_t x;
	memcpy(&x, p, 4);
	return x;
}

/* The 8 (4) bytes at p equal the lowercase lit ignoring ASCII case, the same
 * fold as trk_ieq: every byte is OR-ed with 0x20. */
static inline int trk_ieq8(const char *p, const char *lit)
{
	return (trk_ld8(p) | 0x2020202020202020ull) == trk_ld8(lit);
}

static inline int trk_ieq4(const char *p, const char *lit)
{
	return (trk_ld4(p) | 0x20202020u) == trk_ld4(lit);
}

/* a equals lower ignoring ASCII case (lower is lowercase). */
static int trk_ieq(const char *a, const char *lower, size_t n)
{
	for (; n >= 8; n -= 8, a += 8, lower += 8)
		if (!trk_ieq8(a, lower))
			return 0;
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)(a[i] | 0x20) != (unsigned char)lower[i])
			return 0;
	return 1;
}

static inline int trk_ows(char ch)
{
	return ch == ' ' || ch == '\t';
}

static inline void trk_trim(const char **v, const char **e)
{
	while (*v < *e && trk_ows(**v))
		(*v)++;
	while (*e > *v && (trk_ows((*e)[-1]) || (*e)[-1] == '\r'))
		(*e)--;
}

/* Line scanning, 16 bytes at a time. trk_block gives the bit masks of the
 * bytes equal to a, and equal to b1 or b2, among the bytes p..e (at most 16
 * of them; bit i is p[i]). lo..hi is the readable buffer holding p..e: a
 * block is loaded whole from p when it fits before hi, else as the 16 bytes
 * ending at hi when those lie inside the buffer, so no load reaches past hi
 * or before lo. a, b1, b2 are never NUL. */
static inline void trk_block(const char *p, const char *e, const char *lo, const char *hi, char a, char b1,
			     char b2, unsigned *ma, unsigned *mb)
{
	size_t left = (size_t)(e - p);
#ifdef __SSE2__
	__m128i v;
	if (left >= 16) {
		v = _mm_loadu_si128((const __m128i *)(const void *)p);
		__m128i y = _mm_cmpeq_epi8(v, _mm_set1_epi8(b1));
		if (b2 != b1)
			y = _mm_or_si128(y, _mm_cmpeq_epi8(v, _mm_set1_epi8(b2)));
		*ma = (unsigned)_mm_movemask_epi8(_mm_cmpeq_epi8(v, _mm_set1_epi8(a)));
		*mb = (unsigned)_mm_movemask_epi8(y);
		return;
	}
	unsigned lim = (1u << left) - 1, sh = 0;
	if (hi - p >= 16) {
		v = _mm_loadu_si128((const __m128i *)(const void *)p);
	} else if (hi - lo >= 16) {
		v = _mm_loadu_si128((const __m128i *)(const void *)(hi - 16));
		sh = 16 - (unsigned)(hi - p);
	} else {
		char tmp[16] = { 0 };
		memcpy(tmp, p, left);
		v = _mm_loadu_si128((const __m128i *)(const void *)tmp);
	}
	__m128i y = _mm_cmpeq_epi8(v, _mm_set1_epi8(b1));
	if (b2 != b1)
		y = _mm_or_si128(y, _mm_cmpeq_epi8(v, _mm_set1_epi8(b2)));
	*ma = ((unsigned)_mm_movemask_epi8(_mm_cmpeq_epi8(v, _mm_set1_epi8(a))) >> sh) & lim;
	*mb = ((unsigned)_mm_movemask_epi8(y) >> sh) & lim;
#else
	unsigned x = 0, y = 0, lim = left >= 16 ? 0xffffu : (1u << left) - 1;
	(void)lo;
	(void)hi;
	if (left > 16)
		left = 16;
	for (unsigned i = 0; i < left; i++) {
		x |= (unsigned)(p[i] == a) << i;
		y |= (unsigned)(p[i] == b1 || p[i] == b2) << i;
	}
	*ma = x & lim;
	*mb = y & lim;
#endif
}

/* The first a in p..e (NULL if none); *bf: the first b1 or b2 before it.
 * lo..hi as for trk_block. */
static inline const char *trk_scan(const char *p, const char *e, const char *lo, const char *hi, char a, char b1,
				   char b2, const char **bf)
{
	const char *f = NULL;
	for (; p < e; p += 16) {
		unsigned ma, mb;
		trk_block(p, e, lo, hi, a, b1, b2, &ma, &mb);
		if (ma) {
			unsigned k = (unsigned)__builtin_ctz(ma);
			mb &= (1u << k) - 1;
			if (!f && mb)
				f = p + __builtin_ctz(mb);
			*bf = f;
			return p + k;
		}
		if (!f && mb)
			f = p + __builtin_ctz(mb);
	}
	*bf = f;
	return NULL;
}

/* The first '\n' in p..e (NULL if none); lo as for trk_block. A start
 * line usually ends within 32 bytes: two loads settle it. */
static inline const char *trk_find_nl(const char *p, const char *e, const char *lo)
{
	const char *f;
#ifdef __SSE2__
	if (e - p >= 32) {
		const __m128i cn = _mm_set1_epi8('\n');
		uint32_t m = (uint32_t)_mm_movemask_epi8(
				     _mm_cmpeq_epi8(_mm_loadu_si128((const __m128i *)(const void *)p), cn)) |
			     (uint32_t)_mm_movemask_epi8(
				     _mm_cmpeq_epi8(_mm_loadu_si128((const __m128i *)(const void *)(p + 16)), cn))
				     << 16;
		if (m)
			return p + __builtin_ctz(m);
		return trk_scan(p + 32, e, lo, e, '\n', '\n', '\n', &f);
	}
#endif
	return trk_scan(p, e, lo, e, '\n', '\n', '\n', &f);
}

/* Calls back for each comma-separated token of v..e, trimmed; returns the
 * bit set of tokens found among close / keep-alive / chunked(last). */
static unsigned trk_tokens(const char *v, const char *e, int *last_chunked)
{
	unsigned f = 0;
	int lc = 0;
	while (v < e) {
		const char *c = memchr(v, ',', (size_t)(e - v));
		const char *te = c ? c : e;
		const char *tv = v;
		trk_trim(&tv, &te);
		size_t n = (size_t)(te - tv);
		if (n) {
			lc = n == 7 && trk_ieq(tv, "chunked", 7);
			if (n == 5 && trk_ieq(tv, "close", 5))
				f |= HF_CLOSE;
			else if (n == 10 && trk_ieq(tv, "keep-alive", 10))
				f |= HF_KEEP;
		}
		v = c ? c + 1 : e;
	}
	if (last_chunked)
		*last_chunked = lc;
	return f;
}

/* The value v..e of a Content-Length field. */
static inline void trk_content_length(struct trk_side *sd, const char *v, const char *e, int over)
{
	/* the usual value: one space, at most 18 digits (no overflow), the end */
	if (!over && e - v >= 2 && e - v <= 19 && *v == ' ') {
		uint64_t x = 0;
		const char *q = v + 1;
		while (q < e && (unsigned)(*q - '0') < 10)
			x = x * 10 + (uint64_t)(*q++ - '0');
		if (q == e) {
			if ((sd->hf & HF_CL) && sd->cl != x)
				sd->hf |= HF_CLBAD;
			sd->hf |= HF_CL;
			sd->cl = x;
			return;
		}
	}
	trk_trim(&v, &e);
	uint64_t x = 0;
	int ok = v < e && !over;
	for (const char *q = v; ok && q < e; q++) {
		if (*q < '0' || *q > '9' || x > (UINT64_MAX >> 4) / 10)
			ok = 0;
		else
			x = x * 10 + (uint64_t)(*q - '0');
	}
	if (!ok || ((sd->hf & HF_CL) && sd->cl != x))
		sd->hf |= HF_CLBAD;
	sd->hf |= HF_CL;
	sd->cl = x;
}

static void trk_transfer_encoding(struct trk_side *sd, const char *v, const char *e, const char *tl, size_t tn,
				  int over)
{
	int lc;
	if (over) {
		/* only the last coding decides the framing */
		const char *ts = tl, *tq = tl + tn;
		const char *cm = memrchr(ts, ',', tn);
		const char *sp = memrchr(ts, ' ', tn);
		if (cm && (!sp || cm > sp))
			sp = cm;
		trk_tokens(sp ? sp + 1 : ts, tq, &lc);
	} else {
		trk_tokens(v, e, &lc);
	}
	sd->hf |= HF_TE;
	sd->hf = (uint8_t)(lc ? (sd->hf | HF_CHUNKED) : (sd->hf & ~HF_CHUNKED));
}

static inline void trk_connection(struct trk_side *sd, const char *v, const char *e, const char *tl, size_t tn,
				  int over)
{
	/* the usual value: one space and keep-alive, the end */
	if (!over && e - v == 11 && *v == ' ' && trk_ieq8(v + 1, "keep-ali") && trk_ieq8(v + 3, "ep-alive")) {
		sd->hf |= HF_KEEP;
		return;
	}
	trk_trim(&v, &e);
	if (e - v == 10 && trk_ieq8(v, "keep-ali") && trk_ieq8(v + 2, "ep-alive"))
		sd->hf |= HF_KEEP;
	else if (e - v == 5 && trk_ieq4(v, "clos") && (v[4] | 0x20) == 'e')
		sd->hf |= HF_CLOSE;
	else
		sd->hf |= (uint8_t)trk_tokens(v, e, NULL);
	if (over)
		sd->hf |= (uint8_t)trk_tokens(tl, tl + tn, NULL);
}

/* A header line l..n (no CR/LF) whose first ':' is colon (NULL: none). For
 * a line that outgrew the buffer, l..n is its start and tl..tn its last
 * bytes. Names are told apart by length first: most lines cost a switch.
 * Returns -1 for a line that is not a field. */
static inline int trk_hdr(struct trk_side *sd, const char *l, size_t n, const char *colon, const char *tl,
			  size_t tn, int over)
{
	if (!colon || colon == l)
		return trk_ows(l[0]) ? 0 : -1; /* obsolete line folding, or not a field */
	const char *v = colon + 1, *e = l + n;
	switch (colon - l) {
	case 14:
		if (trk_ieq8(l, "content-") && trk_ieq8(l + 6, "t-length"))
			trk_content_length(sd, v, e, over);
		break;
	case 17:
		if (trk_ieq8(l, "transfer") && trk_ieq8(l + 8, "-encodin") && (l[16] | 0x20) == 'g')
			trk_transfer_encoding(sd, v, e, tl, tn, over);
		break;
	case 10:
		if (trk_ieq8(l, "connecti") && trk_ieq8(l + 2, "nnection"))
			trk_connection(sd, v, e, tl, tn, over);
		break;
	case 7:
		if (trk_ieq4(l, "upgr") && trk_ieq4(l + 3, "rade"))
			sd->hf |= HF_UPGRADE;
		break;
	}
	return 0;
}

static int trk_field(struct trk_side *sd, const char *l, size_t n, const char *tl, size_t tn, int over)
{
	const char *col = memchr(l, ':', n);
	if (!col && (over & TRK_OVER_COLON))
		return 0; /* the first colon lies past the kept start: a long name, of no interest */
	return trk_hdr(sd, l, n, col, tl, tn, over);
}

/* "HTTP/1.x": returns the minor version (capped at 1), -2 for HTTP/2.0, -1 otherwise. */
static inline int trk_version(const char *v, size_t n)
{
	if (n == 8 && trk_ld8(v) == trk_ld8("HTTP/1.1"))
		return 1;
	if (n != 8 || memcmp(v, "HTTP/", 5) != 0 || v[6] != '.' || v[7] < '0' || v[7] > '9')
		return -1;
	if (v[5] == '1')
		return v[7] == '0' ? 0 : 1;
	if (v[5] == '2' && v[7] == '0')
		return -2;
	return -1;
}

static unsigned trk_method_of(const char *m, size_t n)
{
	switch (n) {
	case 3:
		if (!memcmp(m, "GET", 3))
			return TRK_M_GET;
		if (!memcmp(m, "PUT", 3))
			return TRK_M_PUT;
		break;
	case 4:
		if (!memcmp(m, "HEAD", 4))
			return TRK_M_HEAD;
		if (!memcmp(m, "POST", 4))
			return TRK_M_POST;
		break;
	case 5:
		if (!memcmp(m, "PATCH", 5))
			return TRK_M_PATCH;
		if (!memcmp(m, "TRACE", 5))
			return TRK_M_TRACE;
		break;
	case 6:
		if (!memcmp(m, "DELETE", 6))
			return TRK_M_DELETE;
		break;
	case 7:
		if (!memcmp(m, "OPTIONS", 7))
			return TRK_M_OPTIONS;
		if (!memcmp(m, "CONNECT", 7))
			return TRK_M_CONNECT;
		break;
	}
	return TRK_M_OTHER;
}

/* ---- the read side ---- */

static void rd_done(struct trk_conn *c)
{
	c->rd.s.state = S_DEAD;
	atomic_store_explicit(&c->sh.rd_done, 1, memory_order_release);
}

/* The read side gave up because more requests waited than it keeps: the
 * requests it no longer reads are well-formed ones, so the write side frames
 * their responses blind (wr_take). */
static void rd_swamped(struct trk_conn *c)
{
	c->rd.s.state = S_DEAD;
	atomic_store_explicit(&c->sh.rd_done, 2, memory_order_release);
}

/* Reserves the ring slot for the request just started, or sends it to ovf
 * (kind K_NONE when that is full too). Returns the slot or NULL. */
static inline struct trk_pend *rd_slot(struct trk_conn *c)
{
	uint32_t h = atomic_load_explicit(&c->rd.head, memory_order_relaxed);
	uint32_t t = atomic_load_explicit(&c->wr.tail, memory_order_acquire);
	uint32_t o = atomic_load_explicit(&c->sh.ovf, memory_order_acquire);
	if (h - t >= TRK_PENDING || o != 0) {
		c->rd.kind = o >= OQ_CAP ? K_NONE : K_OVF;
		return NULL;
	}
	c->rd.kind = K_RING;
	return &c->ring[h % TRK_PENDING];
}

/* Publishes the slot rd_slot reserved, with the xflags known so far. */
static inline void rd_publish(struct trk_conn *c)
{
	if (c->rd.kind == K_RING) {
		uint32_t h = atomic_load_explicit(&c->rd.head, memory_order_relaxed);
		struct trk_pend *p = &c->ring[h % TRK_PENDING];
		atomic_store_explicit(&p->xflags, c->rd.xflags, memory_order_relaxed);
		atomic_store_explicit(&p->req_body, 0, memory_order_relaxed);
		atomic_store_explicit(&c->rd.head, h + 1, memory_order_release);
	} else if (c->rd.kind == K_OVF) {
		/* only the read side writes oq; the write side reads an entry
		 * after the ovf increment that covers it (release/acquire) and
		 * frees it by the decrement */
		unsigned i = c->sh.ovw, sh = i % 16 * 4;
		uint64_t code = (c->rd.xflags & X_V09) ? OQ_V09 : c->rd.method;
		uint64_t w = atomic_load_explicit(&c->sh.oq[i / 16], memory_order_relaxed);
		atomic_store_explicit(&c->sh.oq[i / 16], (w & ~(0xfull << sh)) | code << sh, memory_order_relaxed);
		c->sh.ovw = (uint8_t)((i + 1) % OQ_CAP);
		atomic_fetch_add_explicit(&c->sh.ovf, 1, memory_order_acq_rel);
	}
}

/* The head of the published request ended: its final xflags. The write side
 * may have taken (even freed) the entry already; it then keeps the flags it
 * saw, and a freed slot is only rewritten by the next rd_publish. */
static inline void rd_settle(struct trk_conn *c)
{
	if (c->rd.kind == K_RING) {
		uint32_t h = atomic_load_explicit(&c->rd.head, memory_order_relaxed);
		atomic_store_explicit(&c->ring[(h - 1) % TRK_PENDING].xflags, c->rd.xflags, memory_order_release);
	}
}

/* Body bytes of the published request so far. */
static inline void rd_body_note(struct trk_conn *c)
{
	if (c->rd.kind == K_RING) {
		uint32_t h = atomic_load_explicit(&c->rd.head, memory_order_relaxed);
		atomic_store_explicit(&c->ring[(h - 1) % TRK_PENDING].req_body, c->rd.s.body,
				      memory_order_relaxed);
	}
}

/* An unparsable request line: counted now, reported when answered. */
static void rd_invalid(struct trk_conn *c, unsigned method, const struct trk_sink *s)
{
	s->on_error(s->ctx);
	struct trk_pend *p = rd_slot(c);
	if (p) {
		p->t_start = c->rd.s.t_mark;
		p->method = (uint8_t)method;
		p->flags = TRK_R_INVALID;
		p->tag = 0;
	}
	c->rd.method = (uint8_t)method;
	c->rd.xflags = X_UNANN | X_CLOSE;
	rd_publish(c);
	rd_done(c);
}

static void rd_unsupported(struct trk_conn *c, unsigned reason, const struct trk_sink *s)
{
	s->on_unsupported(s->ctx, reason);
	c->rd.s.state = S_DEAD;
	trk_stop(c);
}

/* A parsed request line: announce it and start its header section. With
 * again, the line is the one the read side's line memo holds. Returns the
 * tag as the sink gave it, TRK_TAG_ONCE when none was asked for. */
static inline __attribute__((always_inline)) uint32_t rd_announce(struct trk_conn *c, unsigned m, const char *path,
							      size_t len, unsigned flags, int ver,
							      const struct trk_lmemo *again,
							      const struct trk_sink *s)
{
	struct trk_side *sd = &c->rd.s;
	struct trk_pend *p = rd_slot(c);
	uint32_t tag = TRK_TAG_ONCE;
	if (c->rd.kind == K_NONE) {
		/* more requests ahead of their responses than the tracker keeps */
		s->on_error(s->ctx);
		rd_swamped(c);
		return tag;
	}
	c->rd.method = (uint8_t)m;
	c->rd.flags = (uint8_t)flags;
	c->rd.xflags = m == TRK_M_GET ? 0 : (uint8_t)((m == TRK_M_HEAD ? X_HEAD : 0) | (m == TRK_M_CONNECT ? X_CONNECT : 0));
	sd->ver = (uint8_t)ver;
	sd->hf = 0;
	sd->cl = 0;
	sd->body = 0;
	if (ver == 9)
		c->rd.xflags |= X_V09 | X_CLOSE;
	/* the sink last: little has to live across its call */
	if (p) {
		p->t_start = sd->t_mark;
		p->method = (uint8_t)m;
		p->flags = (uint8_t)flags;
		tag = again && s->on_again ? s->on_again(s->ctx, again->tag)
					   : s->on_request(s->ctx, m, path, len, flags);
		p->tag = tag & ~TRK_TAG_ONCE;
	}
	rd_publish(c);
	if (c->rd.xflags & X_V09) {
		rd_done(c);
		return tag;
	}
	sd->state = S_HDR;
	return tag;
}

/* The usual request line, whole in the caller's buffer lo..hi: a known
 * method other than CONNECT, one space, an origin-form target, one
 * space, "HTTP/1.0" or "HTTP/1.1". l..n has no line end. Fills in *r and
 * returns 0, or returns -1 to leave the line to rd_start_line, which gives
 * the same result for every line accepted here. */
struct rd_rline {
	const char *path;
	size_t len;
	unsigned method, flags;
	int ver;
};

static inline __attribute__((always_inline)) int rd_rline_fast(const char *l, size_t n, const char *lo, const char *hi,
							    struct rd_rline *r)
{
	if (n < 14 || l[n - 9] != ' ' || l[n - 10] == ' ')
		return -1;
	uint64_t vw = trk_ld8(l + n - 8);
	if (vw == trk_ld8("HTTP/1.1"))
		r->ver = 1;
	else if (vw == trk_ld8("HTTP/1.0"))
		r->ver = 0;
	else
		return -1;
	const char *t;
	if (trk_ld4(l) == trk_ld4("GET ")) {
		r->method = TRK_M_GET;
		t = l + 4;
	} else {
		size_t ml = 0;
		while (ml < 8 && l[ml] != ' ')
			ml++;
		r->method = trk_method_of(l, ml);
		if (r->method == TRK_M_OTHER || r->method == TRK_M_CONNECT)
			return -1;
		t = l + ml + 1;
	}
	const char *ve = l + n - 9, *qh;
	if (t >= ve || *t != '/' || trk_scan(t, ve, lo, hi, ' ', '?', '#', &qh))
		return -1;
	const char *pe = qh ? qh : ve;
	r->flags = 0;
	if (pe - t > TRK_PATH_MAX) {
		pe = t + TRK_PATH_MAX;
		r->flags = TRK_R_TRUNCATED;
	}
	r->path = t;
	r->len = (size_t)(pe - t);
	return 0;
}

/* The usual request line (rd_rline_fast) announced; -1: not handled. */
static inline int rd_start_fast(struct trk_conn *c, const char *l, size_t n, const char *lo, const char *hi,
				const struct trk_sink *s)
{
	struct rd_rline r;
	if (rd_rline_fast(l, n, lo, hi, &r) < 0)
		return -1;
	c->rd.s.misc |= RM_SEEN;
	rd_announce(c, r.method, r.path, r.len, r.flags, r.ver, NULL, s);
	return 0;
}

/* The request line. l..n has no line end; an overlong line keeps its end in
 * the side's tail. */
static void rd_start_line(struct trk_conn *c, const char *l, size_t n, int over, const struct trk_sink *s)
{
	struct trk_side *sd = &c->rd.s;
	const char *tl = sd->tail;
	size_t tn = sd->tlen;
	if (over) {
		while (tn && (tl[tn - 1] == '\r' || trk_ows(tl[tn - 1])))
			tn--;
	} else {
		while (n && (l[n - 1] == '\r' || trk_ows(l[n - 1])))
			n--;
	}
	if (!(sd->misc & (RM_SEEN | RM_PROXY)) && n >= 6 && !memcmp(l, "PROXY ", 6)) {
		sd->misc |= RM_PROXY;
		sd->state = S_IDLE;
		return;
	}
	const char *e = l + n;
	const char *sp = memchr(l, ' ', n);
	size_t ml = sp ? (size_t)(sp - l) : n;
	unsigned m = trk_method_of(l, ml);
	int tok = ml > 0;
	if (m == TRK_M_OTHER)
		for (size_t i = 0; i < ml && tok; i++)
			tok = trk_tchar[(unsigned char)l[i]];
	if (!sp || !tok) {
		rd_invalid(c, tok ? m : TRK_M_OTHER, s);
		return;
	}
	const char *t = sp;
	while (t < e && *t == ' ')
		t++;
	const char *te = memchr(t, ' ', (size_t)(e - t));
	int cut = 0; /* the target ran past the kept start of the line */
	const char *v = NULL;
	size_t vn = 0;
	if (!te) {
		te = e;
		cut = over;
	} else if (!over) {
		v = te;
		while (v < e && *v == ' ')
			v++;
		vn = (size_t)(e - v);
	} else {
		/* the target ended inside the kept start of an overlong line:
		 * only spaces and the start of the version may follow it there */
		const char *q = te;
		while (q < e && *q == ' ')
			q++;
		size_t r = (size_t)(e - q);
		while (r && (q[r - 1] == '\r' || trk_ows(q[r - 1])))
			r--;
		if (r > 8 || memcmp(q, "HTTP/1.", r < 7 ? r : 7) != 0) {
			rd_invalid(c, m, s);
			return;
		}
	}
	if (over) {
		const char *ls = memrchr(tl, ' ', tn);
		if (ls) {
			v = ls + 1;
			vn = (size_t)(tl + tn - v);
		}
	}
	int ver;
	if (v) {
		ver = trk_version(v, vn);
		if (ver == -2 && !(sd->misc & RM_SEEN) && ml == 3 && !memcmp(l, "PRI", 3)) {
			rd_unsupported(c, TRK_U_H2C, s);
			return;
		}
	} else {
		ver = (m == TRK_M_GET && t < te && *t == '/') ? 9 : -1;
	}
	if (ver < 0 || t == te) {
		rd_invalid(c, m, s);
		return;
	}
	sd->misc |= RM_SEEN;

	unsigned flags = 0;
	const char *ps = t, *pe = te;
	if (m == TRK_M_CONNECT) {
		flags |= TRK_R_CONNECT;
		pe = ps;
	} else if (pe - ps == 1 && *ps == '*') {
		flags |= TRK_R_ASTERISK;
	} else {
		if (*ps != '/') {
			const char *ss = memmem(ps, (size_t)(pe - ps), "://", 3);
			if (ss) {
				const char *a = ss + 3;
				while (a < pe && *a != '/' && *a != '?' && *a != '#')
					a++;
				if (a < pe && *a == '/') {
					ps = a;
				} else {
					ps = "/";
					pe = ps + 1;
					cut = 0;
				}
			}
		}
		const char *q = memchr(ps, '?', (size_t)(pe - ps));
		if (q) {
			pe = q;
			cut = 0;
		}
		q = memchr(ps, '#', (size_t)(pe - ps));
		if (q) {
			pe = q;
			cut = 0;
		}
		if (pe - ps > TRK_PATH_MAX) {
			pe = ps + TRK_PATH_MAX;
			cut = 1;
		}
		if (cut)
			flags |= TRK_R_TRUNCATED;
	}
	rd_announce(c, m, ps, (size_t)(pe - ps), flags, ver, NULL, s);
}

/* After the request's last body byte. */
static inline void rd_msg_end(struct trk_conn *c)
{
	if (c->rd.s.body)
		rd_body_note(c); /* rd_publish wrote 0 */
	uint8_t x = c->rd.xflags;
	if (x & X_CLOSE) {
		rd_done(c);
	} else if (x & (X_UPGRADE | X_CONNECT)) {
		c->rd.s.state = S_WAIT;
		c->rd.s.rem = atomic_load_explicit(&c->rd.head, memory_order_relaxed);
	} else {
		c->rd.s.state = S_IDLE;
	}
}

/* Empty line ending the request head: decide the body (RFC 9112 6.3). */
static inline __attribute__((always_inline)) void rd_head_end(struct trk_conn *c, const struct trk_sink *s)
{
	struct trk_side *sd = &c->rd.s;
	uint8_t hf = sd->hf;
	int bad = 0;
	sd->state = S_IDLE;
	/* The common request first: no body, no upgrade, kept alive. Its flags
	 * stay as rd_publish gave them to the ring slot: nothing to settle. */
	if (__builtin_expect(!(hf & (HF_CL | HF_CLBAD | HF_TE | HF_UPGRADE)) &&
				     !(c->rd.xflags & X_CONNECT) &&
				     (sd->ver == 1 ? !(hf & HF_CLOSE) : (hf & HF_KEEP)),
			     1))
		return;
	if (sd->ver == 1 ? (hf & HF_CLOSE) : !(hf & HF_KEEP))
		c->rd.xflags |= X_CLOSE;
	if (hf & HF_UPGRADE)
		c->rd.xflags |= X_UPGRADE;
	if (hf & HF_TE) {
		if (!(hf & HF_CHUNKED)) {
			s->on_error(s->ctx);
			c->rd.xflags |= X_CLOSE;
			rd_settle(c);
			rd_done(c);
			return;
		}
		if (hf & HF_CL)
			bad = 1;
		sd->state = S_CSIZE;
	} else if (hf & HF_CLBAD) {
		s->on_error(s->ctx);
		c->rd.xflags |= X_CLOSE;
		rd_settle(c);
		rd_done(c);
		return;
	} else if ((hf & HF_CL) && sd->cl) {
		sd->rem = sd->cl;
		sd->state = S_BODY;
	}
	if (bad) {
		s->on_error(s->ctx);
		c->rd.xflags |= X_CLOSE;
	}
	rd_settle(c);
	if (sd->state == S_IDLE)
		rd_msg_end(c);
}

/* ---- the write side ---- */

/* The overflow queue's entry i (the read side published it). */
static inline unsigned wr_ovf_code(const struct trk_conn *c, unsigned i)
{
	return (unsigned)(atomic_load_explicit(&c->sh.oq[i / 16], memory_order_relaxed) >> (i % 16 * 4)) & 0xfu;
}

/* The oldest request without a response, when a response starts. */
/* The time of a write-side event: the caller's now, or when the caller
 * passed 0 (the shim does on writes, most of which complete nothing) the
 * sink's clock, read only when the time is needed. */
static inline uint64_t trk_clock(uint64_t now, const struct trk_sink *s)
{
	if (__builtin_expect(now != 0, 1) || !s->now)
		return now;
	return s->now(s->ctx);
}

static inline __attribute__((always_inline)) void wr_take(struct trk_conn *c, uint64_t now, const struct trk_sink *s)
{
	uint32_t t = atomic_load_explicit(&c->wr.tail, memory_order_relaxed);
	uint32_t h = atomic_load_explicit(&c->rd.head, memory_order_acquire);
	if (h != t) {
		const struct trk_pend *p = &c->ring[t % TRK_PENDING];
		c->wr.kind = K_RING;
		c->wr.tag = p->tag;
		c->wr.method = p->method;
		c->wr.flags = p->flags;
		c->wr.xflags = atomic_load_explicit(&p->xflags, memory_order_acquire);
		c->wr.t_start = p->t_start;
	} else {
		c->wr.method = TRK_M_OTHER;
		/* After the read side was swamped by pipelined requests, their
		 * methods are unknown and a HEAD among them announces a body it
		 * never sends: such a response ends with its head, and a body
		 * that follows is passed over (as for HEAD, see S_IDLE). */
		c->wr.xflags = atomic_load_explicit(&c->sh.rd_done, memory_order_acquire) == 2 ? X_UNANN | X_BLIND
											       : X_UNANN;
		c->wr.kind = K_ORPHAN;
		if (atomic_load_explicit(&c->sh.ovf, memory_order_acquire)) {
			unsigned code = wr_ovf_code(c, c->wr.ovr);
			c->wr.kind = K_OVF;
			c->wr.method = (uint8_t)(code == OQ_V09 ? TRK_M_GET : code);
			c->wr.xflags = (uint8_t)(X_UNANN | (code == TRK_M_HEAD ? X_HEAD : 0) |
						 (code == TRK_M_CONNECT ? X_CONNECT : 0) | (code == OQ_V09 ? X_V09 : 0));
		}
		c->wr.flags = TRK_R_INVALID;
		c->wr.t_start = trk_clock(now, s);
		s->on_error(s->ctx);
	}
	if (c->wr.xflags & X_UNANN) {
		c->wr.flags |= TRK_R_INVALID;
		c->wr.tag = s->on_request(s->ctx, c->wr.method, "", 0, c->wr.flags) & ~TRK_TAG_ONCE;
	}
	c->wr.s.misc |= WM_CUR;
	c->wr.s.misc &= (uint8_t)~WM_CLOSE;
	c->wr.status = 0;
	c->wr.s.body = 0;
}

static inline void wr_report(struct trk_conn *c, uint64_t t_end, unsigned xflags, const struct trk_sink *s)
{
	struct trk_exchange x;
	uint32_t t = atomic_load_explicit(&c->wr.tail, memory_order_relaxed);
	x.tag = c->wr.tag;
	x.method = c->wr.method;
	x.flags = (uint8_t)(c->wr.flags | xflags);
	x.status = c->wr.status;
	x.req_body = c->wr.kind == K_RING
			     ? atomic_load_explicit(&c->ring[t % TRK_PENDING].req_body, memory_order_relaxed)
			     : 0;
	x.resp_body = c->wr.s.body;
	x.t_start = c->wr.t_start;
	x.t_end = trk_clock(t_end, s);
	s->on_exchange(s->ctx, &x);
	if (c->wr.kind == K_RING)
		atomic_store_explicit(&c->wr.tail, t + 1, memory_order_release);
	else if (c->wr.kind == K_OVF) {
		c->wr.ovr = (uint8_t)((c->wr.ovr + 1) % OQ_CAP);
		atomic_fetch_sub_explicit(&c->sh.ovf, 1, memory_order_acq_rel);
	}
	c->wr.kind = K_NONE;
	c->wr.s.misc &= (uint8_t)~WM_CUR;
}

/* The response's last byte went out at now. Only the response's own framing
 * ends the write side: a server may answer what follows a request it found
 * malformed (Python's http.server sends a 400 for the leftover bytes), and
 * those responses are counted as orphans. */
static inline void wr_complete(struct trk_conn *c, uint64_t now, const struct trk_sink *s)
{
	int close = (c->wr.s.misc & WM_CLOSE) != 0;
	wr_report(c, now, 0, s);
	c->wr.s.state = S_IDLE;
	if (close)
		trk_stop(c);
}

static inline void wr_msg_end(struct trk_conn *c, uint64_t now, const struct trk_sink *s)
{
	if (c->wr.s.misc & WM_DISCARD) {
		c->wr.s.misc &= (uint8_t)~WM_DISCARD;
		c->wr.s.state = S_IDLE;
		return;
	}
	wr_complete(c, now, s);
}

/* The write side lost the stream: what is pending ends with the connection. */
static void wr_lost(struct trk_conn *c, const struct trk_sink *s)
{
	s->on_error(s->ctx);
	c->wr.s.state = S_DEAD;
	trk_stop(c);
}

/* p..e could start a status line: the bytes there, up to 7, match "HTTP/1.". */
static inline int wr_status_prefix(const char *p, const char *e)
{
	size_t n = (size_t)(e - p) < 7 ? (size_t)(e - p) : 7;
	return memcmp(p, "HTTP/1.", n) == 0;
}

/* The usual status line: "HTTP/1.x NNN" then a space or the end. Returns
 * 0 when it was handled, -1 to leave it to wr_status_line, which gives the
 * same result for every line handled here. */
static inline int wr_sline_fast(const char *l, size_t n, unsigned *status, unsigned *ver)
{
	if (n < 12 || l[8] != ' ' || (n > 12 && l[12] != ' '))
		return -1;
	uint64_t vw = trk_ld8(l);
	unsigned d0 = (unsigned)(l[9] - '1'), d1 = (unsigned)(l[10] - '0'), d2 = (unsigned)(l[11] - '0');
	if ((vw != trk_ld8("HTTP/1.1") && vw != trk_ld8("HTTP/1.0")) || d0 > 8 || d1 > 9 || d2 > 9)
		return -1;
	*status = (d0 + 1) * 100 + d1 * 10 + d2;
	*ver = vw == trk_ld8("HTTP/1.1");
	return 0;
}

/* The usual status line (wr_sline_fast) taken; -1: not handled. */
static inline int wr_status_fast(struct trk_conn *c, const char *l, size_t n)
{
	unsigned st, ver;
	if (wr_sline_fast(l, n, &st, &ver) < 0)
		return -1;
	c->wr.status = (uint16_t)st;
	c->wr.s.ver = (uint8_t)ver;
	c->wr.s.hf = 0;
	c->wr.s.cl = 0;
	c->wr.s.state = S_HDR;
	return 0;
}

static void wr_status_line(struct trk_conn *c, const char *l, size_t n, const struct trk_sink *s)
{
	struct trk_side *sd = &c->wr.s;
	int ver = n >= 8 ? trk_version(l, 8) : -1;
	const char *q = l + 8, *e = l + n;
	if (ver < 0 || q >= e || *q != ' ') {
		wr_lost(c, s);
		return;
	}
	while (q < e && *q == ' ')
		q++;
	if (e - q < 3 || q[0] < '1' || q[0] > '9' || q[1] < '0' || q[1] > '9' || q[2] < '0' || q[2] > '9' ||
	    (e - q > 3 && q[3] != ' ' && q[3] != '\r' && q[3] != '\t')) {
		wr_lost(c, s);
		return;
	}
	c->wr.status = (uint16_t)((q[0] - '0') * 100 + (q[1] - '0') * 10 + (q[2] - '0'));
	sd->ver = (uint8_t)ver;
	sd->hf = 0;
	sd->cl = 0;
	sd->state = S_HDR;
}

static inline __attribute__((always_inline)) void wr_head_end(struct trk_conn *c, uint64_t now, const struct trk_sink *s)
{
	struct trk_side *sd = &c->wr.s;
	unsigned st = c->wr.status;
	uint8_t hf = sd->hf;
	uint8_t x = c->wr.xflags;
	sd->body = 0;
	/* The common response first: a final status and a body of known
	 * length, to a request that is neither HEAD nor CONNECT nor unread. */
	if (__builtin_expect(!(x & (X_HEAD | X_CONNECT | X_BLIND)) && (hf & (HF_CL | HF_CLBAD | HF_TE)) == HF_CL &&
				     sd->cl && st >= 200 && st != 204 && st != 304,
			     1)) {
		if (sd->ver == 1 ? (hf & HF_CLOSE) : !(hf & HF_KEEP))
			sd->misc |= WM_CLOSE;
		sd->rem = sd->cl;
		sd->state = S_BODY;
		return;
	}
	if (st < 200 && st != 101) {
		sd->state = S_IDLE; /* interim: the final response follows */
		return;
	}
	if (st == 101 || ((x & X_CONNECT) && st < 300)) {
		wr_report(c, now, 0, s);
		sd->state = S_DEAD;
		trk_stop(c);
		return;
	}
	if (sd->ver == 1 ? (hf & HF_CLOSE) : !(hf & HF_KEEP))
		sd->misc |= WM_CLOSE;
	int headlike = (x & X_HEAD) ||
		       ((x & X_BLIND) && ((hf & HF_TE) || ((hf & HF_CL) && !(hf & HF_CLBAD))));
	if (headlike || st == 204 || st == 304) {
		c->wr.hb_rem = 0;
		sd->misc &= (uint8_t)~WM_HBCHUNK;
		if (headlike) {
			if (hf & HF_TE)
				sd->misc |= (hf & HF_CHUNKED) ? WM_HBCHUNK : 0;
			else if ((hf & HF_CL) && !(hf & HF_CLBAD))
				c->wr.hb_rem = sd->cl;
		}
		wr_complete(c, now, s);
		return;
	}
	if (hf & HF_TE) {
		if (hf & HF_CL)
			s->on_error(s->ctx);
		sd->state = (hf & HF_CHUNKED) ? S_CSIZE : S_CLOSE;
	} else if (hf & HF_CLBAD) {
		s->on_error(s->ctx);
		sd->state = S_CLOSE;
	} else if (hf & HF_CL) {
		if (!sd->cl) {
			wr_complete(c, now, s);
			return;
		}
		sd->rem = sd->cl;
		sd->state = S_BODY;
	} else {
		sd->state = S_CLOSE;
	}
	if (sd->state == S_CLOSE) {
		sd->misc |= WM_CLOSE;
		sd->t_mark = trk_clock(now, s);
	}
}

/* The request just taken was HTTP/0.9: its answer has no head, all of it
 * is body until the connection ends. Returns nonzero when so. */
static inline int wr_v09_body(struct trk_conn *c, uint64_t now, const struct trk_sink *s)
{
	if (!(c->wr.xflags & X_V09))
		return 0;
	c->wr.status = 200;
	c->wr.s.state = S_CLOSE;
	c->wr.s.misc |= WM_CLOSE;
	c->wr.s.t_mark = trk_clock(now, s);
	return 1;
}

/* ---- the engine ---- */

static int trk_hexval(char ch)
{
	if (ch >= '0' && ch <= '9')
		return ch - '0';
	ch |= 0x20;
	if (ch >= 'a' && ch <= 'f')
		return ch - 'a' + 10;
	return -1;
}

/* A chunk-size line: 1*HEXDIG [ BWS ";" ext ]. Returns -1 if malformed. */
static int trk_chunk_size(struct trk_side *sd, const char *l, size_t n)
{
	uint64_t x = 0;
	size_t i = 0;
	int d;
	while (i < n && (d = trk_hexval(l[i])) >= 0) {
		if (x >> 56)
			return -1;
		x = x << 4 | (uint64_t)d;
		i++;
	}
	if (i == 0)
		return -1;
	while (i < n && trk_ows(l[i]))
		i++;
	if (i < n && l[i] != ';' && l[i] != '\r')
		return -1;
	sd->rem = x;
	return 0;
}

/* One complete line of either side. */
static void trk_line(struct trk_conn *c, int wr, const char *l, size_t n, int over, uint64_t now,
		     const struct trk_sink *s)
{
	struct trk_side *sd = wr ? &c->wr.s : &c->rd.s;
	const char *tl = sd->tail;
	size_t tn = sd->tlen;
	size_t m = n;
	if (over) {
		if (tn && tl[tn - 1] == '\r')
			tn--;
	} else if (m && l[m - 1] == '\r') {
		m--;
	}
	switch (sd->state) {
	case S_START:
		if (wr)
			wr_status_line(c, l, over ? n : m, s);
		else
			rd_start_line(c, l, over ? n : m, over, s);
		break;
	case S_HDR:
		if (m == 0 && !over) {
			if (wr)
				wr_head_end(c, now, s);
			else
				rd_head_end(c, s);
		} else if (trk_field(sd, l, m, tl, tn, over) < 0) {
			s->on_error(s->ctx);
		}
		break;
	case S_CSIZE:
		if (trk_chunk_size(sd, l, m) < 0)
			goto bad;
		sd->state = sd->rem ? S_CDATA : S_TRAILER;
		break;
	case S_CEND:
		if (m != 0 || over)
			goto bad;
		sd->state = S_CSIZE;
		break;
	case S_TRAILER:
		if (m == 0 && !over) {
			if (wr)
				wr_msg_end(c, now, s);
			else
				rd_msg_end(c);
		}
		break;
	}
	return;
bad:
	if (wr) {
		wr_lost(c, s);
	} else {
		s->on_error(s->ctx);
		rd_body_note(c);
		rd_done(c);
	}
}

/* A header line l..q (q: its '\n') whose first colon is col (NULL: none)
 * when the fast loop cannot settle it alone: a name trk_hdr may act on, a
 * colon at the start, no colon at all. */
static inline void trk_hdr_at(struct trk_side *sd, const char *l, const char *q, const char *col,
			      const struct trk_sink *s)
{
	size_t len = (size_t)(q - l);
	if (q[-1] == '\r')
		len--;
	if (trk_hdr(sd, l, len, col, NULL, 0, 0) < 0)
		s->on_error(s->ctx);
}

/* By name length, the first letter (lowercase) of the name trk_hdr acts on
 * that has this length (Upgrade, Connection, Content-Length,
 * Transfer-Encoding); a line with any other name costs no compare at all. */
static const unsigned char trk_namelet[64] = { [7] = 'u', [10] = 'c', [14] = 'c', [17] = 't' };

/* Header lines in place, from the line start p to e (lo: the buffer's
 * start). A line is read from its start with two 16-byte loads (four for a
 * line of 32 to 63 bytes; the masks of the buffer's last 16 bytes, made
 * once, stand in for loads that would pass e); the first bit of the colon
 * and newline masks gives its name's length. Longer lines and buffers
 * shorter than 16 bytes go 16 bytes at a time through trk_block. Returns
 * the start of the empty line ending the head with *nl its '\n', or (*nl
 * NULL) the start of the line e cut. */
static const char *trk_hdrs(struct trk_side *sd, const char *p, const char *e, const char *lo,
			    const struct trk_sink *s, const char **nl)
{
	const char *ls = p;
#ifdef __SSE2__
	const __m128i cn = _mm_set1_epi8('\n'), cc = _mm_set1_epi8(':');
	/* masks of the buffer's last 16 bytes serve every short last block */
	int tail = e - lo >= 16;
	uint32_t tn = 0, tc = 0;
	if (tail) {
		__m128i v = _mm_loadu_si128((const __m128i *)(const void *)(e - 16));
		tn = (uint32_t)_mm_movemask_epi8(_mm_cmpeq_epi8(v, cn));
		tc = (uint32_t)_mm_movemask_epi8(_mm_cmpeq_epi8(v, cc));
	}
#endif
	while (ls < e) {
		size_t k, col;
#ifdef __SSE2__
		uint64_t mn = 0, mc = 0;
		size_t left = (size_t)(e - ls);
		if (left < 32 && tail) {
			if (left >= 16) {
				__m128i v0 = _mm_loadu_si128((const __m128i *)(const void *)ls);
				mn = (uint32_t)_mm_movemask_epi8(_mm_cmpeq_epi8(v0, cn)) | (tn >> (32 - left)) << 16;
				mc = (uint32_t)_mm_movemask_epi8(_mm_cmpeq_epi8(v0, cc)) | (tc >> (32 - left)) << 16;
			} else {
				mn = tn >> (16 - left);
				mc = tc >> (16 - left);
			}
			if (!mn)
				break; /* no newline before e: the line is cut */
		} else if (left >= 32) {
			__m128i v0 = _mm_loadu_si128((const __m128i *)(const void *)ls);
			__m128i v1 = _mm_loadu_si128((const __m128i *)(const void *)(ls + 16));
			mn = (uint32_t)_mm_movemask_epi8(_mm_cmpeq_epi8(v0, cn)) |
			     (uint32_t)_mm_movemask_epi8(_mm_cmpeq_epi8(v1, cn)) << 16;
			mc = (uint32_t)_mm_movemask_epi8(_mm_cmpeq_epi8(v0, cc)) |
			     (uint32_t)_mm_movemask_epi8(_mm_cmpeq_epi8(v1, cc)) << 16;
			if (!mn && e - ls >= 64) {
				/* a longer line (a date, a cookie): two more loads */
				v0 = _mm_loadu_si128((const __m128i *)(const void *)(ls + 32));
				v1 = _mm_loadu_si128((const __m128i *)(const void *)(ls + 48));
				mn = ((uint64_t)(uint32_t)_mm_movemask_epi8(_mm_cmpeq_epi8(v0, cn)) |
				      (uint64_t)(uint32_t)_mm_movemask_epi8(_mm_cmpeq_epi8(v1, cn)) << 16)
				     << 32;
				mc |= ((uint64_t)(uint32_t)_mm_movemask_epi8(_mm_cmpeq_epi8(v0, cc)) |
				       (uint64_t)(uint32_t)_mm_movemask_epi8(_mm_cmpeq_epi8(v1, cc)) << 16)
				      << 32;
			}
		}
		if (mn) {
			k = (unsigned)__builtin_ctzll(mn);
			/* the first colon, or the newline (k) if none comes first */
			col = (unsigned)__builtin_ctzll(mc | mn);
		} else
#endif
		{
			col = SIZE_MAX;
			for (size_t off = 0;; off += 16) {
				unsigned bn, bc;
				if (ls + off >= e) {
					*nl = NULL;
					return ls;
				}
				trk_block(ls + off, e, lo, e, '\n', ':', ':', &bn, &bc);
				if (col == SIZE_MAX && bc)
					col = off + (unsigned)__builtin_ctz(bc);
				if (bn) {
					k = off + (unsigned)__builtin_ctz(bn);
					break;
				}
			}
			if (col >= k) {
				col = k; /* none in the line */
			} else if (col > 63) {
				ls += k + 1; /* a field, past any name of interest */
				continue;
			}
		}
		const char *q = ls + k;
		if (k <= 1 && (k == 0 || *ls == '\r')) {
			*nl = q;
			return ls;
		}
		/* a colon inside the line past its first byte names a field;
		 * only four (length, first letter) pairs need a closer look:
		 * User-Agent, Referer, Set-Cookie and the like need none */
		if (col - 1 >= k - 1 || ((unsigned char)*ls | 0x20) == trk_namelet[col])
			trk_hdr_at(sd, ls, q, col < k ? ls + col : NULL, s);
		ls = q + 1;
	}
	*nl = NULL;
	return ls;
}

/* ---- the header section memo (struct trk_memo) ---- */

/* Keeps the header section p..end (it ends after its empty line), which
 * the line engine just parsed without a callback, with the findings in sd.
 * The bytes that may differ next time are the values of fields no rule
 * looks at (trk_namelet), without a line's CR: they are kept as zeros,
 * which no other byte of a kept section is, so no cookie or credential
 * outlives its request. A section with a line the engine reports or
 * tolerates (no colon, a colon first, folding), a NUL byte, fewer than 16
 * or more than TRK_MEMO bytes is not kept. */
static void trk_memo_keep(struct trk_memo *m, const struct trk_side *sd, const char *p, const char *end)
{
	size_t len = (size_t)(end - p);
	unsigned nls = 0;
	m->len = 0;
	if (len < 16 || len > TRK_MEMO || memchr(p, 0, len))
		return;
	memcpy(m->sec, p, len);
	for (const char *ls = p; ls < end; nls++) {
		const char *q = memchr(ls, '\n', (size_t)(end - ls));
		size_t ll = (size_t)(q - ls);
		if (ll <= 1 && (ll == 0 || *ls == '\r')) {
			nls++;
			break;
		}
		const char *col = memchr(ls, ':', ll);
		if (!col || col == ls)
			return;
		size_t nlen = (size_t)(col - ls);
		if (nlen >= 64 || ((unsigned char)*ls | 0x20) != trk_namelet[nlen]) {
			size_t a = (size_t)(col + 1 - p), b = (size_t)(q - p) - (q[-1] == '\r');
			if (a < b)
				memset(m->sec + a, 0, b - a);
		}
		ls = q + 1;
	}
	m->nls = (uint16_t)nls;
	m->hf = sd->hf;
	m->cl = sd->cl;
	m->len = (uint16_t)len;
}

#ifdef __SSE2__
/* Loaded from 16 - k: lanes k to 15 set, the bytes of the last block that
 * the blocks before it did not cover. */
static const unsigned char trk_lanes_from[32] = {
	0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
	255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255,
};
#endif

#ifdef __SSE2__
/* One block: bad gathers min(a ^ k, k), which is zero exactly where the
 * kept byte is zero (free) or equal; the newlines found are returned as
 * -1 lanes. */
static inline __m128i trk_memo_block(const char *p, const char *k, __m128i *bad)
{
	__m128i a = _mm_loadu_si128((const __m128i *)(const void *)p);
	__m128i kk = _mm_loadu_si128((const __m128i *)(const void *)k);
	*bad = _mm_or_si128(*bad, _mm_min_epu8(_mm_xor_si128(a, kk), kk));
	return _mm_cmpeq_epi8(a, _mm_set1_epi8('\n'));
}

/* The bytes of the kept section from o on, fewer than 32: a block of 16,
 * then the 16 ending at len masked to the bytes not covered yet (len is
 * at least 16). Adds to *bad, returns nl less the newlines found. */
static inline __m128i trk_memo_tail(const struct trk_memo *m, const char *p, size_t o, __m128i *bad,
				    __m128i nl)
{
	size_t len = m->len;
	if (o + 16 <= len) {
		nl = _mm_sub_epi8(nl, trk_memo_block(p + o, m->sec + o, bad));
		o += 16;
	}
	if (o < len) {
		size_t t = len - 16;
		__m128i fresh = _mm_loadu_si128((const __m128i *)(const void *)(trk_lanes_from + 16 - (o - t)));
		nl = _mm_sub_epi8(nl, _mm_and_si128(trk_memo_block(p + t, m->sec + t, bad), fresh));
	}
	return nl;
}
#endif

#ifdef TRK_WIDE
int trk_set_wide(int on)
{
	__builtin_cpu_init();
	int can = __builtin_cpu_supports("avx2") != 0;
	on = on != 0 && can;
	atomic_store_explicit(&trk_wide, on, memory_order_relaxed);
	return on;
}

/* trk_memo_block, 32 bytes wide. */
__attribute__((target("avx2"))) static inline __m256i trk_memo_block32(const char *p, const char *k, __m256i lf,
									  __m256i *bad)
{
	__m256i a = _mm256_loadu_si256((const __m256i *)(const void *)p);
	__m256i kk = _mm256_loadu_si256((const __m256i *)(const void *)k);
	*bad = _mm256_or_si256(*bad, _mm256_min_epu8(_mm256_xor_si256(a, kk), kk));
	return _mm256_cmpeq_epi8(a, lf);
}

/* trk_memo_same for sections of 64 bytes and more, 32 bytes at a time and
 * the rest as trk_memo_same does it. Out of line: the rest of the library
 * is built for any x86-64. */
__attribute__((target("avx2"), noinline)) static int trk_memo_same_wide(const struct trk_memo *m,
									  const char *p)
{
	size_t len = m->len, o = 0;
	const __m256i z = _mm256_setzero_si256(), lf = _mm256_set1_epi8('\n');
	__m256i bad = z, nl = z;
	for (; o + 64 <= len; o += 64) {
		nl = _mm256_sub_epi8(nl, trk_memo_block32(p + o, m->sec + o, lf, &bad));
		nl = _mm256_sub_epi8(nl, trk_memo_block32(p + o + 32, m->sec + o + 32, lf, &bad));
	}
	if (o + 32 <= len) {
		nl = _mm256_sub_epi8(nl, trk_memo_block32(p + o, m->sec + o, lf, &bad));
		o += 32;
	}
	const __m128i z1 = _mm_setzero_si128();
	__m128i bad1 = z1, nl1 = trk_memo_tail(m, p, o, &bad1, z1);
	__m256i sum = _mm256_sad_epu8(nl, z);
	__m128i s1 = _mm_add_epi64(_mm256_castsi256_si128(sum), _mm256_extracti128_si256(sum, 1));
	s1 = _mm_add_epi64(s1, _mm_sad_epu8(nl1, z1));
	unsigned nls = (unsigned)_mm_cvtsi128_si32(s1) + (unsigned)_mm_extract_epi16(s1, 4);
	bad1 = _mm_or_si128(bad1, _mm_or_si128(_mm256_castsi256_si128(bad), _mm256_extracti128_si256(bad, 1)));
	return _mm_movemask_epi8(_mm_cmpeq_epi8(bad1, z1)) == 0xffff && nls == m->nls;
}
#else
int trk_set_wide(int on)
{
	(void)on;
	return 0;
}
#endif

/* The m->len bytes at p match the kept section: equal to it wherever it
 * holds a nonzero byte, and with as many newlines (so none came into a
 * value). 16 bytes at a time, the last ones as the 16 ending at len, with
 * no branch until the end. */
static inline __attribute__((always_inline)) int trk_memo_same(const struct trk_memo *m, const char *p)
{
	size_t len = m->len, o = 0;
#ifdef TRK_WIDE
	if (len >= 64 && atomic_load_explicit(&trk_wide, memory_order_relaxed) > 0)
		return trk_memo_same_wide(m, p);
#endif
#ifdef __SSE2__
	const __m128i z = _mm_setzero_si128();
	__m128i bad = z, nl = z;
	for (; o + 32 <= len; o += 32) {
		nl = _mm_sub_epi8(nl, trk_memo_block(p + o, m->sec + o, &bad));
		nl = _mm_sub_epi8(nl, trk_memo_block(p + o + 16, m->sec + o + 16, &bad));
	}
	nl = trk_memo_tail(m, p, o, &bad, nl);
	__m128i sum = _mm_sad_epu8(nl, z);
	unsigned nls = (unsigned)_mm_cvtsi128_si32(sum) + (unsigned)_mm_extract_epi16(sum, 4);
	return _mm_movemask_epi8(_mm_cmpeq_epi8(bad, z)) == 0xffff && nls == m->nls;
#else
	unsigned nls = 0;
	for (; o < len; o++) {
		if (m->sec[o] && p[o] != m->sec[o])
			return 0;
		nls += p[o] == '\n';
	}
	return nls == m->nls;
#endif
}

/* A memo missed: the next 0, 1, 3, then 7 heads do not try it. */
static inline void trk_backoff(uint8_t *miss, uint8_t *skip)
{
	if (*miss < 4)
		(*miss)++;
	*skip = (uint8_t)((1u << (*miss - 1)) - 1);
}

/* A head whose start line did not come from the line memo (missed says
 * whether it was tried). Returns whether its line should be kept. */
static inline int trk_line_pass(uint8_t *miss, uint8_t *skip, int missed)
{
	if (*skip)
		return --*skip == 0;
	if (missed)
		trk_backoff(miss, skip);
	return *skip == 0;
}

/* A header section starts at p (the start line was just parsed). When it
 * matches the side's memo, the head ends here: returns the byte after it.
 * Else returns NULL, with *keep set to p when the section should be kept
 * once the line engine has parsed it. After misses in a row the memo is
 * tried (and renewed) less often: every 2nd, 4th, then 8th head. */
static const char *trk_memo_try(struct trk_conn *c, int wr, const char *p, const char *e, uint64_t now,
				const struct trk_sink *s, const char **keep)
{
	struct trk_side *sd = wr ? &c->wr.s : &c->rd.s;
	struct trk_memo *m = wr ? &c->wr.memo : &c->rd.memo;
	*keep = NULL;
	if (!m->len) {
		/* a connection's first head is not kept: many carry only one */
		if (m->seen)
			*keep = p;
		m->seen = 1;
		return NULL;
	}
	if (m->skip) {
		m->skip--;
		return NULL;
	}
	if (p == e)
		return NULL; /* the section comes with the next bytes: no verdict */
	if ((size_t)(e - p) < m->len || !trk_memo_same(m, p)) {
		trk_backoff(&m->miss, &m->skip);
		*keep = p;
		return NULL;
	}
	m->miss = 0;
	sd->hf = m->hf;
	sd->cl = m->cl;
	if (wr)
		wr_head_end(c, now, s);
	else
		rd_head_end(c, s);
	return p + m->len;
}

static void trk_hold(struct trk_side *sd, char *lb, size_t cap, const char *p, size_t k)
{
	size_t room = cap - sd->llen;
	if (k <= room) {
		memcpy(lb + sd->llen, p, k);
		sd->llen = (uint16_t)(sd->llen + k);
		return;
	}
	memcpy(lb + sd->llen, p, room);
	sd->llen = (uint16_t)cap;
	p += room;
	k -= room;
	if (!(sd->over & TRK_OVER_COLON) && memchr(p, ':', k))
		sd->over |= TRK_OVER_COLON;
	if (!(sd->over & TRK_OVER)) {
		sd->over |= TRK_OVER;
		memcpy(sd->tail, lb + cap - sizeof sd->tail, sizeof sd->tail);
		sd->tlen = sizeof sd->tail;
	}
	if (k >= sizeof sd->tail) {
		memcpy(sd->tail, p + k - sizeof sd->tail, sizeof sd->tail);
	} else {
		memmove(sd->tail, sd->tail + k, sizeof sd->tail - k);
		memcpy(sd->tail + sizeof sd->tail - k, p, k);
	}
}

/* Feeds one direction: p..p+n, or n unseen bytes when p is NULL. */
static void trk_run(struct trk_conn *c, int wr, const char *p, uint64_t n, uint64_t now,
		    const struct trk_sink *s)
{
	struct trk_side *sd = wr ? &c->wr.s : &c->rd.s;
	char *lb = wr ? c->wr.line : c->rd.line;
	size_t cap = wr ? sizeof c->wr.line : sizeof c->rd.line;
	const char *e = p ? p + n : NULL;
	const char *lo = p;
	const char *keep = NULL; /* a header section to keep in the memo once parsed */

	while (n) {
		uint64_t k;
		switch (sd->state) {
		case S_BODY:
		case S_CDATA:
		case S_SKIP:
			k = sd->rem < n ? sd->rem : n;
			sd->rem -= k;
			n -= k;
			if (p)
				p += k;
			if (sd->state != S_SKIP)
				sd->body += k;
			if (sd->rem)
				break;
			if (sd->state == S_CDATA) {
				sd->state = S_CEND;
			} else if (sd->state == S_SKIP) {
				sd->state = S_IDLE;
			} else if (wr) {
				wr_msg_end(c, now, s);
				if (trk_stopped(c))
					return; /* the connection ends with this response */
			} else {
				rd_msg_end(c);
			}
			break;
		case S_CLOSE:
			sd->body += n;
			sd->t_mark = trk_clock(now, s);
			return;
		case S_DEAD:
			return;
		case S_WAIT:
			/* A tunnel request: resume only if it was answered without one. */
			if (trk_stopped(c))
				return;
			if (atomic_load_explicit(&c->wr.tail, memory_order_acquire) - (uint32_t)sd->rem < 0x80000000u &&
			    c->rd.kind == K_RING) {
				sd->state = S_IDLE;
				break;
			}
			rd_done(c);
			return;
		case S_PV2:
			if (!p) {
				rd_done(c);
				return;
			}
			if (sd->rem < 12) {
				if ((unsigned char)*p == trk_pv2_sig[sd->rem]) {
					sd->rem++;
					p++;
					n--;
				} else if (sd->rem <= 4) {
					sd->rem = 0;
					sd->state = S_IDLE;
				} else {
					rd_unsupported(c, TRK_U_OTHER, s);
					return;
				}
			} else {
				unsigned char b = (unsigned char)*p++;
				n--;
				if (sd->rem == 12 && (b >> 4) != 2) {
					rd_unsupported(c, TRK_U_OTHER, s);
					return;
				}
				if (sd->rem >= 14)
					sd->cl = sd->cl << 8 | b;
				if (++sd->rem == 16) {
					sd->rem = sd->cl & 0xffff;
					sd->cl = 0;
					sd->state = sd->rem ? S_SKIP : S_IDLE;
				}
			}
			break;
		case S_IDLE:
			if (!p) {
				if (!wr) {
					rd_done(c);
					return;
				}
				if (c->wr.hb_rem && !(sd->misc & WM_CUR)) {
					sd->rem = c->wr.hb_rem;
					c->wr.hb_rem = 0;
					sd->state = S_SKIP;
					break;
				}
				if (!(sd->misc & WM_CUR))
					wr_take(c, now, s);
				if (wr_v09_body(c, now, s))
					break;
				wr_lost(c, s);
				return;
			}
			while (p < e && (*p == '\r' || *p == '\n'))
				p++;
			n = (uint64_t)(e - p);
			if (!n)
				return;
			if (!wr) {
				if (!(sd->misc & RM_SEEN)) {
					if ((unsigned char)*p == 0x16) {
						rd_unsupported(c, TRK_U_TLS, s);
						return;
					}
					if (!trk_tchar[(unsigned char)*p]) {
						rd_unsupported(c, TRK_U_OTHER, s);
						return;
					}
				}
				sd->t_mark = trk_clock(now, s);
			} else if (!(sd->misc & WM_CUR)) {
				/* A HEAD response's body the server sent anyway. */
				if ((c->wr.hb_rem || (sd->misc & WM_HBCHUNK)) && !wr_status_prefix(p, e)) {
					if (c->wr.hb_rem) {
						sd->rem = c->wr.hb_rem;
						sd->state = S_SKIP;
					} else {
						sd->misc |= WM_DISCARD;
						sd->state = S_CSIZE;
					}
					c->wr.hb_rem = 0;
					sd->misc &= (uint8_t)~WM_HBCHUNK;
					break;
				}
				c->wr.hb_rem = 0;
				sd->misc &= (uint8_t)~WM_HBCHUNK;
				wr_take(c, now, s);
				if (wr_v09_body(c, now, s))
					break;
			}
			sd->llen = 0;
			sd->over = 0;
			sd->tlen = 0;
			sd->state = S_START;
			goto lines; /* p is set and nothing is held */
		default: {
			/* line states */
			if (!p) {
				if (wr)
					wr_lost(c, s);
				else
					rd_done(c);
				return;
			}
			const char *nl;
			uint8_t st0;
		lines:
			st0 = sd->state;
			if (sd->llen == 0 && !sd->over) {
				/* the common case: lines in place, a whole head in one pass */
				if (sd->state == S_HDR) {
					const char *sec = p;
					p = trk_hdrs(sd, p, e, lo, s, &nl);
					if (!nl) {
						trk_hold(sd, lb, cap, p, (size_t)(e - p));
						return;
					}
					if (sec == keep)
						trk_memo_keep(wr ? &c->wr.memo : &c->rd.memo, sd, sec, nl + 1);
					if (wr)
						wr_head_end(c, now, s);
					else
						rd_head_end(c, s);
				} else {
					nl = trk_find_nl(p, e, lo);
					if (!nl) {
						trk_hold(sd, lb, cap, p, (size_t)n);
						return;
					}
					size_t len = (size_t)(nl - p);
					if (len && nl[-1] == '\r')
						len--;
					if (sd->state != S_START ||
					    (wr ? wr_status_fast(c, p, len) : rd_start_fast(c, p, len, lo, e, s)) < 0)
						trk_line(c, wr, p, (size_t)(nl - p), 0, now, s);
				}
			} else {
				nl = trk_find_nl(p, e, lo);
				if (!nl) {
					trk_hold(sd, lb, cap, p, (size_t)n);
					return;
				}
				trk_hold(sd, lb, cap, p, (size_t)(nl - p));
				trk_line(c, wr, lb, sd->llen, sd->over, now, s);
			}
			sd->llen = 0;
			sd->over = 0;
			sd->tlen = 0;
			p = nl + 1;
			n = (uint64_t)(e - p);
			if (trk_stopped(c))
				return;
			if (st0 == S_START && sd->state == S_HDR) {
				/* a header section starts: the memo may settle it */
				const char *q = trk_memo_try(c, wr, p, e, now, s, &keep);
				if (q) {
					p = q;
					n = (uint64_t)(e - p);
					if (trk_stopped(c))
						return;
					break;
				}
			}
			if (n && sd->state == S_HDR)
				goto lines; /* the header lines after a start line */
			break;
		}
		}
	}
}

/* Response body bytes that end inside the body: counted without the
 * engine. Returns 0 when the bytes need the engine. */
static inline int wr_body_fast(struct trk_conn *c, uint64_t n, uint64_t now, const struct trk_sink *s)
{
	struct trk_side *sd = &c->wr.s;
	if (sd->state != S_BODY || n > sd->rem)
		return 0;
	sd->rem -= n;
	sd->body += n;
	if (!sd->rem)
		wr_msg_end(c, now, s);
	return 1;
}

/* ---- whole heads the memo knows ---- */

/* A side can take its next head by the memo: between messages, nothing
 * held, the memo due to be tried, and no blank line to skip first (nor
 * another control byte, which no start line begins with). */
static inline int trk_memo_due(const struct trk_side *sd, const struct trk_memo *m, const char *p)
{
	return sd->state == S_IDLE && (unsigned char)*p > '\r' && m->len && !m->skip;
}

/* The len bytes at a equal the len bytes at k (16 <= len): 16 at a time,
 * the last 16 ending at len, one branch at the end. */
static inline int trk_line_same(const char *a, const char *k, size_t len)
{
#ifdef __SSE2__
	__m128i eq = _mm_and_si128(_mm_cmpeq_epi8(_mm_loadu_si128((const __m128i *)(const void *)(a + len - 16)),
						  _mm_loadu_si128((const __m128i *)(const void *)(k + len - 16))),
				   _mm_cmpeq_epi8(_mm_loadu_si128((const __m128i *)(const void *)a),
						  _mm_loadu_si128((const __m128i *)(const void *)k)));
	for (size_t o = 16; o + 16 < len; o += 16)
		eq = _mm_and_si128(eq, _mm_cmpeq_epi8(_mm_loadu_si128((const __m128i *)(const void *)(a + o)),
						      _mm_loadu_si128((const __m128i *)(const void *)(k + o))));
	return _mm_movemask_epi8(eq) == 0xffff;
#else
	return memcmp(a, k, len) == 0;
#endif
}

/* Copies len bytes (16 <= len <= room) from a to k the same way. */
static inline void trk_line_copy(char *k, const char *a, size_t len)
{
#ifdef __SSE2__
	for (size_t o = 0; o + 16 < len; o += 16)
		_mm_storeu_si128((__m128i *)(void *)(k + o), _mm_loadu_si128((const __m128i *)(const void *)(a + o)));
	_mm_storeu_si128((__m128i *)(void *)(k + len - 16),
			 _mm_loadu_si128((const __m128i *)(const void *)(a + len - 16)));
#else
	memcpy(k, a, len);
#endif
}

/* The request at p..e when its line is the usual one and its header
 * section matches the memo: announced and ended as the line engine would
 * (with the same callbacks), returning the byte after its head; NULL with
 * nothing done otherwise. The connection's first request line was seen.
 * A line equal to the line memo's is taken from it; another one that was
 * announced into the ring replaces it. */
static const char *rd_head_memo(struct trk_conn *c, const char *p, const char *e, uint64_t now,
				const struct trk_sink *s)
{
	struct trk_side *sd = &c->rd.s;
	struct trk_memo *m = &c->rd.memo;
	struct trk_lmemo *lm = &c->rd.lm;
	size_t ll = lm->len;
	const char *nl;
	if (ll && !lm->skip && (size_t)(e - p) >= ll + m->len && trk_line_same(p, lm->line, ll)) {
		nl = p + ll - 1;
		if (!trk_memo_same(m, nl + 1))
			return NULL;
		lm->miss = 0;
		sd->t_mark = now;
		rd_announce(c, lm->method, p + lm->poff, lm->plen, 0, lm->ver, lm, s);
	} else {
		struct rd_rline r;
		int keep = trk_line_pass(&lm->miss, &lm->skip, ll != 0);
		nl = trk_find_nl(p, e, p);
		if (!nl || (size_t)(e - nl - 1) < m->len ||
		    rd_rline_fast(p, (size_t)(nl - p) - (nl[-1] == '\r'), p, e, &r) < 0 || !trk_memo_same(m, nl + 1))
			return NULL;
		sd->t_mark = now;
		uint32_t tag = rd_announce(c, r.method, r.path, r.len, r.flags, r.ver, NULL, s);
		ll = (size_t)(nl + 1 - p);
		if (keep)
			lm->len = 0;
		if (keep && !(tag & TRK_TAG_ONCE) && !r.flags && ll >= 16 && ll <= TRK_LMEMO) {
			trk_line_copy(lm->line, p, ll);
			lm->tag = tag;
			lm->method = (uint8_t)r.method;
			lm->ver = (uint8_t)r.ver;
			lm->poff = (uint8_t)(r.path - p);
			lm->plen = (uint8_t)r.len;
			lm->len = (uint8_t)ll;
		}
	}
	if (sd->state == S_HDR) {
		m->miss = 0;
		sd->hf = m->hf;
		sd->cl = m->cl;
		rd_head_end(c, s);
	}
	return nl + 1 + m->len;
}

/* The same for a response: the usual status line and a known section,
 * once no HEAD response's body may come first. A status line equal to
 * the status memo's is taken from it; another one replaces it. */
static const char *wr_head_memo(struct trk_conn *c, const char *p, const char *e, uint64_t now,
				const struct trk_sink *s)
{
	struct trk_side *sd = &c->wr.s;
	struct trk_memo *m = &c->wr.memo;
	struct trk_smemo *sm = &c->wr.sm;
	size_t ll = sm->len;
	unsigned st, ver;
	const char *nl;
	if (ll && !sm->skip && (size_t)(e - p) >= ll + m->len && trk_line_same(p, sm->line, ll)) {
		nl = p + ll - 1;
		st = sm->status;
		ver = sm->ver;
		sm->miss = 0;
	} else {
		int keep = trk_line_pass(&sm->miss, &sm->skip, ll != 0);
		nl = trk_find_nl(p, e, p);
		if (!nl || (size_t)(e - nl - 1) < m->len ||
		    wr_sline_fast(p, (size_t)(nl - p) - (nl[-1] == '\r'), &st, &ver) < 0)
			return NULL;
		ll = (size_t)(nl + 1 - p);
		if (keep)
			sm->len = 0;
		if (keep && ll >= 16 && ll <= TRK_SMEMO) {
			trk_line_copy(sm->line, p, ll);
			sm->status = (uint16_t)st;
			sm->ver = (uint8_t)ver;
			sm->len = (uint8_t)ll;
		}
	}
	if (!trk_memo_same(m, nl + 1))
		return NULL;
	wr_take(c, now, s);
	if (wr_v09_body(c, now, s))
		return p;
	c->wr.status = (uint16_t)st;
	sd->ver = (uint8_t)ver;
	m->miss = 0;
	sd->hf = m->hf;
	sd->cl = m->cl;
	wr_head_end(c, now, s);
	return nl + 1 + m->len;
}

/* Feeds bytes the server wrote, a whole head through the memo when it can. */
static inline void wr_feed(struct trk_conn *c, const char *p, size_t n, uint64_t now, const struct trk_sink *s)
{
	if (wr_body_fast(c, n, now, s))
		return;
	if (trk_memo_due(&c->wr.s, &c->wr.memo, p) && !(c->wr.s.misc & (WM_CUR | WM_HBCHUNK)) && !c->wr.hb_rem) {
		const char *q = wr_head_memo(c, p, p + n, now, s);
		if (q) {
			n -= (size_t)(q - p);
			p = q;
			if (!n || trk_stopped(c))
				return;
		}
	}
	trk_run(c, 1, p, n, now, s);
}

void trk_read(struct trk_conn *c, const void *buf, size_t n, uint64_t now, const struct trk_sink *s)
{
	if (!n || trk_stopped(c))
		return; /* a half-close changes nothing here: responses still complete */
	const char *p = buf;
	if (trk_memo_due(&c->rd.s, &c->rd.memo, p) && (c->rd.s.misc & RM_SEEN)) {
		const char *q = rd_head_memo(c, p, p + n, now, s);
		if (q) {
			n -= (size_t)(q - p);
			p = q;
		}
	}
	if (n && !trk_stopped(c))
		trk_run(c, 0, p, n, now, s);
	uint8_t st = c->rd.s.state;
	if (st == S_BODY || st == S_CDATA || st == S_CSIZE || st == S_CEND)
		rd_body_note(c);
}

void trk_readv(struct trk_conn *c, const struct iovec *iov, int iovcnt, size_t n, uint64_t now,
	       const struct trk_sink *s)
{
	for (int i = 0; i < iovcnt && n; i++) {
		size_t k = iov[i].iov_len < n ? iov[i].iov_len : n;
		if (k)
			trk_read(c, iov[i].iov_base, k, now, s);
		n -= k;
	}
}

void trk_write(struct trk_conn *c, const void *buf, size_t n, uint64_t now, const struct trk_sink *s)
{
	if (!n || trk_stopped(c))
		return;
	wr_feed(c, buf, n, now, s);
}

void trk_writev(struct trk_conn *c, const struct iovec *iov, int iovcnt, size_t n, uint64_t now,
		const struct trk_sink *s)
{
	for (int i = 0; i < iovcnt && n; i++) {
		size_t k = iov[i].iov_len < n ? iov[i].iov_len : n;
		if (k) {
			if (trk_stopped(c))
				return;
			wr_feed(c, iov[i].iov_base, k, now, s);
		}
		n -= k;
	}
}

void trk_write_opaque(struct trk_conn *c, uint64_t n, uint64_t now, const struct trk_sink *s)
{
	if (!n || trk_stopped(c) || wr_body_fast(c, n, now, s))
		return;
	trk_run(c, 1, NULL, n, now, s);
}

void trk_end(struct trk_conn *c, uint64_t now, const struct trk_sink *s)
{
	if (c->wr.s.misc & WM_CUR) {
		if (c->wr.s.state == S_CLOSE)
			wr_report(c, c->wr.s.t_mark, 0, s);
		else
			wr_report(c, now, TRK_X_ABORTED, s);
	}
	uint32_t t = atomic_load_explicit(&c->wr.tail, memory_order_relaxed);
	uint32_t h = atomic_load_explicit(&c->rd.head, memory_order_relaxed);
	for (; t != h; t++) {
		const struct trk_pend *p = &c->ring[t % TRK_PENDING];
		if (atomic_load_explicit(&p->xflags, memory_order_relaxed) & X_UNANN)
			continue; /* unparsable and unanswered: only its parse error counts */
		struct trk_exchange x = {
			.tag = p->tag,
			.method = p->method,
			.flags = (uint8_t)(p->flags | TRK_X_ABORTED),
			.req_body = atomic_load_explicit(&p->req_body, memory_order_relaxed),
			.t_start = p->t_start,
			.t_end = now,
		};
		s->on_exchange(s->ctx, &x);
	}
	unsigned oi = c->wr.ovr;
	for (uint32_t o = atomic_load_explicit(&c->sh.ovf, memory_order_relaxed); o; o--, oi = (oi + 1) % OQ_CAP) {
		unsigned code = wr_ovf_code(c, oi);
		unsigned m = code == OQ_V09 ? TRK_M_GET : code;
		struct trk_exchange x = {
			.tag = s->on_request(s->ctx, m, "", 0, TRK_R_INVALID) & ~TRK_TAG_ONCE,
			.method = (uint8_t)m,
			.flags = TRK_R_INVALID | TRK_X_ABORTED,
			.t_start = now,
			.t_end = now,
		};
		s->on_exchange(s->ctx, &x);
	}
	trk_init(c);
}
