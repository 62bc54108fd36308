/*
 * The configuration checks that need the whole file (limits that depend on each other,
 * required keys, neighbours, addresses used twice, secrets off loopback), and the list of
 * errors, sorted by line at the end so that an operator sees them in file order whichever
 * check found them.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "config_parser.h"
#include "xmalloc.h"

/* An address as used by a node, for the check that none is used twice. */
struct config_addr_use {
	const struct config_addr *addr;
	int line;
};

/* A directed neighbour pair, before the pairs are sorted into each node's array. */
struct config_edge {
	size_t from, to;
};

/* A node's name and index, sorted to find duplicates and look peers up. */
struct config_name {
	const char *name;
	size_t index;
	int line;
};

void config_error(struct config_parser *p, int line, const char *fmt, ...)
{
	struct config_error *e;
	va_list ap;

	if (p->nerrors == p->errors_size) {
		p->errors_size = p->errors_size == 0 ? 8 : p->errors_size * 2;
		p->errors = xreallocarray(p->errors, p->errors_size, sizeof(*p->errors));
	}
	e = &p->errors[p->nerrors];
	e->line = line;
	e->seq = p->nerrors;
	va_start(ap, fmt);
	e->msg = xvasprintf(fmt, ap);
	va_end(ap);
	p->nerrors++;
}

/* Orders errors by line, keeping the order they were found in on the same line. */
static int config_error_cmp(const void *a, const void *b)
{
	const struct config_error *ea = a, *eb = b;

	if (ea->line != eb->line)
		return ea->line < eb->line ? -1 : 1;
	if (ea->seq != eb->seq)
		return ea->seq < eb->seq ? -1 : 1;
	return 0;
}

/* Hands the collected errors to ERRS (or drops them) as "FILE:LINE: message". */
void config_errors_flush(struct config_parser *p, struct config_errors *errs)
{
	size_t i;

	if (p->nerrors > 1)
		qsort(p->errors, p->nerrors, sizeof(*p->errors), config_error_cmp);
	if (errs != NULL && p->nerrors != 0) {
		errs->msgs = xreallocarray(errs->msgs, errs->count + p->nerrors,
		    sizeof(*errs->msgs));
	}
	for (i = 0; i < p->nerrors; i++) {
		if (errs != NULL) {
			errs->msgs[errs->count++] = xasprintf("%s:%d: %s", p->path,
			    p->errors[i].line, p->errors[i].msg);
		}
		free(p->errors[i].msg);
	}
	free(p->errors);
	p->errors = NULL;
	p->nerrors = p->errors_size = 0;
}

/* Orders nodes by name, then by position, so duplicates sit together, first one first. */
static int config_name_cmp(const void *a, const void *b)
{
	const struct config_name *na = a, *nb = b;
	int c;

	if ((c = strcmp(na->name, nb->name)) != 0)
		return c;
	if (na->index != nb->index)
		return na->index < nb->index ? -1 : 1;
	return 0;
}

/*
 * Index of the first node called NAME (LEN bytes, not terminated) in sorted NAMES, or -1.
 * The first, so that a node naming itself is caught even when its name is duplicated.
 */
static long config_lookup(const struct config_name *names, size_t nnames, const char *name,
    size_t len)
{
	size_t lo = 0, hi = nnames, mid;
	int c;

	while (lo < hi) {
		mid = lo + (hi - lo) / 2;
		c = strncmp(name, names[mid].name, len);
		if (c == 0 && names[mid].name[len] != '\0')
			c = -1;
		if (c <= 0)
			hi = mid;
		else
			lo = mid + 1;
	}
	if (lo < nnames && strncmp(name, names[lo].name, len) == 0 &&
	    names[lo].name[len] == '\0')
		return (long)names[lo].index;
	return -1;
}

/* Orders directed pairs by source, then destination. */
static int config_edge_cmp(const void *a, const void *b)
{
	const struct config_edge *ea = a, *eb = b;

	if (ea->from != eb->from)
		return ea->from < eb->from ? -1 : 1;
	if (ea->to != eb->to)
		return ea->to < eb->to ? -1 : 1;
	return 0;
}

/*
 * Finds duplicate nodes, resolves every peers list and fills the symmetric, sorted
 * neighbour arrays: naming a peer on one side is enough.
 */
static void config_link_nodes(struct config_parser *p)
{
	struct herd_config *cfg = p->cfg;
	struct config_edge *edges = NULL;
	struct config_name *names;
	size_t nedges = 0, edges_size = 0, first = 0, i, j, len;
	const char *s;
	long peer;
	int line;

	names = xreallocarray(NULL, cfg->nnodes, sizeof(*names));
	for (i = 0; i < cfg->nnodes; i++) {
		names[i].name = cfg->nodes[i].name;
		names[i].index = i;
		names[i].line = cfg->nodes[i].line;
	}
	if (cfg->nnodes > 1)
		qsort(names, cfg->nnodes, sizeof(*names), config_name_cmp);
	for (i = 1; i < cfg->nnodes; i++) {
		if (strcmp(names[i].name, names[first].name) != 0) {
			first = i;
			continue;
		}
		config_error(p, names[i].line, "duplicate node %s (first at line %d)",
		    names[i].name, names[first].line);
	}

	for (i = 0; i < cfg->nnodes; i++) {
		s = p->extras[i].peers;
		line = p->extras[i].key_line[CONFIG_NODE_PEERS];
		while (s != NULL && *s != '\0') {
			s += strspn(s, " \t\f\v");
			len = strcspn(s, " \t\f\v");
			if (len == 0)
				break;
			peer = config_lookup(names, cfg->nnodes, s, len);
			if (peer < 0) {
				config_error(p, line, "peers: \"%.*s\" is not a node", (int)len, s);
			} else if ((size_t)peer == i) {
				config_error(p, line, "peers: node %s names itself",
				    cfg->nodes[i].name);
			} else {
				if (nedges + 2 > edges_size) {
					edges_size = edges_size == 0 ? 16 : edges_size * 2;
					edges = xreallocarray(edges, edges_size,
					    sizeof(*edges));
				}
				edges[nedges].from = i;
				edges[nedges++].to = (size_t)peer;
				edges[nedges].from = (size_t)peer;
				edges[nedges++].to = i;
			}
			s += len;
		}
	}
	free(names);

	/* qsort wants a valid pointer even for no elements. */
	if (nedges > 1)
		qsort(edges, nedges, sizeof(*edges), config_edge_cmp);
	for (i = 0; i < nedges; i = j) {
		struct config_node *node = &cfg->nodes[edges[i].from];

		for (j = i; j < nedges && edges[j].from == edges[i].from; j++)
			continue;
		node->neighbours = xreallocarray(NULL, j - i, sizeof(*node->neighbours));
		for (len = i; len < j; len++) {
			if (len == i || edges[len].to != edges[len - 1].to)
				node->neighbours[node->nneighbours++] = edges[len].to;
		}
	}
	free(edges);
}

/* Orders address uses by what they name, then by line. */
static int config_addr_use_cmp(const void *a, const void *b)
{
	const struct config_addr_use *ua = a, *ub = b;
	int c;

	if (ua->addr->kind != ub->addr->kind)
		return ua->addr->kind < ub->addr->kind ? -1 : 1;
	if ((c = strcmp(ua->addr->host, ub->addr->host)) != 0)
		return c;
	if (ua->addr->port != ub->addr->port)
		return ua->addr->port < ub->addr->port ? -1 : 1;
	if (ua->line != ub->line)
		return ua->line < ub->line ? -1 : 1;
	return 0;
}

/* Reports every address used a second time anywhere in the herd, at that use. */
static void config_check_addrs(struct config_parser *p)
{
	struct herd_config *cfg = p->cfg;
	struct config_addr_use *uses;
	const struct config_addr *addr;
	char buf[300];
	size_t nuses = 0, i, first = 0;
	int k;

	uses = xreallocarray(NULL, cfg->nnodes * 3, sizeof(*uses));
	for (i = 0; i < cfg->nnodes; i++) {
		for (k = CONFIG_NODE_LISTEN; k <= CONFIG_NODE_ADMIN_LISTEN; k++) {
			addr = (const struct config_addr *)(const void *)
			    ((const char *)&cfg->nodes[i] + config_node_keys[k].offset);
			if (!addr->set)
				continue;
			uses[nuses].addr = addr;
			uses[nuses++].line = p->extras[i].key_line[k];
		}
	}
	if (nuses > 1)
		qsort(uses, nuses, sizeof(*uses), config_addr_use_cmp);
	for (i = 1; i < nuses; i++) {
		if (uses[i].addr->kind != uses[first].addr->kind ||
		    uses[i].addr->port != uses[first].addr->port ||
		    strcmp(uses[i].addr->host, uses[first].addr->host) != 0) {
			first = i;
			continue;
		}
		config_error(p, uses[i].line, "address %s used twice (first at line %d)",
		    config_addr_format(uses[i].addr, buf, sizeof(buf)), uses[first].line);
	}
	free(uses);
}

/*
 * Peer certificates: with peer_ca_file every node names its certificate and key, without
 * it none does, and they are for TLS links only.
 */
static void config_check_peer_certs(struct config_parser *p)
{
	struct herd_config *cfg = p->cfg;
	bool ca = cfg->peer_ca_file != NULL;

	for (size_t i = 0; i < cfg->nnodes; i++) {
		const struct config_node *node = &cfg->nodes[i];
		int line = p->extras[i].key_line[node->peer_cert_file != NULL ?
		    CONFIG_NODE_PEER_CERT_FILE : CONFIG_NODE_PEER_KEY_FILE];

		if (ca && (node->peer_cert_file == NULL || node->peer_key_file == NULL))
			config_error(p, node->line, "node %s: peer_ca_file is set: the node needs "
			    "peer_cert_file and peer_key_file", node->name);
		else if (!ca && (node->peer_cert_file != NULL || node->peer_key_file != NULL))
			config_error(p, line, "node %s: peer_cert_file and peer_key_file need "
			    "peer_ca_file in [herd]", node->name);
	}
	if (ca && cfg->peer_tls == PEER_TLS_OFF)
		config_error(p, config_herd_key_line(p, "peer_tls"), "peer_tls = off with peer "
		    "certificates: certificates are for TLS links");
}

/*
 * Limits that depend on each other: a neighbour's output queue must hold a sync window
 * and a few of the longest records, or one long record would drop the link on every sync.
 */
static void config_check_limits(struct config_parser *p)
{
	struct herd_config *cfg = p->cfg;
	size_t need = CONFIG_PEER_SYNC_WINDOW +
	    CONFIG_PEER_OUTPUT_LINES * (cfg->max_line + CONFIG_PEER_LINE_EXTRA);
	int line = config_herd_key_line(p, "peer_output_limit");

	/* 0: not set (or set to something already reported as wrong). */
	if (cfg->peer_output_limit == 0)
		cfg->peer_output_limit = need > 1048576 ? need : 1048576;
	else if (cfg->peer_output_limit < need)
		config_error(p, line, "peer_output_limit %zu is too small for max_line %zu: "
		    "it must hold a sync window of %d bytes and %d peer lines of max_line + %d "
		    "bytes (%zu)", cfg->peer_output_limit, cfg->max_line, CONFIG_PEER_SYNC_WINDOW,
		    CONFIG_PEER_OUTPUT_LINES, CONFIG_PEER_LINE_EXTRA, need);
	config_check_peer_certs(p);
	/* One lost report must not make a node look gone. */
	if (cfg->linkstate_max_age < 2 * cfg->linkstate_interval)
		config_error(p, config_herd_key_line(p, "linkstate_max_age") != 0 ?
		    config_herd_key_line(p, "linkstate_max_age") :
		    config_herd_key_line(p, "linkstate_interval"),
		    "linkstate_max_age %d%s must be at least twice linkstate_interval %d",
		    cfg->linkstate_max_age, config_herd_key_line(p, "linkstate_max_age") != 0 ?
		    "" : " (its default)", cfg->linkstate_interval);
}

void config_check(struct config_parser *p)
{
	struct herd_config *cfg = p->cfg;
	struct config_node *node;
	char buf[300];
	size_t i;
	bool peer_open = false, admin_open = false, tls_off_open = false;

	config_check_limits(p);
	if (cfg->nnodes == 0) {
		config_error(p, 0, "no [node] section");
		return;
	}
	for (i = 0; i < cfg->nnodes; i++) {
		node = &cfg->nodes[i];
		if (!node->listen.set && !p->extras[i].key_bad[CONFIG_NODE_LISTEN])
			config_error(p, node->line, "node %s: missing listen", node->name);
		if (!node->peer_listen.set && !p->extras[i].key_bad[CONFIG_NODE_PEER_LISTEN])
			config_error(p, node->line, "node %s: missing peer_listen", node->name);
	}
	config_link_nodes(p);
	config_check_addrs(p);

	/* One report each is enough: the fix is the same for every address. */
	for (i = 0; i < cfg->nnodes; i++) {
		node = &cfg->nodes[i];
		if (cfg->secret_file == NULL && !peer_open && node->peer_listen.set &&
		    !config_addr_is_loopback(&node->peer_listen)) {
			config_error(p, p->extras[i].key_line[CONFIG_NODE_PEER_LISTEN],
			    "peer_listen %s is not loopback: secret_file is required",
			    config_addr_format(&node->peer_listen, buf, sizeof(buf)));
			peer_open = true;
		}
		/* SPEC 4: links are TLS whenever a secret is set; off is for loopback herds. */
		if (cfg->peer_tls == PEER_TLS_OFF && !tls_off_open && node->peer_listen.set &&
		    !config_addr_is_loopback(&node->peer_listen)) {
			config_error(p, config_herd_key_line(p, "peer_tls"),
			    "peer_tls = off, but peer_listen %s of node %s is not loopback: "
			    "records would cross the network in the clear; off is for herds on "
			    "one machine", config_addr_format(&node->peer_listen, buf, sizeof(buf)),
			    node->name);
			tls_off_open = true;
		}
		if (cfg->admin_token_file == NULL && !admin_open && node->admin_listen.set &&
		    !config_addr_is_loopback(&node->admin_listen)) {
			config_error(p, p->extras[i].key_line[CONFIG_NODE_ADMIN_LISTEN],
			    "admin_listen %s is not loopback: admin_token_file is required",
			    config_addr_format(&node->admin_listen, buf, sizeof(buf)));
			admin_open = true;
		}
	}
}

void config_read_error(struct config_errors *errs, const char *path, const char *why)
{
	struct config_parser p;

	memset(&p, 0, sizeof(p));
	p.path = path;
	config_error(&p, 0, "cannot read: %s", why);
	config_errors_flush(&p, errs);
}

void config_errors_clear(struct config_errors *errs)
{
	size_t i;

	if (errs == NULL)
		return;
	for (i = 0; i < errs->count; i++)
		free(errs->msgs[i]);
	free(errs->msgs);
	errs->msgs = NULL;
	errs->count = 0;
}
