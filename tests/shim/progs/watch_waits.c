/* tests/shim/progs/watch_waits.c — the waits of a process that watches its
 * parent instead of running a shim thread keep their meaning. The parent
 * listens (so the family may serve), forks this child, and settles in its
 * loop; the child, single-threaded, checks that:
 *  - it has no thread of its own, and its parent has one;
 *  - epoll_wait and ppoll with timeouts longer than a slice end with 0 no
 *    earlier than asked and not much later;
 *  - poll with no timeout returns the event that comes 1.2 s later;
 *  - epoll_wait with a 5 s timeout returns an event that comes 2.2 s later;
 *  - epoll_pwait2 with no timeout returns -1/EINTR for a signal 1.2 s later;
 *  - errno is what the real calls leave;
 *  - it still has no thread of its own.
 * Prints "ok" and exits 0, or says what failed and exits 1.
 */
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static int failed;

static void check(int ok, const char *what)
{
	printf("%s: %s\n", ok ? "ok" : "FAIL", what);
	fflush(stdout);
	failed |= !ok;
}

static long now_ms(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return t.tv_sec * 1000 + t.tv_nsec / 1000000;
}

static int tasks(pid_t pid)
{
	char p[64];
	snprintf(p, sizeof p, "/proc/%d/task", (int)pid);
	DIR *d = opendir(p);
	int n = 0;
	struct dirent *e;
	while (d && (e = readdir(d)) != NULL)
		n += e->d_name[0] != '.';
	if (d)
		closedir(d);
	return n;
}

static void on_usr1(int s)
{
	(void)s;
}

/* The parent, its loop in poll: after each command byte from the child,
 * wait 1.2 s ('w', 's') or 2.2 s ('W') and then write a byte to the data
 * pipe or signal the child ('s'). */
static int parent(pid_t child, int cmd, int data)
{
	char c;
	struct pollfd pf = {.fd = cmd, .events = POLLIN};
	while (poll(&pf, 1, -1) == 1 && read(cmd, &c, 1) == 1) {
		poll(NULL, 0, c == 'W' ? 2200 : 1200);
		if (c == 's')
			kill(child, SIGUSR1);
		else if (write(data, "x", 1) != 1)
			return 1;
	}
	int st;
	if (waitpid(child, &st, 0) != child)
		return 1;
	return WIFEXITED(st) ? WEXITSTATUS(st) : 1;
}

static void child(int cmd, int data)
{
	struct sigaction sa = {.sa_handler = on_usr1}; /* no SA_RESTART */
	sigaction(SIGUSR1, &sa, NULL);
	poll(NULL, 0, 300); /* the parent settles and starts its thread */
	check(tasks(getpid()) == 1, "the child has no thread");
	check(tasks(getppid()) == 2, "the parent has its shim thread");

	int ep = epoll_create1(EPOLL_CLOEXEC);
	struct epoll_event ev[4];
	long t0 = now_ms();
	errno = 1234;
	int r = epoll_wait(ep, ev, 4, 1300);
	long took = now_ms() - t0;
	printf("epoll_wait 1300 ms: %d after %ld ms\n", r, took);
	check(r == 0 && took >= 1300 && took < 1500 && errno == 1234, "epoll_wait times out on time");

	struct timespec ts = {1, 300000000};
	t0 = now_ms();
	r = ppoll(NULL, 0, &ts, NULL);
	took = now_ms() - t0;
	printf("ppoll 1.3 s: %d after %ld ms\n", r, took);
	check(r == 0 && took >= 1300 && took < 1500, "ppoll times out on time");

	struct pollfd pf = {.fd = data, .events = POLLIN};
	t0 = now_ms();
	if (write(cmd, "w", 1) != 1)
		exit(2);
	r = poll(&pf, 1, -1);
	took = now_ms() - t0;
	printf("poll forever: %d (revents %#x) after %ld ms\n", r, (unsigned)pf.revents, took);
	check(r == 1 && (pf.revents & POLLIN) && took >= 1150 && took < 1700, "poll returns the late event");
	char c;
	if (read(data, &c, 1) != 1)
		exit(2);

	struct epoll_event add = {.events = EPOLLIN, .data.fd = data};
	epoll_ctl(ep, EPOLL_CTL_ADD, data, &add);
	t0 = now_ms();
	if (write(cmd, "W", 1) != 1)
		exit(2);
	r = epoll_wait(ep, ev, 4, 5000);
	took = now_ms() - t0;
	printf("epoll_wait 5000 ms: %d after %ld ms\n", r, took);
	check(r == 1 && ev[0].data.fd == data && took >= 2150 && took < 2700,
	      "epoll_wait returns an event after several slices");
	if (read(data, &c, 1) != 1)
		exit(2);

	t0 = now_ms();
	if (write(cmd, "s", 1) != 1)
		exit(2);
	errno = 0;
	r = epoll_pwait2(ep, ev, 4, NULL, NULL);
	int e = errno;
	took = now_ms() - t0;
	printf("epoll_pwait2 forever: %d errno %d after %ld ms\n", r, e, took);
	check(r == -1 && e == EINTR && took >= 1150 && took < 1700, "a signal ends a sliced wait with EINTR");

	check(tasks(getpid()) == 1, "the child still has no thread");
	exit(failed);
}

int main(void)
{
	int l = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in a = {.sin_family = AF_INET};
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (l < 0 || bind(l, (struct sockaddr *)&a, sizeof a) < 0 || listen(l, 8) < 0) {
		perror("listen");
		return 2;
	}
	int cmd[2], data[2];
	if (pipe(cmd) < 0 || pipe(data) < 0)
		return 2;
	pid_t p = fork();
	if (p < 0)
		return 2;
	if (p == 0) {
		close(cmd[0]);
		close(data[1]);
		child(cmd[1], data[0]);
	}
	close(cmd[1]);
	close(data[0]);
	int rc = parent(p, cmd[0], data[1]);
	printf("%s\n", rc ? "FAILED" : "ok");
	return rc;
}
