/* tests/shim/progs/fam_srv.c — a small forking HTTP server for the family
 * and exporter tests: the master listens on 127.0.0.1:PORT, forks N
 * workers that accept and answer, and respawns workers that die (as nginx
 * and Apache masters do). Optionally daemonises with a double fork first.
 *
 *   fam_srv serve PORT NWORKERS [daemon] [pidfile FILE] [block-usr1]
 *           [waitin epoll|poll|ppoll|pwait2 MS]  workers wait for the
 *                                  non-blocking listener there, MS at a
 *                                  time (-1: no limit), then accept
 *           [stuck]                the master sleeps in a read of a pipe
 *                                  that never gets data (no hook sees it)
 *           [exec DELAY_MS]        after DELAY_MS, the master execs
 *                                  `sleep 30` (its pid lives on, its image
 *                                  and the shim's thread do not)
 *           [sigsuspend]           the master sleeps in sigsuspend and
 *                                  respawns from its SIGCHLD handler, as
 *                                  nginx's does
 *           [also PORT2 DELAY_MS]  after DELAY_MS, also bind and serve PORT2
 *                                  (prints "bound PORT2" or the bind error)
 *           [closeall DELAY_MS]    after DELAY_MS, close every fd above the
 *                                  listener (close_range), as daemons do
 *   fam_srv perconn PORT          fork per connection: the master accepts,
 *                                 a child answers, lingers 2 s and exits
 *   fam_srv idle SECONDS          never listens: sleeps, then exits
 *   fam_srv fullmask              prints the SigBlk a thread shows after
 *                                 pthread_sigmask(SIG_SETMASK, all signals)
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

static void die(const char *what)
{
	perror(what);
	exit(2);
}

static void answer(int c)
{
	char buf[4096];
	size_t have = 0;
	while (have < sizeof buf - 1) {
		ssize_t n = read(c, buf + have, sizeof buf - 1 - have);
		if (n <= 0)
			return;
		have += (size_t)n;
		buf[have] = '\0';
		if (strstr(buf, "\r\n\r\n"))
			break;
	}
	static const char resp[] = "HTTP/1.1 200 OK\r\nContent-Length: 3\r\nConnection: close\r\n\r\nok\n";
	if (write(c, resp, sizeof resp - 1) < 0)
		return;
}

static const char *wait_kind; /* NULL: a blocking accept */
static int wait_ms;

/* Until lfd is readable (or the wait times out), in the wait asked for. */
static void wait_listener(int lfd)
{
	static int ep = -1;
	struct pollfd pf = {.fd = lfd, .events = POLLIN};
	struct epoll_event ev;
	struct timespec ts = {wait_ms / 1000, (long)(wait_ms % 1000) * 1000000L};
	if (!strcmp(wait_kind, "poll")) {
		poll(&pf, 1, wait_ms);
		return;
	}
	if (!strcmp(wait_kind, "ppoll")) {
		ppoll(&pf, 1, wait_ms < 0 ? NULL : &ts, NULL);
		return;
	}
	if (ep < 0) {
		ep = epoll_create1(EPOLL_CLOEXEC);
		struct epoll_event add = {.events = EPOLLIN, .data.fd = lfd};
		if (ep < 0 || epoll_ctl(ep, EPOLL_CTL_ADD, lfd, &add) < 0)
			die("epoll");
	}
	if (!strcmp(wait_kind, "pwait2"))
		epoll_pwait2(ep, &ev, 1, wait_ms < 0 ? NULL : &ts, NULL);
	else
		epoll_wait(ep, &ev, 1, wait_ms);
}

static void worker(int lfd)
{
	for (;;) {
		if (wait_kind)
			wait_listener(lfd);
		int c = accept(lfd, NULL, NULL);
		if (c < 0) {
			if (errno == EINTR || errno == EAGAIN)
				continue;
			_exit(3);
		}
		answer(c);
		close(c);
	}
}

static int master_sigsuspend;
static volatile sig_atomic_t reaped;

static void on_chld(int sig)
{
	(void)sig;
	while (waitpid(-1, NULL, WNOHANG) > 0)
		reaped++;
}

static pid_t spawn(int lfd)
{
	pid_t p = fork();
	if (p < 0)
		die("fork");
	if (p == 0)
		worker(lfd);
	return p;
}

/* Bind and listen on 127.0.0.1:port as servers do (SO_REUSEADDR). */
static int open_listener(int port)
{
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -1;
	int one = 1;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (bind(fd, (struct sockaddr *)&a, sizeof a) < 0 || listen(fd, 128) < 0) {
		int e = errno;
		close(fd);
		errno = e;
		return -1;
	}
	return fd;
}

static void *mask_thread(void *arg)
{
	(void)arg;
	sigset_t all;
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, NULL);
	FILE *f = fopen("/proc/thread-self/status", "r");
	char line[256];
	while (f && fgets(line, sizeof line, f))
		if (!strncmp(line, "SigBlk:", 7))
			fputs(line + 7 + strspn(line + 7, " \t"), stdout);
	if (f)
		fclose(f);
	return NULL;
}

int main(int argc, char **argv)
{
	if (argc >= 2 && !strcmp(argv[1], "fullmask")) {
		pthread_t t;
		pthread_create(&t, NULL, mask_thread, NULL);
		pthread_join(t, NULL);
		return 0;
	}
	if (argc >= 3 && !strcmp(argv[1], "idle")) {
		sleep((unsigned)atoi(argv[2]));
		return 0;
	}
	if (argc >= 3 && !strcmp(argv[1], "perconn")) {
		signal(SIGCHLD, SIG_IGN);
		int l = open_listener(atoi(argv[2]));
		if (l < 0)
			die("bind");
		for (;;) {
			int c = accept(l, NULL, NULL);
			if (c < 0)
				continue;
			pid_t p = fork();
			if (p == 0) {
				close(l);
				answer(c);
				close(c);
				sleep(2);
				_exit(0);
			}
			close(c);
		}
	}
	if (argc < 4 || strcmp(argv[1], "serve") != 0) {
		fprintf(stderr, "usage: fam_srv serve PORT NWORKERS [daemon] [pidfile F] [block-usr1]\n");
		return 2;
	}
	int port = atoi(argv[2]), nworkers = atoi(argv[3]), daemonise = 0;
	const char *pidfile = NULL;
	int also_port = 0, also_ms = 0, closeall_ms = -1, exec_ms = -1, stuck = 0;
	for (int i = 4; i < argc; i++) {
		if (!strcmp(argv[i], "daemon"))
			daemonise = 1;
		else if (!strcmp(argv[i], "pidfile") && i + 1 < argc)
			pidfile = argv[++i];
		else if (!strcmp(argv[i], "also") && i + 2 < argc) {
			also_port = atoi(argv[++i]);
			also_ms = atoi(argv[++i]);
		} else if (!strcmp(argv[i], "stuck")) {
			stuck = 1;
		} else if (!strcmp(argv[i], "exec") && i + 1 < argc) {
			exec_ms = atoi(argv[++i]);
		} else if (!strcmp(argv[i], "closeall") && i + 1 < argc) {
			closeall_ms = atoi(argv[++i]);
		} else if (!strcmp(argv[i], "waitin") && i + 2 < argc) {
			wait_kind = argv[++i];
			wait_ms = atoi(argv[++i]);
		} else if (!strcmp(argv[i], "sigsuspend")) {
			master_sigsuspend = 1;
		} else if (!strcmp(argv[i], "block-usr1")) {
			sigset_t s;
			sigemptyset(&s);
			sigaddset(&s, SIGUSR1);
			sigprocmask(SIG_BLOCK, &s, NULL);
		}
	}

	int lfd = open_listener(port);
	if (lfd < 0)
		die("bind");
	if (wait_kind)
		fcntl(lfd, F_SETFL, fcntl(lfd, F_GETFL) | O_NONBLOCK);
	if (master_sigsuspend) {
		sigset_t chld;
		sigemptyset(&chld);
		sigaddset(&chld, SIGCHLD);
		sigprocmask(SIG_BLOCK, &chld, NULL);
		signal(SIGCHLD, on_chld);
	}

	if (daemonise) {
		/* nginx `daemon on`: the first parent exits at once, the session
		 * leader forks the master and exits too. */
		pid_t p = fork();
		if (p < 0)
			die("fork");
		if (p > 0)
			exit(0);
		setsid();
		p = fork();
		if (p < 0)
			die("fork");
		if (p > 0)
			exit(0);
		/* stdin from /dev/null, as daemons do */
		int nul = open("/dev/null", O_RDONLY);
		if (nul >= 0 && nul != 0) {
			dup2(nul, 0);
			close(nul);
		}
	}
	if (pidfile) {
		FILE *f = fopen(pidfile, "w");
		if (!f)
			die("pidfile");
		fprintf(f, "%d\n", (int)getpid());
		fclose(f);
	}
	for (int i = 0; i < nworkers; i++)
		spawn(lfd);
	if (stuck) {
		int p[2];
		char c;
		if (pipe(p) < 0)
			die("pipe");
		while (read(p[0], &c, 1) < 0 && errno == EINTR)
			;
		die("read");
	}
	if (exec_ms >= 0) {
		usleep((useconds_t)exec_ms * 1000);
		execl("/bin/sleep", "sleep", "30", (char *)NULL);
		die("exec");
	}
	if (closeall_ms >= 0) {
		usleep((useconds_t)closeall_ms * 1000);
		int r = close_range((unsigned)lfd + 1, ~0u, 0);
		printf("closed all above %d: %d\n", lfd, r);
		fflush(stdout);
	}
	if (also_port) {
		usleep((useconds_t)also_ms * 1000);
		int l2 = open_listener(also_port);
		if (l2 < 0) {
			printf("bind %d failed: %s\n", also_port, strerror(errno));
		} else {
			printf("bound %d\n", also_port);
			spawn(l2);
		}
		fflush(stdout);
	}
	if (master_sigsuspend) {
		sigset_t none;
		sigemptyset(&none);
		for (;;) {
			sigsuspend(&none);
			while (reaped > 0) {
				reaped--;
				spawn(lfd);
			}
		}
	}
	for (;;) {
		pid_t p = wait(NULL);
		if (p < 0) {
			if (errno == EINTR)
				continue;
			if (nworkers == 0) {
				pause();
				continue;
			}
			die("wait");
		}
		spawn(lfd);
	}
}
