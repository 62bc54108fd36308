/* Unit tests of the configuration parser: the shipped herd, every error with its exact text. */

#include <stdarg.h>
#include <stdint.h>
#include <stdlib.h>
#include <unistd.h>

#include <sys/stat.h>

#include "check.h"
#include "config.h"

#define PATH "etc/herd.conf"

/* The default herd (SPEC section 2), each peer named on one side only. */
static const char default_herd[] =
	"; the default herd\n"
	"[herd]\n"
	"places_api      = legacy          ; legacy | new\n"
	"places_url      = https://maps.googleapis.com/maps/api/place/nearbysearch/json\n"
	"places_key_file = /etc/herd/places.key   ; else HERD_PLACES_KEY\n"
	"places_ca_file  =                 ; PEM bundle\n"
	"places_timeout  = 7\n"
	"secret_file     = herd.secret\n"
	"log_dir         = log\n"
	"state_dir       = /var/lib/herd\n"
	"admin_token_file =\n"
	"max_line        = 8192\n"
	"peer_backoff_max = 30\n"
	"\n"
	"[node Alford]\n"
	"listen       = 127.0.0.1:12000    ; clients\n"
	"peer_listen  = 127.0.0.1:12100    ; other nodes only\n"
	"admin_listen = 127.0.0.1:12200    ; HTTP admin\n"
	"peers        = Parker Powell\n"
	"\n"
	"[node Bolden]\n"
	"listen       = 127.0.0.1:12001\n"
	"peer_listen  = 127.0.0.1:12101\n"
	"admin_listen = 127.0.0.1:12201\n"
	"peers        = Parker Powell\n"
	"\n"
	"[node Hamilton]\n"
	"listen       = 127.0.0.1:12002\n"
	"peer_listen  = 127.0.0.1:12102\n"
	"admin_listen = 127.0.0.1:12202\n"
	"peers        = Parker\n"
	"\n"
	"[node Parker]\n"
	"listen       = 127.0.0.1:12003\n"
	"peer_listen  = 127.0.0.1:12103\n"
	"admin_listen = 127.0.0.1:12203\n"
	"\n"
	"[node Powell]\n"
	"listen       = 127.0.0.1:12004\n"
	"peer_listen  = 127.0.0.1:12104\n"
	"admin_listen = 127.0.0.1:12204\n";

/* The smallest valid file, after which a test appends what it checks. */
#define ONE_NODE \
	"[node A]\n" \
	"listen = 127.0.0.1:1000\n" \
	"peer_listen = 127.0.0.1:1001\n"

static struct herd_config *
parse_at(const char *path, const char *text, struct config_errors *errs)
{
	return config_parse(path, text, strlen(text), errs);
}

static struct herd_config *
parse(const char *text, struct config_errors *errs)
{
	return parse_at(PATH, text, errs);
}

/* Prints what the parser said, so a failed check shows the whole picture. */
static void
dump_errors(const char *name, const struct config_errors *errs)
{
	size_t i;

	fprintf(stderr, "  %s: %zu error(s):\n", name, errs->count);
	for (i = 0; i < errs->count; i++)
		fprintf(stderr, "    %s\n", errs->msgs[i]);
}

/* Parses TEXT (LEN bytes) and checks that it fails with exactly the errors given, in order. */
static void
expect_errors_len(const char *name, const char *text, size_t len, ...)
{
	struct config_errors errs = { 0 };
	struct herd_config *cfg;
	const char *want;
	size_t n = 0;
	va_list ap;
	int failures = check_failures;

	cfg = config_parse(PATH, text, len, &errs);
	CHECK(cfg == NULL);
	config_free(cfg);
	va_start(ap, len);
	while ((want = va_arg(ap, const char *)) != NULL) {
		CHECK(n < errs.count);
		if (n < errs.count)
			CHECK_STR(errs.msgs[n], want);
		n++;
	}
	va_end(ap);
	CHECK_INT(errs.count, n);
	if (check_failures != failures)
		dump_errors(name, &errs);
	config_errors_clear(&errs);
}

#define expect_errors(name, text, ...) \
	expect_errors_len(name, text, strlen(text), __VA_ARGS__, (const char *)NULL)

/* Parses TEXT and checks that it is valid; the caller frees the result. */
static struct herd_config *
expect_valid(const char *name, const char *text)
{
	struct config_errors errs = { 0 };
	struct herd_config *cfg;

	cfg = parse(text, &errs);
	CHECK(cfg != NULL);
	CHECK_INT(errs.count, 0);
	if (cfg == NULL || errs.count != 0)
		dump_errors(name, &errs);
	config_errors_clear(&errs);
	return cfg;
}

static void
check_neighbours(const struct config_node *node, const size_t *want, size_t n)
{
	size_t i;

	CHECK_INT(node->nneighbours, n);
	for (i = 0; i < n && i < node->nneighbours; i++)
		CHECK_INT(node->neighbours[i], want[i]);
}

static void
test_default_herd(void)
{
	static const size_t alford[] = { 3, 4 }, bolden[] = { 3, 4 }, hamilton[] = { 3 };
	static const size_t parker[] = { 0, 1, 2 }, powell[] = { 0, 1 };
	struct herd_config *cfg;
	const struct config_node *node;
	char buf[64];

	cfg = expect_valid("default herd", default_herd);
	if (cfg == NULL)
		return;
	CHECK_STR(cfg->path, PATH);
	CHECK_INT(cfg->places_api, PLACES_API_LEGACY);
	CHECK_STR(cfg->places_url, "https://maps.googleapis.com/maps/api/place/nearbysearch/json");
	CHECK_STR(cfg->places_key_file, "/etc/herd/places.key");
	CHECK(cfg->places_ca_file == NULL);
	CHECK_INT(cfg->places_timeout, 7);
	CHECK_STR(cfg->secret_file, "etc/herd.secret");
	CHECK_STR(cfg->log_dir, "etc/log");
	CHECK_STR(cfg->state_dir, "/var/lib/herd");
	CHECK(cfg->admin_token_file == NULL);
	CHECK_INT(cfg->max_line, 8192);
	CHECK_INT(cfg->peer_backoff_max, 30);

	CHECK_INT(cfg->nnodes, 5);
	CHECK_STR(cfg->nodes[0].name, "Alford");
	CHECK_STR(cfg->nodes[1].name, "Bolden");
	CHECK_STR(cfg->nodes[2].name, "Hamilton");
	CHECK_STR(cfg->nodes[3].name, "Parker");
	CHECK_STR(cfg->nodes[4].name, "Powell");
	CHECK_INT(cfg->nodes[0].line, 15);
	CHECK_INT(cfg->nodes[4].line, 38);

	check_neighbours(&cfg->nodes[0], alford, 2);
	check_neighbours(&cfg->nodes[1], bolden, 2);
	check_neighbours(&cfg->nodes[2], hamilton, 1);
	check_neighbours(&cfg->nodes[3], parker, 3);
	check_neighbours(&cfg->nodes[4], powell, 2);
	CHECK(config_are_neighbours(cfg, 0, 3));
	CHECK(config_are_neighbours(cfg, 3, 0));
	CHECK(config_are_neighbours(cfg, 2, 3));
	CHECK(!config_are_neighbours(cfg, 0, 1));
	CHECK(!config_are_neighbours(cfg, 2, 4));
	CHECK(!config_are_neighbours(cfg, 0, 0));
	CHECK(!config_are_neighbours(cfg, 0, 5));
	CHECK(!config_are_neighbours(cfg, 99, 0));

	node = config_find_node(cfg, "Hamilton");
	CHECK(node == &cfg->nodes[2]);
	CHECK(config_find_node(cfg, "hamilton") == NULL);
	CHECK(config_find_node(cfg, "Nobody") == NULL);

	node = &cfg->nodes[0];
	CHECK(node->listen.set);
	CHECK_INT(node->listen.kind, ADDR_IPV4);
	CHECK_STR(node->listen.host, "127.0.0.1");
	CHECK_INT(node->listen.port, 12000);
	CHECK_STR(config_addr_format(&node->peer_listen, buf, sizeof buf), "127.0.0.1:12100");
	CHECK_STR(config_addr_format(&node->admin_listen, buf, sizeof buf), "127.0.0.1:12200");
	CHECK(config_addr_is_loopback(&node->peer_listen));
	CHECK_STR(config_addr_format(&cfg->nodes[4].listen, buf, sizeof buf), "127.0.0.1:12004");
	config_free(cfg);
}

/* Naming a link on both sides, or twice, still gives one neighbour each way. */
static void
test_symmetric_neighbours(void)
{
	static const size_t c[] = { 1, 2, 3 }, b[] = { 0, 2 }, a[] = { 0, 1 }, d[] = { 0 };
	struct herd_config *cfg;

	cfg = expect_valid("symmetric",
	    "[node C]\nlisten = 127.0.0.1:1\npeer_listen = 127.0.0.1:2\npeers = A B A\n"
	    "[node B]\nlisten = 127.0.0.1:3\npeer_listen = 127.0.0.1:4\npeers = C\n"
	    "[node A]\nlisten = 127.0.0.1:5\npeer_listen = 127.0.0.1:6\n"
	    "peers =\tC \t B   C \n"
	    "[node D]\nlisten = 127.0.0.1:7\npeer_listen = 127.0.0.1:8\npeers = C\n");
	if (cfg == NULL)
		return;
	/* Indexes follow the file: C=0, B=1, A=2, D=3. */
	check_neighbours(&cfg->nodes[0], c, 3);
	check_neighbours(&cfg->nodes[1], b, 2);
	check_neighbours(&cfg->nodes[2], a, 2);
	check_neighbours(&cfg->nodes[3], d, 1);
	config_free(cfg);
}

static void
test_defaults(void)
{
	struct herd_config *cfg;

	cfg = expect_valid("defaults", ONE_NODE);
	if (cfg == NULL)
		return;
	CHECK_INT(cfg->places_api, PLACES_API_LEGACY);
	CHECK_STR(cfg->places_url, "https://maps.googleapis.com/maps/api/place/nearbysearch/json");
	CHECK(cfg->places_key_file == NULL);
	CHECK(cfg->places_ca_file == NULL);
	CHECK_INT(cfg->places_timeout, 5);
	CHECK(cfg->secret_file == NULL);
	CHECK(cfg->log_dir == NULL);
	CHECK(cfg->state_dir == NULL);
	CHECK(cfg->admin_token_file == NULL);
	CHECK_INT(cfg->max_line, 4096);
	CHECK_INT(cfg->peer_backoff_max, 5);
	CHECK_INT(cfg->nnodes, 1);
	CHECK(!cfg->nodes[0].admin_listen.set);
	CHECK_INT(cfg->nodes[0].nneighbours, 0);
	CHECK(cfg->nodes[0].neighbours == NULL);
	config_free(cfg);

	/* An empty value is the default, whatever the key. */
	cfg = expect_valid("empty values",
	    "[herd]\nplaces_api =\nplaces_url =\nplaces_timeout =\nmax_line = \t\n"
	    "peer_backoff_max =\nsecret_file =\nlog_dir = ; none\n"
	    ONE_NODE "admin_listen =\npeers =\n");
	if (cfg == NULL)
		return;
	CHECK_INT(cfg->places_timeout, 5);
	CHECK_INT(cfg->max_line, 4096);
	CHECK_INT(cfg->peer_backoff_max, 5);
	CHECK(cfg->secret_file == NULL);
	CHECK(cfg->log_dir == NULL);
	CHECK(!cfg->nodes[0].admin_listen.set);
	config_free(cfg);

	cfg = expect_valid("new api", "[herd]\nplaces_api = new\n" ONE_NODE);
	if (cfg != NULL) {
		CHECK_INT(cfg->places_api, PLACES_API_NEW);
		CHECK_STR(cfg->places_url, "https://places.googleapis.com/v1/places:searchNearby");
	}
	config_free(cfg);

	cfg = expect_valid("new api, own url",
	    "[herd]\nplaces_url = https://127.0.0.1:8443/v1/places:searchNearby\n"
	    "places_api = new\n" ONE_NODE);
	if (cfg != NULL)
		CHECK_STR(cfg->places_url, "https://127.0.0.1:8443/v1/places:searchNearby");
	config_free(cfg);

	cfg = expect_valid("limits",
	    "[herd]\nplaces_timeout = 300\nmax_line = 1048576\npeer_backoff_max = 3600\n"
	    ONE_NODE);
	if (cfg != NULL) {
		CHECK_INT(cfg->places_timeout, 300);
		CHECK_INT(cfg->max_line, 1048576);
		CHECK_INT(cfg->peer_backoff_max, 3600);
	}
	config_free(cfg);
	cfg = expect_valid("low limits",
	    "[herd]\nplaces_timeout = 1\nmax_line = 64\npeer_backoff_max = 1\n" ONE_NODE);
	if (cfg != NULL) {
		CHECK_INT(cfg->places_timeout, 1);
		CHECK_INT(cfg->max_line, 64);
		CHECK_INT(cfg->peer_backoff_max, 1);
	}
	config_free(cfg);
}

/* Relative file names are taken from the configuration file's folder. */
static void
test_relative_paths(void)
{
	static const char text[] =
	    "[herd]\nsecret_file = herd.secret\nplaces_key_file = keys/places.key\n"
	    "places_ca_file = /etc/ssl/ca.pem\nlog_dir = ../log\nstate_dir = state\n"
	    "admin_token_file = admin.token\n" ONE_NODE;
	struct config_errors errs = { 0 };
	struct herd_config *cfg;

	cfg = parse_at("/srv/herd/herd.conf", text, &errs);
	CHECK(cfg != NULL);
	if (cfg != NULL) {
		CHECK_STR(cfg->secret_file, "/srv/herd/herd.secret");
		CHECK_STR(cfg->places_key_file, "/srv/herd/keys/places.key");
		CHECK_STR(cfg->places_ca_file, "/etc/ssl/ca.pem");
		CHECK_STR(cfg->log_dir, "/srv/herd/../log");
		CHECK_STR(cfg->state_dir, "/srv/herd/state");
		CHECK_STR(cfg->admin_token_file, "/srv/herd/admin.token");
	}
	config_free(cfg);

	cfg = parse_at("herd.conf", text, &errs);
	CHECK(cfg != NULL);
	if (cfg != NULL) {
		CHECK_STR(cfg->secret_file, "herd.secret");
		CHECK_STR(cfg->places_ca_file, "/etc/ssl/ca.pem");
	}
	config_free(cfg);

	cfg = parse_at("./etc/herd.conf", text, &errs);
	CHECK(cfg != NULL);
	if (cfg != NULL)
		CHECK_STR(cfg->secret_file, "./etc/herd.secret");
	config_free(cfg);

	cfg = parse_at("/herd.conf", text, &errs);
	CHECK(cfg != NULL);
	if (cfg != NULL)
		CHECK_STR(cfg->state_dir, "/state");
	config_free(cfg);
	CHECK_INT(errs.count, 0);
	config_errors_clear(&errs);
}

static void
check_addr(const char *text, enum addr_kind kind, const char *host, unsigned port)
{
	struct config_addr addr;
	const char *why = NULL;

	CHECK(config_addr_parse(text, &addr, &why));
	if (why != NULL)
		fprintf(stderr, "  %s: %s\n", text, why);
	CHECK(addr.set);
	CHECK_INT(addr.kind, kind);
	CHECK_STR(addr.host, host);
	CHECK_INT(addr.port, port);
}

static void
check_bad_addr(const char *text, const char *reason)
{
	struct config_addr addr;
	const char *why = NULL;

	CHECK(!config_addr_parse(text, &addr, &why));
	CHECK(!addr.set);
	CHECK_STR(why, reason);
	CHECK(!config_addr_parse(text, &addr, NULL));
}

static void
test_addresses(void)
{
	char name[300], buf[300];
	struct config_addr addr;

	check_addr("127.0.0.1:12000", ADDR_IPV4, "127.0.0.1", 12000);
	check_addr("0.0.0.0:1", ADDR_IPV4, "0.0.0.0", 1);
	check_addr("10.1.2.3:65535", ADDR_IPV4, "10.1.2.3", 65535);
	check_addr("[::1]:12000", ADDR_IPV6, "::1", 12000);
	check_addr("[2001:db8::42]:443", ADDR_IPV6, "2001:db8::42", 443);
	check_addr("[::ffff:10.0.0.1]:80", ADDR_IPV6, "::ffff:10.0.0.1", 80);
	check_addr("localhost:12000", ADDR_NAME, "localhost", 12000);
	check_addr("node-1.herd.example.com:12000", ADDR_NAME, "node-1.herd.example.com",
	    12000);
	check_addr("a:0080", ADDR_NAME, "a", 80);
	check_addr("1a.example:9", ADDR_NAME, "1a.example", 9);

	check_bad_addr("127.0.0.1", "missing :port");
	check_bad_addr("127.0.0.1:", "port is not a number from 1 to 65535");
	check_bad_addr("127.0.0.1:0", "port is not a number from 1 to 65535");
	check_bad_addr("127.0.0.1:65536", "port is not a number from 1 to 65535");
	check_bad_addr("127.0.0.1:99999999999999999999", "port is not a number from 1 to 65535");
	check_bad_addr("127.0.0.1:+80", "port is not a number from 1 to 65535");
	check_bad_addr("127.0.0.1:80 ", "port is not a number from 1 to 65535");
	check_bad_addr("127.0.0.1:8x", "port is not a number from 1 to 65535");
	check_bad_addr(":80", "missing host");
	check_bad_addr("[]:80", "missing host");
	check_bad_addr("256.0.0.1:80", "bad IPv4 address");
	check_bad_addr("1.2.3:80", "bad IPv4 address");
	check_bad_addr("1.2.3.4.:80", "bad IPv4 address");
	check_bad_addr("::1:80", "an IPv6 address must be written [v6addr]:port");
	check_bad_addr("[::1:80", "missing ']' after the IPv6 address");
	check_bad_addr("[::1]", "missing :port");
	check_bad_addr("[::1]80", "missing :port");
	check_bad_addr("[::g]:80", "bad IPv6 address");
	check_bad_addr("[127.0.0.1]:80", "bad IPv6 address");
	check_bad_addr("-bad.example:80", "bad host name");
	check_bad_addr("bad-.example:80", "bad host name");
	check_bad_addr("a..b:80", "bad host name");
	check_bad_addr(".a:80", "bad host name");
	check_bad_addr("a.:80", "bad host name");
	check_bad_addr("under_score:80", "bad host name");
	check_bad_addr("sp ace:80", "bad host name");
	check_bad_addr("h\xc3\xa9.example:80", "bad host name");

	/* Labels of 63 and names of 253 bytes are the DNS limits. */
	memset(name, 'a', 63);
	strcpy(name + 63, ".b:1");
	check_addr(name, ADDR_NAME, "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa.b", 1);
	memset(name, 'a', 64);
	strcpy(name + 64, ".b:1");
	check_bad_addr(name, "bad host name");
	memset(name, 'a', 253);
	for (size_t i = 63; i < 253; i += 64)
		name[i] = '.';
	strcpy(name + 253, ":1");
	CHECK(config_addr_parse(name, &addr, NULL));
	CHECK_INT(strlen(addr.host), 253);
	memmove(name + 1, name, strlen(name) + 1);
	check_bad_addr(name, "bad host name");
	memset(name, 'a', 280);
	strcpy(name + 280, ":1");
	check_bad_addr(name, "host too long");

	CHECK(config_addr_parse("127.0.0.1:1", &addr, NULL));
	CHECK(config_addr_is_loopback(&addr));
	CHECK(config_addr_parse("127.255.3.4:1", &addr, NULL));
	CHECK(config_addr_is_loopback(&addr));
	CHECK(config_addr_parse("128.0.0.1:1", &addr, NULL));
	CHECK(!config_addr_is_loopback(&addr));
	CHECK(config_addr_parse("0.0.0.0:1", &addr, NULL));
	CHECK(!config_addr_is_loopback(&addr));
	CHECK(config_addr_parse("[::1]:1", &addr, NULL));
	CHECK(config_addr_is_loopback(&addr));
	CHECK(config_addr_parse("[0:0:0:0:0:0:0:1]:1", &addr, NULL));
	CHECK(config_addr_is_loopback(&addr));
	CHECK(config_addr_parse("[::ffff:127.0.0.1]:1", &addr, NULL));
	CHECK(config_addr_is_loopback(&addr));
	CHECK(config_addr_parse("[::]:1", &addr, NULL));
	CHECK(!config_addr_is_loopback(&addr));
	CHECK(config_addr_parse("[2001:db8::1]:1", &addr, NULL));
	CHECK(!config_addr_is_loopback(&addr));
	CHECK(config_addr_parse("localhost:1", &addr, NULL));
	CHECK(config_addr_is_loopback(&addr));
	CHECK(config_addr_parse("LocalHost:1", &addr, NULL));
	CHECK(config_addr_is_loopback(&addr));
	CHECK(config_addr_parse("localhost.example:1", &addr, NULL));
	CHECK(!config_addr_is_loopback(&addr));
	memset(&addr, 0, sizeof addr);
	CHECK(!config_addr_is_loopback(&addr));

	CHECK(config_addr_parse("[2001:db8::1]:12000", &addr, NULL));
	CHECK_STR(config_addr_format(&addr, buf, sizeof buf), "[2001:db8::1]:12000");
	CHECK(config_addr_parse("herd.example:7", &addr, NULL));
	CHECK_STR(config_addr_format(&addr, buf, sizeof buf), "herd.example:7");
	CHECK_STR(config_addr_format(&addr, buf, 5), "herd");
	CHECK(config_addr_format(&addr, buf, 0) == buf);
}

/* IPv6 and DNS names in a whole file, with the secrets they require. */
static void
test_addresses_in_file(void)
{
	struct herd_config *cfg;
	char buf[64];

	cfg = expect_valid("ipv6 and names",
	    "[herd]\nsecret_file = /etc/herd/herd.secret\nadmin_token_file = admin.token\n"
	    "[node A]\nlisten = [::1]:12000\npeer_listen = [2001:db8::1]:12100\n"
	    "admin_listen = [2001:db8::1]:12200\npeers = B\n"
	    "[node B]\nlisten = localhost:12000\npeer_listen = b.herd.example:12100\n"
	    "admin_listen = localhost:12200\n");
	if (cfg == NULL)
		return;
	CHECK_INT(cfg->nodes[0].listen.kind, ADDR_IPV6);
	CHECK_STR(cfg->nodes[0].listen.host, "::1");
	CHECK_STR(config_addr_format(&cfg->nodes[0].peer_listen, buf, sizeof buf),
	    "[2001:db8::1]:12100");
	CHECK_INT(cfg->nodes[1].listen.kind, ADDR_NAME);
	CHECK_STR(cfg->nodes[1].peer_listen.host, "b.herd.example");
	CHECK_INT(cfg->nodes[1].peer_listen.port, 12100);
	CHECK(config_addr_is_loopback(&cfg->nodes[1].listen));
	CHECK_STR(cfg->admin_token_file, "etc/admin.token");
	config_free(cfg);

	/* The same port on different hosts is not a clash, nor one host on two ports. */
	cfg = expect_valid("same port, other host",
	    "[node A]\nlisten = 127.0.0.1:1\npeer_listen = 127.0.0.2:1\n"
	    "admin_listen = [::1]:1\n"
	    "[node B]\nlisten = localhost:1\npeer_listen = 127.0.0.1:2\n");
	config_free(cfg);
}

static void
test_crlf_and_layout(void)
{
	static const size_t a[] = { 1 };
	struct herd_config *cfg;

	cfg = expect_valid("crlf",
	    "[herd]\r\nplaces_timeout = 9\r\n\r\n; comment\r\n"
	    "[node A]\r\nlisten = 127.0.0.1:1\r\npeer_listen = 127.0.0.1:2 ; c\r\n"
	    "peers = B\r\n"
	    "[node B]\r\nlisten = 127.0.0.1:3\r\npeer_listen = 127.0.0.1:4\r\n");
	if (cfg != NULL) {
		CHECK_INT(cfg->places_timeout, 9);
		CHECK_INT(cfg->nnodes, 2);
		CHECK_INT(cfg->nodes[1].peer_listen.port, 4);
		check_neighbours(&cfg->nodes[0], a, 1);
	}
	config_free(cfg);

	/* No line end at all after the last value. */
	cfg = expect_valid("no final newline",
	    "[node A]\nlisten = 127.0.0.1:1\npeer_listen = 127.0.0.1:2");
	if (cfg != NULL)
		CHECK_INT(cfg->nodes[0].peer_listen.port, 2);
	config_free(cfg);
	cfg = expect_valid("no final newline, crlf",
	    "[node A]\r\nlisten = 127.0.0.1:1\r\npeer_listen = 127.0.0.1:2\r");
	if (cfg != NULL)
		CHECK_INT(cfg->nodes[0].peer_listen.port, 2);
	config_free(cfg);

	/* White space everywhere, a byte order mark, no spaces around '='. */
	cfg = expect_valid("layout",
	    "\xef\xbb\xbf  \t\n"
	    "  [ node   A ]  \n"
	    "\tlisten=127.0.0.1:1\n"
	    "  peer_listen\t=\t127.0.0.1:2\t\n"
	    "\f\n");
	if (cfg != NULL) {
		CHECK_STR(cfg->nodes[0].name, "A");
		CHECK_INT(cfg->nodes[0].line, 2);
	}
	config_free(cfg);
}

/* Inline comments need white space before them; otherwise the character is data. */
static void
test_comments(void)
{
	struct herd_config *cfg;

	cfg = expect_valid("comments",
	    "# a comment\n"
	    "; another\n"
	    "   ; indented\n"
	    "\t# indented\n"
	    "#[node Commented]\n"
	    "[herd] ; the herd\n"
	    "places_url = https://example.com/p#frag;x ; comment after space\n"
	    "secret_file = /etc/a;b#c\t# comment after tab\n"
	    "log_dir = /var/log/herd# not a comment\n"
	    "state_dir = /s ;; two\n"
	    "places_key_file = /k#1 # one\n"
	    "[node A]   # a node\n"
	    "listen = 127.0.0.1:1 ;\n"
	    "peer_listen = 127.0.0.1:2\t#\n"
	    "peers = ; nobody\n");
	if (cfg == NULL)
		return;
	CHECK_STR(cfg->places_url, "https://example.com/p#frag;x");
	CHECK_STR(cfg->secret_file, "/etc/a;b#c");
	CHECK_STR(cfg->log_dir, "/var/log/herd# not a comment");
	CHECK_STR(cfg->state_dir, "/s");
	CHECK_STR(cfg->places_key_file, "/k#1");
	CHECK_INT(cfg->nnodes, 1);
	CHECK_INT(cfg->nodes[0].line, 12);
	CHECK_INT(cfg->nodes[0].peer_listen.port, 2);
	CHECK_INT(cfg->nodes[0].nneighbours, 0);
	config_free(cfg);

	/* Without white space before it, '#' is part of the value and spoils the port. */
	expect_errors("comment without space", ONE_NODE "admin_listen = 127.0.0.1:3#c\n",
	    PATH ":4: admin_listen: bad address \"127.0.0.1:3#c\": "
	    "port is not a number from 1 to 65535");
}

/* Each syntax error, with its exact text and line. */
static void
test_syntax_errors(void)
{
	struct herd_config *cfg;

	expect_errors("unknown section", ONE_NODE "[nodes B]\nlisten = 127.0.0.1:9\n",
	    PATH ":4: unknown section [nodes B]");
	expect_errors("unknown section, case", "[Herd]\n" ONE_NODE,
	    PATH ":1: unknown section [Herd]");
	expect_errors("empty section", "[]\n" ONE_NODE, PATH ":1: unknown section []");
	expect_errors("malformed header", ONE_NODE "[herd\n",
	    PATH ":4: malformed section header");
	expect_errors("text after header", ONE_NODE "[herd] x\n",
	    PATH ":4: malformed section header");
	expect_errors("node without name", ONE_NODE "[node]\n[node  ]\n",
	    PATH ":4: section [node] without a name",
	    PATH ":5: section [node] without a name");
	expect_errors("bad node names", ONE_NODE "[node a/b]\n[node a b]\n[node caf\xc3\xa9]\n"
	    "[node aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa]\n",
	    PATH ":4: invalid node name \"a/b\" (1 to 63 of A-Z a-z 0-9 _ . -)",
	    PATH ":5: invalid node name \"a b\" (1 to 63 of A-Z a-z 0-9 _ . -)",
	    PATH ":6: invalid node name \"caf\xc3\xa9\" (1 to 63 of A-Z a-z 0-9 _ . -)",
	    PATH ":7: invalid node name "
	    "\"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\" "
	    "(1 to 63 of A-Z a-z 0-9 _ . -)");
	expect_errors("key outside section", "places_api = new\n" ONE_NODE,
	    PATH ":1: key \"places_api\" outside any section");
	expect_errors("not key = value", ONE_NODE "listen\n= 127.0.0.1:5\n  =  \n",
	    PATH ":4: expected \"key = value\" or \"[section]\"",
	    PATH ":5: expected \"key = value\" or \"[section]\"",
	    PATH ":6: expected \"key = value\" or \"[section]\"");
	expect_errors("unknown herd key", "[herd]\nplaces_apikey = x\nPlaces_api = new\n" ONE_NODE,
	    PATH ":2: unknown key \"places_apikey\" in [herd]",
	    PATH ":3: unknown key \"Places_api\" in [herd]");
	expect_errors("unknown node key", ONE_NODE "peer = B\nplaces_api = new\n",
	    PATH ":4: unknown key \"peer\" in [node A]",
	    PATH ":5: unknown key \"places_api\" in [node A]");
	expect_errors("key with space", "[herd]\nmax line = 5\n" ONE_NODE,
	    PATH ":2: unknown key \"max line\" in [herd]");
	/*
	 * An empty value is as if the key were not there (herd.conf(5)); after a value it is a
	 * duplicate, since it does not take the key back to its default.
	 */
	expect_errors("duplicate herd key",
	    "[herd]\nplaces_timeout = 5\nplaces_timeout = 6\nplaces_timeout =\n" ONE_NODE,
	    PATH ":3: duplicate key \"places_timeout\" (first at line 2)",
	    PATH ":4: duplicate key \"places_timeout\" (first at line 2)");
	expect_errors("empty after a value", "[herd]\nmax_line = 100\nmax_line =\n" ONE_NODE,
	    PATH ":3: duplicate key \"max_line\" (first at line 2)");
	expect_errors("duplicate node key", ONE_NODE "listen = 127.0.0.1:1000\n",
	    PATH ":4: duplicate key \"listen\" (first at line 2)");
	cfg = expect_valid("empty key, then the key", "[herd]\nmax_line =\nmax_line = 100\n"
	    "[node A]\nlisten =\nlisten = 127.0.0.1:1\npeer_listen =\n"
	    "peer_listen = 127.0.0.1:2\n");
	CHECK(cfg != NULL && cfg->max_line == 100 && cfg->nodes[0].listen.port == 1 &&
	    cfg->nodes[0].peer_listen.port == 2);
	config_free(cfg);
	expect_errors("empty key alone", "[node A]\nlisten =\npeer_listen = 127.0.0.1:2\n",
	    PATH ":1: node A: missing listen");
	expect_errors("duplicate herd section",
	    "[herd]\nmax_line = 100\n" ONE_NODE "[herd]\nmax_line = 200\nlog_dir = /l\n",
	    PATH ":6: duplicate section [herd] (first at line 1)",
	    PATH ":7: duplicate key \"max_line\" (first at line 2)");
}

/* Keys under a header that was refused are not reported again. */
static void
test_no_cascades(void)
{
	expect_errors("keys under a bad header",
	    ONE_NODE "[node a/b]\nlisten = 127.0.0.1:1000\nbogus = 1\n[color]\nfoo = bar\n",
	    PATH ":4: invalid node name \"a/b\" (1 to 63 of A-Z a-z 0-9 _ . -)",
	    PATH ":7: unknown section [color]");
	/* A bad address is not also a missing one. */
	expect_errors("bad listen",
	    "[node A]\nlisten = 127.0.0.1\npeer_listen = 127.0.0.1:99999\n",
	    PATH ":2: listen: bad address \"127.0.0.1\": missing :port",
	    PATH ":3: peer_listen: bad address \"127.0.0.1:99999\": "
	    "port is not a number from 1 to 65535");
}

static void
test_value_errors(void)
{
	expect_errors("places_api", "[herd]\nplaces_api = Legacy\n" ONE_NODE,
	    PATH ":2: places_api: \"Legacy\" is not legacy or new");
	expect_errors("places_url http",
	    "[herd]\nplaces_url = http://maps.googleapis.com/x\n" ONE_NODE,
	    PATH ":2: places_url: \"http://maps.googleapis.com/x\" is not an https:// URL");
	expect_errors("places_url bare", "[herd]\nplaces_url = https://\n" ONE_NODE,
	    PATH ":2: places_url: \"https://\" is not an https:// URL");
	expect_errors("places_url no host", "[herd]\nplaces_url = https:///x\n" ONE_NODE,
	    PATH ":2: places_url: \"https:///x\" is not an https:// URL");
	expect_errors("places_url space", "[herd]\nplaces_url = https://a b\n" ONE_NODE,
	    PATH ":2: places_url: \"https://a b\" contains white space");
	/* What the Places client would refuse at start, with the line, for -t too. */
	{
		static const struct {
			const char *url;
			const char *why;
		} bad[] = {
			{ "https://127.0.0.1:99999/x", "port is not a number from 1 to 65535" },
			{ "https://127.0.0.1:0/x", "port is not a number from 1 to 65535" },
			{ "https://127.0.0.1:/x", "port is not a number from 1 to 65535" },
			{ "https://127.0.0.1:?x", "port is not a number from 1 to 65535" },
			{ "https://h:#f", "port is not a number from 1 to 65535" },
			{ "https://127.0.0.1:12ab/x", "port is not a number from 1 to 65535" },
			{ "https://h%zz/x", "bad host name" },
			{ "https://[::1/x", "missing ']' after the IPv6 address" },
			{ "https://[fe80::1%eth0]/x", "bad IPv6 address" },
			{ "https://user@h/x", "a user name in the URL" },
			{ "https://h/a\"b", "a character a URL cannot hold as it is "
			    "(percent-encode it)" },
			{ "https://h/a%zzb", "a character a URL cannot hold as it is "
			    "(percent-encode it)" },
			{ "https://h/a%4", "a character a URL cannot hold as it is "
			    "(percent-encode it)" },
			{ "https://h/a#b#c", "a character a URL cannot hold as it is "
			    "(percent-encode it)" },
			{ "https://h..:1/x", "bad host name" },
		};
		static const char *const good[] = {
			"https://h", "https://h:1", "https://[::1]:8443/v1/places:searchNearby",
			"https://1.2.3.4/a%20b?x=1&y=~#frag;x", "https://example.com:65535/",
			"https://places.example.com./x", "https://places.example.com.:443/x",
		};
		char text[256], want[256];

		for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
			snprintf(text, sizeof(text), "[herd]\nplaces_url = %s\n" ONE_NODE,
			    bad[i].url);
			snprintf(want, sizeof(want), PATH ":2: places_url: \"%s\": %s", bad[i].url,
			    bad[i].why);
			expect_errors(bad[i].url, text, want);
		}
		for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
			struct herd_config *cfg;

			snprintf(text, sizeof(text), "[herd]\nplaces_url = %s\n" ONE_NODE,
			    good[i]);
			cfg = expect_valid(good[i], text);
			config_free(cfg);
		}
	}
	expect_errors("places_timeout",
	    "[herd]\nplaces_timeout = 0\n[node A]\nlisten = 127.0.0.1:1\n"
	    "peer_listen = 127.0.0.1:2\n",
	    PATH ":2: places_timeout: \"0\" is not an integer from 1 to 300");
	expect_errors("places_timeout high", "[herd]\nplaces_timeout = 301\n" ONE_NODE,
	    PATH ":2: places_timeout: \"301\" is not an integer from 1 to 300");
	expect_errors("places_timeout text", "[herd]\nplaces_timeout = 5s\n" ONE_NODE,
	    PATH ":2: places_timeout: \"5s\" is not an integer from 1 to 300");
	expect_errors("places_timeout sign", "[herd]\nplaces_timeout = -5\n" ONE_NODE,
	    PATH ":2: places_timeout: \"-5\" is not an integer from 1 to 300");
	expect_errors("places_timeout huge",
	    "[herd]\nplaces_timeout = 99999999999999999999999\n" ONE_NODE,
	    PATH ":2: places_timeout: \"99999999999999999999999\" is not an integer from 1 to 300");
	expect_errors("max_line", "[herd]\nmax_line = 63\n" ONE_NODE,
	    PATH ":2: max_line: \"63\" is not an integer from 64 to 1048576");
	expect_errors("max_line high", "[herd]\nmax_line = 1048577\n" ONE_NODE,
	    PATH ":2: max_line: \"1048577\" is not an integer from 64 to 1048576");
	expect_errors("peer_backoff_max", "[herd]\npeer_backoff_max = 3601\n" ONE_NODE,
	    PATH ":2: peer_backoff_max: \"3601\" is not an integer from 1 to 3600");
	expect_errors("peer_backoff_max zero", "[herd]\npeer_backoff_max = 0\n" ONE_NODE,
	    PATH ":2: peer_backoff_max: \"0\" is not an integer from 1 to 3600");
	expect_errors("addresses", ONE_NODE "admin_listen = [::1]\n",
	    PATH ":4: admin_listen: bad address \"[::1]\": missing :port");
	expect_errors("ipv6 unbracketed", "[node A]\nlisten = ::1:80\npeer_listen = 127.0.0.1:2\n",
	    PATH ":2: listen: bad address \"::1:80\": "
	    "an IPv6 address must be written [v6addr]:port");
	expect_errors("bad name", "[node A]\nlisten = 127.0.0.1:1\npeer_listen = no_pe:2\n",
	    PATH ":3: peer_listen: bad address \"no_pe:2\": bad host name");
	expect_errors("bad v4", "[node A]\nlisten = 300.0.0.1:1\npeer_listen = 127.0.0.1:2\n",
	    PATH ":2: listen: bad address \"300.0.0.1:1\": bad IPv4 address");
	expect_errors("bad v6", "[node A]\nlisten = [fe80::1%eth0]:1\npeer_listen = 127.0.0.1:2\n",
	    PATH ":2: listen: bad address \"[fe80::1%eth0]:1\": bad IPv6 address");
}

/* The checks that need the whole file. */
static void
test_cross_errors(void)
{
	expect_errors("no nodes", "[herd]\nplaces_api = new\n", PATH ":0: no [node] section");
	expect_errors("empty file", "", PATH ":0: no [node] section");
	expect_errors("only comments", "; nothing\n\n# here\n", PATH ":0: no [node] section");
	expect_errors("missing listen", "[herd]\n[node A]\npeer_listen = 127.0.0.1:1\n"
	    "[node B]\nlisten = 127.0.0.1:2\n[node C]\n",
	    PATH ":2: node A: missing listen",
	    PATH ":4: node B: missing peer_listen",
	    PATH ":6: node C: missing listen",
	    PATH ":6: node C: missing peer_listen");
	expect_errors("duplicate node", ONE_NODE "[node B]\nlisten = 127.0.0.1:3\n"
	    "peer_listen = 127.0.0.1:4\n[node A]\nlisten = 127.0.0.1:5\n"
	    "peer_listen = 127.0.0.1:6\n[node A]\nlisten = 127.0.0.1:7\n"
	    "peer_listen = 127.0.0.1:8\n",
	    PATH ":7: duplicate node A (first at line 1)",
	    PATH ":10: duplicate node A (first at line 1)");
	expect_errors("unknown peer", ONE_NODE "peers = B Zed  b\n"
	    "[node B]\nlisten = 127.0.0.1:3\npeer_listen = 127.0.0.1:4\n",
	    PATH ":4: peers: \"Zed\" is not a node",
	    PATH ":4: peers: \"b\" is not a node");
	expect_errors("peer is a prefix", ONE_NODE "peers = Bo Bolden2\n"
	    "[node Bolden]\nlisten = 127.0.0.1:3\npeer_listen = 127.0.0.1:4\n",
	    PATH ":4: peers: \"Bo\" is not a node",
	    PATH ":4: peers: \"Bolden2\" is not a node");
	expect_errors("self peer", ONE_NODE "peers = A\n", PATH ":4: peers: node A names itself");
	expect_errors("port twice across nodes", ONE_NODE
	    "[node B]\nlisten = 127.0.0.1:1000\npeer_listen = 127.0.0.1:4\n",
	    PATH ":5: address 127.0.0.1:1000 used twice (first at line 2)");
	expect_errors("port twice in a node",
	    "[node A]\npeer_listen = 127.0.0.1:1\nadmin_listen = 127.0.0.1:2\n"
	    "listen = 127.0.0.1:1\n",
	    PATH ":4: address 127.0.0.1:1 used twice (first at line 2)");
	expect_errors("port three times", ONE_NODE "admin_listen = 127.0.0.1:1001\n"
	    "[node B]\nlisten = 127.0.0.1:3\npeer_listen = 127.0.0.1:1001\n",
	    PATH ":4: address 127.0.0.1:1001 used twice (first at line 3)",
	    PATH ":7: address 127.0.0.1:1001 used twice (first at line 3)");
	expect_errors("v6 twice",
	    "[node A]\nlisten = [::1]:1\npeer_listen = [::1]:1\n",
	    PATH ":3: address [::1]:1 used twice (first at line 2)");
	expect_errors("name twice",
	    "[node A]\nlisten = localhost:1\npeer_listen = localhost:01\n",
	    PATH ":3: address localhost:1 used twice (first at line 2)");
	expect_errors("secret required",
	    "[node A]\nlisten = 0.0.0.0:1\npeer_listen = 127.0.0.1:2\n"
	    "[node B]\nlisten = 127.0.0.1:3\npeer_listen = 10.0.0.2:4\n"
	    "[node C]\nlisten = 127.0.0.1:5\npeer_listen = c.example:6\n",
	    PATH ":6: peer_listen 10.0.0.2:4 is not loopback: secret_file is required");
	expect_errors("secret empty", "[herd]\nsecret_file =\n"
	    "[node A]\nlisten = 127.0.0.1:1\npeer_listen = [2001:db8::1]:2\n",
	    PATH ":5: peer_listen [2001:db8::1]:2 is not loopback: secret_file is required");
	expect_errors("admin token required", ONE_NODE "admin_listen = 192.0.2.1:3\n"
	    "[node B]\nlisten = 127.0.0.1:4\npeer_listen = 127.0.0.1:5\n"
	    "admin_listen = 0.0.0.0:6\n",
	    PATH ":4: admin_listen 192.0.2.1:3 is not loopback: admin_token_file is required");
}

/* One pass finds everything, and the messages come out in line order. */
static void
test_many_errors(void)
{
	expect_errors("many",
	    "stray = 1\n"                                   /* 1 */
	    "[herd]\n"                                      /* 2 */
	    "places_api = old\n"                            /* 3 */
	    "color = blue\n"                                /* 4 */
	    "places_api = new\n"                            /* 5 */
	    "[node A]\n"                                    /* 6 */
	    "listen = 127.0.0.1:1\n"                        /* 7 */
	    "peer_listen = 10.0.0.1:2\n"                    /* 8 */
	    "peers = B Q A\n"                               /* 9 */
	    "what is this\n"                                /* 10 */
	    "[node B]\n"                                    /* 11 */
	    "listen = 127.0.0.1:1\n"                        /* 12 */
	    "[node A]\n"                                    /* 13 */
	    "listen = 127.0.0.1:3\n"                        /* 14 */
	    "peer_listen = 127.0.0.1:4\n"                   /* 15 */
	    "[zone]\n",                                     /* 16 */
	    PATH ":1: key \"stray\" outside any section",
	    PATH ":3: places_api: \"old\" is not legacy or new",
	    PATH ":4: unknown key \"color\" in [herd]",
	    PATH ":5: duplicate key \"places_api\" (first at line 3)",
	    PATH ":8: peer_listen 10.0.0.1:2 is not loopback: secret_file is required",
	    PATH ":9: peers: \"Q\" is not a node",
	    PATH ":9: peers: node A names itself",
	    PATH ":10: expected \"key = value\" or \"[section]\"",
	    PATH ":11: node B: missing peer_listen",
	    PATH ":12: address 127.0.0.1:1 used twice (first at line 7)",
	    PATH ":13: duplicate node A (first at line 6)",
	    PATH ":16: unknown section [zone]");
}

/* Bytes that have no place in a text file are errors, never a crash. */
static void
test_hostile_input(void)
{
	static const char alphabet[] = "[]=;# \t\r\n:.ab1node herdlisten";
	static const char nul[] = "[node A]\nlisten = 127.0.0.1:1\0x\npeer_listen = 127.0.0.1:2\n"
	    "; comment \0 with NUL\n";
	struct config_errors errs = { 0 };
	struct herd_config *cfg;
	char *big;
	size_t len, i;

	/* The whole line is refused, so listen is indeed missing. */
	expect_errors_len("nul", nul, sizeof nul - 1,
	    PATH ":1: node A: missing listen",
	    PATH ":2: NUL byte in line",
	    PATH ":4: NUL byte in line", (const char *)NULL);
	expect_errors("control character", ONE_NODE "admin_listen = 127.0.0.1:3\x1b[0m\n"
	    "log_dir = /a\rb\n",
	    PATH ":4: control character in line",
	    PATH ":5: control character in line");
	expect_errors("control character in header", "[node \x7f]\nlisten = 127.0.0.1:3\n" ONE_NODE,
	    PATH ":1: control character in line");

	/* A line longer than CONFIG_LINE_MAX, then one at the limit. */
	len = CONFIG_LINE_MAX + 200;
	big = malloc(len + 200);
	CHECK(big != NULL);
	if (big == NULL)
		return;
	strcpy(big, ONE_NODE "log_dir = ");
	for (i = strlen(big); i < len; i++)
		big[i] = 'x';
	strcpy(big + len, "\n");
	expect_errors("long line", big, PATH ":4: line too long (more than 8192 bytes)");
	strcpy(big, "[node ");
	for (i = strlen(big); i < len; i++)
		big[i] = 'x';
	strcpy(big + len, "]\nlisten = 127.0.0.1:1\n" ONE_NODE);
	expect_errors("long header", big, PATH ":1: line too long (more than 8192 bytes)");
	strcpy(big, "[herd]\nlog_dir = /");
	for (i = strlen(big); i < 7 + CONFIG_LINE_MAX; i++)
		big[i] = 'x';
	strcpy(big + i, "\n" ONE_NODE);
	cfg = expect_valid("line at the limit", big);
	if (cfg != NULL)
		CHECK_INT(strlen(cfg->log_dir), CONFIG_LINE_MAX - strlen("log_dir = "));
	config_free(cfg);
	free(big);

	/* A file over the size cap is refused as a whole. */
	len = CONFIG_FILE_MAX + 1;
	big = malloc(len);
	CHECK(big != NULL);
	if (big == NULL)
		return;
	memset(big, '\n', len);
	memcpy(big, ONE_NODE, strlen(ONE_NODE));
	expect_errors_len("too large", big, len,
	    PATH ":0: file too large (more than 1048576 bytes)", (const char *)NULL);
	cfg = config_parse(PATH, big, len - 1, &errs);
	CHECK(cfg != NULL);
	CHECK_INT(errs.count, 0);
	config_free(cfg);
	free(big);

	/* Random bytes and every prefix of a good file: no crash, no leak (valgrind). */
	/* The alphabet's own NUL terminator is drawn too. */
	srand(42);
	big = malloc(4096);
	CHECK(big != NULL);
	if (big == NULL)
		return;
	for (i = 0; i < 500; i++) {
		size_t j, n = (size_t)rand() % 4096;

		for (j = 0; j < n; j++)
			big[j] = alphabet[(size_t)rand() % sizeof alphabet];
		cfg = config_parse(PATH, big, n, &errs);
		config_free(cfg);
		config_errors_clear(&errs);
	}
	free(big);
	for (i = 0; i <= sizeof default_herd - 1; i++) {
		cfg = config_parse(PATH, default_herd, i, &errs);
		config_free(cfg);
		config_errors_clear(&errs);
	}
	cfg = config_parse(NULL, NULL, 0, &errs);
	CHECK(cfg == NULL);
	CHECK_INT(errs.count, 1);
	if (errs.count == 1)
		CHECK_STR(errs.msgs[0], "(config):0: no [node] section");
	config_errors_clear(&errs);
	CHECK(config_parse(PATH, "[herd]\n", 7, NULL) == NULL);
}

/* Messages from several parses pile up until cleared. */
static void
test_errors_append(void)
{
	struct config_errors errs = { 0 };

	CHECK(parse("[x]\n", &errs) == NULL);
	CHECK(parse_at("other.conf", "", &errs) == NULL);
	CHECK_INT(errs.count, 3);
	if (errs.count == 3) {
		CHECK_STR(errs.msgs[0], PATH ":0: no [node] section");
		CHECK_STR(errs.msgs[1], PATH ":1: unknown section [x]");
		CHECK_STR(errs.msgs[2], "other.conf:0: no [node] section");
	}
	config_errors_clear(&errs);
	CHECK_INT(errs.count, 0);
	CHECK(errs.msgs == NULL);
	config_errors_clear(&errs);
	config_errors_clear(NULL);
	config_free(NULL);
}

static void
test_load(void)
{
	struct config_errors errs = { 0 };
	struct herd_config *cfg;
	char dir[] = "/tmp/herd-test-config.XXXXXX", path[64], *bad;
	FILE *f;

	cfg = config_load("/nonexistent/herd.conf", &errs);
	CHECK(cfg == NULL);
	CHECK_INT(errs.count, 1);
	if (errs.count == 1)
		CHECK_STR(errs.msgs[0], "/nonexistent/herd.conf:0: cannot read: "
		    "No such file or directory");
	config_errors_clear(&errs);

	CHECK(mkdtemp(dir) != NULL);
	cfg = config_load(dir, &errs);
	CHECK(cfg == NULL);
	CHECK_INT(errs.count, 1);
	if (errs.count == 1) {
		bad = malloc(strlen(dir) + 64);
		if (bad != NULL) {
			sprintf(bad, "%s:0: cannot read: not a regular file", dir);
			CHECK_STR(errs.msgs[0], bad);
			free(bad);
		}
	}
	config_errors_clear(&errs);

	/* A FIFO is refused, not opened to wait for a writer (at a reload, the node waited). */
	snprintf(path, sizeof path, "%s/fifo.conf", dir);
	CHECK(mkfifo(path, 0600) == 0);
	cfg = config_load(path, &errs);
	CHECK(cfg == NULL);
	CHECK_INT(errs.count, 1);
	bad = malloc(strlen(path) + 64);
	if (errs.count == 1 && bad != NULL) {
		sprintf(bad, "%s:0: cannot read: not a regular file", path);
		CHECK_STR(errs.msgs[0], bad);
	}
	free(bad);
	unlink(path);
	config_errors_clear(&errs);

	snprintf(path, sizeof path, "%s/herd.conf", dir);
	f = fopen(path, "w");
	CHECK(f != NULL);
	if (f == NULL)
		return;
	fputs(default_herd, f);
	fclose(f);
	cfg = config_load(path, &errs);
	CHECK(cfg != NULL);
	CHECK_INT(errs.count, 0);
	if (cfg != NULL) {
		CHECK_STR(cfg->path, path);
		CHECK(strncmp(cfg->secret_file, dir, strlen(dir)) == 0);
		CHECK_STR(cfg->secret_file + strlen(dir), "/herd.secret");
		CHECK_INT(cfg->nnodes, 5);
		CHECK_INT(cfg->nodes[3].nneighbours, 3);
	}
	config_free(cfg);

	f = fopen(path, "w");
	CHECK(f != NULL);
	if (f != NULL) {
		fputs("[node A]\nlisten = 127.0.0.1:1\n", f);
		fclose(f);
	}
	cfg = config_load(path, &errs);
	CHECK(cfg == NULL);
	CHECK_INT(errs.count, 1);
	bad = malloc(strlen(path) + 64);
	if (errs.count == 1 && bad != NULL) {
		sprintf(bad, "%s:1: node A: missing peer_listen", path);
		CHECK_STR(errs.msgs[0], bad);
	}
	free(bad);
	config_errors_clear(&errs);
	unlink(path);
	rmdir(dir);
}

/* The limits of README "Limits": defaults, ranges, and the peer queue that follows max_line. */
static void
test_limits(void)
{
	struct herd_config *cfg = expect_valid("limit defaults", "[herd]\n" ONE_NODE);

	if (cfg != NULL) {
		CHECK_INT(cfg->max_clock_skew, 86400);
		CHECK_INT(cfg->max_clients, 1000000);
		CHECK_INT(cfg->max_connections, 10000);
		CHECK_INT(cfg->client_idle_timeout, 300);
		CHECK_INT(cfg->client_line_timeout, 10);
		CHECK_INT(cfg->client_write_timeout, 30);
		CHECK_INT(cfg->client_max_pending, 16);
		CHECK_INT(cfg->admin_max_connections, 16);
		CHECK_INT(cfg->admin_timeout, 10);
		CHECK_INT(cfg->peer_handshake_max, 32);
		CHECK_INT(cfg->peer_handshake_timeout, 3);
		CHECK_INT(cfg->peer_output_limit, 1048576);
		CHECK_INT(cfg->peer_heartbeat_timeout, 5);
		CHECK_INT(cfg->peer_write_timeout, 15);
		CHECK_INT(cfg->places_max_requests, 256);
		CHECK_INT(cfg->places_connections, 4);
		CHECK_INT(cfg->places_idle_timeout, 30);
	}
	config_free(cfg);

	cfg = expect_valid("limits set",
	    "[herd]\nmax_clock_skew = 0\nmax_clients = 5\nmax_connections = 7\n"
	    "client_idle_timeout = 1\nclient_line_timeout = 2\nclient_write_timeout = 3\n"
	    "admin_max_connections = 1\nadmin_timeout = 4\npeer_handshake_max = 1\n"
	    "client_max_pending = 2\n"
	    "peer_handshake_timeout = 1\npeer_output_limit = 131072\n"
	    "peer_heartbeat_timeout = 2\npeer_write_timeout = 1\nplaces_max_requests = 1\n"
	    "places_connections = 2\nplaces_idle_timeout = 9\n"
	    ONE_NODE);
	if (cfg != NULL) {
		CHECK_INT(cfg->max_clock_skew, 0);
		CHECK_INT(cfg->max_clients, 5);
		CHECK_INT(cfg->max_connections, 7);
		CHECK_INT(cfg->client_idle_timeout, 1);
		CHECK_INT(cfg->client_line_timeout, 2);
		CHECK_INT(cfg->client_write_timeout, 3);
		CHECK_INT(cfg->client_max_pending, 2);
		CHECK_INT(cfg->admin_max_connections, 1);
		CHECK_INT(cfg->admin_timeout, 4);
		CHECK_INT(cfg->peer_handshake_max, 1);
		CHECK_INT(cfg->peer_handshake_timeout, 1);
		CHECK_INT(cfg->peer_output_limit, 131072);
		CHECK_INT(cfg->peer_heartbeat_timeout, 2);
		CHECK_INT(cfg->peer_write_timeout, 1);
		CHECK_INT(cfg->places_max_requests, 1);
		CHECK_INT(cfg->places_connections, 2);
		CHECK_INT(cfg->places_idle_timeout, 9);
	}
	config_free(cfg);

	/* Unset, the peer queue grows with max_line so that one record always fits. */
	cfg = expect_valid("peer queue follows max_line", "[herd]\nmax_line = 1048576\n" ONE_NODE);
	if (cfg != NULL)
		CHECK_INT(cfg->peer_output_limit, 65536 + 4 * (1048576 + 512));
	config_free(cfg);
	expect_errors("peer queue too small for max_line",
	    "[herd]\nmax_line = 65536\npeer_output_limit = 65536\n" ONE_NODE,
	    PATH ":3: peer_output_limit 65536 is too small for max_line 65536: it must hold a "
	    "sync window of 65536 bytes and 4 peer lines of max_line + 512 bytes (329728)");
	/* The smallest the key takes still needs room for a sync beside the records. */
	expect_errors("peer queue too small for a sync", "[herd]\npeer_output_limit = 65536\n"
	    ONE_NODE, PATH ":2: peer_output_limit 65536 is too small for max_line 4096: it must "
	    "hold a sync window of 65536 bytes and 4 peer lines of max_line + 512 bytes (83968)");
	expect_errors("max_clients zero", "[herd]\nmax_clients = 0\n" ONE_NODE,
	    PATH ":2: max_clients: \"0\" is not an integer from 1 to 1000000000");
	expect_errors("max_clock_skew negative", "[herd]\nmax_clock_skew = -1\n" ONE_NODE,
	    PATH ":2: max_clock_skew: \"-1\" is not an integer from 0 to 315360000");
	expect_errors("client_line_timeout zero", "[herd]\nclient_line_timeout = 0\n" ONE_NODE,
	    PATH ":2: client_line_timeout: \"0\" is not an integer from 1 to 3600");
	expect_errors("peer_output_limit low", "[herd]\npeer_output_limit = 1000\n" ONE_NODE,
	    PATH ":2: peer_output_limit: \"1000\" is not an integer from 65536 to 1073741824");
	cfg = expect_valid("link state defaults", ONE_NODE);
	if (cfg != NULL) {
		CHECK_INT(cfg->linkstate_interval, 2);
		CHECK_INT(cfg->linkstate_max_age, 10);
	}
	config_free(cfg);
	expect_errors("link state ages before two reports",
	    "[herd]\nlinkstate_interval = 5\nlinkstate_max_age = 9\n" ONE_NODE,
	    PATH ":3: linkstate_max_age 9 must be at least twice linkstate_interval 5");
	/* The line that set what is wrong, not "line 0" for the key left at its default. */
	expect_errors("link state interval past the default age",
	    "[herd]\nlinkstate_interval = 10\n" ONE_NODE,
	    PATH ":2: linkstate_max_age 10 (its default) must be at least twice "
	    "linkstate_interval 10");
	expect_errors("link state interval zero", "[herd]\nlinkstate_interval = 0\n" ONE_NODE,
	    PATH ":2: linkstate_interval: \"0\" is not an integer from 1 to 3600");
	cfg = expect_valid("peer certificates", "[herd]\npeer_ca_file = ca.pem\n" ONE_NODE
	    "peer_cert_file = /etc/herd/a.pem\npeer_key_file = a.key\n");
	if (cfg != NULL) {
		CHECK_STR(cfg->nodes[0].peer_cert_file, "/etc/herd/a.pem");
		CHECK(cfg->nodes[0].peer_key_file != NULL &&
		    strstr(cfg->nodes[0].peer_key_file, "a.key") != NULL);
		CHECK(cfg->peer_ca_file != NULL && strstr(cfg->peer_ca_file, "ca.pem") != NULL);
	}
	config_free(cfg);
	expect_errors("peer certificates without a CA", "[herd]\n" ONE_NODE
	    "peer_cert_file = a.pem\npeer_key_file = a.key\n",
	    PATH ":5: node A: peer_cert_file and peer_key_file need peer_ca_file in [herd]");
	expect_errors("a CA, and a node without its key", "[herd]\npeer_ca_file = ca.pem\n"
	    ONE_NODE "peer_cert_file = a.pem\n",
	    PATH ":3: node A: peer_ca_file is set: the node needs peer_cert_file and "
	    "peer_key_file");
	expect_errors("peer certificates on plaintext links", "[herd]\npeer_tls = off\n"
	    "peer_ca_file = ca.pem\n" ONE_NODE "peer_cert_file = a.pem\npeer_key_file = a.key\n",
	    PATH ":2: peer_tls = off with peer certificates: certificates are for TLS links");
	/* SPEC 4: a secret means TLS links; off only where no link leaves the machine. */
	cfg = expect_valid("plaintext links on loopback", "[herd]\npeer_tls = off\n" ONE_NODE);
	config_free(cfg);
	expect_errors("plaintext links off loopback", "[herd]\npeer_tls = off\n"
	    "secret_file = s\n[node A]\nlisten = 127.0.0.1:1\npeer_listen = 10.1.2.3:2\n",
	    PATH ":2: peer_tls = off, but peer_listen 10.1.2.3:2 of node A is not loopback: "
	    "records would cross the network in the clear; off is for herds on one machine");
}

int
main(void)
{
	test_default_herd();
	test_symmetric_neighbours();
	test_defaults();
	test_relative_paths();
	test_addresses();
	test_addresses_in_file();
	test_crlf_and_layout();
	test_comments();
	test_syntax_errors();
	test_no_cascades();
	test_value_errors();
	test_cross_errors();
	test_many_errors();
	test_hostile_input();
	test_errors_append();
	test_load();
	test_limits();
	return check_done("config");
}
