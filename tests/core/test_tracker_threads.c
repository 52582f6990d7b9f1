/* tests/core/test_tracker_threads.c — the tracker's read side and write side
 * driven by two threads at once on one connection, as nginx does when a
 * thread pool sends files while the event loop reads. Also built under
 * ThreadSanitizer by the shim's tests. */
#include <criterion/criterion.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "tracker.h"

#define TH_N 20000
#define TH_DEPTH 8 /* requests the reader may run ahead of the writer */

struct th_state {
	struct trk_conn c;
	_Atomic uint64_t clock;
	_Atomic int nread;    /* requests fully fed */
	_Atomic int nwritten; /* responses fully fed */
	_Atomic int errors;
	_Atomic int failed;
	int nreq; /* reader thread only */
	uint32_t req_method[TH_N];
	char req_path[TH_N][12];
	int nx; /* writer thread only */
	struct trk_exchange x[TH_N];
};

static uint32_t th_on_request(void *ctx, unsigned method, const char *path, size_t len, unsigned flags)
{
	struct th_state *t = ctx;
	(void)flags;
	if (t->nreq < TH_N && len < sizeof t->req_path[0]) {
		t->req_method[t->nreq] = method;
		memcpy(t->req_path[t->nreq], path, len);
		t->req_path[t->nreq][len] = 0;
	}
	return (uint32_t)t->nreq++;
}

static void th_on_exchange(void *ctx, const struct trk_exchange *x)
{
	struct th_state *t = ctx;
	if (t->nx < TH_N)
		t->x[t->nx] = *x;
	t->nx++;
}

static void th_on_error(void *ctx)
{
	atomic_fetch_add(&((struct th_state *)ctx)->errors, 1);
}

static void th_on_unsupported(void *ctx, unsigned reason)
{
	(void)reason;
	atomic_fetch_add(&((struct th_state *)ctx)->failed, 1);
}

static uint64_t th_mono(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* Waits until *v >= want; gives up (and flags failure) after 30 s. */
static int th_wait(struct th_state *t, _Atomic int *v, int want)
{
	uint64_t deadline = th_mono() + 30ull * 1000000000u;
	while (atomic_load_explicit(v, memory_order_acquire) < want) {
		if (atomic_load(&t->failed) || th_mono() > deadline) {
			atomic_store(&t->failed, 1);
			return -1;
		}
		sched_yield();
	}
	return 0;
}

static unsigned th_rand(unsigned *s)
{
	*s = *s * 1103515245u + 12345u;
	return (*s >> 8) & 0xffffff;
}

/* n filler bytes (printf's "%0*d" would print one digit for 0). */
static const char *th_fill(int n)
{
	static const char x[128] = "0000000000000000000000000000000000000000000000000000000000000000"
				   "000000000000000000000000000000000000000000000000000000000000000";
	return x + (sizeof x - 1 - (size_t)n);
}

static void th_feed(struct th_state *t, int wr, const char *d, size_t n, unsigned *seed, const struct trk_sink *s)
{
	size_t off = 0;
	while (off < n) {
		size_t k = 1 + th_rand(seed) % 48;
		if (k > n - off)
			k = n - off;
		uint64_t now = atomic_fetch_add(&t->clock, 1);
		if (wr)
			trk_write(&t->c, d + off, k, now, s);
		else
			trk_read(&t->c, d + off, k, now, s);
		off += k;
	}
}

static void *th_reader(void *arg)
{
	struct th_state *t = arg;
	const struct trk_sink sk = { th_on_request, th_on_exchange, th_on_error, th_on_unsupported, t, NULL, NULL };
	const struct trk_sink *s = &sk;
	unsigned seed = 7;
	char buf[256];
	for (int i = 0; i < TH_N; i++) {
		if (th_wait(t, &t->nwritten, i - TH_DEPTH) < 0)
			return NULL;
		int n;
		switch (i % 3) {
		case 0:
			n = sprintf(buf, "GET /g%d HTTP/1.1\r\nHost: h\r\n\r\n", i);
			break;
		case 1:
			n = sprintf(buf, "POST /p%d HTTP/1.1\r\nContent-Length: %d\r\n\r\n%s", i, i % 50, th_fill(i % 50));
			break;
		default:
			n = sprintf(buf, "PUT /u%d HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n%x\r\n%s\r\n0\r\n\r\n", i,
				    i % 40 + 1, th_fill(i % 40 + 1));
			break;
		}
		th_feed(t, 0, buf, (size_t)n, &seed, s);
		atomic_store_explicit(&t->nread, i + 1, memory_order_release);
	}
	return NULL;
}

static void *th_writer(void *arg)
{
	struct th_state *t = arg;
	const struct trk_sink sk = { th_on_request, th_on_exchange, th_on_error, th_on_unsupported, t, NULL, NULL };
	const struct trk_sink *s = &sk;
	unsigned seed = 11;
	char buf[256];
	for (int i = 0; i < TH_N; i++) {
		if (th_wait(t, &t->nread, i + 1) < 0)
			return NULL;
		int n;
		int body = i % 97;
		if (i % 4 == 3) {
			/* the body leaves by sendfile */
			n = sprintf(buf, "HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n", body + 1000);
			th_feed(t, 1, buf, (size_t)n, &seed, s);
			trk_write_opaque(&t->c, (uint64_t)body + 1000, atomic_fetch_add(&t->clock, 1), s);
		} else if (i % 4 == 2) {
			n = sprintf(buf, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n%x\r\n%s\r\n0\r\n\r\n",
				    body + 1, th_fill(body + 1));
			th_feed(t, 1, buf, (size_t)n, &seed, s);
		} else {
			n = sprintf(buf, "HTTP/1.1 %d X\r\nContent-Length: %d\r\n\r\n%s", 200 + i % 3, body, th_fill(body));
			th_feed(t, 1, buf, (size_t)n, &seed, s);
		}
		atomic_store_explicit(&t->nwritten, i + 1, memory_order_release);
	}
	return NULL;
}

Test(tracker, two_threads_one_connection, .timeout = 120)
{
	struct th_state *t = calloc(1, sizeof *t);
	cr_assert_not_null(t);
	trk_init(&t->c);
	atomic_store(&t->clock, 1);
	pthread_t rt, wt;
	cr_assert_eq(pthread_create(&rt, NULL, th_reader, t), 0);
	cr_assert_eq(pthread_create(&wt, NULL, th_writer, t), 0);
	pthread_join(rt, NULL);
	pthread_join(wt, NULL);
	cr_assert_eq(atomic_load(&t->failed), 0, "a thread timed out or the stream was taken for another protocol");
	struct trk_sink s = { th_on_request, th_on_exchange, th_on_error, th_on_unsupported, t, NULL, NULL };
	trk_end(&t->c, atomic_fetch_add(&t->clock, 1), &s);
	cr_assert_eq(atomic_load(&t->errors), 0);
	cr_assert_eq(t->nreq, TH_N);
	cr_assert_eq(t->nx, TH_N);
	for (int i = 0; i < TH_N; i++) {
		const struct trk_exchange *x = &t->x[i];
		char want[12];
		static const unsigned m[3] = { TRK_M_GET, TRK_M_POST, TRK_M_PUT };
		static const char pre[3] = { 'g', 'p', 'u' };
		sprintf(want, "/%c%d", pre[i % 3], i);
		cr_assert_eq(x->tag, (uint32_t)i, "exchange %d has tag %u", i, x->tag);
		cr_assert_eq(x->method, m[i % 3], "exchange %d", i);
		cr_assert_str_eq(t->req_path[i], want, "exchange %d", i);
		cr_assert_eq(x->flags, 0, "exchange %d flags %#x", i, x->flags);
		cr_assert_eq(x->status, i % 4 >= 2 ? 200 : 200 + i % 3, "exchange %d status %u", i, x->status);
		uint64_t qb = i % 3 == 0 ? 0 : i % 3 == 1 ? (uint64_t)(i % 50) : (uint64_t)(i % 40 + 1);
		cr_assert_eq(x->req_body, qb, "exchange %d req_body %lu", i, (unsigned long)x->req_body);
		int body = i % 97;
		uint64_t rb = i % 4 == 3 ? (uint64_t)body + 1000 : i % 4 == 2 ? (uint64_t)body + 1 : (uint64_t)body;
		cr_assert_eq(x->resp_body, rb, "exchange %d resp_body %lu", i, (unsigned long)x->resp_body);
		cr_assert_lt(x->t_start, x->t_end, "exchange %d", i);
	}
	free(t);
}
