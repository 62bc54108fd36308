/* Listening sockets for configured addresses, resolving DNS names with evdns. */
#ifndef HERD_LISTEN_H
#define HERD_LISTEN_H

#include <stddef.h>

#include <event2/util.h>

#include "config.h"

/* Called with a bound, listening, non-blocking socket. */
typedef void (*listen_ready_cb)(evutil_socket_t fd, void *arg);

/*
 * Binds ADDR (WHAT names it in logs) and hands the socket to READY: at once for numeric
 * addresses, after an evdns lookup for names. Failing to bind is fatal: a node that
 * cannot serve its configured ports must not pretend to run.
 */
void listen_start(const struct config_addr *addr, const char *what, listen_ready_cb ready,
    void *arg);

/* Calls DONE once every listener started so far is bound (at once if they all are). */
void listen_when_bound(void (*done)(void));

struct evconnlistener;

/*
 * An accepting socket that pauses instead of spinning. When accept fails (out of file
 * descriptors or memory) it stops for a second and tries again; while the connections it
 * counts reach MAX (0: no cap) it stops until one closes. Each pause is logged once, and
 * so is the end of it.
 */
struct acceptor;

typedef void (*acceptor_cb)(evutil_socket_t fd, struct sockaddr *sa, int salen, void *arg);

/*
 * Accepts on the listening socket FD, calling ACCEPTED with each new connection (NULL: the
 * listener is handed to another module, below).
 */
struct acceptor *acceptor_new(evutil_socket_t fd, const char *what, size_t max,
    acceptor_cb accepted, void *arg);
/*
 * The same for a socket whose connections another module accepts (evhttp): it gets the
 * listener, and calls acceptor_opened for each connection it makes.
 */
struct acceptor *acceptor_new_for(evutil_socket_t fd, const char *what, size_t max,
    struct evconnlistener **listener);
/* A connection counted against the cap was opened, or closed. */
void acceptor_opened(struct acceptor *a);
void acceptor_closed(struct acceptor *a);
/*
 * Accepts what waits in A's backlog now, at most MOST and within A's cap (a stop: each
 * of them connected and may have sent lines before the listener closes).
 */
void acceptor_take_backlog(struct acceptor *a, size_t most);
/* Stops accepting and frees A (and its listener, unless it was handed on). */
void acceptor_free(struct acceptor *a);

#endif
