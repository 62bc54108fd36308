/*
 * The Places client: searches and the flights that answer them (the HTTPS call of a
 * flight is places_call.c).
 *
 * A WHATSAT becomes a waiter on a flight, one upstream call. Identical searches in
 * flight at once wait on the same flight: same location text and radius, and for the
 * new API the same maxResultCount (the bound). A legacy call does not depend on the
 * bound, so its flight keeps up to 20 results and each waiter gets its own trim.
 *
 * A flight's timer first carries the whole-request deadline, then hands the result
 * out from the loop: waiters are never answered from inside places_search() or from
 * inside an evhttp callback, and the connection is freed outside evhttp too.
 */
#include "places.h"

#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>
#include <time.h>

#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>
#include <openssl/crypto.h>

#include "config.h"
#include "log.h"
#include "places_filter.h"
#include "places_flight.h"
#include "places_json.h"
#include "secret.h"
#include "stats.h"
#include "tls.h"
#include "xmalloc.h"

static void flight_timer_cb(evutil_socket_t fd, short what, void *arg);

const char *places_api_name(enum places_api api)
{
	return api == PLACES_API_NEW ? "new" : "legacy";
}

/* Seconds since START on the monotonic clock. */
static double seconds_since(const struct timespec *start)
{
	struct timespec now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	return (double)(now.tv_sec - start->tv_sec) + (double)(now.tv_nsec - start->tv_nsec) / 1e9;
}

/* --- start-up ------------------------------------------------------------------------ */

/*
 * The API key: a systemd credential places.key or places_key_file (read at start-up and
 * on reload), else HERD_PLACES_KEY, else none (*KEY NULL). False, with WHAT and WHY, when
 * a configured one cannot be used: the operator asked for it.
 */
static bool places_load_key(const struct herd_config *config, char **key_out,
    const char **from, const char **what, char *why, size_t size)
{
	char buf[SECRET_MAX + 1], source[4096];
	const char *path = secret_source(config->places_key_file, "places.key", source,
	    sizeof(source));
	const char *key = getenv("HERD_PLACES_KEY");
	size_t start = 0, len;

	*key_out = NULL;
	*from = path == NULL ? "environment" : path == source ? "credential" : "file";
	*what = path == NULL ? "HERD_PLACES_KEY" : "places_key_file";
	if (path != NULL) {
		char reason[256];

		len = secret_load("places_key_file", path, buf, reason, sizeof(reason));
		if (len == 0) {
			snprintf(why, size, "%s: %s", path, reason);
			return false;
		}
		while (start < len && (buf[start] == ' ' || buf[start] == '\t'))
			start++;
		key = buf + start;
		len -= start;
	} else if (key == NULL || *key == '\0') {
		return true;
	} else {
		len = strlen(key);
	}
	/* Its whole length: a NUL inside is not the end of the key but a bad byte of it. */
	if (!secret_is_word(key, len)) {
		snprintf(why, size, "not one word of printable ASCII");
		OPENSSL_cleanse(buf, sizeof(buf));
		return false;
	}
	*key_out = xstrdup(key);
	OPENSSL_cleanse(buf, sizeof(buf));
	return true;
}

/* Splits places_url into what a connection and a request need; false if it cannot. */
static bool places_parse_url(struct places *p, const char *url)
{
	struct evhttp_uri *uri = evhttp_uri_parse(url);
	const char *host, *path, *query;
	size_t hostlen;
	char header[300];

	if (uri == NULL || (host = evhttp_uri_get_host(uri)) == NULL || *host == '\0') {
		if (uri != NULL)
			evhttp_uri_free(uri);
		return false;
	}
	hostlen = strlen(host);
	if (host[0] == '[' && hostlen > 2 && host[hostlen - 1] == ']') {
		p->host = xstrndup(host + 1, hostlen - 2);
	} else {
		p->host = xstrdup(host);
	}
	p->port = evhttp_uri_get_port(uri) > 0 ? evhttp_uri_get_port(uri) : 443;
	if (p->port == 443)
		snprintf(header, sizeof(header), "%s", host);
	else
		snprintf(header, sizeof(header), "%s:%d", host, p->port);
	path = evhttp_uri_get_path(uri);
	query = evhttp_uri_get_query(uri);
	if (path == NULL || *path == '\0')
		path = "/";
	p->host_header = xstrdup(header);
	p->path_has_query = query != NULL && *query != '\0';
	if (p->path_has_query)
		p->path = xasprintf("%s?%s", path, query);
	else
		p->path = xstrdup(path);
	evhttp_uri_free(uri);
	return true;
}

struct places *places_open(struct event_base *base, struct evdns_base *dns,
    const struct herd_config *config, const char **what, char *why, size_t size)
{
	struct places *p = xcalloc(1, sizeof(*p));
	const char *key_from;

	p->base = base;
	p->dns = dns;
	p->api = config->places_api;
	p->timeout = config->places_timeout > 0 ? config->places_timeout : 5;
	p->max_flights = config->places_max_requests;
	TAILQ_INIT(&p->flights);
	p->next_flight_id = 1;
	p->uri = xcheck(evbuffer_new());
	p->log_url = xcheck(evbuffer_new());
	if (!places_parse_url(p, config->places_url)) {
		*what = "places_url";
		snprintf(why, size, "cannot parse %s", config->places_url);
		places_free(p);
		return NULL;
	}
	p->tls = tls_client_context(config->places_ca_file, why, size);
	if (p->tls == NULL) {
		*what = "places_ca_file";
		places_free(p);
		return NULL;
	}
	if (!places_load_key(config, &p->key, &key_from, what, why, size)) {
		places_free(p);
		return NULL;
	}
	pool_init(p, config);
	if (p->key != NULL) {
		p->key_encoded = xcheck(evhttp_encode_uri(p->key));
	} else {
		log_warnx("event=places_no_key note=\"WHATSAT answers UNKNOWN_ERROR until "
		    "places_key_file or HERD_PLACES_KEY gives a Places API key\"");
	}
	log_info("event=places_ready api=%s host=%s port=%d ca=%s timeout=%d connections=%zu "
	    "key=%s", places_api_name(p->api), log_quote(p->host, strlen(p->host)), p->port,
	    config->places_ca_file != NULL ? log_quote(config->places_ca_file,
	    strlen(config->places_ca_file)) : "system", p->timeout, p->max_conns,
	    p->key == NULL ? "none" : key_from);
	return p;
}

struct places *places_new(struct event_base *base, struct evdns_base *dns,
    const struct herd_config *config)
{
	const char *what = "places";
	char why[4200];
	struct places *p = places_open(base, dns, config, &what, why, sizeof(why));

	if (p == NULL)
		fatalx("event=startup_failed what=%s error=%s", what, log_quote(why, strlen(why)));
	return p;
}

/* --- the end of a flight ------------------------------------------------------------ */

/* Stops new searches from joining F and closes its connection; safe to repeat. */
static void flight_detach(struct flight *f)
{
	if (f->listed) {
		TAILQ_REMOVE(&f->places->flights, f, entry);
		f->listed = false;
	}
	pool_forget(f);
}

/* A filter for the next answer: a spare one with its grown buffers, or a new one. */
static struct places_filter *places_filter_get(struct places *p, enum places_filter_api api,
    size_t bound)
{
	struct places_filter *filter;

	if (p->nspare == 0)
		return places_filter_new(api, bound, PLACES_BODY_MAX);
	filter = p->spare[--p->nspare];
	places_filter_reset(filter, api, bound, PLACES_BODY_MAX);
	return filter;
}

/* Keeps FILTER for a later flight unless enough are kept or it holds much memory. */
static void places_filter_put(struct places *p, struct places_filter *filter)
{
	if (filter != NULL && p->nspare < PLACES_SPARE_FILTERS &&
	    places_filter_memory(filter) <= PLACES_SPARE_FILTER_BYTES)
		p->spare[p->nspare++] = filter;
	else
		places_filter_free(filter);
}

/* Clients a reload replaced, until their last flight ends (or the node stops). */
static TAILQ_HEAD(, places) retired = TAILQ_HEAD_INITIALIZER(retired);

static void places_free_cb(evutil_socket_t fd, short what, void *arg)
{
	struct places *p = arg;

	TAILQ_REMOVE(&retired, p, retired_entry);
	places_free(p);
}

void places_free_retired(void)
{
	struct places *p;

	while ((p = TAILQ_FIRST(&retired)) != NULL) {
		TAILQ_REMOVE(&retired, p, retired_entry);
		places_free(p);
	}
}

/* Frees P from the loop: its last flight may be ending inside one of its callbacks. */
static void places_free_soon(struct places *p)
{
	const struct timeval now = { 0, 0 };

	if (event_base_once(p->base, -1, EV_TIMEOUT, places_free_cb, p, &now) < 0)
		fatalx("event=bug where=places_free_soon error=\"cannot schedule\"");
}

int places_timeout_longest(const struct places *p)
{
	int longest = p->timeout;
	const struct places *r;

	TAILQ_FOREACH(r, &retired, retired_entry) {
		if (r->nflights > 0 && r->timeout > longest)
			longest = r->timeout;
	}
	return longest;
}

void places_retire(struct places *p)
{
	p->retired = true;
	TAILQ_INSERT_TAIL(&retired, p, retired_entry);
	if (p->nflights == 0)
		places_free_soon(p);
}

/* Frees a flight whose waiters are all answered or gone. */
static void flight_free(struct flight *f)
{
	flight_detach(f);
	f->places->nflights--;
	places_filter_put(f->places, f->filter);
	if (f->places->retired && f->places->nflights == 0)
		places_free_soon(f->places);
	event_free(f->timer);
	free(f->latitude);
	free(f->longitude);
	free(f->radius_metres);
	free(f);
}

/* Answers every waiter with JSON, or with its own trim of the filtered answer. */
static void flight_hand_out(struct flight *f, const char *json, size_t len)
{
	struct places_wait *w;
	const char *mine;
	size_t mine_len;

	f->handing_out = true;
	while ((w = TAILQ_FIRST(&f->waiters)) != NULL) {
		TAILQ_REMOVE(&f->waiters, w, entry);
		f->nwaiters--;
		mine = json;
		mine_len = len;
		if (mine == NULL)
			mine = places_filter_json(f->filter, w->bound, &mine_len);
		if (mine == NULL)
			fatalx("event=bug where=flight_hand_out error=\"no filtered answer\"");
		w->done(mine, mine_len, w->arg);
		free(w);
	}
}

/* Logs how a flight ended and counts it. */
static void flight_account(struct flight *f, const char *status, double seconds)
{
	size_t results = f->error[0] == '\0' ? places_filter_results(f->filter) : 0;

	if (f->upstream) {
		stats_places_latency(seconds);
		if (strcmp(status, "UNKNOWN_ERROR") == 0)
			stats.places_errors++;
	}
	if (f->error[0] != '\0')
		log_warnx("event=places_failed id=%llu error=%s http=%d waiters=%zu seconds=%.3f",
		    (unsigned long long)f->id, log_quote(f->error, strlen(f->error)),
		    f->http_code, f->nwaiters, seconds);
	else
		log_info("event=places_response id=%llu status=%s http=%d results=%zu "
		    "waiters=%zu seconds=%.3f", (unsigned long long)f->id,
		    log_quote(status, strlen(status)), f->http_code, results, f->nwaiters,
		    seconds);
}

/* The outcome is known (or the deadline passed): hand it out and free the flight. */
static void flight_finish(struct flight *f)
{
	double seconds = seconds_since(&f->started);
	char *error_json = NULL;
	size_t len = 0;
	const char *status = "UNKNOWN_ERROR";

	/* Searches that start while the waiters are answered make a flight of their own. */
	flight_detach(f);
	if (f->error[0] == '\0')
		status = places_filter_status(f->filter);
	flight_account(f, status, seconds);
	if (f->error[0] != '\0') {
		error_json = places_json_error(f->error, &len);
		if (error_json == NULL)
			fatalx("event=bug where=flight_finish error=\"cannot write the error JSON\"");
	}
	flight_hand_out(f, error_json, len);
	free(error_json);
	flight_free(f);
}

void flight_fail(struct flight *f, const char *fmt, ...)
{
	struct timeval now = { 0, 0 };
	va_list ap;

	if (f->done)
		return;
	va_start(ap, fmt);
	vsnprintf(f->error, sizeof(f->error), fmt, ap);
	va_end(ap);
	f->done = true;
	evtimer_add(f->timer, &now);
}

void flight_succeed(struct flight *f)
{
	struct timeval now = { 0, 0 };

	f->done = true;
	evtimer_add(f->timer, &now);
}

/* The deadline passed, or the outcome was set aside to be handed out from the loop. */
static void flight_timer_cb(evutil_socket_t fd, short what, void *arg)
{
	struct flight *f = arg;

	if (!f->done) {
		snprintf(f->error, sizeof(f->error), "Places did not answer within %d s",
		    f->places->timeout);
		f->done = true;
	}
	flight_finish(f);
}

/* The coalescing key: what the upstream call depends on. */
static void places_flight_key(const struct places *p, const struct places_request *req,
    char *key, size_t size)
{
	snprintf(key, size, "%s %s %s %d", req->latitude, req->longitude, req->radius_metres,
	    p->api == PLACES_API_NEW ? req->bound : 0);
}

/* A new flight for REQ, listed so that identical searches join it. */
static struct flight *flight_new(struct places *p, const char *key,
    const struct places_request *req)
{
	struct flight *f = xcalloc(1, sizeof(*f));

	f->places = p;
	f->id = p->next_flight_id++;
	f->requester = req->requester;
	snprintf(f->key, sizeof(f->key), "%s", key);
	TAILQ_INIT(&f->waiters);
	clock_gettime(CLOCK_MONOTONIC, &f->started);
	f->timer = xcheck(evtimer_new(p->base, flight_timer_cb, f));
	f->filter = places_filter_get(p, p->api == PLACES_API_NEW ? PLACES_FILTER_NEW :
	    PLACES_FILTER_LEGACY, p->api == PLACES_API_NEW ? (size_t)req->bound :
	    PLACES_FILTER_BOUND_MAX);
	TAILQ_INSERT_TAIL(&p->flights, f, entry);
	f->listed = true;
	p->nflights++;
	return f;
}

struct places_wait *places_search(struct places *p, const struct places_request *req,
    places_done_cb done, void *arg)
{
	char key[FLIGHT_KEY_MAX];
	struct places_wait *w = xcalloc(1, sizeof(*w));
	struct flight *f;
	bool joined = false;

	places_flight_key(p, req, key, sizeof(key));
	TAILQ_FOREACH(f, &p->flights, entry) {
		if (strcmp(f->key, key) == 0)
			break;
	}
	if (f != NULL) {
		joined = true;
	} else {
		f = flight_new(p, key, req);
	}
	w->flight = f;
	w->bound = (size_t)req->bound;
	w->done = done;
	w->arg = arg;
	TAILQ_INSERT_TAIL(&f->waiters, w, entry);
	f->nwaiters++;
	if (joined) {
		stats.places_coalesced++;
		log_debug("event=places_coalesced id=%llu waiters=%zu", (unsigned long long)f->id,
		    f->nwaiters);
	} else if (p->nflights > p->max_flights) {
		/* Refused: a twin of this search is refused too, not joined to it. */
		stats.places_refused++;
		flight_detach(f);
		flight_fail(f, "too many Places requests in flight (places_max_requests %zu)",
		    p->max_flights);
	} else {
		flight_start(f, req);
	}
	return w;
}

void places_cancel(struct places_wait *w)
{
	struct flight *f = w->flight;

	TAILQ_REMOVE(&f->waiters, w, entry);
	f->nwaiters--;
	free(w);
	/* Nobody waits any more: stop the upstream call rather than finish it for no one. */
	if (f->nwaiters == 0 && !f->handing_out) {
		/* Sent, so counted in places_requests: neither answered nor failed. */
		if (f->upstream)
			stats.places_abandoned++;
		log_info("event=places_abandoned id=%llu seconds=%.3f", (unsigned long long)f->id,
		    seconds_since(&f->started));
		flight_free(f);
	}
}

void places_free(struct places *p)
{
	struct flight *f;

	if (p == NULL)
		return;
	while ((f = TAILQ_FIRST(&p->flights)) != NULL) {
		struct places_wait *w;

		while ((w = TAILQ_FIRST(&f->waiters)) != NULL) {
			TAILQ_REMOVE(&f->waiters, w, entry);
			free(w);
		}
		flight_free(f);
	}
	pool_free(p);
	while (p->nspare > 0)
		places_filter_free(p->spare[--p->nspare]);
	SSL_CTX_free(p->tls);
	if (p->key != NULL)
		OPENSSL_cleanse(p->key, strlen(p->key));
	free(p->key);
	free(p->key_encoded);
	free(p->host);
	free(p->host_header);
	free(p->path);
	evbuffer_free(p->uri);
	evbuffer_free(p->log_url);
	free(p);
}
