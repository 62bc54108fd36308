/* The node's own state, as admin/node.h gives it to the admin endpoint. */
#include "node.h"

#include "digest.h"
#include "herdd.h"
#include "listen.h"
#include "log.h"
#include "state.h"
#include "stats.h"
#include "table.h"

static struct acceptor *admin_acceptor;
static void (*admin_ready)(struct evconnlistener *listener);

void node_stats_refresh(void)
{
	const struct digest *d = table_digest(herdd.table);

	stats.log_lines_dropped = log_lines_dropped();
	/* 48 bits, as the wire compares them: exact in JSON numbers and Prometheus floats. */
	stats.sync_digest = d != NULL ? digest_node(d, 0, 0) & DIGEST_HASH_MASK : 0;
	state_stats_refresh();
}

struct event_base *node_event_base(void)
{
	return herdd.base;
}

const struct herd_config *node_config(void)
{
	return herdd.config;
}

const struct config_node *node_self(void)
{
	return herdd.self;
}

struct htime node_started(void)
{
	return herdd.started;
}

const struct table *node_table(void)
{
	return herdd.table;
}

/* admin_listen is bound: an acceptor with the admin cap, its listener for evhttp. */
static void node_admin_bound(evutil_socket_t fd, void *arg)
{
	struct evconnlistener *listener;

	admin_acceptor = acceptor_new_for(fd, "admin", herdd.config->admin_max_connections,
	    &listener);
	admin_ready(listener);
}

void node_admin_listen(void (*ready)(struct evconnlistener *listener))
{
	admin_ready = ready;
	listen_start(&herdd.self->admin_listen, "admin", node_admin_bound, NULL);
}

void node_admin_opened(void)
{
	acceptor_opened(admin_acceptor);
}

void node_admin_closed(void)
{
	acceptor_closed(admin_acceptor);
}

void node_admin_unlisten(void)
{
	acceptor_free(admin_acceptor);
	admin_acceptor = NULL;
}
