/* Binding the node's listening sockets. */
#include "listen.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <netinet/in.h>

#include <event2/dns.h>
#include <event2/util.h>

#include "herdd.h"
#include "log.h"

/* Listeners still waiting for a DNS answer, and who wants to know when none are. */
static unsigned listen_pending;
static void (*listen_bound_cb)(void);

struct listen_lookup {
	char what[32];
	char text[300];
	listen_ready_cb ready;
	void *arg;
};

/* Creates a listening socket on SA or dies with WHAT and TEXT in the message. */
static evutil_socket_t listen_bind(const struct sockaddr *sa, socklen_t salen,
    const char *what, const char *text)
{
	evutil_socket_t fd = socket(sa->sa_family, SOCK_STREAM, 0);

	if (fd < 0)
		fatal("event=listen_failed what=%s address=%s", what, text);
	if (evutil_make_listen_socket_reuseable(fd) < 0 || evutil_make_socket_nonblocking(fd) < 0 ||
	    evutil_make_socket_closeonexec(fd) < 0)
		fatal("event=listen_failed what=%s address=%s", what, text);
	if (bind(fd, sa, salen) < 0)
		fatal("event=listen_failed what=%s address=%s step=bind", what, text);
	if (listen(fd, 128) < 0)
		fatal("event=listen_failed what=%s address=%s step=listen", what, text);
	log_info("event=listening what=%s address=%s", what, text);
	return fd;
}

/* Finishes a DNS-named listener once evdns has answered. */
static void listen_resolved(int result, struct evutil_addrinfo *ai, void *arg)
{
	struct listen_lookup *lookup = arg;
	evutil_socket_t fd;

	if (result != 0 || ai == NULL)
		fatalx("event=listen_failed what=%s address=%s step=resolve error=\"%s\"",
		    lookup->what, lookup->text, evutil_gai_strerror(result));
	fd = listen_bind(ai->ai_addr, (socklen_t)ai->ai_addrlen, lookup->what, lookup->text);
	evutil_freeaddrinfo(ai);
	lookup->ready(fd, lookup->arg);
	free(lookup);
	if (--listen_pending == 0 && listen_bound_cb != NULL)
		listen_bound_cb();
}

void listen_when_bound(void (*done)(void))
{
	if (listen_pending == 0)
		done();
	else
		listen_bound_cb = done;
}

void listen_start(const struct config_addr *addr, const char *what, listen_ready_cb ready,
    void *arg)
{
	struct sockaddr_storage ss;
	int sslen = sizeof(ss);
	char text[300], port[8];
	struct evutil_addrinfo hints;
	struct listen_lookup *lookup;

	config_addr_format(addr, text, sizeof(text));
	if (addr->kind != ADDR_NAME) {
		/* evutil_parse_sockaddr_port wants brackets around IPv6, as the file has. */
		memset(&ss, 0, sizeof(ss));
		if (evutil_parse_sockaddr_port(text, (struct sockaddr *)&ss, &sslen) < 0)
			fatalx("event=listen_failed what=%s address=%s step=parse", what, text);
		ready(listen_bind((struct sockaddr *)&ss, (socklen_t)sslen, what, text), arg);
		return;
	}
	lookup = calloc(1, sizeof(*lookup));
	if (lookup == NULL)
		fatal("event=listen_failed what=%s step=alloc", what);
	snprintf(lookup->what, sizeof(lookup->what), "%s", what);
	snprintf(lookup->text, sizeof(lookup->text), "%s", text);
	lookup->ready = ready;
	lookup->arg = arg;
	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = EVUTIL_AI_PASSIVE | EVUTIL_AI_ADDRCONFIG;
	snprintf(port, sizeof(port), "%u", addr->port);
	listen_pending++;
	evdns_getaddrinfo(herdd.dns, addr->host, port, &hints, listen_resolved, lookup);
}
