/*
 * Prometheus text exposition format 0.0.4 written into an evbuffer: family headers,
 * samples with escaped label values, numbers as Prometheus parses them. Pure code.
 */
#ifndef HERD_PROM_H
#define HERD_PROM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct evbuffer;

#define PROM_CONTENT_TYPE "text/plain; version=0.0.4"

struct prom_label {
	const char *name;
	const char *value;
};

/* Output for one exposition; FAILED is sticky, so callers check once at the end. */
struct prom_out {
	struct evbuffer *buf;
	bool failed;
};

/* "# HELP NAME HELP" and "# TYPE NAME TYPE" (counter, gauge, histogram). */
void prom_family(struct prom_out *out, const char *name, const char *type, const char *help);
/* One sample line: NAME{LABELS} VALUE, where VALUE is already Prometheus number text. */
void prom_sample(struct prom_out *out, const char *name, const struct prom_label *labels,
    size_t nlabels, const char *value);
void prom_sample_u64(struct prom_out *out, const char *name, const struct prom_label *labels,
    size_t nlabels, uint64_t value);
void prom_sample_double(struct prom_out *out, const char *name,
    const struct prom_label *labels, size_t nlabels, double value);

/*
 * VALUE as the shortest decimal that reads back as the same double, or +Inf, -Inf, NaN.
 * BUF should have room for 32 bytes; returns BUF.
 */
const char *prom_format_double(double value, char *buf, size_t size);

/* Appends VALUE escaped for a label value (\\, \" and \n) to OUT. */
void prom_add_label_value(struct prom_out *out, const char *value);

#endif
