/*
 * The Places client. Until the HTTPS client lands (issue 4), every search fails the
 * way SPEC section 3 says a failed Places call does.
 */
#include "places.h"

#include <stdlib.h>

#include <event2/event.h>

#include "log.h"
#include "places_json.h"

struct places {
	struct event_base *base;
};

struct places_wait {
	struct event *ev;
	places_done_cb done;
	void *arg;
};

struct places *places_new(struct event_base *base, struct evdns_base *dns,
    const struct herd_config *config)
{
	struct places *p = calloc(1, sizeof(*p));

	if (p != NULL)
		p->base = base;
	return p;
}

void places_free(struct places *p)
{
	free(p);
}

/* Answers a search from the loop with the UNKNOWN_ERROR object. */
static void places_fail(evutil_socket_t fd, short what, void *arg)
{
	struct places_wait *w = arg;
	size_t len = 0;
	char *json = places_json_error("Places client not available in this build", &len);

	if (json == NULL)
		fatalx("event=places_failed error=\"out of memory\"");
	w->done(json, len, w->arg);
	free(json);
	places_cancel(w);
}

struct places_wait *places_search(struct places *p, const struct places_request *req,
    places_done_cb done, void *arg)
{
	struct places_wait *w = calloc(1, sizeof(*w));
	struct timeval now = { 0, 0 };

	if (w == NULL)
		return NULL;
	w->ev = evtimer_new(p->base, places_fail, w);
	if (w->ev == NULL) {
		free(w);
		return NULL;
	}
	w->done = done;
	w->arg = arg;
	evtimer_add(w->ev, &now);
	return w;
}

void places_cancel(struct places_wait *w)
{
	event_free(w->ev);
	free(w);
}
