/*
 * Unit tests of a link's life on a socketpair, with a fake owner: it says HELLO at once,
 * closing it twice tells the owner once, nothing is sent on a closing link, and it is
 * freed from the loop afterwards.
 */
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <event2/event.h>

#include "check.h"
#include "config.h"
#include "herdd.h"
#include "link.h"
#include "linkstate.h"
#include "state.h"
#include "peer.h"
#include "proto.h"
#include "table.h"

struct herdd herdd;

static const char herd_conf[] =
	"[herd]\n"
	"[node Alford]\nlisten = 127.0.0.1:1\npeer_listen = 127.0.0.1:2\npeers = Parker\n"
	"[node Parker]\nlisten = 127.0.0.1:3\npeer_listen = 127.0.0.1:4\n";

static int detached, closed;

/* No journal here: records that links deliver are not kept. */
void state_append(const struct record *rec)
{
}

/* No link state here: reports are not kept. */
bool linkstate_receive(const struct peer *from, const char *line, size_t len,
    const char **why)
{
	return true;
}

static struct peer *fake_hello(struct link *l, const char *name, size_t len, char *why,
    size_t size)
{
	snprintf(why, size, "no neighbours here");
	return NULL;
}

static void fake_up(struct link *l, struct peer *p)
{
}

static bool fake_detach(struct link *l, struct peer *p)
{
	detached++;
	return false;
}

static void fake_closed(struct link *l, struct peer *p)
{
	closed++;
}

static const struct link_owner owner = { fake_hello, fake_up, fake_detach, fake_closed };

/* What the other end of the socketpair has received so far. */
static size_t received(int fd, char *buf, size_t size)
{
	ssize_t n = read(fd, buf, size - 1);

	buf[n > 0 ? n : 0] = '\0';
	return n > 0 ? (size_t)n : 0;
}

static void test_close_twice_and_send_while_closing(void)
{
	int sv[2];
	struct link *l;
	char buf[512];
	const char line[] = "AT Parker +0.000000001 kiwi +1+1 1700000000";
	struct at_record rec;
	const struct record *stored;

	CHECK(socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == 0);
	fcntl(sv[1], F_SETFL, O_NONBLOCK);
	l = link_accept(sv[0], "test");
	CHECK_INT(links_pending(), 1);
	/* HELLO goes out on the next loop pass. */
	event_base_loop(herdd.base, EVLOOP_NONBLOCK);
	CHECK(received(sv[1], buf, sizeof(buf)) > 0);
	CHECK(strncmp(buf, "HELLO herd/3 Alford ", 20) == 0);

	link_close(l, "first");
	link_close(l, "second");
	CHECK_INT(detached, 1);
	CHECK_INT(closed, 1);
	CHECK_INT(links_pending(), 0);

	/* A record for a closing link is not sent, and the socket stays quiet. */
	CHECK(proto_at_parse(line, strlen(line), &rec));
	table_offer(herdd.table, &rec, &stored);
	CHECK(!link_send_record(l, stored));
	event_base_loop(herdd.base, EVLOOP_NONBLOCK);
	CHECK_INT(received(sv[1], buf, sizeof(buf)), 0);

	/* Freed from the loop: the socket is closed, the other end reads EOF. */
	event_base_loop(herdd.base, EVLOOP_NONBLOCK);
	CHECK_INT(read(sv[1], buf, sizeof(buf)), 0);
	close(sv[1]);
}

static void test_bad_line_closes_once(void)
{
	int sv[2];
	char buf[512];

	detached = closed = 0;
	CHECK(socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == 0);
	fcntl(sv[1], F_SETFL, O_NONBLOCK);
	link_accept(sv[0], "test");
	event_base_loop(herdd.base, EVLOOP_NONBLOCK);
	received(sv[1], buf, sizeof(buf));
	/* A record before the handshake closes the link from inside its read callback. */
	CHECK(write(sv[1], "AT Parker +0.000000001 kiwi +1+1 1\nPING\n", 40) == 40);
	for (int i = 0; i < 5; i++)
		event_base_loop(herdd.base, EVLOOP_NONBLOCK);
	CHECK_INT(detached, 1);
	CHECK_INT(closed, 1);
	CHECK_INT(links_pending(), 0);
	CHECK_INT(read(sv[1], buf, sizeof(buf)), 0);
	close(sv[1]);
}

int main(void)
{
	herdd.config = config_parse("test.conf", herd_conf, strlen(herd_conf), NULL);
	herdd.self = &herdd.config->nodes[0];
	herdd.self_index = 0;
	herdd.base = event_base_new();
	herdd.table = table_new_keyed(1, 2);
	links_start(&owner, NULL, 0);
	test_close_twice_and_send_while_closing();
	test_bad_line_closes_once();
	links_stop();
	table_free(herdd.table);
	event_base_free(herdd.base);
	config_free(herdd.config);
	return check_done("link");
}
