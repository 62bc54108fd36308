/* Listening sockets for configured addresses, resolving DNS names with evdns. */
#ifndef HERD_LISTEN_H
#define HERD_LISTEN_H

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

#endif
