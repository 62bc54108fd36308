/* GET /metrics: the counters of /stats and the peer links in Prometheus text format. */
#include <stdio.h>
#include <string.h>

#include <event2/buffer.h>
#include <event2/http.h>

#include "admin_route.h"
#include "node.h"
#include "prom.h"
#include "table.h"
#include "util.h"

/* Every counter of node.h's table: a family at each new METRIC, then its samples. */
static void counter_families(struct prom_out *out)
{
	const char *family = "";

	for (size_t i = 0; i < node_ncounters; i++) {
		const struct node_counter *c = &node_counters[i];
		struct prom_label label = { c->label_name, c->label_value };

		if (strcmp(c->metric, family) != 0) {
			prom_family(out, c->metric, c->type == NODE_GAUGE ? "gauge" : "counter",
			    c->help);
			family = c->metric;
		}
		prom_sample_u64(out, c->metric, &label, c->label_name != NULL ? 1 : 0, *c->value);
	}
}

/* Which number of a peer's status a per-peer family shows. */
enum peer_field {
	PEER_FIELD_UP,
	PEER_FIELD_SINCE,
	PEER_FIELD_SENT,
	PEER_FIELD_RECEIVED,
	PEER_FIELD_QUEUED,
	PEER_FIELD_PENDING,
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
	{ "herd_peer_pending_records", "gauge",
	    "Records owed to the neighbour past the link's window, each client's newest once.",
	    PEER_FIELD_PENDING },
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
	case PEER_FIELD_PENDING:
		prom_sample_u64(out, m->name, &label, 1, st->pending_records);
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
	struct node_histogram h;
	char bound[32];

	node_places_latency(&h);
	prom_family(out, name, "histogram", "Duration of upstream Places calls.");
	for (size_t i = 0; i < h.nbounds; i++) {
		struct prom_label le = { "le", prom_format_double(h.bounds[i], bound, sizeof(bound)) };

		prom_sample_u64(out, "herd_places_request_duration_seconds_bucket", &le, 1,
		    h.buckets[i]);
	}
	prom_sample_u64(out, "herd_places_request_duration_seconds_bucket",
	    &(struct prom_label){ "le", "+Inf" }, 1, h.count);
	prom_sample_double(out, "herd_places_request_duration_seconds_sum", NULL, 0, h.sum);
	prom_sample_u64(out, "herd_places_request_duration_seconds_count", NULL, 0, h.count);
}

/* Node-wide families first, then the histogram, then one family per peer number. */
static void route_metrics(struct admin_request *ar)
{
	struct prom_out out = { ar->body, false };
	struct prom_label build[] = {
		{ "version", HERD_VERSION },
		{ "node", node_self()->name },
	};
	struct htime started = node_started();

	node_stats_refresh();
	prom_family(&out, "herd_build_info", "gauge", "The node's version and name; always 1.");
	prom_sample_u64(&out, "herd_build_info", build, nitems(build), 1);
	prom_family(&out, "herd_start_time_seconds", "gauge", "When the node started (Unix time).");
	prom_sample_double(&out, "herd_start_time_seconds", NULL, 0,
	    (double)started.sec + (double)started.nsec / 1e9);
	prom_family(&out, "herd_uptime_seconds", "gauge", "Seconds since the node started.");
	prom_sample_double(&out, "herd_uptime_seconds", NULL, 0, admin_uptime_seconds());
	prom_family(&out, "herd_clients", "gauge", "Clients in the node's table.");
	prom_sample_u64(&out, "herd_clients", NULL, 0, table_count(node_table()));
	counter_families(&out);
	latency_histogram(&out);
	peer_families(&out);
	if (out.failed) {
		admin_reply_error(ar, HTTP_INTERNAL, "cannot write the metrics");
		return;
	}
	admin_reply(ar, HTTP_OK, PROM_CONTENT_TYPE);
}

const struct admin_route route_metrics_entry = {
	.path = "/metrics",
	.handle = route_metrics,
};
