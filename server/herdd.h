/* The node's process-wide state: one event loop, one configuration, one table. */
#ifndef HERD_HERDD_H
#define HERD_HERDD_H

#include <stddef.h>

#include "config.h"
#include "htime.h"

struct event;
struct event_base;
struct evdns_base;
struct places;
struct table;

struct herdd {
	struct event_base *base;
	struct evdns_base *dns;
	struct herd_config *config;
	const struct config_node *self;
	size_t self_index;
	struct table *table;
	struct places *places;
	struct htime started;
	/* The log's write at the end of a pass (main.c); a pass that floods moves it last. */
	struct event *log_write;
};

extern struct herdd herdd;

#endif
