/* tools/promshim-check.c — owns the checks behind `promshim --check`:
 * validating the PROMSHIM_* environment with the library's own parser
 * (core/config.c, fed by real file reads here), and telling whether a
 * program can be instrumented through LD_PRELOAD at all (ELF class and
 * machine, static linking, Go, setuid/setgid, file capabilities, and for a
 * script its interpreter).
 *
 *   promshim-check config        exit 0, or 2 with one line on stderr
 *   promshim-check binary PATH   exit 0, or 2 with one line per problem
 */
#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <link.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "config.h"
#include "cfgfile.h"

#define CHK_MAX_SECTIONS 65536
#define CHK_MAX_SHSTRTAB (1u << 20)
#define CHK_MAX_NOTES (1u << 20)
#define CHK_MAX_DEPTH 4           /* script interpreters nest at most this deep (Linux) */

#if __ELF_NATIVE_CLASS == 64
#define CHK_ELFCLASS ELFCLASS64
#else
#define CHK_ELFCLASS ELFCLASS32
#endif

#if defined(__x86_64__)
#define CHK_MACHINE EM_X86_64
#elif defined(__aarch64__)
#define CHK_MACHINE EM_AARCH64
#elif defined(__i386__)
#define CHK_MACHINE EM_386
#elif defined(__arm__)
#define CHK_MACHINE EM_ARM
#elif defined(__riscv)
#define CHK_MACHINE EM_RISCV
#elif defined(__powerpc64__)
#define CHK_MACHINE EM_PPC64
#elif defined(__s390x__)
#define CHK_MACHINE EM_S390
#endif

static const char *chk_getenv(const char *name)
{
	return getenv(name);
}

static int chk_config(void)
{
	struct ps_config c;
	char err[CFG_ERR_MAX];

	if (cfg_load(&c, chk_getenv, cfgfile_read, err, sizeof(err)) < 0) {
		fprintf(stderr, "promshim: %s\n", err);
		return 2;
	}
	cfg_free(&c);
	return 0;
}

/* ---- programs ---- */

struct chk_prog {
	const char *path;   /* as named by the user */
	const char *via;    /* the script that runs it, or NULL */
	int problems;
};

static void chk_problem(struct chk_prog *p, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void chk_problem(struct chk_prog *p, const char *fmt, ...)
{
	va_list ap;

	if (p->via)
		fprintf(stderr, "promshim: %s (interpreter of %s) ", p->path, p->via);
	else
		fprintf(stderr, "promshim: %s ", p->path);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	p->problems++;
}

static int chk_pread(int fd, void *buf, size_t n, off_t off)
{
	size_t got = 0;

	while (got < n) {
		ssize_t r = pread(fd, (char *)buf + got, n - got, off + (off_t)got);

		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			return -1;
		got += (size_t)r;
	}
	return 0;
}

/* Go's runtime makes its socket calls as raw system calls, so hooks in
 * libc never see them, even in a cgo (dynamically linked) build. */
static int chk_is_go(int fd, const ElfW(Ehdr) *eh, const ElfW(Phdr) *ph)
{
	ElfW(Shdr) sh0, strh;
	size_t nsec = eh->e_shnum, stridx = eh->e_shstrndx;
	int go = 0;

	/* Notes first: they survive even when section headers are stripped. */
	for (unsigned i = 0; i < eh->e_phnum && !go; i++) {
		char *notes;
		size_t off = 0, n;

		if (ph[i].p_type != PT_NOTE || ph[i].p_filesz == 0 || ph[i].p_filesz > CHK_MAX_NOTES)
			continue;
		n = (size_t)ph[i].p_filesz;
		notes = malloc(n);
		if (!notes)
			continue;
		if (chk_pread(fd, notes, n, (off_t)ph[i].p_offset) == 0) {
			while (off + sizeof(ElfW(Nhdr)) <= n) {
				ElfW(Nhdr) nh;
				size_t name_sz, desc_sz;

				memcpy(&nh, notes + off, sizeof(nh));
				name_sz = (nh.n_namesz + 3u) & ~3u;
				desc_sz = (nh.n_descsz + 3u) & ~3u;
				off += sizeof(nh);
				if (name_sz > n - off || desc_sz > n - off - name_sz)
					break;
				if (nh.n_namesz == 3 && memcmp(notes + off, "Go", 3) == 0 && nh.n_type == 4)
					go = 1;
				off += name_sz + desc_sz;
			}
		}
		free(notes);
	}
	if (go || eh->e_shoff == 0 || eh->e_shentsize != sizeof(ElfW(Shdr)))
		return go;
	if (chk_pread(fd, &sh0, sizeof(sh0), (off_t)eh->e_shoff) < 0)
		return 0;
	if (nsec == 0)
		nsec = (size_t)sh0.sh_size;
	if (stridx == SHN_XINDEX)
		stridx = sh0.sh_link;
	if (nsec == 0 || nsec > CHK_MAX_SECTIONS || stridx >= nsec)
		return 0;
	if (chk_pread(fd, &strh, sizeof(strh), (off_t)(eh->e_shoff + stridx * sizeof(ElfW(Shdr)))) < 0 ||
	    strh.sh_size == 0 || strh.sh_size > CHK_MAX_SHSTRTAB)
		return 0;

	char *names = malloc((size_t)strh.sh_size + 1);
	if (!names)
		return 0;
	if (chk_pread(fd, names, (size_t)strh.sh_size, (off_t)strh.sh_offset) == 0) {
		names[strh.sh_size] = '\0';
		for (size_t i = 0; i < nsec && !go; i++) {
			ElfW(Shdr) sh;
			const char *nm;

			if (chk_pread(fd, &sh, sizeof(sh), (off_t)(eh->e_shoff + i * sizeof(ElfW(Shdr)))) < 0)
				break;
			if (sh.sh_name >= strh.sh_size)
				continue;
			nm = names + sh.sh_name;
			go = strcmp(nm, ".go.buildinfo") == 0 || strcmp(nm, ".note.go.buildid") == 0 ||
			     strcmp(nm, ".gopclntab") == 0;
		}
	}
	free(names);
	return go;
}

static void chk_program(struct chk_prog *p, const char *path, int depth);

/* "#!/usr/bin/env python3" runs python3 from PATH; "#!/bin/sh -e" runs
 * /bin/sh. The script's own mode bits do not matter: Linux ignores setuid
 * and capabilities on scripts, and what gets preloaded into is the
 * interpreter. */
static void chk_script(struct chk_prog *p, const char *script, const char *line, int depth)
{
	char interp[256], arg[256];
	struct chk_prog sub = {.via = script};
	int n_arg = 0;

	interp[0] = arg[0] = '\0';
	while (*line == ' ' || *line == '\t')
		line++;
	if (sscanf(line, "%255s %255s", interp, arg) >= 1)
		n_arg = arg[0] != '\0';
	if (interp[0] == '\0') {
		chk_problem(p, "has an empty #! line");
		return;
	}
	if (depth >= CHK_MAX_DEPTH) {
		chk_problem(p, "nests interpreters too deeply");
		return;
	}
	const char *base = strrchr(interp, '/');
	base = base ? base + 1 : interp;
	if (strcmp(base, "env") == 0 && n_arg && arg[0] != '-') {
		static char found[4096];
		const char *pathv = getenv("PATH");
		char dirs[4096];
		char *save = NULL;

		snprintf(dirs, sizeof(dirs), "%s", pathv && *pathv ? pathv : "/usr/local/bin:/usr/bin:/bin");
		found[0] = '\0';
		for (char *d = strtok_r(dirs, ":", &save); d; d = strtok_r(NULL, ":", &save)) {
			snprintf(found, sizeof(found), "%s/%s", *d ? d : ".", arg);
			if (access(found, X_OK) == 0)
				break;
			found[0] = '\0';
		}
		if (found[0] == '\0') {
			chk_problem(p, "runs '%s' through env, which is not in PATH", arg);
			return;
		}
		sub.path = found;
	} else {
		sub.path = interp;
	}
	chk_program(&sub, sub.path, depth + 1);
	p->problems += sub.problems;
}

static void chk_program(struct chk_prog *p, const char *path, int depth)
{
	unsigned char head[256];
	ElfW(Ehdr) eh;
	ElfW(Phdr) *ph = NULL;
	struct stat st;
	ssize_t n;
	int fd, interp = 0;

	if (stat(path, &st) < 0) {
		chk_problem(p, "cannot be examined: %s", strerror(errno));
		return;
	}
	if (!S_ISREG(st.st_mode)) {
		chk_problem(p, "is not a regular file");
		return;
	}
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		chk_problem(p, "cannot be read: %s", strerror(errno));
		return;
	}
	memset(head, 0, sizeof(head));
	n = pread(fd, head, sizeof(head) - 1, 0);
	if (n >= 2 && head[0] == '#' && head[1] == '!') {
		char *nl = memchr(head, '\n', (size_t)n);

		if (nl)
			*nl = '\0';
		close(fd);
		chk_script(p, path, (const char *)head + 2, depth);
		return;
	}
	if (access(path, X_OK) < 0)
		chk_problem(p, "is not executable");
	if (st.st_mode & S_ISUID)
		chk_problem(p, "is setuid: the loader ignores LD_PRELOAD for it (secure-execution mode)");
	if (st.st_mode & S_ISGID)
		chk_problem(p, "is setgid: the loader ignores LD_PRELOAD for it (secure-execution mode)");
	if (getxattr(path, "security.capability", NULL, 0) > 0)
		chk_problem(p, "has file capabilities: the loader ignores LD_PRELOAD for it (secure-execution mode)");

	if (n < (ssize_t)EI_NIDENT || memcmp(head, ELFMAG, SELFMAG) != 0) {
		chk_problem(p, "is neither an ELF program nor a #! script");
		goto out;
	}
#ifdef CHK_MACHINE
	memcpy(&eh, head, sizeof(eh));
	if (head[EI_CLASS] != CHK_ELFCLASS || eh.e_machine != CHK_MACHINE) {
		chk_problem(p, "is built for another architecture or word size: this libpromshim.so cannot be "
			       "loaded into it");
		goto out;
	}
#else
	memcpy(&eh, head, sizeof(eh));
	if (head[EI_CLASS] != CHK_ELFCLASS) {
		chk_problem(p, "has another word size: this libpromshim.so cannot be loaded into it");
		goto out;
	}
#endif
	if (eh.e_type != ET_EXEC && eh.e_type != ET_DYN) {
		chk_problem(p, "is not an executable ELF file");
		goto out;
	}
	if (eh.e_phentsize != sizeof(ElfW(Phdr)) || eh.e_phnum == 0 || eh.e_phnum >= PN_XNUM) {
		chk_problem(p, "has no usable program headers");
		goto out;
	}
	ph = calloc(eh.e_phnum, sizeof(*ph));
	if (!ph || chk_pread(fd, ph, eh.e_phnum * sizeof(*ph), (off_t)eh.e_phoff) < 0) {
		chk_problem(p, "has truncated program headers");
		goto out;
	}
	for (unsigned i = 0; i < eh.e_phnum; i++)
		interp |= ph[i].p_type == PT_INTERP;
	if (chk_is_go(fd, &eh, ph))
		chk_problem(p, "is a Go program: Go makes its socket calls without libc, so LD_PRELOAD "
			       "cannot instrument it");
	else if (!interp)
		chk_problem(p, "is statically linked: LD_PRELOAD cannot instrument it");
out:
	free(ph);
	close(fd);
}

static int chk_binary(const char *path)
{
	struct chk_prog p = {.path = path};

	chk_program(&p, path, 0);
	if (p.problems)
		return 2;
	printf("promshim: %s can be instrumented\n", path);
	return 0;
}

int main(int argc, char **argv)
{
	if (argc == 2 && strcmp(argv[1], "config") == 0)
		return chk_config();
	if (argc == 3 && strcmp(argv[1], "binary") == 0)
		return chk_binary(argv[2]);
	fprintf(stderr, "usage: promshim-check config | promshim-check binary PATH\n");
	return 2;
}
