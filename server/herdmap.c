/* The herd map: newest reports per node, and the view built from them. */
#include "herdmap.h"

#include <stdlib.h>
#include <string.h>

#include "xmalloc.h"

static struct herdmap_entry *herdmap_lookup(const struct herdmap *m, const char *name)
{
	for (size_t i = 0; i < m->n; i++)
		if (strcmp(m->entries[i].report.origin, name) == 0)
			return &m->entries[i];
	return NULL;
}

const struct herdmap_entry *herdmap_find(const struct herdmap *m, const char *name)
{
	return herdmap_lookup(m, name);
}

bool herdmap_fresh(const struct herdmap_entry *e, uint64_t now_ms, uint64_t max_age_ms)
{
	return now_ms - e->heard_ms < max_age_ms;
}

bool herdmap_offer(struct herdmap *m, const struct lsa *report, const char *line, size_t len,
    uint64_t now_ms, struct htime now, uint64_t max_age_ms)
{
	struct herdmap_entry *e = herdmap_lookup(m, report->origin);
	uint64_t age = report->age_ms < now_ms ? report->age_ms : now_ms;

	if (report->age_ms >= max_age_ms)
		return false;
	/* The same report again (a dead node's last, passed around by greetings) does not
	 * make its origin heard of anew. */
	if (e != NULL && !lsa_newer(report->boot, report->seq, e->report.boot, e->report.seq) &&
	    (herdmap_fresh(e, now_ms, max_age_ms) ||
	    (report->boot == e->report.boot && report->seq == e->report.seq)))
		return false;
	if (e == NULL) {
		if (m->n == m->cap) {
			m->cap = m->cap > 0 ? 2 * m->cap : 8;
			m->entries = xreallocarray(m->entries, m->cap, sizeof(*m->entries));
		}
		e = &m->entries[m->n++];
		memset(e, 0, sizeof(*e));
	}
	e->report = *report;
	if (len > e->len || e->line == NULL)
		e->line = xreallocarray(e->line, len + 1, 1);
	memcpy(e->line, line, len);
	e->line[len] = '\0';
	e->len = len;
	e->heard_ms = now_ms - age;
	e->heard_at = htime_minus_ms(now, age);
	return true;
}

void herdmap_free(struct herdmap *m)
{
	for (size_t i = 0; i < m->n; i++)
		free(m->entries[i].line);
	free(m->entries);
	memset(m, 0, sizeof(*m));
}

const char *herdview_link_state_name(enum herdview_link_state state)
{
	switch (state) {
	case HERDVIEW_LINK_UP:
		return "up";
	case HERDVIEW_LINK_HALF:
		return "half";
	case HERDVIEW_LINK_DOWN:
		return "down";
	case HERDVIEW_LINK_UNKNOWN:
		break;
	}
	return "unknown";
}

/* What node N says of its link to PEER, if it is heard and names the link. */
static int herdview_end_view(const struct herdview_node *n, const char *peer)
{
	if (n->report == NULL || !n->fresh)
		return HERDVIEW_VIEW_UNKNOWN;
	for (size_t i = 0; i < n->report->nlinks; i++)
		if (strcmp(n->report->links[i].peer, peer) == 0)
			return (int)n->report->links[i].state;
	return HERDVIEW_VIEW_UNKNOWN;
}

static enum herdview_link_state herdview_link_state(int view_a, int view_b)
{
	bool up_a = view_a == LSA_LINK_UP, up_b = view_b == LSA_LINK_UP;

	if (up_a && up_b)
		return HERDVIEW_LINK_UP;
	if (up_a || up_b)
		return HERDVIEW_LINK_HALF;
	if (view_a == HERDVIEW_VIEW_UNKNOWN && view_b == HERDVIEW_VIEW_UNKNOWN)
		return HERDVIEW_LINK_UNKNOWN;
	return HERDVIEW_LINK_DOWN;
}

/* Union-find over node indexes, for the partitions. */
static size_t root_of(size_t *parent, size_t i)
{
	while (parent[i] != i) {
		parent[i] = parent[parent[i]];
		i = parent[i];
	}
	return i;
}

/* Every configured link with both ends' views; counts them first to size the array. */
static void herdview_links(struct herdview *v, const struct herd_config *cfg)
{
	size_t count = 0;

	for (size_t a = 0; a < cfg->nnodes; a++)
		for (size_t k = 0; k < cfg->nodes[a].nneighbours; k++)
			count += cfg->nodes[a].neighbours[k] > a;
	v->links = xreallocarray(v->links, count > 0 ? count : 1, sizeof(*v->links));
	v->nlinks = 0;
	for (size_t a = 0; a < cfg->nnodes; a++) {
		for (size_t k = 0; k < cfg->nodes[a].nneighbours; k++) {
			size_t b = cfg->nodes[a].neighbours[k];
			struct herdview_link *l;

			if (b <= a)
				continue;
			l = &v->links[v->nlinks++];
			l->a = a;
			l->b = b;
			l->view_a = herdview_end_view(&v->nodes[a], v->nodes[b].name);
			l->view_b = herdview_end_view(&v->nodes[b], v->nodes[a].name);
			l->state = herdview_link_state(l->view_a, l->view_b);
		}
	}
}

/*
 * Groups the fresh nodes joined by up links; this node's group is 0, the others follow
 * in order. A node not fresh is in none: its links count as not up, so it would be a
 * group of one that says only that it is not heard.
 */
static void herdview_partitions(struct herdview *v, size_t self)
{
	size_t *parent = xreallocarray(NULL, v->nnodes, sizeof(*parent));
	size_t *group = xreallocarray(NULL, v->nnodes, sizeof(*group));
	size_t self_root;

	for (size_t i = 0; i < v->nnodes; i++) {
		parent[i] = i;
		group[i] = SIZE_MAX;
	}
	for (size_t i = 0; i < v->nlinks; i++)
		if (v->links[i].state == HERDVIEW_LINK_UP)
			parent[root_of(parent, v->links[i].a)] = root_of(parent, v->links[i].b);
	self_root = root_of(parent, self);
	group[self_root] = 0;
	v->npartitions = 1;
	v->nreachable = 0;
	v->nunheard = 0;
	for (size_t i = 0; i < v->nnodes; i++) {
		size_t r = root_of(parent, i);

		if (!v->nodes[i].fresh) {
			v->nodes[i].partition = HERDVIEW_NO_PARTITION;
			v->nodes[i].reachable = false;
			v->nunheard++;
			continue;
		}
		if (group[r] == SIZE_MAX)
			group[r] = v->npartitions++;
		v->nodes[i].partition = group[r];
		v->nodes[i].reachable = group[r] == 0;
		v->nreachable += v->nodes[i].reachable;
	}
	free(parent);
	free(group);
}

void herdview_build(struct herdview *v, const struct herd_config *cfg, size_t self,
    const struct lsa *self_report, const struct herdmap *m, uint64_t now_ms,
    uint64_t max_age_ms)
{
	v->nodes = xreallocarray(v->nodes, cfg->nnodes, sizeof(*v->nodes));
	v->nnodes = cfg->nnodes;
	for (size_t i = 0; i < cfg->nnodes; i++) {
		struct herdview_node *n = &v->nodes[i];
		const struct herdmap_entry *e = i == self ? NULL : herdmap_find(m, cfg->nodes[i].name);

		memset(n, 0, sizeof(*n));
		n->name = cfg->nodes[i].name;
		n->self = i == self;
		if (n->self) {
			n->report = self_report;
			n->fresh = true;
		} else if (e != NULL) {
			n->report = &e->report;
			n->fresh = herdmap_fresh(e, now_ms, max_age_ms);
			n->age_ms = now_ms - e->heard_ms;
			n->heard_at = e->heard_at;
		}
	}
	herdview_links(v, cfg);
	herdview_partitions(v, self);
}

void herdview_free(struct herdview *v)
{
	free(v->nodes);
	free(v->links);
	memset(v, 0, sizeof(*v));
}
