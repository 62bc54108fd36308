/*
 * Benchmark of the streaming Places filter on answers the size Google sends: a 20-result
 * legacy page kept whole and cut to 5 as a node does, and a 20-place new-API answer
 * translated. The goal is checked
 * here, not in tests: either answer costs under 1 ms of CPU on the reference machine
 * (a WHATSAT's upstream round trip is tens of milliseconds, so the filter stays noise).
 */
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "places_filter.h"

#define GOAL_ANSWER_US 1000.0
#define ROUNDS 2000
#define BODY_MAX (1024 * 1024)
#define PIECE 4096                /* roughly what one TLS read hands evhttp */

/* Monotonic microseconds. */
static double now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e6 + (double)ts.tv_nsec / 1e3;
}

/* Appends printf output to the growing text at *TEXT (LEN used, SIZE allocated). */
static void append(char **text, size_t *len, size_t *size, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static void append(char **text, size_t *len, size_t *size, const char *fmt, ...)
{
	va_list ap;
	int n;

	for (;;) {
		va_start(ap, fmt);
		n = vsnprintf(*text + *len, *size - *len, fmt, ap);
		va_end(ap);
		if (n >= 0 && (size_t)n < *size - *len)
			break;
		*size *= 2;
		*text = realloc(*text, *size);
		if (*text == NULL) {
			perror("realloc");
			exit(1);
		}
	}
	*len += (size_t)n;
}

/* A legacy page of 20 results, formatted as Google formats them. */
static char *legacy_page(size_t *len)
{
	size_t size = 4096;
	char *t = malloc(size);

	*len = 0;
	append(&t, len, &size, "{\n   \"html_attributions\" : [],\n   \"next_page_token\" : "
	    "\"AcJnMuG-0123456789abcdefghijklmnopqrstuvwxyz\",\n   \"results\" : [\n");
	for (int i = 0; i < 20; i++)
		append(&t, len, &size,
		    "      {\n         \"business_status\" : \"OPERATIONAL\",\n"
		    "         \"geometry\" : {\n            \"location\" : {\n"
		    "               \"lat\" : 34.06%05d,\n               \"lng\" : -118.44%05d\n"
		    "            },\n            \"viewport\" : {\n               \"northeast\" : "
		    "{ \"lat\" : 34.0712, \"lng\" : -118.4431 },\n               \"southwest\" : "
		    "{ \"lat\" : 34.0685, \"lng\" : -118.4458 }\n            }\n         },\n"
		    "         \"icon\" : \"https://maps.gstatic.com/mapfiles/place_api/icons/v1/"
		    "png_71/restaurant-71.png\",\n         \"icon_background_color\" : \"#FF9E67\",\n"
		    "         \"name\" : \"Place number %d \\u00e9\",\n"
		    "         \"opening_hours\" : { \"open_now\" : true },\n"
		    "         \"photos\" : [ { \"height\" : 3024, \"html_attributions\" : [ \"<a "
		    "href=\\\"https://maps.google.com/maps/contrib/1\\\">A</a>\" ], "
		    "\"photo_reference\" : \"AcJnMuHx0123456789abcdefghijklmnopqrstuvwxyz0123456789"
		    "abcdefghijklmnopqrstuvwxyz\", \"width\" : 4032 } ],\n"
		    "         \"place_id\" : \"ChIJ%020d\",\n         \"plus_code\" : { "
		    "\"compound_code\" : \"3H9X+GX Los Angeles\", \"global_code\" : \"85633H9X+GX\" },\n"
		    "         \"price_level\" : 2,\n         \"rating\" : 4.%d,\n"
		    "         \"reference\" : \"ChIJ%020d\",\n         \"scope\" : \"GOOGLE\",\n"
		    "         \"types\" : [ \"restaurant\", \"food\", \"point_of_interest\", "
		    "\"establishment\" ],\n         \"user_ratings_total\" : %d,\n"
		    "         \"vicinity\" : \"%d Westwood Boulevard, Los Angeles\"\n      }%s\n",
		    i * 37, i * 53, i, i, i % 10, i, 100 + i * 7, 1000 + i, i < 19 ? "," : "");
	append(&t, len, &size, "   ],\n   \"status\" : \"OK\"\n}\n");
	return t;
}

/* A new-API answer of 20 places with the fields herd's field mask asks for. */
static char *new_answer(size_t *len)
{
	size_t size = 4096;
	char *t = malloc(size);

	*len = 0;
	append(&t, len, &size, "{\n  \"places\": [\n");
	for (int i = 0; i < 20; i++)
		append(&t, len, &size,
		    "    {\n      \"id\": \"ChIJ%020d\",\n      \"types\": [\"restaurant\", \"food\", "
		    "\"point_of_interest\", \"establishment\"],\n      \"formattedAddress\": \"%d "
		    "Westwood Blvd, Los Angeles, CA 90024, USA\",\n      \"location\": {\"latitude\": "
		    "34.06%05d, \"longitude\": -118.44%05d},\n      \"viewport\": {\"low\": "
		    "{\"latitude\": 34.0685, \"longitude\": -118.4458}, \"high\": {\"latitude\": "
		    "34.0712, \"longitude\": -118.4431}},\n      \"rating\": 4.%d,\n"
		    "      \"userRatingCount\": %d,\n      \"businessStatus\": \"OPERATIONAL\",\n"
		    "      \"priceLevel\": \"PRICE_LEVEL_MODERATE\",\n      \"currentOpeningHours\": "
		    "{\"openNow\": true},\n      \"iconMaskBaseUri\": \"https://maps.gstatic.com/"
		    "mapfiles/place_api/icons/v2/restaurant_pinlet\",\n      \"iconBackgroundColor\": "
		    "\"#FF9E67\",\n      \"displayName\": {\"text\": \"Place number %d\", "
		    "\"languageCode\": \"en\"},\n      \"shortFormattedAddress\": \"%d Westwood Blvd\","
		    "\n      \"plusCode\": {\"globalCode\": \"85633H9X+GX\", \"compoundCode\": "
		    "\"3H9X+GX Los Angeles\"}\n    }%s\n",
		    i, 1000 + i, i * 37, i * 53, i % 10, 100 + i * 7, i, 1000 + i,
		    i < 19 ? "," : "");
	append(&t, len, &size, "  ]\n}\n");
	return t;
}

/* Microseconds per answer: BODY through a filter of API keeping 20, replied with BOUND. */
static double filter_us(enum places_filter_api api, size_t bound, const char *body,
    size_t len)
{
	double start = now_us();

	for (int r = 0; r < ROUNDS; r++) {
		struct places_filter *f = places_filter_new(api, PLACES_FILTER_BOUND_MAX, BODY_MAX);
		size_t out = 0;
		bool ok = f != NULL;

		for (size_t i = 0; ok && i < len; i += PIECE)
			ok = places_filter_feed(f, body + i, len - i < PIECE ? len - i : PIECE);
		if (!ok || !places_filter_finish(f) || places_filter_json(f, bound, &out) == NULL ||
		    places_filter_results(f) != PLACES_FILTER_BOUND_MAX) {
			fprintf(stderr, "bench_places_filter: the filter refused its input: %s\n",
			    f != NULL ? places_filter_error(f) : "out of memory");
			exit(1);
		}
		places_filter_free(f);
	}
	return (now_us() - start) / ROUNDS;
}

int main(void)
{
	size_t legacy_len, new_len;
	char *legacy = legacy_page(&legacy_len);
	char *fresh = new_answer(&new_len);
	double legacy_us = filter_us(PLACES_FILTER_LEGACY, 5, legacy, legacy_len);
	double new_us = filter_us(PLACES_FILTER_NEW, 20, fresh, new_len);
	int failed = 0;

	printf("legacy: %zu-byte page, 20 results, replied cut to 5: %.1f us per answer, %.1f MB/s\n",
	    legacy_len, legacy_us, (double)legacy_len / legacy_us);
	printf("new:    %zu-byte answer, 20 places translated: %.1f us per answer, %.1f MB/s\n",
	    new_len, new_us, (double)new_len / new_us);
	if (legacy_us > GOAL_ANSWER_US || new_us > GOAL_ANSWER_US) {
		printf("goal missed: each answer must take under %.0f us\n", GOAL_ANSWER_US);
		failed = 1;
	}
	free(legacy);
	free(fresh);
	return failed;
}
