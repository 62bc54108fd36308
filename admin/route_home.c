/*
 * GET /: the status page. The herd from node_herd_view drawn as an inline SVG graph
 * (nodes on a circle, coloured by reachability; links coloured by state) and a table of
 * each node's last report. No script and no external asset: the page refreshes itself
 * with a meta refresh, and its Content-Security-Policy allows nothing but its own style.
 */
#include <math.h>
#include <stdio.h>

#include <event2/buffer.h>
#include <event2/http.h>

#include "admin_route.h"
#include "herdmap.h"
#include "lsa.h"
#include "node.h"

#define PAGE_REFRESH_SECONDS 5
#define GRAPH_WIDTH 640
#define GRAPH_HEIGHT 440
#define GRAPH_RADIUS 165
#define NODE_RADIUS 40      /* at most: many nodes share the circle */

static const char page_style[] =
	"body{font-family:system-ui,sans-serif;margin:1.5em;color:#222}"
	"h1{font-size:1.4em;margin:0 0 .2em}p.summary{margin:.2em 0 1em}"
	".whole{color:#2e7d32}.partitioned{color:#c62828}"
	"svg{border:1px solid #ddd;background:#fafafa;max-width:100%;height:auto}"
	"line.link{stroke-width:5}line.link-up{stroke:#2e7d32}line.link-half{stroke:#ef6c00}"
	"line.link-down{stroke:#c62828}line.link-unknown{stroke:#9e9e9e;stroke-dasharray:8 6}"
	"g.node circle{stroke:#333;stroke-width:2}g.node-reachable circle{fill:#66bb6a}"
	"g.node-unreachable circle{fill:#ef5350}g.node-unknown circle{fill:#bdbdbd}"
	"g.node-self circle{stroke:#0d47a1;stroke-width:5}"
	"g.node text{font-size:12px;text-anchor:middle;dominant-baseline:middle}"
	"p.legend span{display:inline-block;width:1.6em;height:.5em;margin:0 .3em 0 1em}"
	"table{border-collapse:collapse;margin-top:1em}"
	"th,td{border:1px solid #ccc;padding:.25em .6em;text-align:right;white-space:nowrap}"
	"th{text-align:center}td:first-child,td.state{text-align:left}"
	"td.reachable{color:#2e7d32}td.unreachable{color:#c62828}td.unknown{color:#757575}";

/* Appends S with the characters HTML gives meaning to escaped. */
static void html_text(struct evbuffer *out, const char *s)
{
	for (; *s != '\0'; s++) {
		switch (*s) {
		case '&':
			evbuffer_add(out, "&amp;", 5);
			break;
		case '<':
			evbuffer_add(out, "&lt;", 4);
			break;
		case '>':
			evbuffer_add(out, "&gt;", 4);
			break;
		case '"':
			evbuffer_add(out, "&quot;", 6);
			break;
		case '\'':
			evbuffer_add(out, "&#39;", 5);
			break;
		default:
			evbuffer_add(out, s, 1);
		}
	}
}

/* "reachable", "unreachable" (heard of, cut off or gone) or "unknown" (never heard). */
static const char *node_state(const struct herdview_node *n)
{
	if (n->reachable)
		return "reachable";
	return n->report != NULL ? "unreachable" : "unknown";
}

/* Where node I of N sits: on a circle, the first at the top, clockwise. */
static void node_position(size_t i, size_t n, double *x, double *y)
{
	double angle = -M_PI / 2 + 2 * M_PI * (double)i / (double)n;

	*x = GRAPH_WIDTH / 2.0 + (n > 1 ? GRAPH_RADIUS * cos(angle) : 0);
	*y = GRAPH_HEIGHT / 2.0 + (n > 1 ? GRAPH_RADIUS * sin(angle) : 0);
}

/* The radius of N nodes' circles: apart on the big circle, however many there are. */
static double node_radius(size_t n)
{
	double room = n > 1 ? M_PI * GRAPH_RADIUS / (double)n * 0.8 : NODE_RADIUS;

	return room < NODE_RADIUS ? room : NODE_RADIUS;
}

static const char *view_name(int view)
{
	return view == HERDVIEW_VIEW_UNKNOWN ? "not heard" :
	    lsa_link_state_name((enum lsa_link_state)view);
}

static void graph_link(struct evbuffer *out, const struct herdview *v,
    const struct herdview_link *l)
{
	const char *state = herdview_link_state_name(l->state);
	double x1, y1, x2, y2;

	node_position(l->a, v->nnodes, &x1, &y1);
	node_position(l->b, v->nnodes, &x2, &y2);
	evbuffer_add_printf(out, "<line class=\"link link-%s\" data-state=\"%s\" data-a=\"", state,
	    state);
	html_text(out, v->nodes[l->a].name);
	evbuffer_add_printf(out, "\" data-b=\"");
	html_text(out, v->nodes[l->b].name);
	evbuffer_add_printf(out, "\" x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\"><title>", x1,
	    y1, x2, y2);
	html_text(out, v->nodes[l->a].name);
	evbuffer_add_printf(out, " \xe2\x80\x94 ");
	html_text(out, v->nodes[l->b].name);
	evbuffer_add_printf(out, ": %s (", state);
	html_text(out, v->nodes[l->a].name);
	evbuffer_add_printf(out, " says %s, ", view_name(l->view_a));
	html_text(out, v->nodes[l->b].name);
	evbuffer_add_printf(out, " says %s)</title></line>\n", view_name(l->view_b));
}

static void graph_node(struct evbuffer *out, const struct herdview *v, size_t i)
{
	const struct herdview_node *n = &v->nodes[i];
	const char *state = node_state(n);
	double x, y;

	node_position(i, v->nnodes, &x, &y);
	evbuffer_add_printf(out, "<g class=\"node node-%s%s\" data-state=\"%s\" data-node=\"",
	    state, n->self ? " node-self" : "", state);
	html_text(out, n->name);
	evbuffer_add_printf(out, "\"><title>");
	html_text(out, n->name);
	evbuffer_add_printf(out, ": %s%s</title><circle cx=\"%.1f\" cy=\"%.1f\" r=\"%.1f\"/>"
	    "<text x=\"%.1f\" y=\"%.1f\">", state, n->self ? " (this node)" : "", x, y,
	    node_radius(v->nnodes), x, y);
	html_text(out, n->name);
	evbuffer_add_printf(out, "</text></g>\n");
}

/* The graph: links first, so the nodes are drawn over their ends. */
static void page_graph(struct evbuffer *out, const struct herdview *v)
{
	evbuffer_add_printf(out, "<svg id=\"herd-graph\" xmlns=\"http://www.w3.org/2000/svg\" "
	    "viewBox=\"0 0 %d %d\" width=\"%d\" height=\"%d\" role=\"img\" "
	    "aria-label=\"the herd's nodes and links\">\n", GRAPH_WIDTH, GRAPH_HEIGHT,
	    GRAPH_WIDTH, GRAPH_HEIGHT);
	for (size_t i = 0; i < v->nlinks; i++)
		graph_link(out, v, &v->links[i]);
	for (size_t i = 0; i < v->nnodes; i++)
		graph_node(out, v, i);
	evbuffer_add_printf(out, "</svg>\n");
}

/* SECONDS as "3d 4h", "2h 05m", "4m 10s" or "12s". */
static void duration_text(struct evbuffer *out, uint64_t s)
{
	if (s >= 86400)
		evbuffer_add_printf(out, "%llud %lluh", (unsigned long long)(s / 86400),
		    (unsigned long long)(s % 86400 / 3600));
	else if (s >= 3600)
		evbuffer_add_printf(out, "%lluh %02llum", (unsigned long long)(s / 3600),
		    (unsigned long long)(s % 3600 / 60));
	else if (s >= 60)
		evbuffer_add_printf(out, "%llum %02llus", (unsigned long long)(s / 60),
		    (unsigned long long)(s % 60));
	else
		evbuffer_add_printf(out, "%llus", (unsigned long long)s);
}

static void table_row(struct evbuffer *out, const struct herdview_node *n)
{
	static const enum lsa_counter columns[] = {
		LSA_CLIENTS, LSA_CONNECTIONS, LSA_IAMAT, LSA_WHATSAT, LSA_INVALID,
		LSA_ORIGINATED, LSA_RECEIVED, LSA_FORWARDED, LSA_PLACES_REQUESTS,
		LSA_PLACES_ERRORS,
	};
	const char *state = node_state(n);

	evbuffer_add_printf(out, "<tr data-node=\"");
	html_text(out, n->name);
	evbuffer_add_printf(out, "\"><td>");
	html_text(out, n->name);
	evbuffer_add_printf(out, "%s</td><td class=\"state %s\">%s</td><td>",
	    n->self ? " (this node)" : "", state, state);
	if (n->self)
		evbuffer_add_printf(out, "now");
	else if (n->report != NULL)
		evbuffer_add_printf(out, "%.1f s ago%s", (double)n->age_ms / 1000,
		    n->fresh ? "" : " (stale)");
	else
		evbuffer_add_printf(out, "never");
	evbuffer_add_printf(out, "</td>");
	if (n->report == NULL) {
		evbuffer_add_printf(out, "<td colspan=\"%zu\"></td></tr>\n",
		    sizeof(columns) / sizeof(columns[0]) + 2);
		return;
	}
	evbuffer_add_printf(out, "<td>");
	html_text(out, n->report->version);
	evbuffer_add_printf(out, "</td><td>");
	duration_text(out, n->report->counters[LSA_UPTIME]);
	evbuffer_add_printf(out, "</td>");
	for (size_t i = 0; i < sizeof(columns) / sizeof(columns[0]); i++)
		evbuffer_add_printf(out, "<td>%llu</td>",
		    (unsigned long long)n->report->counters[columns[i]]);
	evbuffer_add_printf(out, "</tr>\n");
}

static void page_table(struct evbuffer *out, const struct herdview *v)
{
	evbuffer_add_printf(out, "<table id=\"herd-nodes\">\n<tr><th rowspan=\"2\">node</th>"
	    "<th rowspan=\"2\">state</th><th rowspan=\"2\">last heard</th>"
	    "<th rowspan=\"2\">version</th><th rowspan=\"2\">uptime</th>"
	    "<th rowspan=\"2\">clients</th><th rowspan=\"2\">connections</th>"
	    "<th colspan=\"3\">commands</th><th colspan=\"3\">flood records</th>"
	    "<th colspan=\"2\">Places</th></tr>\n<tr><th>IAMAT</th><th>WHATSAT</th>"
	    "<th>invalid</th><th>originated</th><th>received</th><th>forwarded</th>"
	    "<th>requests</th><th>errors</th></tr>\n");
	for (size_t i = 0; i < v->nnodes; i++)
		table_row(out, &v->nodes[i]);
	evbuffer_add_printf(out, "</table>\n");
}

static void route_home(struct admin_request *ar)
{
	const struct herdview *v = node_herd_view();
	struct evkeyvalq *headers = evhttp_request_get_output_headers(ar->req);
	const char *self = node_self()->name;
	struct evbuffer *out = ar->body;
	bool whole;

	evbuffer_add_printf(out, "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
	    "<meta http-equiv=\"refresh\" content=\"%d\"><title>herd: ", PAGE_REFRESH_SECONDS);
	html_text(out, self);
	evbuffer_add_printf(out, "</title><style>%s</style></head><body>\n<h1>herd, as ",
	    page_style);
	html_text(out, self);
	whole = v->nreachable == v->nnodes;
	evbuffer_add_printf(out, " sees it</h1>\n<p class=\"summary %s\">%s: %zu of %zu nodes "
	    "reachable, %zu partition%s, %zu not heard of for %d s or more. This page "
	    "refreshes every %d s.</p>\n", whole ? "whole" : "partitioned",
	    whole ? "Whole" : "Not whole", v->nreachable, v->nnodes, v->npartitions,
	    v->npartitions == 1 ? "" : "s", v->nunheard, node_config()->linkstate_max_age,
	    PAGE_REFRESH_SECONDS);
	page_graph(out, v);
	evbuffer_add_printf(out, "<p class=\"legend\">Nodes:<span style=\"background:#66bb6a\">"
	    "</span>reachable<span style=\"background:#ef5350\"></span>unreachable"
	    "<span style=\"background:#bdbdbd\"></span>never heard. Links:"
	    "<span style=\"background:#2e7d32\"></span>up<span style=\"background:#ef6c00\">"
	    "</span>one end only<span style=\"background:#c62828\"></span>down"
	    "<span style=\"background:#9e9e9e\"></span>not heard</p>\n");
	page_table(out, v);
	evbuffer_add_printf(out, "</body></html>\n");
	evhttp_add_header(headers, "Content-Security-Policy",
	    "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'");
	evhttp_add_header(headers, "X-Content-Type-Options", "nosniff");
	evhttp_add_header(headers, "Cache-Control", "no-store");
	evhttp_add_header(headers, "Referrer-Policy", "no-referrer");
	admin_reply(ar, HTTP_OK, "text/html; charset=utf-8");
}

const struct admin_route route_home_entry = {
	.path = "/",
	.handle = route_home,
};
