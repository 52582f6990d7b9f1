/* shim/cfgfile.c — reads a file the configuration names (PROMSHIM_ROUTES=@FILE,
 * PROMSHIM_AUTH_FILE, TLS files) for cfg_load. Shared by the library's
 * constructor and the `promshim --check` program so both report the same. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cfgfile.h"

int cfgfile_read(const char *path, char **text, size_t *len, unsigned *mode, char *err, size_t errlen)
{
	struct stat st;
	size_t got = 0;
	char *buf;
	int fd;

	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	if (fd < 0) {
		snprintf(err, errlen, "%s", strerror(errno));
		return -1;
	}
	if (fstat(fd, &st) < 0) {
		snprintf(err, errlen, "%s", strerror(errno));
		close(fd);
		return -1;
	}
	*mode = (unsigned)st.st_mode;
	if (!S_ISREG(st.st_mode)) {
		/* cfg_load reports "is not a regular file" from the mode. */
		close(fd);
		*text = calloc(1, 1);
		*len = 0;
		return *text ? 0 : -1;
	}
	if ((unsigned long long)st.st_size > CFGFILE_MAX) {
		snprintf(err, errlen, "larger than %u bytes", CFGFILE_MAX);
		close(fd);
		return -1;
	}
	buf = malloc((size_t)st.st_size + 1);
	if (!buf) {
		snprintf(err, errlen, "out of memory");
		close(fd);
		return -1;
	}
	while (got < (size_t)st.st_size) {
		ssize_t n = read(fd, buf + got, (size_t)st.st_size - got);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			snprintf(err, errlen, "%s", strerror(errno));
			free(buf);
			close(fd);
			return -1;
		}
		if (n == 0)
			break;
		got += (size_t)n;
	}
	close(fd);
	buf[got] = '\0';
	*text = buf;
	*len = got;
	return 0;
}
