/* Link state: this node's report out, the others' in, and the herd view built from them. */
#include "linkstate.h"

#include <stdlib.h>
#include <string.h>

#include <event2/event.h>

#include "config.h"
#include "herdd.h"
#include "herdmap.h"
#include "log.h"
#include "lsa.h"
#include "node.h"
#include "ratelimit.h"
#include "stats.h"
#include "table.h"
#include "xmalloc.h"

/* Reports on change come at least this far apart, so a flapping link is one report. */
#define LINKSTATE_HOLD_MS 200

static linkstate_fanout_cb fanout;
static struct event *refresh_timer;     /* every linkstate_interval */
static struct event *changed_timer;     /* a link changed: report, held down */
static uint64_t last_sent_ms;
static struct herdmap map;
static struct herdview view;
static struct lsa self_report;
static uint64_t boot;
static uint64_t seq;
static char *own_line;                  /* the buffer this node's reports are written in */
static size_t own_size;                 /* max_line + CONFIG_PEER_LINE_EXTRA (kept by reloads) */
static char *greeting_line;             /* a held report with its age, for a new link */
static struct ratelimit outdo_notes;    /* forged reports of this node, noted now and then */

static uint64_t linkstate_now_us(void);

static uint64_t linkstate_max_age_ms(void)
{
	return (uint64_t)herdd.config->linkstate_max_age * 1000;
}

/* What this node would say of itself now (SEQ is that of its last report). */
static const struct lsa *linkstate_self(void)
{
	struct lsa *a = &self_report;
	struct htime now = htime_now();
	struct peer_status st;
	size_t n = peer_count();

	memset(a, 0, sizeof(*a));
	snprintf(a->origin, sizeof(a->origin), "%s", herdd.self->name);
	a->boot = boot;
	a->seq = seq;
	snprintf(a->version, sizeof(a->version), "%s", HERD_VERSION);
	a->counters[LSA_UPTIME] = now.sec > herdd.started.sec ?
	    (uint64_t)(now.sec - herdd.started.sec) : 0;
	a->counters[LSA_CLIENTS] = table_count(herdd.table);
	a->counters[LSA_CONNECTIONS] = stats.clients_current;
	a->counters[LSA_IAMAT] = stats.cmd_iamat;
	a->counters[LSA_WHATSAT] = stats.cmd_whatsat;
	a->counters[LSA_INVALID] = stats.cmd_invalid;
	a->counters[LSA_ORIGINATED] = stats.flood_originated;
	a->counters[LSA_RECEIVED] = stats.flood_received;
	a->counters[LSA_FORWARDED] = stats.flood_forwarded;
	a->counters[LSA_STALE] = stats.flood_stale_dropped;
	a->counters[LSA_SYNC_SENT] = stats.sync_records_sent;
	a->counters[LSA_SYNC_RECEIVED] = stats.sync_records_received;
	a->counters[LSA_PLACES_REQUESTS] = stats.places_requests;
	a->counters[LSA_PLACES_ERRORS] = stats.places_errors;
	a->counters[LSA_PLACES_DONE] = stats.places_latency_count;
	a->counters[LSA_PLACES_MS] = (uint64_t)(stats.places_latency_sum * 1000 + 0.5);
	for (size_t i = 0; i < n; i++) {
		if (a->nlinks == LSA_LINKS_MAX) {
			a->links_omitted = n - i;
			break;
		}
		peer_get_status(i, &st);
		snprintf(a->links[a->nlinks].peer, sizeof(a->links[0].peer), "%s", st.name);
		a->links[a->nlinks].state = st.state == PEER_UP ? LSA_LINK_UP :
		    st.state == PEER_CONNECTING ? LSA_LINK_CONNECTING : LSA_LINK_DOWN;
		a->nlinks++;
	}
	return a;
}

/* Sends a new report of this node to every linked neighbour. */
static void linkstate_originate(void)
{
	size_t len;

	/* Past LSA_SEQ_MAX (only a forged report gets this node there): a new boot. */
	if (seq >= LSA_SEQ_MAX) {
		uint64_t now = linkstate_now_us();

		boot = now > boot ? now : boot + 1;
		seq = 0;
	}
	seq++;
	evtimer_del(changed_timer);
	last_sent_ms = htime_mono_ms();
	/* A report fits any neighbour's line limit, which has room beyond max_line for it,
	 * with room left for the age a greeting adds. */
	len = lsa_format(own_line, own_size - LSA_AGE_ROOM, linkstate_self());
	if (len == 0) {
		/* Only a max_line near its least with counters near 2^64 gets here. */
		log_warnx("event=linkstate_report_too_long limit=%zu reason=\"the report does "
		    "not fit a peer line; raise max_line\"", own_size - LSA_AGE_ROOM);
		return;
	}
	stats.linkstate_sent++;
	fanout(own_line, len, NULL);
}

static void linkstate_arm(void)
{
	struct timeval tv = { herdd.config->linkstate_interval, 0 };

	evtimer_add(refresh_timer, &tv);
}

static void linkstate_refresh_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	(void)arg;
	linkstate_originate();
	linkstate_arm();
}

static void linkstate_changed_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	(void)arg;
	linkstate_originate();
}

/* Microseconds of the wall clock now. */
static uint64_t linkstate_now_us(void)
{
	struct htime now = htime_now();

	return now.sec > 0 ? (uint64_t)now.sec * 1000000 + (uint64_t)now.nsec / 1000 : 0;
}

void linkstate_start(linkstate_fanout_cb cb)
{
	fanout = cb;
	boot = linkstate_now_us();
	own_size = herdd.config->max_line + CONFIG_PEER_LINE_EXTRA;
	own_line = xmalloc(own_size);
	greeting_line = xmalloc(own_size);
	refresh_timer = xcheck(evtimer_new(herdd.base, linkstate_refresh_cb, NULL));
	changed_timer = xcheck(evtimer_new(herdd.base, linkstate_changed_cb, NULL));
	linkstate_originate();
	linkstate_arm();
}

void linkstate_changed(void)
{
	uint64_t since, wait_ms;
	struct timeval tv;

	if (changed_timer == NULL || evtimer_pending(changed_timer, NULL))
		return;
	since = htime_mono_ms() - last_sent_ms;
	wait_ms = since < LINKSTATE_HOLD_MS ? LINKSTATE_HOLD_MS - since : 0;
	tv.tv_sec = 0;
	tv.tv_usec = (suseconds_t)(wait_ms * 1000);
	evtimer_add(changed_timer, &tv);
}

void linkstate_reload(void)
{
	if (refresh_timer == NULL)
		return;
	evtimer_del(refresh_timer);
	linkstate_arm();
	linkstate_changed();
}

/*
 * A neighbour holds a report of this node newer than any it sent: forged, or from before
 * the node restarted with its clock stepped back. Its next report outdoes it, within the
 * hold-down of a change (a stream of forgeries is one report per LINKSTATE_HOLD_MS).
 */
static void linkstate_outdo(const struct lsa *report)
{
	uint64_t held_back;

	if (ratelimit_allow(&outdo_notes, htime_mono_ms(), &held_back))
		log_warnx("event=linkstate_own_report_newer boot=%llu seq=%llu own_boot=%llu "
		    "own_seq=%llu suppressed=%llu note=\"a report of this node newer than its "
		    "own: sending a newer one\"", (unsigned long long)report->boot,
		    (unsigned long long)report->seq, (unsigned long long)boot,
		    (unsigned long long)seq, (unsigned long long)held_back);
	stats.linkstate_own_newer++;
	boot = report->boot;
	seq = report->seq;
	linkstate_changed();
}

bool linkstate_receive(const struct peer *from, const char *line, size_t len,
    const char **why)
{
	struct lsa report;

	if (refresh_timer == NULL)
		return true;        /* stopping */
	if (!lsa_parse(line, len, &report, why)) {
		stats.linkstate_refused++;
		return false;
	}
	if (config_find_node(herdd.config, report.origin) == NULL) {
		stats.linkstate_refused++;
		*why = "the origin is not a node of the herd";
		return false;
	}
	/* A boot past any clock's skew would win over every true report until it aged. */
	if (report.boot / 1000000 > linkstate_now_us() / 1000000 +
	    (uint64_t)herdd.config->max_clock_skew) {
		stats.linkstate_refused++;
		*why = "BOOT is more than max_clock_skew ahead";
		return false;
	}
	/* This node's own reports come back around loops; it knows itself better. */
	if (strcmp(report.origin, herdd.self->name) == 0) {
		if (lsa_newer(report.boot, report.seq, boot, seq))
			linkstate_outdo(&report);
		else
			stats.linkstate_stale++;
		return true;
	}
	if (!herdmap_offer(&map, &report, line, len, htime_mono_ms(), htime_now(),
	    linkstate_max_age_ms())) {
		stats.linkstate_stale++;
		return true;
	}
	stats.linkstate_stored++;
	fanout(line, len, from);
	return true;
}

void linkstate_link_up(void (*send)(void *arg, const char *line, size_t len), void *arg)
{
	uint64_t now = htime_mono_ms();

	linkstate_changed();
	for (size_t i = 0; i < map.n; i++) {
		const struct herdmap_entry *e = &map.entries[i];
		size_t len;

		if (!herdmap_fresh(e, now, linkstate_max_age_ms()))
			continue;
		/* With its age, so that it goes on ageing there: a dead node's last report
		 * passed from greeting to greeting stays as old as it is. */
		len = lsa_with_age(e->line, e->len, now - e->heard_ms, greeting_line, own_size);
		if (len > 0)
			send(arg, greeting_line, len);
		else
			send(arg, e->line, e->len);
	}
}

const struct herdview *node_herd_view(void)
{
	herdview_build(&view, herdd.config, herdd.self_index, linkstate_self(), &map,
	    htime_mono_ms(), linkstate_max_age_ms());
	return &view;
}

void linkstate_stop(void)
{
	if (refresh_timer != NULL)
		event_free(refresh_timer);
	if (changed_timer != NULL)
		event_free(changed_timer);
	refresh_timer = changed_timer = NULL;
	herdmap_free(&map);
	herdview_free(&view);
	free(own_line);
	free(greeting_line);
	own_line = greeting_line = NULL;
}
