/* tests/shim/progs/tsan_srv.c — one connection driven from two threads at
 * once, as nginx does with its thread pool: a reader thread consumes the
 * pipelined requests while a writer thread sends the responses, and a
 * third thread makes and closes aliases of the same socket meanwhile.
 * Built with -fsanitize=thread together with the library under test; the
 * client runs in its own threads on untracked sockets. Prints "OK n". */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#define ROUNDS 4
#define REQS 200
#define REQ "GET /t/1 HTTP/1.1\r\nHost: x\r\n\r\n"
#define RESP "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello"

static unsigned port;

#define MUST(c)                                                               \
	do {                                                                  \
		if (!(c)) {                                                   \
			fprintf(stderr, "%s:%d: %s failed\n", __FILE__, __LINE__, #c); \
			exit(2);                                              \
		}                                                             \
	} while (0)

static void *client_send(void *arg)
{
	int c = *(int *)arg;
	for (int i = 0; i < REQS; i++)
		MUST(send(c, REQ, strlen(REQ), 0) == (ssize_t)strlen(REQ));
	return NULL;
}

static void *client_recv(void *arg)
{
	int c = *(int *)arg;
	size_t want = strlen(RESP) * REQS, got = 0;
	char buf[4096];
	while (got < want) {
		ssize_t r = recv(c, buf, sizeof buf, 0);
		MUST(r > 0);
		got += (size_t)r;
	}
	return NULL;
}

static void *server_read(void *arg)
{
	int s = *(int *)arg;
	size_t want = strlen(REQ) * REQS, got = 0;
	char buf[97]; /* odd size: requests split across reads */
	for (int i = 0; got < want; i++) {
		ssize_t r = i % 2 ? read(s, buf, sizeof buf) : recv(s, buf, sizeof buf, 0);
		MUST(r > 0);
		got += (size_t)r;
	}
	return NULL;
}

static void *server_write(void *arg)
{
	int s = *(int *)arg;
	const char *head = "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n";
	for (int i = 0; i < REQS; i++) {
		if (i % 2) {
			MUST(write(s, RESP, strlen(RESP)) == (ssize_t)strlen(RESP));
		} else {
			struct iovec v[2] = {{(void *)head, strlen(head)}, {"hello", 5}};
			MUST(writev(s, v, 2) == (ssize_t)strlen(RESP));
		}
	}
	return NULL;
}

static void *server_alias(void *arg)
{
	int s = *(int *)arg;
	for (int i = 0; i < 50; i++) {
		int d = dup(s);
		MUST(d >= 0);
		MUST(close(d) == 0);
	}
	return NULL;
}

int main(void)
{
	int l = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in a = {.sin_family = AF_INET};
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	MUST(bind(l, (struct sockaddr *)&a, sizeof a) == 0 && listen(l, 8) == 0);
	socklen_t al = sizeof a;
	MUST(getsockname(l, (struct sockaddr *)&a, &al) == 0);
	port = ntohs(a.sin_port);

	for (int round = 0; round < ROUNDS; round++) {
		int c = socket(AF_INET, SOCK_STREAM, 0);
		MUST(connect(c, (struct sockaddr *)&a, sizeof a) == 0);
		int s = accept(l, NULL, NULL);
		MUST(s >= 0);
		pthread_t t[5];
		MUST(pthread_create(&t[0], NULL, client_send, &c) == 0);
		MUST(pthread_create(&t[1], NULL, client_recv, &c) == 0);
		MUST(pthread_create(&t[2], NULL, server_read, &s) == 0);
		MUST(pthread_create(&t[3], NULL, server_write, &s) == 0);
		MUST(pthread_create(&t[4], NULL, server_alias, &s) == 0);
		for (int i = 0; i < 5; i++)
			pthread_join(t[i], NULL);
		close(s);
		close(c);
	}
	close(l);
	printf("OK %d\n", ROUNDS * REQS);
	return 0;
}
