/*
 * Peer links. Until the link protocol lands (issue 3) a node knows its configured
 * neighbours and reports them down.
 */
#include "peer.h"

#include <stdio.h>
#include <stdlib.h>

#include "config.h"
#include "herdd.h"
#include "log.h"

struct peer {
	const struct config_node *node;
	enum peer_state state;
	struct htime since;
};

static struct peer *peers;
static size_t npeers;

void peers_start(void)
{
	const struct config_node *self = herdd.self;

	npeers = self->nneighbours;
	peers = calloc(npeers > 0 ? npeers : 1, sizeof(*peers));
	if (peers == NULL)
		fatalx("event=startup_failed error=\"out of memory\"");
	for (size_t i = 0; i < npeers; i++) {
		peers[i].node = &herdd.config->nodes[self->neighbours[i]];
		peers[i].state = PEER_DOWN;
		peers[i].since = herdd.started;
	}
}

void peers_stop(void)
{
	free(peers);
	peers = NULL;
	npeers = 0;
}

size_t peer_count(void)
{
	return npeers;
}

void peer_get_status(size_t i, struct peer_status *out)
{
	const struct peer *p = &peers[i];

	*out = (struct peer_status){ 0 };
	out->name = p->node->name;
	config_addr_format(&p->node->peer_listen, out->address, sizeof(out->address));
	out->state = p->state;
	out->since = p->since;
}

const char *peer_state_name(enum peer_state state)
{
	switch (state) {
	case PEER_UP:
		return "up";
	case PEER_CONNECTING:
		return "connecting";
	case PEER_DOWN:
		break;
	}
	return "down";
}
