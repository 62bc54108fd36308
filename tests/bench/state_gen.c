/*
 * Writes a state_dir snapshot of N made-up records for bench_state_load.py, with the
 * node's own format code (statefmt), so the load benchmark need not feed herdd a
 * million IAMATs first.
 *   state_gen FILE NODE HERD_ID N
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "statefmt.h"

int main(int argc, char **argv)
{
	struct statefmt_header h = { .kind = STATEFMT_SNAPSHOT, .gen = 1 };
	char line[STATEFMT_META_MAX + 256], at[256];
	unsigned long n;
	size_t len;
	FILE *f;

	if (argc != 5) {
		fprintf(stderr, "usage: state_gen FILE NODE HERD_ID N\n");
		return 2;
	}
	n = strtoul(argv[4], NULL, 10);
	snprintf(h.node, sizeof(h.node), "%s", argv[2]);
	snprintf(h.herd, sizeof(h.herd), "%s", argv[3]);
	f = fopen(argv[1], "w");
	if (f == NULL) {
		perror(argv[1]);
		return 1;
	}
	len = statefmt_header_line(line, &h);
	fwrite(line, 1, len, f);
	for (unsigned long i = 0; i < n; i++) {
		int alen = snprintf(at, sizeof(at), "AT %s +0.%09lu client%07lu +34.%06lu-118.%06lu "
		    "1700000000.%09lu", argv[2], i % 1000000000, i, i % 1000000, (i * 7) % 1000000,
		    i);

		statefmt_line(line, at, (size_t)alen);
		fwrite(line, 1, statefmt_line_size((size_t)alen), f);
	}
	len = statefmt_end_line(line, n);
	fwrite(line, 1, len, f);
	if (fclose(f) != 0) {
		perror(argv[1]);
		return 1;
	}
	return 0;
}
