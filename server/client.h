/*
 * Client connections on the listen port: read lines, run commands, write replies in
 * command order even when some wait for Places (SPEC section 3).
 */
#ifndef HERD_CLIENT_H
#define HERD_CLIENT_H

#include <stddef.h>
#include <stdint.h>

#include <event2/util.h>

struct client;
struct reply;
struct evbuffer;

/* Accepts client connections on FD (a listen_ready_cb). */
void client_listen(evutil_socket_t fd, void *arg);
/* Closes every client connection (shutdown). */
void client_close_all(void);

/* The connection's number in logs. */
uint64_t client_id(const struct client *c);

/* Sends a complete reply (with its trailing newline) in command order. */
void client_reply(struct client *c, const char *data, size_t len);
/* Reserves the next reply slot for a reply that will come later; NULL on ENOMEM. */
struct reply *client_reply_defer(struct client *c);
/* The slot's buffer, to fill before reply_complete. */
struct evbuffer *reply_buffer(struct reply *r);
/* Marks the slot filled, sends whatever is now at the head of the queue. */
void reply_complete(struct reply *r);
/* Lets the slot's owner know when the connection goes away before it completes. */
void reply_set_cancel(struct reply *r, void (*cancel)(void *), void *arg);

#endif
