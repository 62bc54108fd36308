/*
 * systemd's service notification protocol (Type=notify, WatchdogSec=) spoken directly:
 * datagrams to $NOTIFY_SOCKET, no libsystemd. Every call is a no-op outside systemd.
 */
#ifndef HERD_NOTIFY_H
#define HERD_NOTIFY_H

struct event_base;

/* Reads the environment and, if systemd asks for a watchdog, starts pinging it. */
void notify_init(struct event_base *base);
/* READY=1: every listener is bound and the node serves. */
void notify_ready(void);
/* RELOADING=1 as a reload (SIGHUP) begins; READY=1 with STATUS as it ends. */
void notify_reloading(void);
void notify_reloaded(const char *status);
/* STOPPING=1, and the watchdog stops. */
void notify_stopping(void);
void notify_free(void);

#endif
