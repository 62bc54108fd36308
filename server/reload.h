/* SIGHUP: the log reopened and the configuration read again and applied (reload.c). */
#ifndef HERD_RELOAD_H
#define HERD_RELOAD_H

/*
 * Reloads the configuration file PATH for node NAME (STATE_DIR: herdd -s, or NULL),
 * telling systemd RELOADING=1 and then READY=1. Never stops the node: a file that
 * cannot be applied is logged and the configuration in force stays.
 */
void reload_run(const char *path, const char *name, const char *state_dir);
/* Frees the configurations reloads replaced (shutdown). */
void reload_free(void);

#endif
