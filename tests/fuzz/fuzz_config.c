/* libFuzzer target: any bytes through the configuration parser, never a crash or a leak. */

#include <stddef.h>
#include <stdint.h>

#include "config.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Parses DATA twice: as a file in a folder (relative names resolve) and as a bare name. */
int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct config_errors errs = { 0 };
	struct herd_config *cfg;
	const struct config_node *node;
	char buf[300];
	size_t i, j;

	cfg = config_parse("etc/herd.conf", (const char *)data, size, &errs);
	if (cfg != NULL) {
		/* A valid result must hold the promises of config.h. */
		for (i = 0; i < cfg->nnodes; i++) {
			node = &cfg->nodes[i];
			if (config_find_node(cfg, node->name) != node)
				__builtin_trap();
			if (!node->listen.set || !node->peer_listen.set)
				__builtin_trap();
			config_addr_format(&node->listen, buf, sizeof buf);
			config_addr_is_loopback(&node->admin_listen);
			for (j = 0; j < node->nneighbours; j++) {
				if (node->neighbours[j] == i ||
				    (j > 0 && node->neighbours[j] <= node->neighbours[j - 1]) ||
				    !config_are_neighbours(cfg, node->neighbours[j], i))
					__builtin_trap();
			}
		}
	}
	config_free(cfg);
	config_errors_clear(&errs);

	cfg = config_parse("herd.conf", (const char *)data, size, &errs);
	config_free(cfg);
	config_errors_clear(&errs);
	return 0;
}
