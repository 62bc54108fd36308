/* herdd: one node of a Places proxy herd. Options, configuration, start-up, shutdown. */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/resource.h>

#include <event2/dns.h>
#include <event2/event.h>

#include "admin.h"
#include "client.h"
#include "config.h"
#include "digest.h"
#include "herdd.h"
#include "listen.h"
#include "link.h"
#include "log.h"
#include "notify.h"
#include "peer.h"
#include "places.h"
#include "reload.h"
#include "state.h"
#include "statefmt.h"
#include "table.h"
#include "xmalloc.h"

#define DEFAULT_CONFIG "/etc/herd/herd.conf"

struct herdd herdd;

struct options {
	const char *config_path;
	const char *name;
	const char *log_path;
	const char *state_dir;       /* in place of the file's state_dir */
	bool check;
	bool list_nodes;
	int verbosity;
};

static void usage(FILE *out)
{
	fprintf(out,
	    "usage: herdd [-c FILE] -n NAME [-l LOGFILE] [-s DIR] [-v]\n"
	    "       herdd [-c FILE] [-n NAME] -t\n"
	    "       herdd [-c FILE] --list-nodes\n"
	    "       herdd -h | -V\n"
	    "  -c, --config FILE   herd configuration (default: " DEFAULT_CONFIG ")\n"
	    "  -n, --name NAME     which [node NAME] of the file this process is (not needed\n"
	    "                      with -t or --list-nodes)\n"
	    "  -l, --log-file F    log to F (default: log_dir/NAME.log if log_dir is set, else stderr)\n"
	    "  -s, --state-dir DIR keep the table in DIR, in place of the file's state_dir\n"
	    "  -t, --check         parse and validate the configuration, print \"configuration OK\"\n"
	    "      --list-nodes    validate, then print each node: NAME LISTEN PEER_LISTEN ADMIN PEERS\n"
	    "  -v, --verbose       more logging (repeatable)\n"
	    "  -V, --version       print the version\n"
	    "  -h, --help          print this help\n");
}

/* Parses the command line into OPTS; exits for -h, -V and errors. */
static void parse_options(int argc, char **argv, struct options *opts)
{
	static const struct option longopts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "name", required_argument, NULL, 'n' },
		{ "log-file", required_argument, NULL, 'l' },
		{ "state-dir", required_argument, NULL, 's' },
		{ "check", no_argument, NULL, 't' },
		{ "list-nodes", no_argument, NULL, 'L' },
		{ "verbose", no_argument, NULL, 'v' },
		{ "version", no_argument, NULL, 'V' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	int ch;

	opts->config_path = DEFAULT_CONFIG;
	while ((ch = getopt_long(argc, argv, "c:n:l:s:tvVh", longopts, NULL)) != -1) {
		switch (ch) {
		case 'c':
			opts->config_path = optarg;
			break;
		case 'n':
			opts->name = optarg;
			break;
		case 'l':
			opts->log_path = optarg;
			break;
		case 's':
			if (*optarg == '\0') {
				fprintf(stderr, "herdd: --state-dir wants a folder\n");
				exit(2);
			}
			opts->state_dir = optarg;
			break;
		case 't':
			opts->check = true;
			break;
		case 'L':
			opts->list_nodes = opts->check = true;
			break;
		case 'v':
			opts->verbosity++;
			break;
		case 'V':
			printf("herdd %s\n", HERD_VERSION);
			exit(0);
		case 'h':
			usage(stdout);
			exit(0);
		default:
			usage(stderr);
			exit(2);
		}
	}
	if (optind != argc) {
		fprintf(stderr, "herdd: unexpected argument: %s\n", argv[optind]);
		usage(stderr);
		exit(2);
	}
}

/* Prints every error of ERRS to standard error, frees CFG (may be NULL) and exits 1. */
static void __attribute__((noreturn)) config_fail(struct config_errors *errs,
    struct herd_config *cfg)
{
	for (size_t i = 0; i < errs->count; i++)
		fprintf(stderr, "%s\n", errs->msgs[i]);
	config_errors_clear(errs);
	config_free(cfg);
	exit(1);
}

/* Loads and checks the configuration, printing every error; exits on failure. */
static struct herd_config *load_config(const struct options *opts)
{
	struct config_errors errs = { NULL, 0 };
	struct config_files_given given;
	struct herd_config *cfg;

	/* A usage error is one before anything is read. */
	if (opts->name == NULL && !opts->check) {
		fprintf(stderr, "herdd: -n NAME is required\n");
		exit(2);
	}
	cfg = config_load(opts->config_path, &errs);
	if (cfg == NULL)
		config_fail(&errs, NULL);
	if (opts->name != NULL && config_find_node(cfg, opts->name) == NULL) {
		fprintf(stderr, "%s:0: no [node %s] in this file\n", opts->config_path, opts->name);
		config_free(cfg);
		exit(1);
	}
	if (opts->state_dir != NULL) {
		free(cfg->state_dir);
		cfg->state_dir = xstrdup(opts->state_dir);
	}
	/* As the node would start: every file it would find missing, at once (-t too). */
	given.log_file = opts->log_path != NULL;
	given.state_dir = opts->state_dir != NULL;
	if (opts->name != NULL &&
	    config_check_files(cfg, config_find_node(cfg, opts->name), &given, &errs) > 0)
		config_fail(&errs, cfg);
	return cfg;
}

/*
 * --list-nodes: one line per node in file order, for scripts (./herd) and operators:
 * NAME LISTEN PEER_LISTEN ADMIN_LISTEN PEERS, with "-" for no admin endpoint or no
 * neighbours and the neighbours' names joined by commas. Names and addresses hold no
 * white space, so the fields split on spaces.
 */
static void list_nodes(const struct herd_config *cfg)
{
	char listen[300], peer[300], admin[300];     /* a DNS name, brackets and a port */

	for (size_t i = 0; i < cfg->nnodes; i++) {
		const struct config_node *n = &cfg->nodes[i];

		config_addr_format(&n->listen, listen, sizeof(listen));
		config_addr_format(&n->peer_listen, peer, sizeof(peer));
		if (n->admin_listen.set)
			config_addr_format(&n->admin_listen, admin, sizeof(admin));
		else
			snprintf(admin, sizeof(admin), "-");
		printf("%s %s %s %s ", n->name, listen, peer, admin);
		for (size_t k = 0; k < n->nneighbours; k++)
			printf("%s%s", k > 0 ? "," : "", cfg->nodes[n->neighbours[k]].name);
		printf("%s\n", n->nneighbours == 0 ? "-" : "");
	}
	if (fflush(stdout) != 0 || ferror(stdout)) {
		fprintf(stderr, "herdd: cannot write the node list\n");
		exit(1);
	}
}

/* Opens the log named by -l, else log_dir/NAME.log, else stderr. */
static void open_log(const struct options *opts)
{
	char path[4096];
	const char *log_path = opts->log_path;

	if (log_path == NULL && herdd.config->log_dir != NULL) {
		snprintf(path, sizeof(path), "%s/%s.log", herdd.config->log_dir, opts->name);
		log_path = path;
	}
	if (log_init(opts->name, log_path, opts->verbosity) < 0) {
		fprintf(stderr, "herdd: cannot open log %s: %s\n", log_path, strerror(errno));
		exit(1);
	}
}

/*
 * libevent's own messages ("Error from accept() call", "Nameserver ... has failed") as
 * key=value lines of the node's log, once per cause (log_library).
 */
static void libevent_log_cb(int severity, const char *msg)
{
	enum log_level level = severity >= EVENT_LOG_WARN ? LOG_LEVEL_WARN :
	    severity == EVENT_LOG_MSG ? LOG_LEVEL_INFO : LOG_LEVEL_DEBUG;

	log_library(level, "libevent", msg, htime_mono_ms());
}

static void libevent_fatal_cb(int err)
{
	fatalx("event=libevent_fatal error=%d", err);
}

/* Descriptors the node needs besides its connections: logs, listeners, DNS, timers. */
#define FD_RESERVE 64

/*
 * Raises the soft descriptor limit to the hard one, the operator's (the unit's
 * LimitNOFILE=); short of what the connection caps need, the listeners pause when
 * accept fails, and the node says so at start.
 */
static void raise_fd_limit(void)
{
	const struct herd_config *cfg = herdd.config;
	rlim_t need = (rlim_t)(cfg->max_connections + cfg->admin_max_connections +
	    cfg->peer_handshake_max + 2 * herdd.self->nneighbours + cfg->places_max_requests +
	    FD_RESERVE);
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) < 0)
		return;
	if (rl.rlim_cur < rl.rlim_max) {
		/* Linux refuses an infinite soft limit for descriptors; the caps are finite. */
		rl.rlim_cur = rl.rlim_max == RLIM_INFINITY ? (need > rl.rlim_cur ? need :
		    rl.rlim_cur) : rl.rlim_max;
		if (setrlimit(RLIMIT_NOFILE, &rl) < 0)
			getrlimit(RLIMIT_NOFILE, &rl);
	}
	if (rl.rlim_cur < need)
		log_warnx("event=fd_limit limit=%llu need=%llu note=\"fewer descriptors than "
		    "max_connections and the other caps need: accepting pauses when they run "
		    "out\"", (unsigned long long)rl.rlim_cur, (unsigned long long)need);
	else
		log_debug("event=fd_limit limit=%llu need=%llu", (unsigned long long)rl.rlim_cur,
		    (unsigned long long)need);
}

/* The log's lines of a pass are written in one write, after the pass's callbacks. */
static struct event *log_event;

static void log_event_cb(evutil_socket_t fd, short what, void *arg)
{
	log_flush();
}

static void log_pending(void)
{
	event_active(log_event, EV_TIMEOUT, 1);
}

/*
 * The client table. With a herd secret, keyed as every node of the herd keys it (from
 * the secret, which clients cannot know), with its digest: a client is then in the same
 * digest leaf on every node, and link-ups compare digests (digest.h). Without one, a key
 * from the names in the configuration would let a client choose IDs that collide, so
 * the key is random and there is no digest: link-ups send whole tables.
 */
static void open_table(const unsigned char *secret, size_t secret_len)
{
	static struct digest digest;
	char herd_id[STATEFMT_HERD_ID_MAX];
	struct digest_keys keys;

	if (secret_len == 0) {
		herdd.table = table_new();
		table_set_limit(herdd.table, herdd.config->max_clients);
		return;
	}
	statefmt_herd_id(herdd.config, secret, secret_len, herd_id);
	if (!digest_keys(secret, secret_len, herd_id, &keys))
		fatalx("event=startup_failed error=\"cannot derive the table keys\"");
	herdd.table = table_new_keyed(keys.table.k0, keys.table.k1);
	table_set_limit(herdd.table, herdd.config->max_clients);
	digest_init(&digest, &keys.sum);
	digest.key_id = keys.id;
	table_set_digest(herdd.table, &digest);
}

/*
 * SIGTERM or SIGINT: stop accepting, answer what clients have sent (a WHATSAT waiting
 * for Places gets its answer or its error within places_timeout), let the links send
 * what they hold, write a last snapshot, then leave the loop. A second signal, or the
 * deadline, ends it at once.
 */
#define STOP_FLUSH_POLL_MS 10
#define STOP_GRACE_S 2                /* beyond places_timeout */

static struct event *stop_deadline, *stop_poll;
static int stop_deadline_s;
static bool stop_begun;
static struct timespec stop_started;

static void stop_now(const char *why)
{
	struct timespec now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	log_info("event=stop_drained reason=%s ms=%lld", why,
	    (long long)((now.tv_sec - stop_started.tv_sec) * 1000 +
	    (now.tv_nsec - stop_started.tv_nsec) / 1000000));
	event_base_loopbreak(herdd.base);
}

static void stop_snapshot_done(void)
{
	stop_now("\"clients answered, links flushed, snapshot written\"");
}

/* The links have sent everything: the last snapshot, then out. */
static void stop_links_flushed(void)
{
	if (!state_snapshot_final(stop_snapshot_done))
		stop_now("\"clients answered, links flushed\"");
}

static void stop_poll_cb(evutil_socket_t fd, short what, void *arg)
{
	const struct timeval poll = { 0, STOP_FLUSH_POLL_MS * 1000 };

	if (links_queued_total() == 0 && !peers_pending()) {
		stop_links_flushed();
		return;
	}
	evtimer_add(stop_poll, &poll);
}

/* Every client is answered and gone: wait for the links' queues to empty. */
static void stop_clients_drained(void)
{
	stop_poll_cb(-1, 0, NULL);
}

static void stop_deadline_cb(evutil_socket_t fd, short what, void *arg)
{
	log_warnx("event=stop_deadline seconds=%d note=\"stopping with work left\"",
	    stop_deadline_s);
	event_base_loopbreak(herdd.base);
}

static void on_stop_signal(evutil_socket_t sig, short what, void *arg)
{
	struct timeval deadline = { 0, 0 };

	if (stop_begun) {
		log_info("event=stopping signal=%d note=\"a second signal: stopping now\"",
		    (int)sig);
		event_base_loopbreak(herdd.base);
		return;
	}
	stop_begun = true;
	clock_gettime(CLOCK_MONOTONIC, &stop_started);
	log_info("event=stopping signal=%d", (int)sig);
	notify_stopping();
	stop_deadline = xcheck(evtimer_new(herdd.base, stop_deadline_cb, NULL));
	stop_poll = xcheck(evtimer_new(herdd.base, stop_poll_cb, NULL));
	stop_deadline_s = places_timeout_longest(herdd.places) + STOP_GRACE_S;
	deadline.tv_sec = stop_deadline_s;
	evtimer_add(stop_deadline, &deadline);
	client_drain_all(stop_clients_drained);
}

/* Every listener is bound: tell systemd (Type=notify) that the node serves. */
static void on_listening(void)
{
	log_info("event=ready");
	notify_ready();
}

static struct event *reload_event;

/* The reload SIGHUPs asked for: once for however many came in one pass of the loop. */
static void reload_cb(evutil_socket_t fd, short what, void *arg)
{
	const struct options *opts = arg;

	if (stop_begun) {
		log_info("event=reload_ignored reason=\"the node is stopping\"");
		return;
	}
	reload_run(opts->config_path, opts->name, opts->state_dir);
}

/*
 * SIGHUP (systemctl reload): the log reopened, the configuration read and applied, from
 * the loop. libevent calls this once for each signal it caught, all in one pass: a
 * burst of them is one reload, not one after another with nothing else served.
 */
static void on_hup_signal(evutil_socket_t sig, short what, void *arg)
{
	event_active(reload_event, EV_TIMEOUT, 1);    /* once, however often it is asked */
}

/* A DNS resolver from resolv.conf, or one with no name servers if that is missing. */
static struct evdns_base *dns_new(void)
{
	struct evdns_base *dns = evdns_base_new(herdd.base, EVDNS_BASE_INITIALIZE_NAMESERVERS);
	const char *hosts = getenv("HERD_HOSTS_FILE");

	if (dns == NULL) {
		dns = evdns_base_new(herdd.base, 0);
		if (dns == NULL)
			fatalx("event=startup_failed error=\"cannot create DNS resolver\"");
		evdns_base_load_hosts(dns, NULL);
		log_warnx("event=dns_no_nameservers note=\"only /etc/hosts and numeric addresses\"");
	}
	/* More names, after /etc/hosts's: for containers and tests that cannot edit it. */
	if (hosts != NULL && *hosts != '\0') {
		if (access(hosts, R_OK) != 0 || evdns_base_load_hosts(dns, hosts) != 0)
			fatal("event=startup_failed what=HERD_HOSTS_FILE path=%s",
			    log_quote(hosts, strlen(hosts)));
		log_info("event=dns_hosts_file path=%s", log_quote(hosts, strlen(hosts)));
	}
	return dns;
}

int main(int argc, char **argv)
{
	struct options opts = { 0 };
	struct event *sigint, *sigterm, *sighup;
	const unsigned char *secret;
	size_t secret_len;
	sigset_t handled, before;

	/* Held until libevent handles them: a SIGHUP from logrotate as the node starts is a
	 * reload once it runs, not the default action's end of the process. */
	sigemptyset(&handled);
	sigaddset(&handled, SIGHUP);
	sigaddset(&handled, SIGINT);
	sigaddset(&handled, SIGTERM);
	sigprocmask(SIG_BLOCK, &handled, &before);
	parse_options(argc, argv, &opts);
	herdd.config = load_config(&opts);
	if (opts.list_nodes) {
		list_nodes(herdd.config);
		config_free(herdd.config);
		return 0;
	}
	if (opts.check) {
		printf("configuration OK\n");
		config_free(herdd.config);
		return 0;
	}
	herdd.self = config_find_node(herdd.config, opts.name);
	herdd.self_index = (size_t)(herdd.self - herdd.config->nodes);
	open_log(&opts);
	event_set_log_callback(libevent_log_cb);
	event_set_fatal_callback(libevent_fatal_cb);
	signal(SIGPIPE, SIG_IGN);
	raise_fd_limit();

	herdd.started = htime_now();
	herdd.base = xcheck(event_base_new());
	log_event = xcheck(event_new(herdd.base, -1, 0, log_event_cb, NULL));
	herdd.log_write = log_event;
	log_set_flush_hook(log_pending);
	herdd.dns = dns_new();
	herdd.places = places_new(herdd.base, herdd.dns, herdd.config);

	notify_init(herdd.base);
	sigint = xcheck(evsignal_new(herdd.base, SIGINT, on_stop_signal, NULL));
	sigterm = xcheck(evsignal_new(herdd.base, SIGTERM, on_stop_signal, NULL));
	sighup = xcheck(evsignal_new(herdd.base, SIGHUP, on_hup_signal, NULL));
	reload_event = xcheck(event_new(herdd.base, -1, 0, reload_cb, &opts));
	if (evsignal_add(sigint, NULL) < 0 || evsignal_add(sigterm, NULL) < 0 ||
	    evsignal_add(sighup, NULL) < 0)
		fatalx("event=startup_failed error=\"cannot install signal handlers\"");
	sigprocmask(SIG_SETMASK, &before, NULL);

	peers_load_secret();
	secret = peers_secret(&secret_len);
	open_table(secret, secret_len);
	/* Replies that acknowledge records go out once the journal has them (redis orders
	 * its AOF write before its replies in beforeSleep the same way). */
	state_open(secret, secret_len, client_release);

	listen_start(&herdd.self->listen, "client", client_listen, NULL);
	if (herdd.self->admin_listen.set)
		admin_start();
	peers_start(client_release);
	log_info("event=started version=%s pid=%ld", HERD_VERSION, (long)getpid());
	listen_when_bound(on_listening);

	event_base_dispatch(herdd.base);
	if (stop_deadline != NULL)
		event_free(stop_deadline);
	if (stop_poll != NULL)
		event_free(stop_poll);

	client_close_all();
	admin_stop();
	peers_stop();
	places_free(herdd.places);
	places_free_retired();
	event_free(sigint);
	event_free(sigterm);
	event_free(sighup);
	event_free(reload_event);
	notify_free();
	evdns_base_free(herdd.dns, 0);
	state_close();
	table_free(herdd.table);
	reload_free();
	log_set_flush_hook(NULL);
	event_free(log_event);
	herdd.log_write = NULL;
	event_base_free(herdd.base);
	log_info("event=stopped");
	log_close();
	config_free(herdd.config);
	return 0;
}
