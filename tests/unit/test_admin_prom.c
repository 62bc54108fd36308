/* Unit tests of the Prometheus text writer: escaping, sample lines, numbers. */
#include <math.h>
#include <stdint.h>
#include <string.h>

#include <event2/buffer.h>

#include "check.h"
#include "prom.h"

static struct evbuffer *buf;
static char text[4096];

/* A fresh output on the shared buffer. */
static struct prom_out begin(void)
{
	evbuffer_drain(buf, evbuffer_get_length(buf));
	return (struct prom_out){ buf, false };
}

/* What was written since begin(), NUL-ended. */
static const char *written(void)
{
	size_t len = evbuffer_get_length(buf);

	if (len >= sizeof(text))
		len = sizeof(text) - 1;
	evbuffer_copyout(buf, text, len);
	text[len] = '\0';
	return text;
}

static const char *label_escaped(const char *value)
{
	struct prom_out out = begin();

	prom_add_label_value(&out, value);
	CHECK(!out.failed);
	return written();
}

static void test_label_escaping(void)
{
	CHECK_STR(label_escaped("Alford"), "Alford");
	CHECK_STR(label_escaped(""), "");
	CHECK_STR(label_escaped("a\"b"), "a\\\"b");
	CHECK_STR(label_escaped("back\\slash"), "back\\\\slash");
	CHECK_STR(label_escaped("two\nlines"), "two\\nlines");
	CHECK_STR(label_escaped("\\\"\n"), "\\\\\\\"\\n");
	/* everything else, UTF-8 included, goes through as it is */
	CHECK_STR(label_escaped("caf\xc3\xa9 {x=1}\t,"), "caf\xc3\xa9 {x=1}\t,");
}

static void test_family_and_samples(void)
{
	struct prom_out out = begin();
	struct prom_label labels[] = {
		{ "peer", "Par\"ker" },
		{ "state", "up" },
	};

	prom_family(&out, "herd_x_total", "counter", "Help with \\ and \"quotes\"\nand a line.");
	prom_sample_u64(&out, "herd_x_total", NULL, 0, 0);
	prom_sample_u64(&out, "herd_x_total", labels, 1, UINT64_MAX);
	prom_sample_u64(&out, "herd_x_total", labels, 2, 7);
	prom_sample_double(&out, "herd_y", NULL, 0, 0.25);
	prom_sample(&out, "herd_z_bucket", &(struct prom_label){ "le", "+Inf" }, 1, "3");
	CHECK(!out.failed);
	CHECK_STR(written(),
	    "# HELP herd_x_total Help with \\\\ and \"quotes\"\\nand a line.\n"
	    "# TYPE herd_x_total counter\n"
	    "herd_x_total 0\n"
	    "herd_x_total{peer=\"Par\\\"ker\"} 18446744073709551615\n"
	    "herd_x_total{peer=\"Par\\\"ker\",state=\"up\"} 7\n"
	    "herd_y 0.25\n"
	    "herd_z_bucket{le=\"+Inf\"} 3\n");
}

static const char *number(double value)
{
	static char out[32];

	return prom_format_double(value, out, sizeof(out));
}

static void test_numbers(void)
{
	CHECK_STR(number(0), "0");
	CHECK_STR(number(1), "1");
	CHECK_STR(number(0.005), "0.005");
	CHECK_STR(number(2.5), "2.5");
	CHECK_STR(number(-3.75), "-3.75");
	CHECK_STR(number(0.1 + 0.2), "0.30000000000000004");
	CHECK_STR(number(1e-9), "1e-09");
	CHECK_STR(number(1700000000.5), "1700000000.5");
	CHECK_STR(number(INFINITY), "+Inf");
	CHECK_STR(number(-INFINITY), "-Inf");
	CHECK_STR(number(NAN), "NaN");
}

int main(void)
{
	buf = evbuffer_new();
	if (buf == NULL)
		return 2;
	test_label_escaping();
	test_family_and_samples();
	test_numbers();
	evbuffer_free(buf);
	return check_done("admin_prom");
}
