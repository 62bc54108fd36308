/*
 * A reply that comes later (WHATSAT waits for Places): a slot in its connection's queue
 * of replies, which keeps command order. The command that took the slot fills its
 * buffer and completes it; when the connection goes first, the cancel callback says so
 * and the slot must not be touched again. client.c implements these.
 */
#ifndef HERD_REPLY_H
#define HERD_REPLY_H

struct evbuffer;
struct reply;

/* The slot's buffer, to fill before reply_complete. */
struct evbuffer *reply_buffer(struct reply *r);
/* Marks the slot filled; it goes out once every reply before it has. */
void reply_complete(struct reply *r);
/* CANCEL(ARG) runs if the connection closes before the slot completes. */
void reply_set_cancel(struct reply *r, void (*cancel)(void *), void *arg);

#endif
