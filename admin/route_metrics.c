/* GET /metrics: the counters of /stats and the peer links in Prometheus text format. */
#include <stdio.h>

#include <event2/buffer.h>
#include <event2/http.h>

#include "admin_route.h"
#include "herdd.h"
#include "peer.h"
#include "prom.h"
#include "stats.h"
#include "table.h"
#include "util.h"

/* A family with one unlabelled sample read from a counter of struct herd_stats. */
struct plain_metric {
	const char *name;
	const char *type;
	const char *help;
	const uint64_t *value;
};

static const struct plain_metric plain_metrics[] = {
	{ "herd_client_connections", "gauge", "Client connections open now.",
	    &stats.clients_current },
	{ "herd_client_connections_total", "counter", "Client connections accepted.",
	    &stats.clients_total },
	{ "herd_clients_refused_total", "counter",
	    "New client IDs refused because the table held max_clients.", &stats.clients_refused },
	{ "herd_peer_records_refused_total", "counter",
	    "Records from neighbours dropped: malformed, of an unknown node, or too far ahead.",
	    &stats.peer_records_refused },
	{ "herd_accept_pauses_total", "counter",
	    "Times a listener stopped accepting: accept failed, or it reached its cap.",
	    &stats.accept_pauses },
	{ "herd_clients_timed_out_total", "counter",
	    "Client connections closed by the line, idle or write deadline.",
	    &stats.clients_timed_out },
	{ "herd_admin_timeouts_total", "counter",
	    "Admin connections closed by admin_timeout.", &stats.admin_timeouts },
	{ "herd_peer_handshakes_evicted_total", "counter",
	    "Inbound peer handshakes closed to make room (peer_handshake_max).",
	    &stats.peer_handshakes_evicted },
	{ "herd_places_requests_total", "counter", "Upstream Places calls made.",
	    &stats.places_requests },
	{ "herd_places_errors_total", "counter",
	    "Upstream Places calls that ended in UNKNOWN_ERROR.", &stats.places_errors },
	{ "herd_places_coalesced_total", "counter",
	    "WHATSATs answered by an identical Places call already in flight.",
	    &stats.places_coalesced },
};

/* One sample of a family whose samples differ by one label. */
struct labelled_value {
	const char *label;
	const uint64_t *value;
};

static const struct labelled_value command_values[] = {
	{ "IAMAT", &stats.cmd_iamat },
	{ "WHATSAT", &stats.cmd_whatsat },
	{ "invalid", &stats.cmd_invalid },
};

static const struct labelled_value flood_values[] = {
	{ "originated", &stats.flood_originated },
	{ "received", &stats.flood_received },
	{ "forwarded", &stats.flood_forwarded },
	{ "stale_dropped", &stats.flood_stale_dropped },
};

static const struct labelled_value sync_values[] = {
	{ "sent", &stats.sync_records_sent },
	{ "received", &stats.sync_records_received },
};

/* A counter family labelled LABEL_NAME, one sample per VALUES entry. */
static void labelled_family(struct prom_out *out, const char *name, const char *help,
    const char *label_name, const struct labelled_value *values, size_t n)
{
	prom_family(out, name, "counter", help);
	for (size_t i = 0; i < n; i++) {
		struct prom_label label = { label_name, values[i].label };

		prom_sample_u64(out, name, &label, 1, *values[i].value);
	}
}

/* Which number of a peer's status a per-peer family shows. */
enum peer_field {
	PEER_FIELD_UP,
	PEER_FIELD_SINCE,
	PEER_FIELD_SENT,
	PEER_FIELD_RECEIVED,
	PEER_FIELD_QUEUED,
	PEER_FIELD_CONNECTS,
	PEER_FIELD_FAILURES,
};

struct peer_metric {
	const char *name;
	const char *type;
	const char *help;
	enum peer_field field;
};

static const struct peer_metric peer_metrics[] = {
	{ "herd_peer_up", "gauge", "1 while the link to the neighbour is up, else 0.",
	    PEER_FIELD_UP },
	{ "herd_peer_state_since_timestamp_seconds", "gauge",
	    "When the link entered its current state (Unix time).", PEER_FIELD_SINCE },
	{ "herd_peer_records_sent_total", "counter", "Records sent to the neighbour.",
	    PEER_FIELD_SENT },
	{ "herd_peer_records_received_total", "counter", "Records received from the neighbour.",
	    PEER_FIELD_RECEIVED },
	{ "herd_peer_queued_bytes", "gauge", "Output waiting for the neighbour to read it.",
	    PEER_FIELD_QUEUED },
	{ "herd_peer_connects_total", "counter", "Times the link came up.",
	    PEER_FIELD_CONNECTS },
	{ "herd_peer_connect_failures_total", "counter",
	    "Dials or handshakes with the neighbour that failed.", PEER_FIELD_FAILURES },
};

/* Writes the sample of family M for the neighbour ST. */
static void peer_sample(struct prom_out *out, const struct peer_metric *m,
    const struct peer_status *st)
{
	struct prom_label label = { "peer", st->name };

	switch (m->field) {
	case PEER_FIELD_UP:
		prom_sample_u64(out, m->name, &label, 1, st->state == PEER_UP);
		break;
	case PEER_FIELD_SINCE:
		prom_sample_double(out, m->name, &label, 1,
		    (double)st->since.sec + (double)st->since.nsec / 1e9);
		break;
	case PEER_FIELD_SENT:
		prom_sample_u64(out, m->name, &label, 1, st->sent);
		break;
	case PEER_FIELD_RECEIVED:
		prom_sample_u64(out, m->name, &label, 1, st->received);
		break;
	case PEER_FIELD_QUEUED:
		prom_sample_u64(out, m->name, &label, 1, st->queued_bytes);
		break;
	case PEER_FIELD_CONNECTS:
		prom_sample_u64(out, m->name, &label, 1, st->connects);
		break;
	case PEER_FIELD_FAILURES:
		prom_sample_u64(out, m->name, &label, 1, st->connect_failures);
		break;
	}
}

/* Every per-peer family, each with one sample per neighbour, plus the state set. */
static void peer_families(struct prom_out *out)
{
	static const enum peer_state states[] = { PEER_UP, PEER_CONNECTING, PEER_DOWN };
	struct peer_status st;

	for (size_t m = 0; m < nitems(peer_metrics); m++) {
		prom_family(out, peer_metrics[m].name, peer_metrics[m].type, peer_metrics[m].help);
		for (size_t i = 0; i < peer_count(); i++) {
			peer_get_status(i, &st);
			peer_sample(out, &peer_metrics[m], &st);
		}
	}
	prom_family(out, "herd_peer_state", "gauge",
	    "The link's state: 1 for the state it is in, 0 for the others.");
	for (size_t i = 0; i < peer_count(); i++) {
		peer_get_status(i, &st);
		for (size_t s = 0; s < nitems(states); s++) {
			struct prom_label labels[] = {
				{ "peer", st.name },
				{ "state", peer_state_name(states[s]) },
			};

			prom_sample_u64(out, "herd_peer_state", labels, nitems(labels),
			    st.state == states[s]);
		}
	}
}

/* The Places latency histogram with its cumulative buckets, _sum and _count. */
static void latency_histogram(struct prom_out *out)
{
	static const char name[] = "herd_places_request_duration_seconds";
	char bound[32];

	prom_family(out, name, "histogram", "Duration of upstream Places calls.");
	for (int i = 0; i < STATS_LATENCY_BUCKETS; i++) {
		struct prom_label le = { "le",
		    prom_format_double(stats_latency_bounds[i], bound, sizeof(bound)) };

		prom_sample_u64(out, "herd_places_request_duration_seconds_bucket", &le, 1,
		    stats.places_latency_buckets[i]);
	}
	prom_sample_u64(out, "herd_places_request_duration_seconds_bucket",
	    &(struct prom_label){ "le", "+Inf" }, 1, stats.places_latency_count);
	prom_sample_double(out, "herd_places_request_duration_seconds_sum", NULL, 0,
	    stats.places_latency_sum);
	prom_sample_u64(out, "herd_places_request_duration_seconds_count", NULL, 0,
	    stats.places_latency_count);
}

/* Node-wide families first, then the histogram, then one family per peer number. */
static void route_metrics(struct admin_request *ar)
{
	struct prom_out out = { ar->body, false };
	struct prom_label build[] = {
		{ "version", HERD_VERSION },
		{ "node", herdd.self->name },
	};

	prom_family(&out, "herd_build_info", "gauge", "The node's version and name; always 1.");
	prom_sample_u64(&out, "herd_build_info", build, nitems(build), 1);
	prom_family(&out, "herd_start_time_seconds", "gauge", "When the node started (Unix time).");
	prom_sample_double(&out, "herd_start_time_seconds", NULL, 0,
	    (double)herdd.started.sec + (double)herdd.started.nsec / 1e9);
	prom_family(&out, "herd_uptime_seconds", "gauge", "Seconds since the node started.");
	prom_sample_double(&out, "herd_uptime_seconds", NULL, 0, admin_uptime_seconds());
	prom_family(&out, "herd_clients", "gauge", "Clients in the node's table.");
	prom_sample_u64(&out, "herd_clients", NULL, 0, table_count(herdd.table));
	for (size_t i = 0; i < nitems(plain_metrics); i++) {
		prom_family(&out, plain_metrics[i].name, plain_metrics[i].type, plain_metrics[i].help);
		prom_sample_u64(&out, plain_metrics[i].name, NULL, 0, *plain_metrics[i].value);
	}
	labelled_family(&out, "herd_commands_total", "Client commands by kind.", "kind",
	    command_values, nitems(command_values));
	labelled_family(&out, "herd_flood_records_total",
	    "Flooded records: originated here, received, forwarded, and stale ones dropped.",
	    "kind", flood_values, nitems(flood_values));
	labelled_family(&out, "herd_sync_records_total",
	    "Records exchanged when a peer link comes up.", "direction", sync_values,
	    nitems(sync_values));
	latency_histogram(&out);
	peer_families(&out);
	if (out.failed) {
		admin_reply_error(ar, HTTP_INTERNAL, "out of memory writing the metrics");
		return;
	}
	admin_reply(ar, HTTP_OK, PROM_CONTENT_TYPE);
}

const struct admin_route route_metrics_entry = {
	.path = "/metrics",
	.handle = route_metrics,
};
