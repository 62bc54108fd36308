/* GET /stats: the node's counters as JSON (SPEC section 6). */
#include <stdio.h>

#include <event2/http.h>

#include "admin_route.h"
#include "herdd.h"
#include "stats.h"
#include "table.h"
#include "util.h"

struct named_counter {
	const char *name;
	const uint64_t *value;
};

static const struct named_counter connection_counters[] = {
	{ "current", &stats.clients_current },
	{ "total", &stats.clients_total },
};

static const struct named_counter command_counters[] = {
	{ "IAMAT", &stats.cmd_iamat },
	{ "WHATSAT", &stats.cmd_whatsat },
	{ "invalid", &stats.cmd_invalid },
};

static const struct named_counter flood_counters[] = {
	{ "originated", &stats.flood_originated },
	{ "received", &stats.flood_received },
	{ "forwarded", &stats.flood_forwarded },
	{ "stale_dropped", &stats.flood_stale_dropped },
	{ "sync_records_sent", &stats.sync_records_sent },
	{ "sync_records_received", &stats.sync_records_received },
};

static const struct named_counter limit_counters[] = {
	{ "clients_refused", &stats.clients_refused },
	{ "peer_records_refused", &stats.peer_records_refused },
	{ "accept_pauses", &stats.accept_pauses },
	{ "clients_timed_out", &stats.clients_timed_out },
	{ "admin_timeouts", &stats.admin_timeouts },
	{ "peer_handshakes_evicted", &stats.peer_handshakes_evicted },
};

static const struct named_counter places_counters[] = {
	{ "requests", &stats.places_requests },
	{ "errors", &stats.places_errors },
	{ "coalesced", &stats.places_coalesced },
};

/* Writes the members of one group of counters into the open object. */
static bool counters_json(yajl_gen g, const struct named_counter *counters, size_t n)
{
	bool ok = true;

	for (size_t i = 0; ok && i < n; i++)
		ok = json_key(g, counters[i].name) && json_u64(g, *counters[i].value);
	return ok;
}

/* KEY: {the counters}. */
static bool counter_group_json(yajl_gen g, const char *key,
    const struct named_counter *counters, size_t n)
{
	return json_key(g, key) && json_map_open(g) && counters_json(g, counters, n) &&
	    json_map_close(g);
}

/* The Places latency histogram: {"count", "sum_seconds", "buckets": {"<le>": n, "+Inf": n}}. */
static bool latency_json(yajl_gen g)
{
	char bound[32];
	bool ok = json_key(g, "latency") && json_map_open(g) &&
	    json_key(g, "count") && json_u64(g, stats.places_latency_count) &&
	    json_key(g, "sum_seconds") && json_fixed(g, stats.places_latency_sum, 6) &&
	    json_key(g, "buckets") && json_map_open(g);

	for (int i = 0; ok && i < STATS_LATENCY_BUCKETS; i++) {
		snprintf(bound, sizeof(bound), "%g", stats_latency_bounds[i]);
		ok = json_key(g, bound) && json_u64(g, stats.places_latency_buckets[i]);
	}
	return ok && json_key(g, "+Inf") && json_u64(g, stats.places_latency_count) &&
	    json_map_close(g) && json_map_close(g);
}

/* The same numbers as /metrics, grouped as SPEC section 6 lists them. */
static void route_stats(struct admin_request *ar)
{
	yajl_gen g = json_out_begin(ar->json, ar->body);
	bool ok = json_map_open(g) &&
	    json_key(g, "node") && json_string(g, herdd.self->name) &&
	    json_key(g, "version") && json_string(g, HERD_VERSION) &&
	    json_key(g, "started") && json_time(g, herdd.started) &&
	    json_key(g, "uptime_seconds") && json_fixed(g, admin_uptime_seconds(), 3) &&
	    json_key(g, "clients") && json_u64(g, table_count(herdd.table)) &&
	    counter_group_json(g, "client_connections", connection_counters,
	    nitems(connection_counters)) &&
	    counter_group_json(g, "commands", command_counters, nitems(command_counters)) &&
	    counter_group_json(g, "flood", flood_counters, nitems(flood_counters)) &&
	    counter_group_json(g, "limits", limit_counters, nitems(limit_counters)) &&
	    json_key(g, "places") && json_map_open(g) &&
	    counters_json(g, places_counters, nitems(places_counters)) && latency_json(g) &&
	    json_map_close(g) &&
	    json_map_close(g);

	admin_reply_json(ar, HTTP_OK, ok);
}

const struct admin_route route_stats_entry = {
	.path = "/stats",
	.handle = route_stats,
};
