/*
 * The ceiling for herd's line protocol (tests/bench/README.md): a bare epoll server that
 * answers every line with the line itself, and does nothing else. No parsing, no table,
 * no log; one read and one write per batch of lines.
 *   lineserver PORT
 */
#define _GNU_SOURCE

#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#define LS_BUF (64 * 1024)

struct ls_conn {
	int fd;
	int armed;               /* EPOLLOUT is on: output waits for the socket */
	size_t inlen, outlen;
	char in[LS_BUF];
	char out[LS_BUF];
};

static void ls_close(int ep, struct ls_conn *c)
{
	epoll_ctl(ep, EPOLL_CTL_DEL, c->fd, NULL);
	close(c->fd);
	free(c);
}

/* Sends what C has waiting; arms EPOLLOUT while it cannot. -1: closed. */
static int ls_flush(int ep, struct ls_conn *c)
{
	struct epoll_event ev = { .data.ptr = c };
	size_t off = 0;

	while (off < c->outlen) {
		ssize_t n = write(c->fd, c->out + off, c->outlen - off);

		if (n < 0 && errno == EAGAIN)
			break;
		if (n <= 0)
			return -1;
		off += (size_t)n;
	}
	memmove(c->out, c->out + off, c->outlen - off);
	c->outlen -= off;
	if ((c->outlen > 0) != c->armed) {
		c->armed = c->outlen > 0;
		ev.events = EPOLLIN | (c->armed ? EPOLLOUT : 0);
		epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &ev);
	}
	return 0;
}

/* Reads C and answers each complete line with itself. -1: closed. */
static int ls_read(int ep, struct ls_conn *c)
{
	ssize_t n = read(c->fd, c->in + c->inlen, LS_BUF - c->inlen);
	size_t done = 0;
	char *nl;

	if (n < 0 && errno == EAGAIN)
		return 0;
	if (n <= 0)
		return -1;
	c->inlen += (size_t)n;
	while ((nl = memchr(c->in + done, '\n', c->inlen - done)) != NULL) {
		size_t len = (size_t)(nl - (c->in + done)) + 1;

		if (c->outlen + len > LS_BUF)
			break;
		memcpy(c->out + c->outlen, c->in + done, len);
		c->outlen += len;
		done += len;
	}
	memmove(c->in, c->in + done, c->inlen - done);
	c->inlen -= done;
	if (c->inlen == LS_BUF)
		return -1;
	return c->outlen > 0 ? ls_flush(ep, c) : 0;
}

int main(int argc, char **argv)
{
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	struct epoll_event ev, events[256];
	int lfd, ep, one = 1;

	if (argc != 2) {
		fprintf(stderr, "usage: lineserver PORT\n");
		return 2;
	}
	sa.sin_port = htons((uint16_t)atoi(argv[1]));
	lfd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
	setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (lfd < 0 || bind(lfd, (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
	    listen(lfd, SOMAXCONN) < 0) {
		perror("lineserver: listen");
		return 1;
	}
	ep = epoll_create1(0);
	ev.events = EPOLLIN;
	ev.data.ptr = NULL;
	epoll_ctl(ep, EPOLL_CTL_ADD, lfd, &ev);
	for (;;) {
		int n = epoll_wait(ep, events, 256, -1);

		for (int i = 0; i < n; i++) {
			struct ls_conn *c = events[i].data.ptr;
			int fd;

			if (c == NULL) {
				while ((fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK)) >= 0) {
					c = calloc(1, sizeof(*c));
					if (c == NULL) {
						close(fd);
						continue;
					}
					c->fd = fd;
					setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
					ev.events = EPOLLIN;
					ev.data.ptr = c;
					epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev);
				}
				continue;
			}
			if (((events[i].events & EPOLLOUT) && ls_flush(ep, c) < 0) ||
			    ((events[i].events & (EPOLLIN | EPOLLHUP | EPOLLERR)) && ls_read(ep, c) < 0))
				ls_close(ep, c);
		}
	}
}
