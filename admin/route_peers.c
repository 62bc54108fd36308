/* GET /peers: each configured neighbour's link, as the peer module reports it. */
#include <event2/http.h>

#include "admin_route.h"
#include "node.h"

/* One neighbour as a JSON object. */
static void peer_json(struct json_out *j, const struct peer_status *st)
{
	json_map_open(j);
	json_string_member(j, "name", st->name);
	json_string_member(j, "address", st->address);
	json_string_member(j, "state", peer_state_name(st->state));
	json_key(j, "since");
	json_time(j, st->since);
	json_u64_member(j, "sent", st->sent);
	json_u64_member(j, "received", st->received);
	json_u64_member(j, "queued_bytes", st->queued_bytes);
	json_u64_member(j, "pending_records", st->pending_records);
	json_u64_member(j, "connects", st->connects);
	json_u64_member(j, "connect_failures", st->connect_failures);
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
