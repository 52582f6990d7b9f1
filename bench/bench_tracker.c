/* bench/bench_tracker.c — micro-benchmark of the HTTP/1.x stream tracker:
 * ns per keep-alive exchange (a browser-like 300-byte request head, a
 * 200-byte response head and a small body), fed whole and in realistic
 * splits, plus the exchange nginx sees under bench.py's callgrind client
 * (5-line request head in one recv, 7-line response head and 3-byte body in
 * one writev). Build: gcc -O2 -Icore bench/bench_tracker.c core/tracker.c
 * Usage: bench_tracker [N [MODE]]; with MODE (whole, writev, split, nginx)
 * only that mode runs, N times, which is what callgrind should count. */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "tracker.h"

static const char bt_req[] =
	"GET /api/v1/users/12345/orders?page=2&sort=desc HTTP/1.1\r\n"
	"Host: shop.example.com\r\n"
	"User-Agent: Mozilla/5.0 (X11; Linux x86_64; rv:109.0) Gecko/20100101 Firefox/115.0\r\n"
	"Accept: application/json,text/html;q=0.9,*/*;q=0.8\r\n"
	"Accept-Language: en-US,en;q=0.5\r\n"
	"Accept-Encoding: gzip, deflate, br\r\n"
	"Connection: keep-alive\r\n"
	"\r\n";

static const char bt_rsp_head[] = "HTTP/1.1 200 OK\r\n"
				  "Server: nginx/1.22.1\r\n"
				  "Date: Tue, 05 Mar 2024 10:00:00 GMT\r\n"
				  "Content-Type: application/json; charset=utf-8\r\n"
				  "Content-Length: 64\r\n"
				  "Connection: keep-alive\r\n"
				  "Cache-Control: no-cache\r\n"
				  
				  "\r\n";

static const char bt_body[] = "{\"id\":12345,\"orders\":[{\"n\":1,\"total\":\"19.99\"}],\"page\":2,\"ok\":1} ";

/* What bench.py's keep-alive client sends and nginx answers for /tiny. */
static const char bt_ngx_req[] = "GET /tiny HTTP/1.1\r\nHost: localhost\r\nUser-Agent: bench\r\n"
				 "Accept: */*\r\n\r\n";

static const char bt_ngx_head[] = "HTTP/1.1 200 OK\r\n"
				  "Server: nginx/1.22.1\r\n"
				  "Date: Wed, 25 Nov 2026 21:00:00 GMT\r\n"
				  "Content-Type: text/plain\r\n"
				  "Content-Length: 3\r\n"
				  "Connection: keep-alive\r\n"
				  "\r\n";

static unsigned long bt_count;

static uint32_t bt_request(void *ctx, unsigned m, const char *p, size_t n, unsigned f)
{
	(void)ctx;
	return (uint32_t)(m + n + f + (unsigned char)p[0]);
}

static void bt_exchange(void *ctx, const struct trk_exchange *x)
{
	(void)ctx;
	bt_count += x->status == 200;
}

static void bt_error(void *ctx)
{
	(void)ctx;
	fprintf(stderr, "bench_tracker: unexpected parse error\n");
	exit(1);
}

static void bt_unsupported(void *ctx, unsigned r)
{
	(void)ctx;
	(void)r;
	exit(1);
}

static uint64_t bt_now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

enum { BT_WHOLE, BT_WRITEV, BT_SPLIT, BT_NGINX, BT_MODES };

static double bt_run(int mode, unsigned long n)
{
	static struct trk_conn c;
	struct trk_sink s = { bt_request, bt_exchange, bt_error, bt_unsupported, NULL, NULL };
	size_t qn = sizeof bt_req - 1, hn = sizeof bt_rsp_head - 1, bn = sizeof bt_body - 1;
	static char rsp[1024];
	memcpy(rsp, bt_rsp_head, hn);
	memcpy(rsp + hn, bt_body, bn);
	struct iovec iov[2] = { { (void *)bt_rsp_head, hn }, { (void *)bt_body, bn } };
	size_t xn = sizeof bt_ngx_req - 1, xh = sizeof bt_ngx_head - 1;
	struct iovec xiov[2] = { { (void *)bt_ngx_head, xh }, { (void *)"ok\n", 3 } };
	trk_init(&c);
	bt_count = 0;
	uint64_t t0 = bt_now();
	for (unsigned long i = 0; i < n; i++) {
		/* a fixed fake clock: the benchmark measures the tracker, not clock_gettime */
		uint64_t now = i * 4;
		switch (mode) {
		case BT_WHOLE:
			trk_read(&c, bt_req, qn, now, &s);
			trk_write(&c, rsp, hn + bn, now + 1, &s);
			break;
		case BT_WRITEV:
			trk_read(&c, bt_req, qn, now, &s);
			trk_writev(&c, iov, 2, hn + bn, now + 1, &s);
			break;
		case BT_SPLIT:
			/* a head cut mid-line, a response head cut mid-line, body apart */
			trk_read(&c, bt_req, 150, now, &s);
			trk_read(&c, bt_req + 150, qn - 150, now + 1, &s);
			trk_write(&c, rsp, 120, now + 2, &s);
			trk_write(&c, rsp + 120, hn - 120, now + 2, &s);
			trk_write(&c, bt_body, bn, now + 3, &s);
			break;
		case BT_NGINX:
			trk_read(&c, bt_ngx_req, xn, now, &s);
			trk_writev(&c, xiov, 2, xh + 3, now + 1, &s);
			break;
		}
	}
	uint64_t t1 = bt_now();
	if (bt_count != n) {
		fprintf(stderr, "bench_tracker: %lu exchanges counted, want %lu\n", bt_count, n);
		exit(1);
	}
	return (double)(t1 - t0) / (double)n;
}

int main(int argc, char **argv)
{
	unsigned long n = argc > 1 ? strtoul(argv[1], NULL, 10) : 2000000;
	static const char *names[] = { "whole (read + write)", "writev (head + body)", "split (2 reads, 3 writes)",
				       "nginx /tiny (recv + writev)" };
	static const char *keys[] = { "whole", "writev", "split", "nginx" };
	if (argc > 2) {
		for (int m = 0; m < BT_MODES; m++)
			if (!strcmp(argv[2], keys[m])) {
				printf("%s: %.1f ns/exchange over %lu\n", keys[m], bt_run(m, n), n);
				return 0;
			}
		fprintf(stderr, "bench_tracker: unknown mode %s\n", argv[2]);
		return 2;
	}
	printf("tracker: %zu-byte request head, %zu-byte response head, %zu-byte body, %zu-byte state\n",
	       sizeof bt_req - 1, sizeof bt_rsp_head - 1, sizeof bt_body - 1, sizeof(struct trk_conn));
	for (int m = 0; m < BT_MODES; m++) {
		double best = 1e30;
		for (int r = 0; r < 5; r++) {
			double ns = bt_run(m, n / 5);
			if (ns < best)
				best = ns;
		}
		printf("  %-28s %7.1f ns/exchange\n", names[m], best);
	}
	return 0;
}
