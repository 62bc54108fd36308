/*
 * Benchmarks of the node's pure hot path: parsing an IAMAT, formatting its AT line and
 * storing it in the table. The goals are checked here, not in tests: table operations
 * stay O(1) (the per-lookup cost at 1M clients is within 4x of that at 100k, both
 * mostly past the caches; a linear scan would cost 10x), one IAMAT costs under 2
 * microseconds of CPU on the reference machine, and an admin /clients page of 1000
 * records at 500k clients costs under 1 ms (a pass over the table took 70 ms).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "htime.h"
#include "proto.h"
#include "table.h"

#define GOAL_IAMAT_NS 2000.0
#define GOAL_SCALING 4.0
#define GOAL_PAGE_US 1000.0
#define PAGE_SIZE 1000

/* Monotonic nanoseconds. */
static double now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

/* Runs COUNT IAMATs for CLIENTS distinct ids through parse, format and store. */
static double iamat_ns(struct table *t, long count, long clients)
{
	char line[256], at[512];
	struct field fields[PROTO_MAX_FIELDS];
	struct htime read_at = { 1700000100, 0 };
	double start = now_ns();

	for (long i = 0; i < count; i++) {
		int n = snprintf(line, sizeof(line), "IAMAT client-%ld.example +34.068930-118.445127 "
		    "1700000000.%09ld", i % clients, i % 1000000000);
		struct iamat iamat;
		struct at_record rec;
		const struct record *stored;
		size_t len;

		if (proto_split(line, (size_t)n, fields, PROTO_MAX_FIELDS) != 4 ||
		    !proto_iamat_parse(fields + 1, &iamat))
			abort();
		len = proto_at_format("Alford", &iamat, read_at, at, sizeof(at), &rec);
		if (len == 0)
			abort();
		table_offer(t, &rec, &stored);
	}
	return (now_ns() - start) / (double)count;
}

/* Per-lookup cost in a table of CLIENTS records. */
static double lookup_ns(long clients)
{
	struct table *t = table_new();
	char id[64];
	double start, elapsed;
	long lookups = 2000000;

	iamat_ns(t, clients, clients);
	start = now_ns();
	for (long i = 0; i < lookups; i++) {
		int n = snprintf(id, sizeof(id), "client-%ld.example", (i * 7919) % clients);

		if (table_get(t, id, (size_t)n) == NULL)
			abort();
	}
	elapsed = (now_ns() - start) / (double)lookups;
	table_free(t);
	return elapsed;
}

/* Microseconds for one page of PAGE_SIZE records by ID, after a random ID, at CLIENTS. */
static double page_us(long clients)
{
	struct table *t = table_new();
	char id[64];
	double start, elapsed;
	long pages = 1000, records = 0;

	iamat_ns(t, clients, clients);
	start = now_ns();
	for (long i = 0; i < pages; i++) {
		int n = snprintf(id, sizeof(id), "client-%ld", (i * 7919) % clients);
		const struct record *rec = table_after(t, id, (size_t)n);

		for (int k = 0; rec != NULL && k < PAGE_SIZE; k++, rec = table_next_by_id(rec))
			records++;
	}
	elapsed = (now_ns() - start) / 1e3 / (double)pages;
	if (records == 0)
		abort();
	table_free(t);
	return elapsed;
}

int main(void)
{
	struct table *t = table_new();
	double iamat = iamat_ns(t, 1000000, 100000);
	double small = lookup_ns(100000);
	double large = lookup_ns(1000000);
	double page = page_us(500000);
	int failed = 0;

	table_free(t);
	printf("iamat parse+format+store: %.0f ns/op (goal < %.0f)\n", iamat, GOAL_IAMAT_NS);
	printf("table lookup, 100k clients: %.0f ns/op\n", small);
	printf("table lookup, 1M clients: %.0f ns/op (goal < %.1fx the 100k cost)\n", large,
	    GOAL_SCALING);
	printf("/clients page of %d at 500k clients: %.1f us (goal < %.0f)\n", PAGE_SIZE, page,
	    GOAL_PAGE_US);
	if (page > GOAL_PAGE_US) {
		fprintf(stderr, "FAIL: a page of clients costs more than the goal\n");
		failed = 1;
	}
	if (iamat > GOAL_IAMAT_NS) {
		fprintf(stderr, "FAIL: IAMAT path slower than goal\n");
		failed = 1;
	}
	if (large > small * GOAL_SCALING) {
		fprintf(stderr, "FAIL: table lookups do not stay O(1)\n");
		failed = 1;
	}
	return failed;
}
