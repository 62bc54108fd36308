/*
 * Deterministic places around a location: the same (lat, lng, radius) always
 * gives the same places, whichever API asks, and every place lies within the
 * radius. The first N places do not depend on how many are asked for.
 */
#include <math.h>
#include <stdint.h>
#include <stdio.h>

#include "standin.h"

#define EARTH_RADIUS_METRES 6371008.8
#define DEG (M_PI / 180.0)
#define SPREAD 0.95		/* keep rounded coordinates inside the circle */
#define VIEWPORT_HALF_DEG 0.0013490	/* about 150 m, as Google's viewports */

static const char *const adjectives[] = {
	"Golden", "Silver", "Blue", "Red", "Green", "Sunny", "Quiet", "Old",
	"Little", "Royal", "Lucky", "Happy", "Wild", "Hidden", "Grand", "Bright",
};

static const char *const nouns[] = {
	"Oak", "Pine", "River", "Harbor", "Hill", "Meadow", "Bridge", "Lantern",
	"Willow", "Cedar", "Maple", "Stone", "Garden", "Valley", "Canyon",
	"Orchard",
};

static const struct place_kind kinds[] = {
	{ "Cafe", "cafe", { "cafe", "food", "point_of_interest", "establishment" } },
	{ "Bakery", "shopping", { "bakery", "food", "store", "point_of_interest" } },
	{ "Books", "shopping", { "book_store", "store", "point_of_interest", "establishment" } },
	{ "Library", "civic_building", { "library", "point_of_interest", "establishment" } },
	{ "Park", "park", { "park", "point_of_interest", "establishment" } },
	{ "Pharmacy", "pharmacy", { "pharmacy", "health", "store", "point_of_interest" } },
	{ "Kitchen", "restaurant", { "restaurant", "food", "point_of_interest", "establishment" } },
	{ "Fitness", "generic_business", { "gym", "health", "point_of_interest", "establishment" } },
	{ "Museum", "museum", { "museum", "tourist_attraction", "point_of_interest", "establishment" } },
	{ "Savings Bank", "bank_dollar", { "bank", "finance", "point_of_interest", "establishment" } },
	{ "Hotel", "lodging", { "lodging", "point_of_interest", "establishment" } },
	{ "Tavern", "bar", { "bar", "point_of_interest", "establishment" } },
};

static const char *const streets[] = {
	"Main", "Oak", "Sunset", "Wilshire", "Gayley", "Westwood", "Hilgard",
	"Veteran", "Broadway", "Elm", "Park", "Lake", "Hill", "Church", "Spring",
	"Mill",
};

static const char *const street_kinds[] = {
	"Street", "Avenue", "Boulevard", "Drive", "Lane", "Way", "Road", "Place",
};

static const char *const towns[] = {
	"Springfield", "Riverside", "Fairview", "Greenville", "Lakeside",
	"Oakdale", "Hillcrest", "Brookfield",
};

static const char id_alphabet[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

#define PICK(table, state) \
	((table)[next_random(state) % (sizeof(table) / sizeof((table)[0]))])

/* splitmix64: small, fast and good enough to spread test data. */
static uint64_t
next_random(uint64_t *state)
{
	uint64_t z = (*state += UINT64_C(0x9e3779b97f4a7c15));

	z = (z ^ (z >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
	z = (z ^ (z >> 27)) * UINT64_C(0x94d049bb133111eb);
	return z ^ (z >> 31);
}

/* A uniform double in [0, 1). */
static double
next_unit(uint64_t *state)
{
	return (double)(next_random(state) >> 11) * 0x1.0p-53;
}

/* Mix one input into the seed; rounding first makes 34.06893 and
 * 34.068930 the same location. */
static void
seed_mix(uint64_t *seed, double value, double scale)
{
	*seed ^= (uint64_t)llround(value * scale);
	*seed = next_random(seed);
}

static double
round7(double degrees)
{
	return round(degrees * 1e7) / 1e7;
}

static double
normalize_longitude(double lng)
{
	return fmod(fmod(lng + 180.0, 360.0) + 360.0, 360.0) - 180.0;
}

/* The point at `distance` metres from (lat, lng) towards `bearing` radians,
 * on a sphere. */
static void
destination(double lat, double lng, double distance, double bearing,
    double *out_lat, double *out_lng)
{
	double phi1 = lat * DEG, delta = distance / EARTH_RADIUS_METRES;
	double phi2 = asin(sin(phi1) * cos(delta) +
	    cos(phi1) * sin(delta) * cos(bearing));
	double dlambda = atan2(sin(bearing) * sin(delta) * cos(phi1),
	    cos(delta) - sin(phi1) * sin(phi2));

	*out_lat = round7(phi2 / DEG);
	*out_lng = round7(normalize_longitude(lng + dlambda / DEG));
}

static void
place_position(struct place *p, double lat, double lng, double radius,
    uint64_t *state)
{
	double distance = radius * SPREAD * sqrt(next_unit(state));
	double bearing = 2.0 * M_PI * next_unit(state);
	double lng_half;

	destination(lat, lng, distance, bearing, &p->lat, &p->lng);
	lng_half = VIEWPORT_HALF_DEG / fmax(cos(p->lat * DEG), 0.01);
	p->north = round7(fmin(p->lat + VIEWPORT_HALF_DEG, 90.0));
	p->south = round7(fmax(p->lat - VIEWPORT_HALF_DEG, -90.0));
	p->east = round7(fmin(p->lng + lng_half, 180.0));
	p->west = round7(fmax(p->lng - lng_half, -180.0));
}

static void
place_identity(struct place *p, uint64_t *state)
{
	size_t i;
	const char *street, *street_kind, *town;
	unsigned number;

	snprintf(p->id, sizeof(p->id), "ChIJ");
	for (i = 4; i < sizeof(p->id) - 1; i++)
		p->id[i] = id_alphabet[next_random(state) >> 58];
	p->id[i] = '\0';

	p->kind = &PICK(kinds, state);
	snprintf(p->name, sizeof(p->name), "%s %s %s", PICK(adjectives, state),
	    PICK(nouns, state), p->kind->label);

	number = 1 + (unsigned)(next_random(state) % 9999);
	street = PICK(streets, state);
	street_kind = PICK(street_kinds, state);
	town = PICK(towns, state);
	snprintf(p->vicinity, sizeof(p->vicinity), "%u %s %s, %s", number,
	    street, street_kind, town);
	snprintf(p->address, sizeof(p->address), "%s, USA", p->vicinity);
}

static void
place_reviews(struct place *p, uint64_t *state)
{
	p->rating = (double)(10 + next_random(state) % 41) / 10.0;
	p->rating_count = (int)(next_random(state) % 5000);
}

void
gen_places(double lat, double lng, double radius, size_t count,
    struct place *out)
{
	uint64_t seed = UINT64_C(0x6865726400000000);
	size_t i;

	seed_mix(&seed, lat, 1e7);
	seed_mix(&seed, lng, 1e7);
	seed_mix(&seed, radius, 1e3);
	for (i = 0; i < count; i++) {
		place_position(&out[i], lat, lng, radius, &seed);
		place_identity(&out[i], &seed);
		place_reviews(&out[i], &seed);
	}
}
