/* Writing the Prometheus text format. */
#include "prom.h"

#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>

/* Appends (P, LEN) to OUT, remembering a failure. */
static void prom_add(struct prom_out *out, const char *p, size_t len)
{
	if (evbuffer_add(out->buf, p, len) < 0)
		out->failed = true;
}

/* Appends the NUL-ended S to OUT. */
static void prom_add_str(struct prom_out *out, const char *s)
{
	prom_add(out, s, strlen(s));
}

/*
 * Appends S with backslash and newline escaped, and double quotes too when QUOTES: the
 * format escapes all three in label values but only the first two in HELP text.
 */
static void prom_add_escaped(struct prom_out *out, const char *s, bool quotes)
{
	const char *special = quotes ? "\\\"\n" : "\\\n";

	while (*s != '\0') {
		size_t run = strcspn(s, special);

		prom_add(out, s, run);
		s += run;
		if (*s == '\0')
			break;
		prom_add_str(out, *s == '\n' ? "\\n" : *s == '"' ? "\\\"" : "\\\\");
		s++;
	}
}

void prom_add_label_value(struct prom_out *out, const char *value)
{
	prom_add_escaped(out, value, true);
}

void prom_family(struct prom_out *out, const char *name, const char *type, const char *help)
{
	prom_add_str(out, "# HELP ");
	prom_add_str(out, name);
	prom_add_str(out, " ");
	prom_add_escaped(out, help, false);
	prom_add_str(out, "\n# TYPE ");
	prom_add_str(out, name);
	prom_add_str(out, " ");
	prom_add_str(out, type);
	prom_add_str(out, "\n");
}

void prom_sample(struct prom_out *out, const char *name, const struct prom_label *labels,
    size_t nlabels, const char *value)
{
	prom_add_str(out, name);
	for (size_t i = 0; i < nlabels; i++) {
		prom_add_str(out, i == 0 ? "{" : ",");
		prom_add_str(out, labels[i].name);
		prom_add_str(out, "=\"");
		prom_add_label_value(out, labels[i].value);
		prom_add_str(out, "\"");
	}
	if (nlabels > 0)
		prom_add_str(out, "}");
	prom_add_str(out, " ");
	prom_add_str(out, value);
	prom_add_str(out, "\n");
}

void prom_sample_u64(struct prom_out *out, const char *name, const struct prom_label *labels,
    size_t nlabels, uint64_t value)
{
	char text[24];

	snprintf(text, sizeof(text), "%" PRIu64, value);
	prom_sample(out, name, labels, nlabels, text);
}

void prom_sample_double(struct prom_out *out, const char *name,
    const struct prom_label *labels, size_t nlabels, double value)
{
	char text[32];

	prom_sample(out, name, labels, nlabels, prom_format_double(value, text, sizeof(text)));
}

const char *prom_format_double(double value, char *buf, size_t size)
{
	if (isnan(value)) {
		snprintf(buf, size, "NaN");
		return buf;
	}
	if (isinf(value)) {
		snprintf(buf, size, value > 0 ? "+Inf" : "-Inf");
		return buf;
	}
	/* %.17g always reads back exactly; fewer digits usually do and read better. */
	for (int precision = 1; precision <= 17; precision++) {
		snprintf(buf, size, "%.*g", precision, value);
		if (strtod(buf, NULL) == value)
			break;
	}
	return buf;
}
