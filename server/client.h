/*
 * Client connections on the listen port: read lines, run commands, write replies in
 * command order even when some wait for Places (SPEC section 3). The reply slots of
 * reply.h are these connections'.
 */
#ifndef HERD_CLIENT_H
#define HERD_CLIENT_H

#include <event2/util.h>

/* Accepts client connections on FD (a listen_ready_cb). */
void client_listen(evutil_socket_t fd, void *arg);
/* Closes every client connection and frees it (shutdown). */
void client_close_all(void);
/*
 * The node stops: no new connections; every client is answered what it has sent
 * (complete lines; one being typed is dropped), then closed. DONE runs from the loop
 * once no client is left.
 */
void client_drain_all(void (*done)(void));
/* The journal holds this pass's records: the replies held back for it may go out. */
void client_release(void);

#endif
