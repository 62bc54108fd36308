/* GET /stats: the node's counters as JSON (SPEC section 6), from node.h's one table. */
#include <stdio.h>
#include <string.h>

#include <event2/http.h>

#include "admin_route.h"
#include "node.h"
#include "table.h"

/* Writes the members of GROUP into the open object. */
static void counters_json(struct json_out *j, const char *group)
{
	for (size_t i = 0; i < node_ncounters; i++) {
		if (strcmp(node_counters[i].group, group) == 0)
			json_u64_member(j, node_counters[i].key, *node_counters[i].value);
	}
}

/* The Places latency histogram: {"count", "sum_seconds", "buckets": {"<le>": n, "+Inf": n}}. */
static void latency_json(struct json_out *j)
{
	struct node_histogram h;
	char bound[32];

	node_places_latency(&h);
	json_key(j, "latency");
	json_map_open(j);
	json_u64_member(j, "count", h.count);
	json_key(j, "sum_seconds");
	json_fixed(j, h.sum, 6);
	json_key(j, "buckets");
	json_map_open(j);
	for (size_t i = 0; i < h.nbounds; i++) {
		snprintf(bound, sizeof(bound), "%g", h.bounds[i]);
		json_u64_member(j, bound, h.buckets[i]);
	}
	json_u64_member(j, "+Inf", h.count);
	json_map_close(j);
	json_map_close(j);
}

/* GROUP: {its counters}, with the latency histogram in "places". */
static void group_json(struct json_out *j, const char *group)
{
	json_key(j, group);
	json_map_open(j);
	counters_json(j, group);
	if (strcmp(group, "places") == 0)
		latency_json(j);
	json_map_close(j);
}

/* The same numbers as /metrics, grouped as SPEC section 6 lists them. */
static void route_stats(struct admin_request *ar)
{
	struct json_out *j = admin_json_begin(ar);

	node_stats_refresh();
	json_map_open(j);
	json_string_member(j, "node", node_self()->name);
	json_string_member(j, "version", HERD_VERSION);
	json_key(j, "started");
	json_time(j, node_started());
	json_key(j, "uptime_seconds");
	json_fixed(j, admin_uptime_seconds(), 3);
	json_u64_member(j, "clients", table_count(node_table()));
	for (size_t i = 0; node_counter_groups[i] != NULL; i++)
		group_json(j, node_counter_groups[i]);
	json_map_close(j);
	admin_reply_json(ar, HTTP_OK);
}

const struct admin_route route_stats_entry = {
	.path = "/stats",
	.handle = route_stats,
};
