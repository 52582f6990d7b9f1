/* tests/pitfalls/progs/pit_srv.c — a one-process HTTP/1.1 server that
 * reproduces, one option at a time, the host behaviours that broke other
 * LD_PRELOAD interposers (see the PITFALLS list), for the tests in
 * tests/pitfalls/. It listens on 127.0.0.1:PORT (close-on-exec), serves one
 * connection at a time with keep-alive and pipelining, and answers:
 *   /close/...   200, close-delimited (no Content-Length): counted only
 *                when the shim sees the connection end
 *   /cgi         200 with the output of a helper run through /bin/sh (see
 *                --cgi), which reports what the shim costs it
 *   /nocgi       500 after a helper that cannot be run (posix_spawn's
 *                error, or a vfork child's _exit(127) after a failed exec)
 *   /missing...  404
 *   anything else 200 "ok\n"
 *
 *   pit_srv PORT [options]
 *     --log FILE          messages go to FILE (opened after --closeall start)
 *     --daemon            glibc daemon(1, 0) after listening
 *     --daemon-first      glibc daemon(1, 0) before listening
 *     --pidfile FILE      write the serving pid there
 *     --closeall HOW      before listening, close every fd from 3 up to the
 *                         soft limit: HOW is loop, closefrom or close_range
 *     --closeall-late MS  after MS ms, close() every fd from 3 up to the soft
 *                         limit but the listener and the log, one by one
 *     --raise-nofile      after listening, raise the soft fd limit to the hard
 *     --hard N            after listening, set both fd limits to N
 *     --fill N            then fill the fd table up to fd N with /dev/null
 *     --dup2-exporter MS  after MS ms, dup2 /dev/null onto every fd >= 900
 *     --sigalrm           SIGALRM every 0.5 ms (no SA_RESTART); its handler
 *                         writes a byte to a pipe, drained by the main loop
 *     --sysclose          close connections with syscall(SYS_close)
 *     --peek              peek at the first bytes of each read (recv
 *                         MSG_PEEK) before reading them, as sniffers do
 *     --cgi HOW           run /cgi helpers with posix_spawn or vfork (the
 *                         vfork child closes the inherited sockets itself)
 *     --send-after-close  after each close, send() on the closed fd number
 *                         and report anything but -1/EBADF
 *     --fork-exit         after serving a connection, before closing it, fork
 *                         a child that calls exit(0) at once, and wait for it
 *     --exit-after N      exit(3) after N connections
 * After every connection the server checks that it has no child it did not
 * start itself (waitpid(-1) gives ECHILD), and logs "STRAY CHILD" if not.
 */
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;

static int logfd = 1;
static int lfd = -1;
static int sig_pipe[2] = {-1, -1};
static volatile sig_atomic_t sig_fired;
static unsigned long sig_drained;
static int opt_sysclose, opt_peek, opt_send_after_close, opt_fork_exit;
static const char *opt_cgi;

static void say(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void say(const char *fmt, ...)
{
	char b[512];
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(b, sizeof b, fmt, ap);
	va_end(ap);
	if (n > (int)sizeof b - 1)
		n = (int)sizeof b - 1;
	if (write(logfd, b, (size_t)n) < 0)
		return;
}

static void die(const char *what)
{
	say("FATAL %s: %s\n", what, strerror(errno));
	exit(2);
}

/* The handler writes as libuv's signal pipe does; errno is the
 * interrupted code's. */
static void on_alarm(int sig)
{
	(void)sig;
	int e = errno;
	char c = 'a';
	if (write(sig_pipe[1], &c, 1) == 1)
		sig_fired++;
	errno = e;
}

static void drain_sig_pipe(void)
{
	char b[256];
	ssize_t n;
	while ((n = read(sig_pipe[0], b, sizeof b)) > 0)
		sig_drained += (unsigned long)n;
}

static int open_listener(int port)
{
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -1;
	int one = 1;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (bind(fd, (struct sockaddr *)&a, sizeof a) < 0 || listen(fd, 128) < 0)
		return -1;
	return fd;
}

static unsigned soft_limit(void)
{
	struct rlimit rl;
	if (getrlimit(RLIMIT_NOFILE, &rl) != 0 || rl.rlim_cur == RLIM_INFINITY || rl.rlim_cur > 1u << 20)
		return 1u << 20;
	return (unsigned)rl.rlim_cur;
}

static int write_all(int fd, const char *p, size_t n)
{
	while (n > 0) {
		ssize_t w = write(fd, p, n);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return -1;
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

/* Runs the helper with stdout to a pipe and returns what it printed (or -1
 * with *status set to the exit status). */
static int run_helper(int conn, const char *script, char *out, size_t cap, int *status)
{
	int p[2];
	if (pipe2(p, O_CLOEXEC) != 0)
		return -1;
	char *argv[] = {"sh", "-c", (char *)script, NULL};
	pid_t pid;
	if (!strcmp(opt_cgi, "posix_spawn")) {
		posix_spawn_file_actions_t fa;
		posix_spawn_file_actions_init(&fa);
		posix_spawn_file_actions_adddup2(&fa, p[1], 1);
		posix_spawn_file_actions_addclose(&fa, conn);
		int r = posix_spawn(&pid, script[0] == '!' ? "/nonexistent/helper" : "/bin/sh", &fa, NULL,
				    argv, environ);
		posix_spawn_file_actions_destroy(&fa);
		if (r != 0) {
			close(p[0]);
			close(p[1]);
			*status = r;
			return -1;
		}
	} else {
		/* The classic CGI start: the vfork child moves the pipe to
		 * stdout and closes the sockets it inherited, through the
		 * (hooked) libc calls, in its parent's memory. */
		pid = vfork();
		if (pid < 0)
			die("vfork");
		if (pid == 0) {
			dup2(p[1], 1);
			close(p[0]);
			close(p[1]);
			close(conn);
			close(lfd);
			execve(script[0] == '!' ? "/nonexistent/helper" : "/bin/sh", argv, environ);
			_exit(127);
		}
	}
	close(p[1]);
	size_t have = 0;
	for (;;) {
		ssize_t n = read(p[0], out + have, cap - 1 - have);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		have += (size_t)n;
		if (have == cap - 1)
			break;
	}
	close(p[0]);
	while (waitpid(pid, status, 0) < 0)
		if (errno != EINTR)
			die("waitpid");
	out[have] = '\0';
	return (int)have;
}

static const char cgi_script[] =
	"t=$(ls /proc/$$/task | wc -l); "
	"m=$(grep -c libmicrohttpd /proc/$$/maps); "
	"s=$(grep -q libpromshim /proc/$$/maps && echo 1 || echo 0); "
	"h=$(ls /proc/$$/fd | awk '$1 >= 512' | wc -l); "
	"echo \"helper threads=$t microhttpd=$m promshim=$s highfds=$h\"";

/* Answers one request head; returns 1 to keep the connection, 0 to close. */
static int respond(int c, const char *head)
{
	char path[256] = "";
	sscanf(head, "%*s %255s", path);
	int keep = strstr(head, "Connection: close") == NULL;
	char body[1024];
	const char *status = "200 OK";
	snprintf(body, sizeof body, "ok\n");
	if (!strncmp(path, "/close/", 7)) {
		static const char r[] = "HTTP/1.1 200 OK\r\nConnection: close\r\n\r\nclosed\n";
		write_all(c, r, sizeof r - 1);
		return 0;
	}
	if (!strcmp(path, "/cgi") || !strcmp(path, "/nocgi")) {
		int st = 0;
		int n = run_helper(c, path[1] == 'n' ? "!" : cgi_script, body, sizeof body, &st);
		if (n < 0) {
			status = "500 Internal Server Error";
			snprintf(body, sizeof body, "spawn error %d\n", st);
		} else if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) {
			status = "500 Internal Server Error";
			snprintf(body, sizeof body, "helper status %d\n", st);
		}
	} else if (!strncmp(path, "/missing", 8)) {
		status = "404 Not Found";
		snprintf(body, sizeof body, "no\n");
	}
	char hdr[256];
	int hn = snprintf(hdr, sizeof hdr, "HTTP/1.1 %s\r\nContent-Length: %zu\r\n%s\r\n", status, strlen(body),
			  keep ? "" : "Connection: close\r\n");
	struct iovec iov[2] = {{hdr, (size_t)hn}, {body, strlen(body)}};
	ssize_t w;
	do
		w = writev(c, iov, 2);
	while (w < 0 && errno == EINTR);
	if (w != (ssize_t)(hn + strlen(body)))
		return 0;
	return keep;
}

static ssize_t read_some(int c, char *buf, size_t n)
{
	for (;;) {
		if (opt_peek) {
			char sniff[5];
			ssize_t p = recv(c, sniff, sizeof sniff, MSG_PEEK);
			if (p < 0 && errno == EINTR)
				continue;
			if (p <= 0)
				return p;
			if ((unsigned char)sniff[0] == 0x16) {
				/* TLS: this server takes the record and hangs up. */
				char junk[4096];
				if (read(c, junk, sizeof junk) < 0)
					return -1;
				return 0;
			}
		}
		ssize_t r = read(c, buf, n);
		if (r < 0 && errno == EINTR)
			continue;
		return r;
	}
}

static void serve_conn(int c)
{
	say("accepted fd %d\n", c);
	char buf[16384];
	size_t have = 0;
	for (;;) {
		char *end;
		while (have && (end = memmem(buf, have, "\r\n\r\n", 4)) != NULL) {
			size_t hl = (size_t)(end + 4 - buf);
			char head[1024];
			size_t cl = hl < sizeof head - 1 ? hl : sizeof head - 1;
			memcpy(head, buf, cl);
			head[cl] = '\0';
			memmove(buf, buf + hl, have - hl);
			have -= hl;
			if (!respond(c, head))
				return;
		}
		if (have == sizeof buf)
			return;
		ssize_t n = read_some(c, buf + have, sizeof buf - have);
		if (n <= 0)
			return;
		have += (size_t)n;
	}
}

static void close_conn(int c)
{
	int r = opt_sysclose ? (int)syscall(SYS_close, c) : close(c);
	if (r != 0)
		say("close %d: %s\n", c, strerror(errno));
	if (opt_send_after_close) {
		errno = 0;
		ssize_t s = send(c, "x", 1, MSG_NOSIGNAL);
		if (s != -1 || errno != EBADF)
			say("send after close on fd %d: %zd errno %d\n", c, s, errno);
		else
			say("send after close: EBADF\n");
	}
}

static void close_all_from3(const char *how, int keep1, int keep2)
{
	if (!strcmp(how, "closefrom")) {
		closefrom(3);
	} else if (!strcmp(how, "close_range")) {
		if (close_range(3, ~0u, 0) != 0)
			die("close_range");
	} else {
		unsigned lim = soft_limit();
		for (unsigned fd = 3; fd < lim; fd++)
			if ((int)fd != keep1 && (int)fd != keep2)
				close((int)fd);
	}
}

static void dup2_exporter(void)
{
	int nul = open("/dev/null", O_RDWR);
	DIR *d = opendir("/proc/self/fd");
	if (nul < 0 || !d)
		die("/dev/null or /proc/self/fd");
	int fds[64], n = 0;
	struct dirent *e;
	while ((e = readdir(d)) != NULL && n < 64) {
		int fd = atoi(e->d_name);
		if (fd >= 900 && fd != dirfd(d))
			fds[n++] = fd;
	}
	closedir(d);
	for (int i = 0; i < n; i++) {
		int r = dup2(nul, fds[i]);
		say("dup2 onto %d: %d\n", fds[i], r);
	}
	say("dup2 done %d\n", n);
}

int main(int argc, char **argv)
{
	if (argc < 2) {
		fprintf(stderr, "usage: pit_srv PORT [options]\n");
		return 2;
	}
	int port = atoi(argv[1]);
	const char *log = NULL, *pidfile = NULL, *closeall = NULL;
	int daemon_after = 0, daemon_first = 0, raise = 0, fill = 0, sigalrm = 0;
	long late_ms = -1, dup2_ms = -1, hard = 0, exit_after = 0, served = 0;
	for (int i = 2; i < argc; i++) {
		const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
		if (!strcmp(a, "--daemon"))
			daemon_after = 1;
		else if (!strcmp(a, "--daemon-first"))
			daemon_first = 1;
		else if (!strcmp(a, "--raise-nofile"))
			raise = 1;
		else if (!strcmp(a, "--sigalrm"))
			sigalrm = 1;
		else if (!strcmp(a, "--sysclose"))
			opt_sysclose = 1;
		else if (!strcmp(a, "--peek"))
			opt_peek = 1;
		else if (!strcmp(a, "--send-after-close"))
			opt_send_after_close = 1;
		else if (!strcmp(a, "--fork-exit"))
			opt_fork_exit = 1;
		else if (v && !strcmp(a, "--exit-after"))
			exit_after = atol(argv[++i]);
		else if (v && !strcmp(a, "--log"))
			log = argv[++i];
		else if (v && !strcmp(a, "--pidfile"))
			pidfile = argv[++i];
		else if (v && !strcmp(a, "--closeall"))
			closeall = argv[++i];
		else if (v && !strcmp(a, "--closeall-late"))
			late_ms = atol(argv[++i]);
		else if (v && !strcmp(a, "--dup2-exporter"))
			dup2_ms = atol(argv[++i]);
		else if (v && !strcmp(a, "--hard"))
			hard = atol(argv[++i]);
		else if (v && !strcmp(a, "--fill"))
			fill = atoi(argv[++i]);
		else if (v && !strcmp(a, "--cgi"))
			opt_cgi = argv[++i];
		else {
			fprintf(stderr, "pit_srv: unknown option %s\n", a);
			return 2;
		}
	}
	if (closeall)
		close_all_from3(closeall, -1, -1);
	if (log) {
		logfd = open(log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
		if (logfd < 0)
			return 2;
	}
	if (closeall)
		say("closed all from 3 with %s\n", closeall);
	if (daemon_first && daemon(1, 0) != 0)
		die("daemon");
	lfd = open_listener(port);
	if (lfd < 0)
		die("listen");
	if (daemon_after && daemon(1, 0) != 0)
		die("daemon");
	if (pidfile) {
		FILE *f = fopen(pidfile, "w");
		if (!f)
			die("pidfile");
		fprintf(f, "%d\n", (int)getpid());
		fclose(f);
	}
	/* The exporter's start-up briefly holds a low fd (a socket before it
	 * moves high): let it finish, so that the fill leaves no hole. */
	if (raise || hard || fill)
		usleep(300000);
	if (raise || hard) {
		struct rlimit rl;
		if (getrlimit(RLIMIT_NOFILE, &rl) != 0)
			die("getrlimit");
		unsigned old = (unsigned)rl.rlim_cur;
		if (hard)
			rl.rlim_max = (rlim_t)hard;
		rl.rlim_cur = rl.rlim_max;
		if (setrlimit(RLIMIT_NOFILE, &rl) != 0) {
			say("SETRLIMIT %s\n", strerror(errno));
			exit(77);
		}
		say("fd limit %u -> %lu\n", old, (unsigned long)rl.rlim_cur);
	}
	if (fill) {
		int nul = open("/dev/null", O_RDONLY | O_CLOEXEC);
		while (nul >= 0 && nul < fill)
			nul = fcntl(nul, F_DUPFD_CLOEXEC, 0);
		if (nul < 0)
			die("fill");
		say("filled up to fd %d\n", nul);
	}
	if (sigalrm) {
		if (pipe2(sig_pipe, O_CLOEXEC | O_NONBLOCK) != 0)
			die("pipe");
		struct sigaction sa = {.sa_handler = on_alarm};
		sigemptyset(&sa.sa_mask);
		sigaction(SIGALRM, &sa, NULL);
		struct itimerval it = {{0, 500}, {0, 500}};
		setitimer(ITIMER_REAL, &it, NULL);
	}
	say("serving pid %d\n", (int)getpid());
	long waited = 0;
	for (;;) {
		struct pollfd pf[2] = {{lfd, POLLIN, 0}, {sig_pipe[0], POLLIN, 0}};
		int n = poll(pf, sig_pipe[0] >= 0 ? 2 : 1, 50);
		if (n < 0 && errno != EINTR)
			die("poll");
		if (n <= 0) {
			waited += 50;
			if (late_ms >= 0 && waited >= late_ms) {
				close_all_from3("loop", lfd, logfd);
				say("closed all late\n");
				late_ms = -1;
			}
			if (dup2_ms >= 0 && waited >= dup2_ms) {
				dup2_exporter();
				dup2_ms = -1;
			}
			continue;
		}
		if (sig_pipe[0] >= 0 && (pf[1].revents & POLLIN)) {
			drain_sig_pipe();
			if (!(pf[0].revents & POLLIN))
				continue;
		}
		int c = accept4(lfd, NULL, NULL, 0);
		if (c < 0) {
			if (errno == EINTR || errno == EAGAIN)
				continue;
			die("accept");
		}
		serve_conn(c);
		if (opt_fork_exit) {
			pid_t p = fork();
			if (p == 0)
				exit(0);
			int st = -1;
			while (p > 0 && waitpid(p, &st, 0) < 0 && errno == EINTR)
				;
			say("forked child exited: %d\n", st);
		}
		close_conn(c);
		pid_t stray = waitpid(-1, NULL, WNOHANG);
		if (stray != -1 || errno != ECHILD)
			say("STRAY CHILD %d\n", (int)stray);
		if (exit_after && ++served >= exit_after) {
			say("exiting\n");
			exit(3);
		}
		if (sigalrm) {
			drain_sig_pipe();
			say("signals fired %ld drained %lu\n", (long)sig_fired, sig_drained);
		}
	}
}
