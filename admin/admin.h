/*
 * The HTTP admin endpoint (SPEC section 6): the client table, peer status and counters
 * as JSON, the counters as Prometheus metrics, and a health check.
 */
#ifndef HERD_ADMIN_H
#define HERD_ADMIN_H

/*
 * Reads the admin token (if configured) and starts serving on the node's admin_listen.
 * Problems with the token file are fatal: they are start-up configuration errors.
 */
void admin_start(void);
/* Closes the listener and every admin connection (shutdown). */
void admin_stop(void);

#endif
