/* tests/shim/progs/sig_srv.c — a server whose signal handler closes its
 * listener, as Apache prefork's graceful-restart handler does, run with
 * sig_below.c under the shim so that the handler runs between the kernel's
 * return from accept/accept4 and the shim's hook. Each round (argv: one of
 * accept, accept4 per round) accepts one connection, serves one exchange on
 * it and closes it; the program checks the handler really ran in between
 * and exits non-zero on any surprise. Loopback only. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define REQ "GET /a HTTP/1.1\r\nHost: x\r\n\r\n"
#define RESP "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"

#define MUST(cond)                                                                                  \
	do {                                                                                        \
		if (!(cond)) {                                                                      \
			fprintf(stderr, "%s:%d: %s (errno %d)\n", __FILE__, __LINE__, #cond, errno); \
			_exit(2);                                                                   \
		}                                                                                   \
	} while (0)

static volatile sig_atomic_t srv_listener = -1, srv_stopped;

/* prefork's stop_listening: close the listeners, finish the connection. */
static void srv_stop_listening(int sig)
{
	(void)sig;
	int e = errno;
	if (srv_listener >= 0)
		close(srv_listener);
	srv_listener = -1;
	srv_stopped = 1;
	errno = e;
}

static void srv_round(int use4)
{
	int l = socket(AF_INET, SOCK_STREAM, 0);
	MUST(l >= 0);
	struct sockaddr_in a = {.sin_family = AF_INET};
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	socklen_t al = sizeof a;
	MUST(bind(l, (struct sockaddr *)&a, sizeof a) == 0);
	MUST(listen(l, 4) == 0);
	MUST(getsockname(l, (struct sockaddr *)&a, &al) == 0);
	int c = socket(AF_INET, SOCK_STREAM, 0);
	MUST(c >= 0 && connect(c, (struct sockaddr *)&a, sizeof a) == 0);

	srv_stopped = 0;
	srv_listener = l;
	int s = use4 ? accept4(l, NULL, NULL, SOCK_CLOEXEC) : accept(l, NULL, NULL);
	MUST(s >= 0);
	/* Without the handler in between this round would prove nothing. */
	MUST(srv_stopped == 1);
	MUST(fcntl(l, F_GETFD) == -1 && errno == EBADF);

	MUST(write(c, REQ, strlen(REQ)) == (ssize_t)strlen(REQ));
	char buf[256];
	size_t got = 0;
	while (got < strlen(REQ)) {
		ssize_t r = read(s, buf + got, sizeof buf - got);
		MUST(r > 0);
		got += (size_t)r;
	}
	MUST(got == strlen(REQ) && memcmp(buf, REQ, got) == 0);
	MUST(write(s, RESP, strlen(RESP)) == (ssize_t)strlen(RESP));
	MUST(close(s) == 0);
	got = 0;
	while (got < strlen(RESP)) {
		ssize_t r = read(c, buf + got, sizeof buf - got);
		MUST(r > 0);
		got += (size_t)r;
	}
	MUST(memcmp(buf, RESP, got) == 0);
	MUST(close(c) == 0);
}

int main(int argc, char **argv)
{
	struct sigaction sa = {.sa_handler = srv_stop_listening, .sa_flags = SA_RESTART};
	sigemptyset(&sa.sa_mask);
	MUST(sigaction(SIGUSR1, &sa, NULL) == 0);
	for (int i = 1; i < argc; i++) {
		MUST(!strcmp(argv[i], "accept") || !strcmp(argv[i], "accept4"));
		srv_round(!strcmp(argv[i], "accept4"));
	}
	return 0;
}
