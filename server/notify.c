/* sd_notify without libsystemd: one non-blocking datagram per state change. */
#include "notify.h"

#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <event2/event.h>

#include "log.h"
#include "xmalloc.h"

static struct sockaddr_un notify_addr;
static socklen_t notify_addr_len;
static int notify_fd = -1;
static struct event *watchdog;

/* Sends MESSAGE to systemd; a lost notification is logged, never fatal. */
static void notify_send(const char *message)
{
	if (notify_fd < 0)
		return;
	if (sendto(notify_fd, message, strlen(message), MSG_NOSIGNAL,
	    (const struct sockaddr *)&notify_addr, notify_addr_len) < 0)
		log_warn("event=notify_failed message=%s", log_quote(message, strlen(message)));
}

static void notify_watchdog(evutil_socket_t fd, short what, void *arg)
{
	notify_send("WATCHDOG=1");
}

/* The watchdog interval systemd asked for in microseconds, or 0 for none. */
static unsigned long long watchdog_usec(void)
{
	const char *usec = getenv("WATCHDOG_USEC");
	const char *pid = getenv("WATCHDOG_PID");

	if (usec == NULL)
		return 0;
	if (pid != NULL && strtol(pid, NULL, 10) != (long)getpid())
		return 0;
	return strtoull(usec, NULL, 10);
}

void notify_init(struct event_base *base)
{
	const char *path = getenv("NOTIFY_SOCKET");
	size_t len;
	unsigned long long usec;

	if (path == NULL || path[0] == '\0')
		return;
	len = strlen(path);
	if ((path[0] != '/' && path[0] != '@') || len >= sizeof(notify_addr.sun_path)) {
		log_warnx("event=notify_failed error=\"unusable NOTIFY_SOCKET\"");
		return;
	}
	notify_addr.sun_family = AF_UNIX;
	memcpy(notify_addr.sun_path, path, len);
	if (path[0] == '@')
		notify_addr.sun_path[0] = '\0';   /* abstract namespace */
	notify_addr_len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + len);
	notify_fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (notify_fd < 0) {
		log_warn("event=notify_failed step=socket");
		return;
	}
	usec = watchdog_usec();
	if (usec > 0) {
		struct timeval half = { (time_t)(usec / 2000000), (suseconds_t)(usec / 2 % 1000000) };

		watchdog = xcheck(event_new(base, -1, EV_PERSIST, notify_watchdog, NULL));
		if (event_add(watchdog, &half) < 0)
			fatalx("event=startup_failed error=\"cannot start the watchdog timer\"");
		log_info("event=watchdog interval_usec=%llu", usec);
	}
}

void notify_ready(void)
{
	notify_send("READY=1\nSTATUS=serving");
}

void notify_reloading(void)
{
	notify_send("RELOADING=1\nSTATUS=reloading the configuration");
}

void notify_reloaded(const char *status)
{
	char message[512];

	snprintf(message, sizeof(message), "READY=1\nSTATUS=%s", status);
	notify_send(message);
}

void notify_stopping(void)
{
	if (watchdog != NULL)
		event_del(watchdog);
	notify_send("STOPPING=1");
}

void notify_free(void)
{
	if (watchdog != NULL)
		event_free(watchdog);
	watchdog = NULL;
	if (notify_fd >= 0)
		close(notify_fd);
	notify_fd = -1;
}
