/*
 * Unit tests of link state's pure parts: the LSA line written and parsed (lsa.c), the
 * newest-wins and ageing rules of the herd map, and the view built from it (herdmap.c)
 * on the default five-node herd: whole, cut by a dead Parker, aged out.
 */
#include <stdio.h>
#include <string.h>

#include "check.h"
#include "config.h"
#include "herdmap.h"
#include "lsa.h"

static const char herd_conf[] =
	"[herd]\n"
	"[node Alford]\nlisten = 127.0.0.1:1\npeer_listen = 127.0.0.1:2\npeers = Parker Powell\n"
	"[node Bolden]\nlisten = 127.0.0.1:3\npeer_listen = 127.0.0.1:4\npeers = Parker Powell\n"
	"[node Hamilton]\nlisten = 127.0.0.1:5\npeer_listen = 127.0.0.1:6\npeers = Parker\n"
	"[node Parker]\nlisten = 127.0.0.1:7\npeer_listen = 127.0.0.1:8\n"
	"[node Powell]\nlisten = 127.0.0.1:9\npeer_listen = 127.0.0.1:10\n";

enum { ALFORD, BOLDEN, HAMILTON, PARKER, POWELL };

#define MAX_AGE 3000

/* A report of NAME (BOOT, SEQ) whose links are "Peer:state" words, NULL-ended. */
static struct lsa report(const char *name, uint64_t boot, uint64_t seq, const char *const *links)
{
	struct lsa a;

	memset(&a, 0, sizeof(a));
	snprintf(a.origin, sizeof(a.origin), "%s", name);
	a.boot = boot;
	a.seq = seq;
	snprintf(a.version, sizeof(a.version), "1.2.3");
	for (; links != NULL && *links != NULL; links++) {
		const char *colon = strchr(*links, ':');

		snprintf(a.links[a.nlinks].peer, sizeof(a.links[0].peer), "%.*s",
		    (int)(colon - *links), *links);
		a.links[a.nlinks].state = strcmp(colon + 1, "up") == 0 ? LSA_LINK_UP :
		    strcmp(colon + 1, "connecting") == 0 ? LSA_LINK_CONNECTING : LSA_LINK_DOWN;
		a.nlinks++;
	}
	return a;
}

static void test_format_and_parse(void)
{
	static const char *const links[] = { "Parker:up", "Powell:connecting", NULL };
	struct lsa a = report("Alford", 1796158225123456ULL, 42, links), b;
	char line[512];
	const char *why = NULL;
	size_t len;

	a.counters[LSA_UPTIME] = 3600;
	a.counters[LSA_CLIENTS] = 7;
	a.counters[LSA_PLACES_ERRORS] = 2;
	len = lsa_format(line, sizeof(line), &a);
	CHECK_STR(line, "LSA Alford 1796158225123456 42 version=1.2.3 uptime=3600 clients=7 "
	    "connections=0 iamat=0 whatsat=0 invalid=0 originated=0 received=0 forwarded=0 "
	    "stale=0 sync_sent=0 sync_received=0 places_requests=0 places_errors=2 "
	    "places_done=0 places_ms=0 links=Parker:up,Powell:connecting");
	CHECK_INT(len, strlen(line));
	CHECK(lsa_parse(line, len, &b, &why));
	CHECK_STR(b.origin, "Alford");
	CHECK(b.boot == 1796158225123456ULL);
	CHECK_INT(b.seq, 42);
	CHECK_STR(b.version, "1.2.3");
	CHECK_INT(b.counters[LSA_UPTIME], 3600);
	CHECK_INT(b.counters[LSA_CLIENTS], 7);
	CHECK_INT(b.counters[LSA_PLACES_ERRORS], 2);
	CHECK_INT(b.nlinks, 2);
	CHECK_STR(b.links[1].peer, "Powell");
	CHECK_INT(b.links[1].state, LSA_LINK_CONNECTING);
	CHECK_INT(b.links_omitted, 0);

	/* No room for every link: the rest are counted, and the line still parses. */
	len = lsa_format(line, 290, &a);
	CHECK(len > 0 && len < 290);
	CHECK(strstr(line, " links=Parker:up omitted=1") != NULL);
	CHECK(lsa_parse(line, len, &b, &why));
	CHECK_INT(b.nlinks, 1);
	CHECK_INT(b.links_omitted, 1);
	/* Not even the counters fit. */
	CHECK_INT(lsa_format(line, 64, &a), 0);
}

static void test_parse_rules(void)
{
	static const struct {
		const char *line;
		const char *why;   /* NULL: it parses */
	} cases[] = {
		{ "LSA A 1 2 version=1 links=", NULL },
		{ "LSA A 1 2 version=1 links= newkey=anything", NULL },
		{ "LSA A 1 2 links= version=1 clients=5", NULL },
		{ "LSA A 1 2", "version= or links= is missing" },
		{ "LSA A 1 2 version=1", "version= or links= is missing" },
		{ "LSA A x 2 version=1 links=", "BOOT and SEQ are not decimals" },
		{ "LSA A 1 12345678901234567890 version=1 links=", "BOOT and SEQ are not decimals" },
		{ "LSA A<b 1 2 version=1 links=", "the origin is not a node name" },
		{ "LSA A 1 2 version=1 links= clients=-1", "a counter is not a decimal" },
		{ "LSA A 1 2 version=1 links= clients=1 clients=2", "a key is given twice" },
		{ "LSA A 1 2 version=1 version=2 links=", "a key is given twice" },
		{ "LSA A 1 2 version=<script> links=", "the version is not a version" },
		{ "LSA A 1 2 version=1 links=B", "a link is not NAME:STATE with a node name" },
		{ "LSA A 1 2 version=1 links=B:sideways", "a link state is not up, connecting or down" },
		{ "LSA A 1 2 version=1 links=B:up,B:down", "a link is named twice" },
		{ "LSA A 1 2 version=1 links=B:up,", "links= ends with a comma" },
		{ "LSA A 1 2 version=1 links=,B:up", "a link is not NAME:STATE with a node name" },
		{ "LSA A 1 2 version=1 links= nokey", "a field is not KEY=VALUE" },
		{ "LSA A 1 2 version=1 links= omitted=1000000000", NULL },
		{ "LSA A 1 2 version=1 links= omitted=1000000001",
		    "omitted= is not a decimal up to 1000000000" },
		{ "LSA A 1 2 version=1 links= =3", "a field is not KEY=VALUE" },
		{ "LSB A 1 2 version=1 links=", "not LSA NAME BOOT SEQ ..." },
		{ "LSA A 1 1000000000000000000 version=1 links=", NULL },
		{ "LSA A 1 1000000000000000001 version=1 links=", "SEQ is over 10^18" },
		{ "LSA A 1 2 version=1 links= age=1500", NULL },
		{ "LSA A 1 2 version=1 links= age=x", "age= is not a decimal" },
		{ "LSA A 1 2 version=1 links= age=1 age=2", "a key is given twice" },
	};
	struct lsa a;

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const char *why = NULL;
		bool ok = lsa_parse(cases[i].line, strlen(cases[i].line), &a, &why);

		if (cases[i].why == NULL) {
			CHECK(ok);
		} else {
			CHECK(!ok);
			CHECK_STR(why, cases[i].why);
		}
	}
	/* More than LSA_LINKS_MAX links: the rest are counted. */
	{
		char line[4096];
		size_t len = (size_t)snprintf(line, sizeof(line), "LSA A 1 2 version=1 links=");
		const char *why;

		for (int i = 0; i < LSA_LINKS_MAX + 3; i++)
			len += (size_t)snprintf(line + len, sizeof(line) - len, "%sN%d:up",
			    i > 0 ? "," : "", i);
		CHECK(lsa_parse(line, len, &a, &why));
		CHECK_INT(a.nlinks, LSA_LINKS_MAX);
		CHECK_INT(a.links_omitted, 3);
	}
	{
		const char *line = "LSA A 1 2 version=1 links= age=1500", *why;

		CHECK(lsa_parse(line, strlen(line), &a, &why));
		CHECK_INT(a.age_ms, 1500);
	}
}

static void test_with_age(void)
{
	char buf[128];
	const char *plain = "LSA A 1 2 version=1 links=B:up";
	const char *aged = "LSA A 1 2 age=70 version=1 links=B:up";
	size_t n;

	n = lsa_with_age(plain, strlen(plain), 1500, buf, sizeof(buf));
	CHECK_STR(buf, "LSA A 1 2 version=1 links=B:up age=1500");
	CHECK_INT(n, strlen(buf));
	/* An age= already there is replaced, wherever it stands; 0 writes none. */
	lsa_with_age(aged, strlen(aged), 2500, buf, sizeof(buf));
	CHECK_STR(buf, "LSA A 1 2 version=1 links=B:up age=2500");
	lsa_with_age(aged, strlen(aged), 0, buf, sizeof(buf));
	CHECK_STR(buf, plain);
	/* Fields apart by any white space come out apart by one space, age= and all. */
	lsa_with_age("LSA A 1 2 age=5\tversion=1  links=B:up", 37, 7, buf, sizeof(buf));
	CHECK_STR(buf, "LSA A 1 2 version=1 links=B:up age=7");
	/* No room: 0, whether for the fields or for the age. */
	CHECK_INT(lsa_with_age(plain, strlen(plain), 1500, buf, strlen(plain) + 5), 0);
	CHECK_INT(lsa_with_age(plain, strlen(plain), 0, buf, 10), 0);
	CHECK_INT(lsa_with_age(plain, strlen(plain), 0, buf, strlen(plain) + 1), strlen(plain));
}

static void test_newer(void)
{
	struct lsa a = report("A", 10, 5, NULL), b = report("A", 10, 6, NULL);
	struct lsa restarted = report("A", 11, 1, NULL);

	CHECK(lsa_newer(b.boot, b.seq, a.boot, a.seq));
	CHECK(!lsa_newer(a.boot, a.seq, b.boot, b.seq));
	CHECK(!lsa_newer(a.boot, a.seq, a.boot, a.seq));
	/* A later boot wins whatever its sequence number. */
	CHECK(lsa_newer(restarted.boot, restarted.seq, b.boot, b.seq));
	CHECK(!lsa_newer(b.boot, b.seq, restarted.boot, restarted.seq));
}

static bool offer(struct herdmap *m, const struct lsa *a, uint64_t now_ms)
{
	char line[512];
	size_t len = lsa_format(line, sizeof(line), a);
	struct htime at = { (int64_t)(now_ms / 1000), 0 };

	return herdmap_offer(m, a, line, len, now_ms, at, MAX_AGE);
}

static void test_newest_wins_and_ageing(void)
{
	struct herdmap m = { 0 };
	struct lsa a5 = report("Parker", 10, 5, NULL), a6 = report("Parker", 10, 6, NULL);
	struct lsa old_boot = report("Parker", 9, 100, NULL);
	const struct herdmap_entry *e;

	CHECK(herdmap_find(&m, "Parker") == NULL);
	CHECK(offer(&m, &a5, 1000));
	CHECK(!offer(&m, &a5, 1100));          /* the same report again: stale */
	CHECK(offer(&m, &a6, 1200));
	CHECK(!offer(&m, &a5, 1300));          /* older */
	CHECK(!offer(&m, &old_boot, 1400));    /* an earlier boot, while a6 is fresh */
	e = herdmap_find(&m, "Parker");
	CHECK(e != NULL && e->report.seq == 6 && e->heard_ms == 1200);
	CHECK(strstr(e->line, "LSA Parker 10 6 ") == e->line);
	CHECK(herdmap_fresh(e, 1200 + MAX_AGE - 1, MAX_AGE));
	CHECK(!herdmap_fresh(e, 1200 + MAX_AGE, MAX_AGE));
	/* Once a6 has aged out, whatever Parker says is believed: its clock may have stepped. */
	CHECK(offer(&m, &old_boot, 1200 + MAX_AGE));
	e = herdmap_find(&m, "Parker");
	CHECK(e != NULL && e->report.boot == 9 && e->heard_ms == 1200 + MAX_AGE);
	CHECK(herdmap_find(&m, "Alford") == NULL);
	herdmap_free(&m);
}

/* A report passed on with its age= is as old where it lands as where it came from. */
static void test_ages_travel(void)
{
	struct herdmap m = { 0 };
	struct lsa a5 = report("Parker", 10, 5, NULL), b = report("Bolden", 7, 1, NULL);
	const struct herdmap_entry *e;

	a5.age_ms = 1000;
	CHECK(offer(&m, &a5, 5000));
	e = herdmap_find(&m, "Parker");
	CHECK(e != NULL && e->heard_ms == 4000 && e->heard_at.sec == 4);
	CHECK(!herdmap_fresh(e, 4000 + MAX_AGE, MAX_AGE));
	/* Once aged out, the same report again (a greeting passing a dead node's last one
	 * around) does not make it heard of anew, with or without an age. */
	a5.age_ms = 0;
	CHECK(!offer(&m, &a5, 4000 + MAX_AGE));
	CHECK(!herdmap_fresh(herdmap_find(&m, "Parker"), 4000 + MAX_AGE, MAX_AGE));
	/* A report as old as the ageing time is not taken at all. */
	b.age_ms = MAX_AGE;
	CHECK(!offer(&m, &b, 9000));
	CHECK(herdmap_find(&m, "Bolden") == NULL);
	b.age_ms = MAX_AGE - 1;
	CHECK(offer(&m, &b, 9000));
	herdmap_free(&m);
}

/* The five reports of the herd at its start, everyone linked. */
static const char *const alford_up[] = { "Parker:up", "Powell:up", NULL };
static const char *const bolden_up[] = { "Parker:up", "Powell:up", NULL };
static const char *const hamilton_up[] = { "Parker:up", NULL };
static const char *const parker_up[] = { "Alford:up", "Bolden:up", "Hamilton:up", NULL };
static const char *const powell_up[] = { "Alford:up", "Bolden:up", NULL };

static void fill_map(struct herdmap *m, size_t self, uint64_t now_ms)
{
	struct lsa all[5] = {
		report("Alford", 1, 1, alford_up), report("Bolden", 1, 1, bolden_up),
		report("Hamilton", 1, 1, hamilton_up), report("Parker", 1, 1, parker_up),
		report("Powell", 1, 1, powell_up),
	};

	for (size_t i = 0; i < 5; i++)
		if (i != self)
			offer(m, &all[i], now_ms);
}

static void test_view_whole(const struct herd_config *cfg)
{
	struct herdmap m = { 0 };
	struct herdview v = { 0 };
	struct lsa self = report("Hamilton", 1, 1, hamilton_up);

	fill_map(&m, HAMILTON, 1000);
	herdview_build(&v, cfg, HAMILTON, &self, &m, 1500, MAX_AGE);
	CHECK_INT(v.nnodes, 5);
	CHECK_INT(v.nlinks, 5);
	CHECK_INT(v.npartitions, 1);
	CHECK_INT(v.nreachable, 5);
	for (size_t i = 0; i < v.nlinks; i++) {
		CHECK_INT(v.links[i].state, HERDVIEW_LINK_UP);
		CHECK_INT(v.links[i].view_a, LSA_LINK_UP);
	}
	/* Links by their first end, then the second, in configuration order. */
	CHECK(v.links[0].a == ALFORD && v.links[0].b == PARKER);
	CHECK(v.links[4].a == HAMILTON && v.links[4].b == PARKER);
	CHECK(v.nodes[HAMILTON].self && v.nodes[HAMILTON].report == &self);
	CHECK(!v.nodes[PARKER].self && v.nodes[PARKER].fresh);
	CHECK_INT(v.nodes[PARKER].age_ms, 500);
	herdview_free(&v);
	herdmap_free(&m);
}

static void test_view_parker_dead(const struct herd_config *cfg)
{
	static const char *const alford_now[] = { "Parker:connecting", "Powell:up", NULL };
	static const char *const bolden_now[] = { "Parker:down", "Powell:up", NULL };
	static const char *const hamilton_now[] = { "Parker:down", NULL };
	struct herdmap m = { 0 };
	struct herdview v = { 0 };
	struct lsa alford = report("Alford", 1, 2, alford_now);
	struct lsa bolden = report("Bolden", 1, 2, bolden_now);
	struct lsa hamilton = report("Hamilton", 1, 2, hamilton_now);
	struct lsa powell = report("Powell", 1, 2, powell_up);

	/* Hamilton: its one link is down, so it is alone, whatever its map still says. */
	fill_map(&m, HAMILTON, 1000);
	herdview_build(&v, cfg, HAMILTON, &hamilton, &m, 1500, MAX_AGE);
	CHECK_INT(v.nreachable, 1);
	CHECK(v.nodes[HAMILTON].reachable && !v.nodes[PARKER].reachable);
	CHECK_INT(v.nodes[HAMILTON].partition, 0);
	CHECK_INT(v.links[4].state, HERDVIEW_LINK_HALF);     /* Parker's old word: up */
	CHECK_INT(v.links[4].view_a, LSA_LINK_DOWN);
	/* The other four hang together in Parker's old report until it ages. */
	CHECK_INT(v.npartitions, 2);
	herdview_free(&v);
	herdmap_free(&m);

	/* Alford: Bolden's news came round by Powell; Parker and Hamilton are cut off. */
	memset(&m, 0, sizeof(m));
	fill_map(&m, ALFORD, 1000);
	offer(&m, &bolden, 1200);
	offer(&m, &powell, 1200);
	herdview_build(&v, cfg, ALFORD, &alford, &m, 1500, MAX_AGE);
	CHECK_INT(v.nreachable, 3);
	CHECK(v.nodes[ALFORD].reachable && v.nodes[BOLDEN].reachable && v.nodes[POWELL].reachable);
	CHECK(!v.nodes[PARKER].reachable && !v.nodes[HAMILTON].reachable);
	CHECK(v.nodes[PARKER].fresh);                        /* heard of 0.5 s ago */
	CHECK_INT(v.links[0].state, HERDVIEW_LINK_HALF);     /* Alford-Parker */
	CHECK_INT(v.links[0].view_a, LSA_LINK_CONNECTING);
	CHECK_INT(v.links[4].state, HERDVIEW_LINK_UP);       /* Hamilton-Parker, as last heard */
	CHECK_INT(v.npartitions, 2);
	CHECK(v.nodes[PARKER].partition == 1 && v.nodes[HAMILTON].partition == 1);

	/* Past the ageing time their word is no longer believed. */
	herdview_build(&v, cfg, ALFORD, &alford, &m, 1000 + MAX_AGE, MAX_AGE);
	CHECK(!v.nodes[PARKER].fresh && !v.nodes[HAMILTON].fresh && v.nodes[BOLDEN].fresh &&
	    v.nodes[POWELL].fresh);
	CHECK_INT(v.nreachable, 3);
	CHECK_INT(v.nodes[PARKER].age_ms, MAX_AGE);
	CHECK_INT(v.links[4].state, HERDVIEW_LINK_UNKNOWN);
	CHECK_INT(v.links[4].view_a, HERDVIEW_VIEW_UNKNOWN);
	CHECK_INT(v.links[0].state, HERDVIEW_LINK_DOWN);
	CHECK_INT(v.links[2].state, HERDVIEW_LINK_DOWN);     /* Bolden-Parker */
	/* Not heard of, they are in no partition: this node cannot tell where they are. */
	CHECK_INT(v.npartitions, 1);
	CHECK_INT(v.nunheard, 2);
	CHECK(v.nodes[HAMILTON].partition == HERDVIEW_NO_PARTITION &&
	    v.nodes[PARKER].partition == HERDVIEW_NO_PARTITION);
	CHECK(v.nodes[POWELL].partition == 0);
	herdview_free(&v);
	herdmap_free(&m);
}

static void test_view_never_heard(const struct herd_config *cfg)
{
	struct herdmap m = { 0 };
	struct herdview v = { 0 };
	struct lsa alford = report("Alford", 1, 1, alford_up);

	herdview_build(&v, cfg, ALFORD, &alford, &m, 1000, MAX_AGE);
	CHECK_INT(v.nreachable, 1);
	CHECK_INT(v.npartitions, 1);
	CHECK_INT(v.nunheard, 4);
	CHECK(v.nodes[BOLDEN].report == NULL && !v.nodes[BOLDEN].fresh);
	CHECK_INT(v.links[0].state, HERDVIEW_LINK_HALF);     /* Alford says up, Parker unheard */
	CHECK_INT(v.links[2].state, HERDVIEW_LINK_UNKNOWN);  /* Bolden-Parker: nobody heard */
	CHECK_STR(herdview_link_state_name(v.links[2].state), "unknown");
	herdview_free(&v);
}

int main(void)
{
	struct config_errors errs = { 0 };
	struct herd_config *cfg = config_parse("test.conf", herd_conf, strlen(herd_conf), &errs);

	CHECK(cfg != NULL);
	if (cfg == NULL)
		return 1;
	test_format_and_parse();
	test_parse_rules();
	test_newer();
	test_with_age();
	test_newest_wins_and_ageing();
	test_ages_travel();
	test_view_whole(cfg);
	test_view_parker_dead(cfg);
	test_view_never_heard(cfg);
	config_free(cfg);
	return check_done("linkstate");
}
