/* tests/fuzz/fuzz_tracker.c — libFuzzer target for the HTTP/1.x stream
 * tracker (core/tracker.c). The input is a script driving one connection:
 * each op is a byte (low 3 bits: what, high bits: clock step) followed by
 * its arguments:
 *   0 read LEN DATA      1 write LEN DATA       2 writev LEN CUT DATA
 *   3 opaque write LEN16 4 half-close          5 end of connection
 *   6 readv LEN CUT DATA 7 write LEN DATA (LEN counted x16, DATA repeated)
 * Checked: every exchange answers a request announced and not yet finished,
 * once; after an end every announced request has its exchange; paths and
 * methods stay in range; unsupported is reported at most once per
 * connection; time never runs backwards in a record. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "tracker.h"

#define FZ_MAXREQ 65536

struct fz {
	uint32_t nreq, nx, nuns;
	uint8_t done[FZ_MAXREQ];
};

static void fz_fail(void)
{
	abort();
}

static uint32_t fz_request(void *ctx, unsigned m, const char *path, size_t len, unsigned flags)
{
	struct fz *f = ctx;
	if (m >= TRK_M_COUNT || len > TRK_PATH_MAX || (len && !path) || (flags & TRK_X_ABORTED))
		fz_fail();
	if (len) {
		volatile char sink = path[0];
		sink = path[len - 1];
		(void)sink;
	}
	if (f->nreq >= FZ_MAXREQ)
		fz_fail();
	f->done[f->nreq] = 0;
	return f->nreq++;
}

static void fz_exchange(void *ctx, const struct trk_exchange *x)
{
	struct fz *f = ctx;
	if (x->tag >= f->nreq || f->done[x->tag] || x->method >= TRK_M_COUNT || x->t_end < x->t_start)
		fz_fail();
	f->done[x->tag] = 1;
	f->nx++;
}

static void fz_error(void *ctx)
{
	(void)ctx;
}

static void fz_unsupported(void *ctx, unsigned reason)
{
	struct fz *f = ctx;
	if (reason >= TRK_U_COUNT || ++f->nuns > 1)
		fz_fail();
}

/* A private copy of exactly n bytes, so any over-read hits a redzone. */
static void *fz_dup(const uint8_t *p, size_t n)
{
	void *d = malloc(n ? n : 1);
	if (n)
		memcpy(d, p, n);
	return d;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct fz f;
	static struct trk_conn c;
	struct trk_sink s = { fz_request, fz_exchange, fz_error, fz_unsupported, &f, NULL, NULL };
	size_t i = 0;
	uint64_t now = 1;
	f.nreq = f.nx = f.nuns = 0;
	trk_init(&c);
	while (i < size) {
		uint8_t op = data[i++];
		now += (uint64_t)(op >> 3) + 1;
		size_t len = 0, cut = 0;
		switch (op & 7) {
		case 0:
		case 1:
		case 7:
			if (i < size)
				len = data[i++];
			break;
		case 2:
		case 6:
			if (i + 1 < size) {
				len = data[i++];
				cut = data[i++];
			}
			break;
		case 3:
			if (i + 1 < size) {
				len = (size_t)data[i] << 8 | data[i + 1];
				i += 2;
			}
			break;
		}
		if (len > size - i)
			len = size - i;
		const uint8_t *d = data + i;
		switch (op & 7) {
		case 0: {
			void *b = fz_dup(d, len);
			trk_read(&c, b, len, now, &s);
			free(b);
			i += len;
			break;
		}
		case 1: {
			void *b = fz_dup(d, len);
			trk_write(&c, b, len, now, &s);
			free(b);
			i += len;
			break;
		}
		case 7: {
			/* a big write: the same bytes sixteen times */
			uint8_t *b = malloc(len * 16 + 1);
			for (int k = 0; k < 16; k++)
				memcpy(b + k * len, d, len);
			trk_write(&c, b, len * 16, now, &s);
			free(b);
			i += len;
			break;
		}
		case 2:
		case 6: {
			if (cut > len)
				cut = len;
			struct iovec iov[3];
			void *a = fz_dup(d, cut), *b = fz_dup(d + cut, len - cut), *z = fz_dup((const uint8_t *)"XX", 2);
			iov[0] = (struct iovec){ a, cut };
			iov[1] = (struct iovec){ b, len - cut };
			iov[2] = (struct iovec){ z, 2 }; /* beyond n: must not be read */
			if ((op & 7) == 2)
				trk_writev(&c, iov, 3, len, now, &s);
			else
				trk_readv(&c, iov, 3, len, now, &s);
			free(a);
			free(b);
			free(z);
			i += len;
			break;
		}
		case 3:
			trk_write_opaque(&c, len, now, &s);
			break;
		case 4:
			trk_read(&c, "", 0, now, &s);
			break;
		case 5:
			trk_end(&c, now, &s);
			if (f.nx != f.nreq)
				fz_fail();
			f.nuns = 0;
			break;
		}
		if (f.nx > f.nreq)
			fz_fail();
	}
	trk_end(&c, now + 1, &s);
	if (f.nx != f.nreq)
		fz_fail();
	return 0;
}
