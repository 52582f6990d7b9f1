/* tests/core/guard.h — guard-page buffers for parser tests: bytes are placed
 * so that their last byte sits right before a PROT_NONE page, so reading one
 * byte too far faults at once instead of passing unnoticed. */
#ifndef PROMSHIM_TESTS_GUARD_H
#define PROMSHIM_TESTS_GUARD_H

#include <stddef.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

struct guard {
	unsigned char *base; /* start of the readable area */
	size_t size;         /* readable bytes, a whole number of pages */
};

/* Maps at least size readable bytes followed by one inaccessible page.
 * Returns 0, or -1 if the mapping failed. */
static inline int guard_init(struct guard *g, size_t size)
{
	size_t pg = (size_t)sysconf(_SC_PAGESIZE);
	size = (size + pg - 1) / pg * pg;
	if (size == 0)
		size = pg;
	void *m = mmap(NULL, size + pg, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (m == MAP_FAILED)
		return -1;
	if (mprotect((unsigned char *)m + size, pg, PROT_NONE) != 0) {
		munmap(m, size + pg);
		return -1;
	}
	g->base = m;
	g->size = size;
	return 0;
}

/* Copies n bytes (n <= g->size) so that they end at the guard page; returns
 * where they start. */
static inline void *guard_place(struct guard *g, const void *src, size_t n)
{
	unsigned char *d = g->base + g->size - n;
	if (n)
		memcpy(d, src, n);
	return d;
}

static inline void guard_free(struct guard *g)
{
	if (g->base)
		munmap(g->base, g->size + (size_t)sysconf(_SC_PAGESIZE));
	g->base = NULL;
}

#endif
