/* The node's counters, and the one table of them that /stats and /metrics render. */
#include "stats.h"

#include "node.h"
#include "util.h"

struct herd_stats stats;

const double stats_latency_bounds[STATS_LATENCY_BUCKETS] = {
	0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5,
};

void stats_places_latency(double seconds)
{
	stats.places_latency_count++;
	stats.places_latency_sum += seconds;
	for (int i = 0; i < STATS_LATENCY_BUCKETS; i++) {
		if (seconds <= stats_latency_bounds[i])
			stats.places_latency_buckets[i]++;
	}
}

const char *const node_counter_groups[] = {
	"client_connections", "commands", "flood", "limits", "linkstate", "places", "state", "sync",
	NULL,
};

/* In /metrics order; entries of one family together, its HELP on the first. */
const struct node_counter node_counters[] = {
	{ "client_connections", "current", "herd_client_connections", NODE_GAUGE,
	    "Client connections open now.", NULL, NULL, &stats.clients_current },
	{ "client_connections", "total", "herd_client_connections_total", NODE_COUNTER,
	    "Client connections accepted.", NULL, NULL, &stats.clients_total },
	{ "limits", "clients_refused", "herd_clients_refused_total", NODE_COUNTER,
	    "New client IDs refused because the table held max_clients.", NULL, NULL,
	    &stats.clients_refused },
	{ "limits", "places_refused", "herd_places_refused_total", NODE_COUNTER,
	    "WHATSATs answered UNKNOWN_ERROR at once: places_max_requests calls in flight.",
	    NULL, NULL, &stats.places_refused },
	{ "limits", "peer_records_refused", "herd_peer_records_refused_total", NODE_COUNTER,
	    "Records from neighbours dropped: malformed, of an unknown node, or too far ahead.",
	    NULL, NULL, &stats.peer_records_refused },
	{ "limits", "accept_pauses", "herd_accept_pauses_total", NODE_COUNTER,
	    "Times a listener stopped accepting: accept failed, or it reached its cap.", NULL,
	    NULL, &stats.accept_pauses },
	{ "limits", "clients_timed_out", "herd_clients_timed_out_total", NODE_COUNTER,
	    "Client connections closed by the line, idle or write deadline.", NULL, NULL,
	    &stats.clients_timed_out },
	{ "limits", "admin_timeouts", "herd_admin_timeouts_total", NODE_COUNTER,
	    "Admin connections closed by admin_timeout.", NULL, NULL, &stats.admin_timeouts },
	{ "limits", "peer_handshakes_evicted", "herd_peer_handshakes_evicted_total",
	    NODE_COUNTER, "Inbound peer handshakes closed to make room (peer_handshake_max).",
	    NULL, NULL, &stats.peer_handshakes_evicted },
	{ "limits", "log_lines_dropped", "herd_log_lines_dropped_total", NODE_COUNTER,
	    "Log lines dropped because the log file could not be written (a full disk).", NULL,
	    NULL, &stats.log_lines_dropped },
	{ "places", "requests", "herd_places_requests_total", NODE_COUNTER,
	    "Upstream Places calls made.", NULL, NULL, &stats.places_requests },
	{ "places", "errors", "herd_places_errors_total", NODE_COUNTER,
	    "Upstream Places calls that ended in UNKNOWN_ERROR.", NULL, NULL,
	    &stats.places_errors },
	{ "places", "coalesced", "herd_places_coalesced_total", NODE_COUNTER,
	    "WHATSATs answered by an identical Places call already in flight.", NULL, NULL,
	    &stats.places_coalesced },
	{ "places", "abandoned", "herd_places_abandoned_total", NODE_COUNTER,
	    "Places calls sent, then dropped before their answer: nobody waited any more.",
	    NULL, NULL, &stats.places_abandoned },
	{ "places", "connections", "herd_places_connections", NODE_GAUGE,
	    "Connections to the Places host open now.", NULL, NULL, &stats.places_connections },
	{ "places", "connections_opened", "herd_places_connections_opened_total", NODE_COUNTER,
	    "Connections opened to the Places host.", NULL, NULL,
	    &stats.places_connections_opened },
	{ "places", "requests_reused", "herd_places_requests_reused_total", NODE_COUNTER,
	    "Places calls sent on a kept-alive connection.", NULL, NULL,
	    &stats.places_requests_reused },
	{ "places", "handshakes_full", "herd_places_tls_handshakes_total", NODE_COUNTER,
	    "TLS handshakes with the Places host: full (chain verified) or resumed.", "kind",
	    "full", &stats.places_handshakes_full },
	{ "places", "handshakes_resumed", "herd_places_tls_handshakes_total", NODE_COUNTER, NULL,
	    "kind", "resumed", &stats.places_handshakes_resumed },
	{ "places", "retries", "herd_places_retries_total", NODE_COUNTER,
	    "Places calls sent again after a reused connection failed before the answer.", NULL,
	    NULL, &stats.places_retries },
	{ "places", "connect_failovers", "herd_places_connect_failovers_total", NODE_COUNTER,
	    "Fresh connections that went to the host's next address.", NULL, NULL,
	    &stats.places_connect_failovers },
	{ "commands", "IAMAT", "herd_commands_total", NODE_COUNTER,
	    "Client commands by kind.", "kind", "IAMAT", &stats.cmd_iamat },
	{ "commands", "WHATSAT", "herd_commands_total", NODE_COUNTER, NULL, "kind", "WHATSAT",
	    &stats.cmd_whatsat },
	{ "commands", "invalid", "herd_commands_total", NODE_COUNTER, NULL, "kind", "invalid",
	    &stats.cmd_invalid },
	{ "flood", "originated", "herd_flood_records_total", NODE_COUNTER,
	    "Flooded records: originated here, received, forwarded, and stale ones dropped.",
	    "kind", "originated", &stats.flood_originated },
	{ "flood", "received", "herd_flood_records_total", NODE_COUNTER, NULL, "kind",
	    "received", &stats.flood_received },
	{ "flood", "forwarded", "herd_flood_records_total", NODE_COUNTER, NULL, "kind",
	    "forwarded", &stats.flood_forwarded },
	{ "flood", "stale_dropped", "herd_flood_records_total", NODE_COUNTER, NULL, "kind",
	    "stale_dropped", &stats.flood_stale_dropped },
	{ "flood", "coalesced", "herd_flood_records_total", NODE_COUNTER, NULL, "kind",
	    "coalesced", &stats.flood_coalesced },
	{ "flood", "sync_records_sent", "herd_sync_records_total", NODE_COUNTER,
	    "Records exchanged when a peer link comes up.", "direction", "sent",
	    &stats.sync_records_sent },
	{ "flood", "sync_records_received", "herd_sync_records_total", NODE_COUNTER, NULL,
	    "direction", "received", &stats.sync_records_received },
	{ "linkstate", "sent", "herd_linkstate_reports_total", NODE_COUNTER,
	    "Link-state reports: this node's sent, others' stored (newer), stale ones dropped, "
	    "refused ones (malformed, of a node not in the herd, a boot ahead of the clock), and "
	    "ones of this node newer than its own (forged, or from before a clock step).",
	    "kind", "sent",
	    &stats.linkstate_sent },
	{ "linkstate", "stored", "herd_linkstate_reports_total", NODE_COUNTER, NULL, "kind",
	    "stored", &stats.linkstate_stored },
	{ "linkstate", "stale", "herd_linkstate_reports_total", NODE_COUNTER, NULL, "kind",
	    "stale", &stats.linkstate_stale },
	{ "linkstate", "refused", "herd_linkstate_reports_total", NODE_COUNTER, NULL, "kind",
	    "refused", &stats.linkstate_refused },
	{ "linkstate", "own_newer", "herd_linkstate_reports_total", NODE_COUNTER, NULL, "kind",
	    "own_newer", &stats.linkstate_own_newer },
	{ "sync", "full", "herd_syncs_total", NODE_COUNTER,
	    "Link-ups by how the tables were reconciled: whole table, digest walk, or equal.",
	    "mode", "full", &stats.sync_full },
	{ "sync", "walk", "herd_syncs_total", NODE_COUNTER, NULL, "mode", "walk",
	    &stats.sync_walk },
	{ "sync", "equal", "herd_syncs_total", NODE_COUNTER, NULL, "mode", "equal",
	    &stats.sync_equal },
	{ "sync", "bytes_sent", "herd_sync_bytes_sent_total", NODE_COUNTER,
	    "Bytes of sync and digest-walk lines sent to neighbours.", NULL, NULL,
	    &stats.sync_bytes_sent },
	{ "sync", "digest", "herd_table_digest", NODE_GAUGE,
	    "The table digest's root (low 48 bits): nodes that hold the same records agree.",
	    NULL, NULL, &stats.sync_digest },
	{ "state", "enabled", "herd_state_enabled", NODE_GAUGE,
	    "1 when state_dir is set: records are journaled.", NULL, NULL,
	    &stats.state_enabled },
	{ "state", "journal_records", "herd_state_journal_records", NODE_GAUGE,
	    "Records in the journals since the snapshot.", NULL, NULL,
	    &stats.state_journal_records },
	{ "state", "journal_bytes", "herd_state_journal_bytes", NODE_GAUGE,
	    "Bytes of the journals since the snapshot.", NULL, NULL,
	    &stats.state_journal_bytes },
	{ "state", "unsynced_records", "herd_state_unsynced_records", NODE_GAUGE,
	    "Records written to the journal and not yet fsynced.", NULL, NULL,
	    &stats.state_unsynced_records },
	{ "state", "snapshot_records", "herd_state_snapshot_records", NODE_GAUGE,
	    "Records in the snapshot.", NULL, NULL,
	    &stats.state_snapshot_records },
	{ "state", "snapshot_bytes", "herd_state_snapshot_bytes", NODE_GAUGE,
	    "Bytes of the snapshot.", NULL, NULL,
	    &stats.state_snapshot_bytes },
	{ "state", "snapshot_age_seconds", "herd_state_snapshot_age_seconds", NODE_GAUGE,
	    "Seconds since the snapshot was written (0: none).", NULL, NULL,
	    &stats.state_snapshot_age_seconds },
	{ "state", "last_fsync_age_ms", "herd_state_last_fsync_age_milliseconds", NODE_GAUGE,
	    "Milliseconds since the last journal fsync finished (0: none yet).", NULL, NULL,
	    &stats.state_last_fsync_age_ms },
	{ "state", "fsyncs", "herd_state_fsyncs_total", NODE_COUNTER,
	    "Journal fsyncs finished.", NULL, NULL,
	    &stats.state_fsyncs },
	{ "state", "fsync_errors", "herd_state_fsync_errors_total", NODE_COUNTER,
	    "Journal fsyncs that failed.", NULL, NULL,
	    &stats.state_fsync_errors },
	{ "state", "write_errors", "herd_state_write_errors_total", NODE_COUNTER,
	    "Journal writes that failed (replies waited).", NULL, NULL,
	    &stats.state_write_errors },
	{ "state", "records_dropped", "herd_state_records_dropped_total", NODE_COUNTER,
	    "Records the journal could not take past 8 MiB waiting, left to a snapshot.",
	    NULL, NULL, &stats.state_records_dropped },
	{ "state", "snapshots", "herd_state_snapshots_total", NODE_COUNTER,
	    "Snapshots written (each starts a new journal).", NULL, NULL,
	    &stats.state_compactions },
	{ "state", "snapshot_failures", "herd_state_snapshot_failures_total", NODE_COUNTER,
	    "Snapshots that failed (the journals were kept).", NULL, NULL,
	    &stats.state_compaction_failures },
	{ "state", "load_ms", "herd_state_load_milliseconds", NODE_GAUGE,
	    "Milliseconds the start-up load of state_dir took.", NULL, NULL,
	    &stats.state_load_ms },
	{ "state", "loaded_records", "herd_state_loaded_records", NODE_GAUGE,
	    "Records read from state_dir at start-up.", NULL, NULL,
	    &stats.state_loaded_records },
	{ "state", "damaged_lines", "herd_state_damaged_lines", NODE_GAUGE,
	    "Lines of state_dir skipped at start-up: torn, or failed their checksum.", NULL, NULL,
	    &stats.state_damaged_lines },
};
const size_t node_ncounters = nitems(node_counters);

void node_places_latency(struct node_histogram *out)
{
	out->bounds = stats_latency_bounds;
	out->nbounds = STATS_LATENCY_BUCKETS;
	out->buckets = stats.places_latency_buckets;
	out->count = stats.places_latency_count;
	out->sum = stats.places_latency_sum;
}

void node_admin_timed_out(void)
{
	stats.admin_timeouts++;
}
