/* shim/log.c — shim_log: one line to stderr, "promshim[pid]: " prefixed,
 * at the configured level (PROMSHIM_LOG). Formats on the stack and writes
 * with the real write, so it never recurses into the hooks; never called
 * from a hook's fast path.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <unistd.h>

#include "real.h"
#include "shim.h"

/* Until the configuration is read, problems (a bad configuration above
 * all) are worth a line. */
int shim_log_level = CFG_LOG_WARN;

void shim_log(int level, const char *fmt, ...)
{
	if (level <= CFG_LOG_OFF || level > shim_log_level)
		return;
	int saved = errno;
	char line[1024];
	int n = snprintf(line, sizeof line, "promshim[%d]: ", (int)getpid());
	va_list ap;
	va_start(ap, fmt);
	int m = vsnprintf(line + n, sizeof line - (size_t)n - 1, fmt, ap);
	va_end(ap);
	size_t len = (size_t)n + (m < 0 ? 0 : (size_t)m);
	if (len > sizeof line - 2)
		len = sizeof line - 2;
	line[len++] = '\n';
	for (size_t off = 0; off < len;) {
		ssize_t w = shim_real.write(2, line + off, len - off);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			break;
		off += (size_t)w;
	}
	errno = saved;
}
