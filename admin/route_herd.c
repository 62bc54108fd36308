/*
 * GET /herd: every node of the herd as this node last heard of it, every configured link
 * as both ends see it, and the partitions (README "Link state"), from node_herd_view.
 */
#include <event2/http.h>

#include "admin_route.h"
#include "herdmap.h"
#include "lsa.h"
#include "node.h"

/* What one end says of a link, or null when it says nothing this node believes. */
static void view_json(struct json_out *j, int view)
{
	if (view == HERDVIEW_VIEW_UNKNOWN)
		json_null(j);
	else
		json_string(j, lsa_link_state_name((enum lsa_link_state)view));
}

/* A node's last report: its version, counters and links, as it sent them. */
static void report_json(struct json_out *j, const struct lsa *r)
{
	json_map_open(j);
	json_string_member(j, "version", r->version);
	json_u64_member(j, "seq", r->seq);
	json_u64_member(j, "uptime_seconds", r->counters[LSA_UPTIME]);
	json_u64_member(j, "clients", r->counters[LSA_CLIENTS]);
	json_u64_member(j, "client_connections", r->counters[LSA_CONNECTIONS]);
	json_key(j, "commands");
	json_map_open(j);
	json_u64_member(j, "IAMAT", r->counters[LSA_IAMAT]);
	json_u64_member(j, "WHATSAT", r->counters[LSA_WHATSAT]);
	json_u64_member(j, "invalid", r->counters[LSA_INVALID]);
	json_map_close(j);
	json_key(j, "flood");
	json_map_open(j);
	json_u64_member(j, "originated", r->counters[LSA_ORIGINATED]);
	json_u64_member(j, "received", r->counters[LSA_RECEIVED]);
	json_u64_member(j, "forwarded", r->counters[LSA_FORWARDED]);
	json_u64_member(j, "stale_dropped", r->counters[LSA_STALE]);
	json_u64_member(j, "sync_records_sent", r->counters[LSA_SYNC_SENT]);
	json_u64_member(j, "sync_records_received", r->counters[LSA_SYNC_RECEIVED]);
	json_map_close(j);
	json_key(j, "places");
	json_map_open(j);
	json_u64_member(j, "requests", r->counters[LSA_PLACES_REQUESTS]);
	json_u64_member(j, "errors", r->counters[LSA_PLACES_ERRORS]);
	json_key(j, "latency");
	json_map_open(j);
	json_u64_member(j, "count", r->counters[LSA_PLACES_DONE]);
	json_key(j, "sum_seconds");
	json_fixed(j, (double)r->counters[LSA_PLACES_MS] / 1000, 3);
	json_map_close(j);
	json_map_close(j);
	json_key(j, "links");
	json_array_open(j);
	for (size_t i = 0; i < r->nlinks; i++) {
		json_map_open(j);
		json_string_member(j, "peer", r->links[i].peer);
		json_string_member(j, "state", lsa_link_state_name(r->links[i].state));
		json_map_close(j);
	}
	json_array_close(j);
	json_u64_member(j, "links_omitted", r->links_omitted);
	json_map_close(j);
}

static void node_json(struct json_out *j, const struct herdview_node *n)
{
	json_map_open(j);
	json_string_member(j, "name", n->name);
	json_key(j, "self");
	json_bool(j, n->self);
	json_key(j, "reachable");
	json_bool(j, n->reachable);
	json_key(j, "fresh");
	json_bool(j, n->fresh);
	json_key(j, "partition");
	if (n->partition == HERDVIEW_NO_PARTITION)
		json_null(j);
	else
		json_u64(j, n->partition);
	json_key(j, "last_heard");
	if (n->self)
		json_time(j, htime_now());
	else if (n->report != NULL)
		json_time(j, n->heard_at);
	else
		json_null(j);
	json_key(j, "age_seconds");
	if (n->report != NULL)
		json_fixed(j, (double)n->age_ms / 1000, 3);
	else
		json_null(j);
	json_key(j, "report");
	if (n->report != NULL)
		report_json(j, n->report);
	else
		json_null(j);
	json_map_close(j);
}

static void link_json(struct json_out *j, const struct herdview *v, const struct herdview_link *l)
{
	const char *a = v->nodes[l->a].name, *b = v->nodes[l->b].name;

	json_map_open(j);
	json_key(j, "nodes");
	json_array_open(j);
	json_string(j, a);
	json_string(j, b);
	json_array_close(j);
	json_string_member(j, "state", herdview_link_state_name(l->state));
	json_key(j, "views");
	json_map_open(j);
	json_key(j, a);
	view_json(j, l->view_a);
	json_key(j, b);
	view_json(j, l->view_b);
	json_map_close(j);
	json_map_close(j);
}

/* The names of the nodes in partition P (or unheard), in configuration order. */
static void partition_json(struct json_out *j, const struct herdview *v, size_t p)
{
	json_array_open(j);
	for (size_t i = 0; i < v->nnodes; i++)
		if (v->nodes[i].partition == p)
			json_string(j, v->nodes[i].name);
	json_array_close(j);
}

static void route_herd(struct admin_request *ar)
{
	const struct herdview *v = node_herd_view();
	struct json_out *j = admin_json_begin(ar);

	json_map_open(j);
	json_string_member(j, "node", node_self()->name);
	json_u64_member(j, "report_interval_seconds", (uint64_t)node_config()->linkstate_interval);
	json_u64_member(j, "max_age_seconds", (uint64_t)node_config()->linkstate_max_age);
	json_key(j, "whole");
	json_bool(j, v->nreachable == v->nnodes);
	json_key(j, "reachable");
	partition_json(j, v, 0);
	json_key(j, "partitions");
	json_array_open(j);
	for (size_t p = 0; p < v->npartitions; p++)
		partition_json(j, v, p);
	json_array_close(j);
	json_key(j, "unheard");
	partition_json(j, v, HERDVIEW_NO_PARTITION);
	json_key(j, "nodes");
	json_array_open(j);
	for (size_t i = 0; i < v->nnodes; i++)
		node_json(j, &v->nodes[i]);
	json_array_close(j);
	json_key(j, "links");
	json_array_open(j);
	for (size_t i = 0; i < v->nlinks; i++)
		link_json(j, v, &v->links[i]);
	json_array_close(j);
	json_map_close(j);
	admin_reply_json(ar, HTTP_OK);
}

const struct admin_route route_herd_entry = {
	.path = "/herd",
	.handle = route_herd,
};
