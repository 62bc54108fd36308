/* The node's counters. */
#include "stats.h"

struct herd_stats stats;

const double stats_latency_bounds[STATS_LATENCY_BUCKETS] = {
	0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5,
};

void stats_places_latency(double seconds)
{
	stats.places_latency_count++;
	stats.places_latency_sum += seconds;
	for (int i = 0; i < STATS_LATENCY_BUCKETS; i++) {
		if (seconds <= stats_latency_bounds[i])
			stats.places_latency_buckets[i]++;
	}
}
