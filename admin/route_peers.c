/* GET /peers: each configured neighbour's link, as the peer module reports it. */
#include <event2/http.h>

#include "admin_route.h"
#include "node.h"

/* One neighbour as a JSON object. */
static bool peer_json(yajl_gen g, const struct peer_status *st)
{
	return json_map_open(g) &&
	    json_key(g, "name") && json_string(g, st->name) &&
	    json_key(g, "address") && json_string(g, st->address) &&
	    json_key(g, "state") && json_string(g, peer_state_name(st->state)) &&
	    json_key(g, "since") && json_time(g, st->since) &&
	    json_key(g, "sent") && json_u64(g, st->sent) &&
	    json_key(g, "received") && json_u64(g, st->received) &&
	    json_key(g, "queued_bytes") && json_u64(g, st->queued_bytes) &&
	    json_key(g, "connects") && json_u64(g, st->connects) &&
	    json_key(g, "connect_failures") && json_u64(g, st->connect_failures) &&
	    json_map_close(g);
}

/* Every configured neighbour, in configuration order. */
static void route_peers(struct admin_request *ar)
{
	yajl_gen g = json_out_begin(ar->json, ar->body);
	struct peer_status st;
	bool ok = json_map_open(g) && json_key(g, "peers") && json_array_open(g);

	for (size_t i = 0; ok && i < peer_count(); i++) {
		peer_get_status(i, &st);
		ok = peer_json(g, &st);
	}
	ok = ok && json_array_close(g) && json_map_close(g);
	admin_reply_json(ar, HTTP_OK, ok);
}

const struct admin_route route_peers_entry = {
	.path = "/peers",
	.handle = route_peers,
};
