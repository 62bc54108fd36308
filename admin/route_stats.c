/* GET /stats: the node's counters as JSON (SPEC section 6), from node.h's one table. */
#include <stdio.h>
#include <string.h>

#include <event2/http.h>

#include "admin_route.h"
#include "node.h"
#include "table.h"

/* Writes the members of GROUP into the open object. */
static bool counters_json(yajl_gen g, const char *group)
{
	bool ok = true;

	for (size_t i = 0; ok && i < node_ncounters; i++) {
		if (strcmp(node_counters[i].group, group) == 0)
			ok = json_key(g, node_counters[i].key) && json_u64(g, *node_counters[i].value);
	}
	return ok;
}

/* The Places latency histogram: {"count", "sum_seconds", "buckets": {"<le>": n, "+Inf": n}}. */
static bool latency_json(yajl_gen g)
{
	struct node_histogram h;
	char bound[32];
	bool ok;

	node_places_latency(&h);
	ok = json_key(g, "latency") && json_map_open(g) &&
	    json_key(g, "count") && json_u64(g, h.count) &&
	    json_key(g, "sum_seconds") && json_fixed(g, h.sum, 6) &&
	    json_key(g, "buckets") && json_map_open(g);
	for (size_t i = 0; ok && i < h.nbounds; i++) {
		snprintf(bound, sizeof(bound), "%g", h.bounds[i]);
		ok = json_key(g, bound) && json_u64(g, h.buckets[i]);
	}
	return ok && json_key(g, "+Inf") && json_u64(g, h.count) &&
	    json_map_close(g) && json_map_close(g);
}

/* GROUP: {its counters}, with the latency histogram in "places". */
static bool group_json(yajl_gen g, const char *group)
{
	return json_key(g, group) && json_map_open(g) && counters_json(g, group) &&
	    (strcmp(group, "places") != 0 || latency_json(g)) && json_map_close(g);
}

/* The same numbers as /metrics, grouped as SPEC section 6 lists them. */
static void route_stats(struct admin_request *ar)
{
	yajl_gen g = json_out_begin(ar->json, ar->body);
	bool ok = json_map_open(g) &&
	    json_key(g, "node") && json_string(g, node_self()->name) &&
	    json_key(g, "version") && json_string(g, HERD_VERSION) &&
	    json_key(g, "started") && json_time(g, node_started()) &&
	    json_key(g, "uptime_seconds") && json_fixed(g, admin_uptime_seconds(), 3) &&
	    json_key(g, "clients") && json_u64(g, table_count(node_table()));

	for (size_t i = 0; ok && node_counter_groups[i] != NULL; i++)
		ok = group_json(g, node_counter_groups[i]);
	ok = ok && json_map_close(g);
	admin_reply_json(ar, HTTP_OK, ok);
}

const struct admin_route route_stats_entry = {
	.path = "/stats",
	.handle = route_stats,
};
