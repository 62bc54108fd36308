/*
 * The HTTP admin endpoint (SPEC section 6): the client table, peer status and counters
 * as JSON, the counters as Prometheus metrics, and a health check.
 */
#ifndef HERD_ADMIN_H
#define HERD_ADMIN_H

#include <stdbool.h>
#include <stddef.h>

struct herd_config;

/*
 * Reads the admin token (if configured) and starts serving on the node's admin_listen.
 * Problems with the token file are fatal: they are start-up configuration errors.
 */
void admin_start(void);
/* Closes the listener and every admin connection (shutdown). */
void admin_stop(void);
/*
 * A reload: the bearer token is read again from CFG's admin_token_file (or credential)
 * for the requests from now on. False, with WHY, when it cannot be; the old one stays.
 */
bool admin_reload(const struct herd_config *cfg, char *why, size_t size);

#endif
