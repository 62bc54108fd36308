/* GET /peers: each configured neighbour's link, as the peer module reports it. */
#include <event2/http.h>

#include "admin_route.h"
#include "node.h"

/* One neighbour as a JSON object. */
static void peer_json(struct json_out *j, const struct peer_status *st)
{
	json_map_open(j);
	json_key(j, "name");
	json_string(j, st->name);
	json_key(j, "address");
	json_string(j, st->address);
	json_key(j, "state");
	json_string(j, peer_state_name(st->state));
	json_key(j, "since");
	json_time(j, st->since);
	json_key(j, "sent");
	json_u64(j, st->sent);
	json_key(j, "received");
	json_u64(j, st->received);
	json_key(j, "queued_bytes");
	json_u64(j, st->queued_bytes);
	json_key(j, "connects");
	json_u64(j, st->connects);
	json_key(j, "connect_failures");
	json_u64(j, st->connect_failures);
	json_map_close(j);
}

/* Every configured neighbour, in configuration order. */
static void route_peers(struct admin_request *ar)
{
	struct json_out *j = admin_json_begin(ar);
	struct peer_status st;

	json_map_open(j);
	json_key(j, "peers");
	json_array_open(j);
	for (size_t i = 0; i < peer_count(); i++) {
		peer_get_status(i, &st);
		peer_json(j, &st);
	}
	json_array_close(j);
	json_map_close(j);
	admin_reply_json(ar, HTTP_OK);
}

const struct admin_route route_peers_entry = {
	.path = "/peers",
	.handle = route_peers,
};
