/*
 * The herd configuration parser (SPEC section 2).
 *
 * One pass reads the lines into struct herd_config and records the line of every key; the
 * cross-field checks (required keys, peers, addresses used twice, secrets off loopback) run
 * after it. Every error is collected with its line and the list is sorted by line at the
 * end, so an operator sees them in file order whichever check found them.
 */

#include <arpa/inet.h>
#include <netinet/in.h>

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "config.h"

#define CONFIG_DEFAULT_URL_LEGACY \
	"https://maps.googleapis.com/maps/api/place/nearbysearch/json"
#define CONFIG_DEFAULT_URL_NEW "https://places.googleapis.com/v1/places:searchNearby"

#define CONFIG_NODE_NAME_LEN (CONFIG_NAME_MAX - 1)
#define CONFIG_DNS_NAME_LEN 253
#define CONFIG_DNS_LABEL_LEN 63

#ifdef __GNUC__
#define CONFIG_PRINTF(f, a) __attribute__((__format__(__printf__, f, a)))
#else
#define CONFIG_PRINTF(f, a)
#endif

/* How a key's value is read. */
enum config_type {
	CONFIG_PLACES_API,
	CONFIG_URL,
	CONFIG_PATH,
	CONFIG_INT,
	CONFIG_SIZE,
	CONFIG_ADDR,
	CONFIG_PEERS,
};

/* One key of a section: its name, how to read it, and where it goes. */
struct config_key {
	const char *name;
	enum config_type type;
	size_t offset;           /* into struct herd_config or struct config_node */
	long min, max;           /* CONFIG_INT and CONFIG_SIZE */
};

static const struct config_key config_herd_keys[] = {
	{ "places_api", CONFIG_PLACES_API, offsetof(struct herd_config, places_api), 0, 0 },
	{ "places_url", CONFIG_URL, offsetof(struct herd_config, places_url), 0, 0 },
	{ "places_key_file", CONFIG_PATH,
	    offsetof(struct herd_config, places_key_file), 0, 0 },
	{ "places_ca_file", CONFIG_PATH, offsetof(struct herd_config, places_ca_file), 0, 0 },
	{ "places_timeout", CONFIG_INT, offsetof(struct herd_config, places_timeout), 1, 300 },
	{ "secret_file", CONFIG_PATH, offsetof(struct herd_config, secret_file), 0, 0 },
	{ "log_dir", CONFIG_PATH, offsetof(struct herd_config, log_dir), 0, 0 },
	{ "state_dir", CONFIG_PATH, offsetof(struct herd_config, state_dir), 0, 0 },
	{ "admin_token_file", CONFIG_PATH,
	    offsetof(struct herd_config, admin_token_file), 0, 0 },
	{ "max_line", CONFIG_SIZE, offsetof(struct herd_config, max_line), 64, 1048576 },
	{ "peer_backoff_max", CONFIG_INT,
	    offsetof(struct herd_config, peer_backoff_max), 1, 3600 },
	{ "max_clock_skew", CONFIG_INT,
	    offsetof(struct herd_config, max_clock_skew), 0, 315360000 },
	{ "max_clients", CONFIG_SIZE, offsetof(struct herd_config, max_clients), 1, 1000000000 },
	{ "max_connections", CONFIG_SIZE,
	    offsetof(struct herd_config, max_connections), 1, 1000000 },
	{ "client_idle_timeout", CONFIG_INT,
	    offsetof(struct herd_config, client_idle_timeout), 1, 86400 },
	{ "client_line_timeout", CONFIG_INT,
	    offsetof(struct herd_config, client_line_timeout), 1, 3600 },
	{ "client_write_timeout", CONFIG_INT,
	    offsetof(struct herd_config, client_write_timeout), 1, 3600 },
	{ "client_max_pending", CONFIG_SIZE,
	    offsetof(struct herd_config, client_max_pending), 1, 1000 },
	{ "admin_max_connections", CONFIG_SIZE,
	    offsetof(struct herd_config, admin_max_connections), 1, 10000 },
	{ "admin_timeout", CONFIG_INT, offsetof(struct herd_config, admin_timeout), 1, 3600 },
	{ "peer_handshake_max", CONFIG_SIZE,
	    offsetof(struct herd_config, peer_handshake_max), 1, 10000 },
	{ "peer_handshake_timeout", CONFIG_INT,
	    offsetof(struct herd_config, peer_handshake_timeout), 1, 300 },
	{ "peer_output_limit", CONFIG_SIZE,
	    offsetof(struct herd_config, peer_output_limit), 65536, 1073741824 },
	{ "peer_heartbeat_timeout", CONFIG_INT,
	    offsetof(struct herd_config, peer_heartbeat_timeout), 2, 3600 },
	{ "peer_write_timeout", CONFIG_INT,
	    offsetof(struct herd_config, peer_write_timeout), 1, 3600 },
	{ "places_max_requests", CONFIG_SIZE,
	    offsetof(struct herd_config, places_max_requests), 1, 100000 },
};
#define CONFIG_HERD_NKEYS (sizeof config_herd_keys / sizeof config_herd_keys[0])

enum {
	CONFIG_NODE_LISTEN,
	CONFIG_NODE_PEER_LISTEN,
	CONFIG_NODE_ADMIN_LISTEN,
	CONFIG_NODE_PEERS,
	CONFIG_NODE_NKEYS,
};

/* Indexed by the enum above. */
static const struct config_key config_node_keys[CONFIG_NODE_NKEYS] = {
	{ "listen", CONFIG_ADDR, offsetof(struct config_node, listen), 0, 0 },
	{ "peer_listen", CONFIG_ADDR, offsetof(struct config_node, peer_listen), 0, 0 },
	{ "admin_listen", CONFIG_ADDR, offsetof(struct config_node, admin_listen), 0, 0 },
	{ "peers", CONFIG_PEERS, 0, 0, 0 },
};

/* What the parser knows of a node beyond struct config_node: where each key was. */
struct config_node_extra {
	int key_line[CONFIG_NODE_NKEYS];
	int key_bad[CONFIG_NODE_NKEYS];         /* given, but already reported as wrong */
	char *peers;
};

/* An error waiting to be sorted into file order. */
struct config_error {
	int line;
	size_t seq;
	char *msg;
};

enum config_section {
	CONFIG_SECTION_NONE,
	CONFIG_SECTION_HERD,
	CONFIG_SECTION_NODE,
	CONFIG_SECTION_SKIP,     /* under a bad header: its keys would only repeat the error */
};

struct config_parser {
	const char *path;
	size_t dirlen;           /* bytes of path up to and including its last '/' */
	struct herd_config *cfg;
	struct config_node_extra *extras;       /* parallel to cfg->nodes */
	size_t nodes_size;
	enum config_section section;
	int herd_line;
	int herd_key_line[CONFIG_HERD_NKEYS];
	struct config_error *errors;
	size_t nerrors, errors_size;
};

/* An address as used by a node, for the check that none is used twice. */
struct config_addr_use {
	const struct config_addr *addr;
	int line;
};

/* A directed neighbour pair, before the pairs are sorted into each node's array. */
struct config_edge {
	size_t from, to;
};

/* A node's name and index, sorted to find duplicates and look peers up. */
struct config_name {
	const char *name;
	size_t index;
	int line;
};

static char *config_vxprintf(const char *, va_list) CONFIG_PRINTF(1, 0);
static char *config_xprintf(const char *, ...) CONFIG_PRINTF(1, 2);
static void config_error(struct config_parser *, int, const char *, ...) CONFIG_PRINTF(3, 4);

/*
 * Out of memory while reading the configuration leaves nothing sensible to do: it happens at
 * start-up or on reload, where the caller would exit anyway.
 */
static void *
config_xreallocarray(void *ptr, size_t nmemb, size_t size)
{
	void *new;

	if (size != 0 && nmemb > SIZE_MAX / size)
		abort();
	new = realloc(ptr, nmemb * size == 0 ? 1 : nmemb * size);
	if (new == NULL)
		abort();
	return new;
}

/* A copy of LEN bytes of S as a string. */
static char *
config_xstrndup(const char *s, size_t len)
{
	char *copy;

	copy = config_xreallocarray(NULL, len + 1, 1);
	memcpy(copy, s, len);
	copy[len] = '\0';
	return copy;
}

/* A formatted string in allocated memory. */
static char *
config_vxprintf(const char *fmt, va_list ap)
{
	va_list copy;
	char *s;
	int len;

	va_copy(copy, ap);
	len = vsnprintf(NULL, 0, fmt, copy);
	va_end(copy);
	if (len < 0)
		abort();
	s = config_xreallocarray(NULL, (size_t)len + 1, 1);
	vsnprintf(s, (size_t)len + 1, fmt, ap);
	return s;
}

/* The same with the arguments inline. */
static char *
config_xprintf(const char *fmt, ...)
{
	va_list ap;
	char *s;

	va_start(ap, fmt);
	s = config_vxprintf(fmt, ap);
	va_end(ap);
	return s;
}

/* Records an error at LINE (0: the whole file); the file name is added when sorting. */
static void
config_error(struct config_parser *p, int line, const char *fmt, ...)
{
	struct config_error *e;
	va_list ap;

	if (p->nerrors == p->errors_size) {
		p->errors_size = p->errors_size == 0 ? 8 : p->errors_size * 2;
		p->errors = config_xreallocarray(p->errors, p->errors_size, sizeof *p->errors);
	}
	e = &p->errors[p->nerrors];
	e->line = line;
	e->seq = p->nerrors;
	va_start(ap, fmt);
	e->msg = config_vxprintf(fmt, ap);
	va_end(ap);
	p->nerrors++;
}

/* Orders errors by line, keeping the order they were found in on the same line. */
static int
config_error_cmp(const void *a, const void *b)
{
	const struct config_error *ea = a, *eb = b;

	if (ea->line != eb->line)
		return ea->line < eb->line ? -1 : 1;
	if (ea->seq != eb->seq)
		return ea->seq < eb->seq ? -1 : 1;
	return 0;
}

/* Hands the collected errors to ERRS (or drops them) as "FILE:LINE: message". */
static void
config_errors_flush(struct config_parser *p, struct config_errors *errs)
{
	size_t i;

	if (p->nerrors > 1)
		qsort(p->errors, p->nerrors, sizeof *p->errors, config_error_cmp);
	if (errs != NULL && p->nerrors != 0) {
		errs->msgs = config_xreallocarray(errs->msgs, errs->count + p->nerrors,
		    sizeof *errs->msgs);
	}
	for (i = 0; i < p->nerrors; i++) {
		if (errs != NULL) {
			errs->msgs[errs->count++] = config_xprintf("%s:%d: %s", p->path,
			    p->errors[i].line, p->errors[i].msg);
		}
		free(p->errors[i].msg);
	}
	free(p->errors);
	p->errors = NULL;
	p->nerrors = p->errors_size = 0;
}

/* White space as in the client protocol; CR counts only as part of a CRLF line end. */
static int
config_is_space(char c)
{
	return c == ' ' || c == '\t' || c == '\f' || c == '\v';
}

/* Trims white space off both ends of the LEN bytes at *S. */
static void
config_trim(const char **s, size_t *len)
{
	while (*len > 0 && config_is_space(**s)) {
		(*s)++;
		(*len)--;
	}
	while (*len > 0 && config_is_space((*s)[*len - 1]))
		(*len)--;
}

/* True when S is a valid node name: also what may appear in a log file name. */
static int
config_node_name_valid(const char *s, size_t len)
{
	size_t i;

	if (len == 0 || len > CONFIG_NODE_NAME_LEN)
		return 0;
	for (i = 0; i < len; i++) {
		if ((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= 'A' && s[i] <= 'Z') ||
		    (s[i] >= '0' && s[i] <= '9') || s[i] == '_' || s[i] == '.' || s[i] == '-')
			continue;
		return 0;
	}
	return 1;
}

/* True when S is a DNS name: dot-separated labels of letters, digits and inner hyphens. */
static int
config_dns_name_valid(const char *s)
{
	size_t len = strlen(s), label = 0, i;

	if (len == 0 || len > CONFIG_DNS_NAME_LEN)
		return 0;
	for (i = 0; i <= len; i++) {
		if (s[i] == '.' || s[i] == '\0') {
			if (label == 0 || label > CONFIG_DNS_LABEL_LEN || s[i - 1] == '-')
				return 0;
			label = 0;
			continue;
		}
		if (s[i] == '-') {
			if (label == 0)
				return 0;
		} else if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= 'A' && s[i] <= 'Z') ||
		    (s[i] >= '0' && s[i] <= '9')))
			return 0;
		label++;
	}
	return 1;
}

/* Reads a port: digits only, 1..65535. */
static int
config_port_parse(const char *s, uint16_t *port)
{
	unsigned long value = 0;
	size_t i;

	if (*s == '\0')
		return 0;
	for (i = 0; s[i] != '\0'; i++) {
		if (s[i] < '0' || s[i] > '9')
			return 0;
		value = value * 10 + (unsigned long)(s[i] - '0');
		if (value > 65535)
			return 0;
	}
	if (value == 0)
		return 0;
	*port = (uint16_t)value;
	return 1;
}

bool
config_addr_parse(const char *text, struct config_addr *addr, const char **why)
{
	struct in6_addr in6;
	struct in_addr in4;
	const char *colon, *close, *host;
	size_t hostlen;
	const char *ignored;
	int numeric;

	memset(addr, 0, sizeof *addr);
	if (why == NULL)
		why = &ignored;
	if (*text == '[') {
		close = strchr(text, ']');
		if (close == NULL) {
			*why = "missing ']' after the IPv6 address";
			return false;
		}
		if (close[1] != ':') {
			*why = "missing :port";
			return false;
		}
		host = text + 1;
		hostlen = (size_t)(close - host);
		colon = close + 1;
		addr->kind = ADDR_IPV6;
	} else {
		colon = strrchr(text, ':');
		if (colon == NULL) {
			*why = "missing :port";
			return false;
		}
		host = text;
		hostlen = (size_t)(colon - text);
		if (memchr(host, ':', hostlen) != NULL) {
			*why = "an IPv6 address must be written [v6addr]:port";
			return false;
		}
		numeric = hostlen > 0 && strspn(host, "0123456789.") == hostlen;
		addr->kind = numeric ? ADDR_IPV4 : ADDR_NAME;
	}
	if (hostlen == 0) {
		*why = "missing host";
		return false;
	}
	if (hostlen >= sizeof addr->host) {
		*why = "host too long";
		return false;
	}
	memcpy(addr->host, host, hostlen);
	addr->host[hostlen] = '\0';
	if (!config_port_parse(colon + 1, &addr->port)) {
		*why = "port is not a number from 1 to 65535";
		return false;
	}

	switch (addr->kind) {
	case ADDR_IPV4:
		if (inet_pton(AF_INET, addr->host, &in4) != 1) {
			*why = "bad IPv4 address";
			return false;
		}
		break;
	case ADDR_IPV6:
		if (inet_pton(AF_INET6, addr->host, &in6) != 1) {
			*why = "bad IPv6 address";
			return false;
		}
		break;
	case ADDR_NAME:
		if (!config_dns_name_valid(addr->host)) {
			*why = "bad host name";
			return false;
		}
		break;
	}
	addr->set = true;
	return true;
}

bool
config_addr_is_loopback(const struct config_addr *addr)
{
	struct in6_addr in6;
	struct in_addr in4;

	if (addr == NULL || !addr->set)
		return false;
	switch (addr->kind) {
	case ADDR_IPV4:
		if (inet_pton(AF_INET, addr->host, &in4) != 1)
			return false;
		return (ntohl(in4.s_addr) >> 24) == 127;
	case ADDR_IPV6:
		if (inet_pton(AF_INET6, addr->host, &in6) != 1)
			return false;
		if (IN6_IS_ADDR_LOOPBACK(&in6))
			return true;
		/* ::ffff:127.0.0.1 reaches the same IPv4 loopback. */
		return IN6_IS_ADDR_V4MAPPED(&in6) && in6.s6_addr[12] == 127;
	case ADDR_NAME:
		return strcasecmp(addr->host, "localhost") == 0;
	}
	return false;
}

const char *
config_addr_format(const struct config_addr *addr, char *buf, size_t size)
{
	if (size == 0)
		return buf;
	if (addr->kind == ADDR_IPV6)
		snprintf(buf, size, "[%s]:%u", addr->host, (unsigned)addr->port);
	else
		snprintf(buf, size, "%s:%u", addr->host, (unsigned)addr->port);
	return buf;
}

/* Reads a decimal integer in MIN..MAX, digits only. */
static int
config_int_parse(const char *s, long min, long max, long *value)
{
	long v = 0;
	size_t i;

	if (*s == '\0')
		return 0;
	for (i = 0; s[i] != '\0'; i++) {
		if (s[i] < '0' || s[i] > '9')
			return 0;
		v = v * 10 + (s[i] - '0');
		if (v > max)
			return 0;
	}
	if (v < min)
		return 0;
	*value = v;
	return 1;
}

/* A file or folder name: relative ones are taken from the configuration file's folder. */
static char *
config_path_resolve(struct config_parser *p, const char *value)
{
	if (value[0] == '/' || p->dirlen == 0)
		return config_xstrndup(value, strlen(value));
	return config_xprintf("%.*s%s", (int)p->dirlen, p->path, value);
}

/* Stores VALUE (not empty) of KEY in BASE, or records why it cannot be and returns 0. */
static int
config_set(struct config_parser *p, const struct config_key *key, void *base,
    struct config_node_extra *extra, const char *value, int line)
{
	char *field = (char *)base + key->offset;
	const char *why;
	long number;

	switch (key->type) {
	case CONFIG_PLACES_API:
		if (strcmp(value, "legacy") == 0)
			*(enum places_api *)(void *)field = PLACES_API_LEGACY;
		else if (strcmp(value, "new") == 0)
			*(enum places_api *)(void *)field = PLACES_API_NEW;
		else {
			config_error(p, line, "%s: \"%s\" is not legacy or new", key->name, value);
			return 0;
		}
		break;
	case CONFIG_URL:
		if (strncmp(value, "https://", 8) != 0 || value[8] == '\0' || value[8] == '/') {
			config_error(p, line, "%s: \"%s\" is not an https:// URL", key->name,
			    value);
			return 0;
		}
		if (strpbrk(value, " \t\f\v") != NULL) {
			config_error(p, line, "%s: \"%s\" contains white space", key->name,
			    value);
			return 0;
		}
		free(*(char **)(void *)field);
		*(char **)(void *)field = config_xstrndup(value, strlen(value));
		break;
	case CONFIG_PATH:
		free(*(char **)(void *)field);
		*(char **)(void *)field = config_path_resolve(p, value);
		break;
	case CONFIG_INT:
	case CONFIG_SIZE:
		if (!config_int_parse(value, key->min, key->max, &number)) {
			config_error(p, line, "%s: \"%s\" is not an integer from %ld to %ld",
			    key->name, value, key->min, key->max);
			return 0;
		}
		if (key->type == CONFIG_INT)
			*(int *)(void *)field = (int)number;
		else
			*(size_t *)(void *)field = (size_t)number;
		break;
	case CONFIG_ADDR:
		if (!config_addr_parse(value, (struct config_addr *)(void *)field, &why)) {
			config_error(p, line, "%s: bad address \"%s\": %s", key->name, value,
			    why);
			return 0;
		}
		break;
	case CONFIG_PEERS:
		free(extra->peers);
		extra->peers = config_xstrndup(value, strlen(value));
		break;
	}
	return 1;
}

/* Adds a node for a [node NAME] header at LINE. */
static void
config_node_add(struct config_parser *p, const char *name, size_t len, int line)
{
	struct herd_config *cfg = p->cfg;
	struct config_node *node;

	if (cfg->nnodes == p->nodes_size) {
		p->nodes_size = p->nodes_size == 0 ? 8 : p->nodes_size * 2;
		cfg->nodes = config_xreallocarray(cfg->nodes, p->nodes_size, sizeof *cfg->nodes);
		p->extras = config_xreallocarray(p->extras, p->nodes_size, sizeof *p->extras);
	}
	node = &cfg->nodes[cfg->nnodes];
	memset(node, 0, sizeof *node);
	memcpy(node->name, name, len);
	node->name[len] = '\0';
	node->line = line;
	memset(&p->extras[cfg->nnodes], 0, sizeof p->extras[cfg->nnodes]);
	cfg->nnodes++;
}

/* Handles a "[...]" line; S is what lies between the brackets. */
static void
config_parse_section(struct config_parser *p, const char *s, size_t len, int line)
{
	config_trim(&s, &len);
	p->section = CONFIG_SECTION_SKIP;

	if (len == 4 && memcmp(s, "herd", 4) == 0) {
		if (p->herd_line != 0) {
			config_error(p, line, "duplicate section [herd] (first at line %d)",
			    p->herd_line);
		} else
			p->herd_line = line;
		p->section = CONFIG_SECTION_HERD;
		return;
	}
	if (len >= 4 && memcmp(s, "node", 4) == 0 && (len == 4 || config_is_space(s[4]))) {
		s += 4;
		len -= 4;
		config_trim(&s, &len);
		if (len == 0) {
			config_error(p, line, "section [node] without a name");
			return;
		}
		if (!config_node_name_valid(s, len)) {
			config_error(p, line, "invalid node name \"%.*s\" "
			    "(1 to %d of A-Z a-z 0-9 _ . -)", (int)len, s, CONFIG_NODE_NAME_LEN);
			return;
		}
		config_node_add(p, s, len, line);
		p->section = CONFIG_SECTION_NODE;
		return;
	}
	config_error(p, line, "unknown section [%.*s]", (int)len, s);
}

/* Handles a "key = value" line. */
static void
config_parse_key(struct config_parser *p, const char *name, size_t namelen,
    const char *value, int line)
{
	const struct config_key *keys;
	struct config_node_extra *extra = NULL;
	struct config_node *node = NULL;
	size_t nkeys, i;
	int *key_line;

	if (p->section == CONFIG_SECTION_SKIP)
		return;
	if (p->section == CONFIG_SECTION_NONE) {
		config_error(p, line, "key \"%.*s\" outside any section", (int)namelen, name);
		return;
	}
	if (p->section == CONFIG_SECTION_NODE) {
		keys = config_node_keys;
		nkeys = CONFIG_NODE_NKEYS;
		node = &p->cfg->nodes[p->cfg->nnodes - 1];
		extra = &p->extras[p->cfg->nnodes - 1];
		key_line = extra->key_line;
	} else {
		keys = config_herd_keys;
		nkeys = CONFIG_HERD_NKEYS;
		key_line = p->herd_key_line;
	}

	for (i = 0; i < nkeys; i++) {
		if (strlen(keys[i].name) == namelen && memcmp(keys[i].name, name, namelen) == 0)
			break;
	}
	if (i == nkeys) {
		if (node == NULL) {
			config_error(p, line, "unknown key \"%.*s\" in [herd]", (int)namelen,
			    name);
		} else {
			config_error(p, line, "unknown key \"%.*s\" in [node %s]", (int)namelen,
			    name, node->name);
		}
		return;
	}
	if (key_line[i] != 0) {
		config_error(p, line, "duplicate key \"%s\" (first at line %d)", keys[i].name,
		    key_line[i]);
		return;
	}
	key_line[i] = line;
	if (*value == '\0')
		return;
	if (node != NULL) {
		if (!config_set(p, &keys[i], node, extra, value, line))
			extra->key_bad[i] = 1;
	} else
		config_set(p, &keys[i], p->cfg, NULL, value, line);
}

/* Parses one line of LEN bytes (without its LF). */
static void
config_parse_line(struct config_parser *p, const char *s, size_t len, int line)
{
	char value[CONFIG_LINE_MAX + 1];
	const char *eq, *name;
	size_t namelen, vlen, i;

	if (len > 0 && s[len - 1] == '\r')
		len--;
	config_trim(&s, &len);

	/* Keys after a header we could not read belong to no known section. */
	if (len > CONFIG_LINE_MAX) {
		config_error(p, line, "line too long (more than %d bytes)", CONFIG_LINE_MAX);
		if (*s == '[')
			p->section = CONFIG_SECTION_SKIP;
		return;
	}
	for (i = 0; i < len; i++) {
		if (((unsigned char)s[i] < 0x20 && !config_is_space(s[i])) || s[i] == 0x7f)
			break;
	}
	if (i != len) {
		if (s[i] == '\0')
			config_error(p, line, "NUL byte in line");
		else
			config_error(p, line, "control character in line");
		if (*s == '[')
			p->section = CONFIG_SECTION_SKIP;
		return;
	}
	if (len == 0 || *s == ';' || *s == '#')
		return;

	/* A comment starts at ';' or '#' after white space, so URLs keep their '#'. */
	for (i = 1; i < len; i++) {
		if ((s[i] == ';' || s[i] == '#') && config_is_space(s[i - 1])) {
			len = i;
			break;
		}
	}
	config_trim(&s, &len);

	if (*s == '[') {
		if (s[len - 1] != ']') {
			config_error(p, line, "malformed section header");
			p->section = CONFIG_SECTION_SKIP;
			return;
		}
		config_parse_section(p, s + 1, len - 2, line);
		return;
	}

	eq = memchr(s, '=', len);
	if (eq == NULL || eq == s) {
		config_error(p, line, "expected \"key = value\" or \"[section]\"");
		return;
	}
	name = s;
	namelen = (size_t)(eq - s);
	config_trim(&name, &namelen);
	if (namelen == 0) {
		config_error(p, line, "expected \"key = value\" or \"[section]\"");
		return;
	}
	eq++;
	vlen = len - (size_t)(eq - s);
	config_trim(&eq, &vlen);
	memcpy(value, eq, vlen);
	value[vlen] = '\0';
	config_parse_key(p, name, namelen, value, line);
}

/* Orders nodes by name, then by position, so duplicates sit together, first one first. */
static int
config_name_cmp(const void *a, const void *b)
{
	const struct config_name *na = a, *nb = b;
	int c;

	if ((c = strcmp(na->name, nb->name)) != 0)
		return c;
	if (na->index != nb->index)
		return na->index < nb->index ? -1 : 1;
	return 0;
}

/*
 * Index of the first node called NAME (LEN bytes, not terminated) in sorted NAMES, or -1.
 * The first, so that a node naming itself is caught even when its name is duplicated.
 */
static long
config_lookup(const struct config_name *names, size_t nnames, const char *name, size_t len)
{
	size_t lo = 0, hi = nnames, mid;
	int c;

	while (lo < hi) {
		mid = lo + (hi - lo) / 2;
		c = strncmp(name, names[mid].name, len);
		if (c == 0 && names[mid].name[len] != '\0')
			c = -1;
		if (c <= 0)
			hi = mid;
		else
			lo = mid + 1;
	}
	if (lo < nnames && strncmp(name, names[lo].name, len) == 0 &&
	    names[lo].name[len] == '\0')
		return (long)names[lo].index;
	return -1;
}

/* Orders directed pairs by source, then destination. */
static int
config_edge_cmp(const void *a, const void *b)
{
	const struct config_edge *ea = a, *eb = b;

	if (ea->from != eb->from)
		return ea->from < eb->from ? -1 : 1;
	if (ea->to != eb->to)
		return ea->to < eb->to ? -1 : 1;
	return 0;
}

/*
 * Finds duplicate nodes, resolves every peers list and fills the symmetric, sorted
 * neighbour arrays: naming a peer on one side is enough.
 */
static void
config_link_nodes(struct config_parser *p)
{
	struct herd_config *cfg = p->cfg;
	struct config_edge *edges = NULL;
	struct config_name *names;
	size_t nedges = 0, edges_size = 0, first = 0, i, j, len;
	const char *s;
	long peer;
	int line;

	names = config_xreallocarray(NULL, cfg->nnodes, sizeof *names);
	for (i = 0; i < cfg->nnodes; i++) {
		names[i].name = cfg->nodes[i].name;
		names[i].index = i;
		names[i].line = cfg->nodes[i].line;
	}
	if (cfg->nnodes > 1)
		qsort(names, cfg->nnodes, sizeof *names, config_name_cmp);
	for (i = 1; i < cfg->nnodes; i++) {
		if (strcmp(names[i].name, names[first].name) != 0) {
			first = i;
			continue;
		}
		config_error(p, names[i].line, "duplicate node %s (first at line %d)",
		    names[i].name, names[first].line);
	}

	for (i = 0; i < cfg->nnodes; i++) {
		s = p->extras[i].peers;
		line = p->extras[i].key_line[CONFIG_NODE_PEERS];
		while (s != NULL && *s != '\0') {
			s += strspn(s, " \t\f\v");
			len = strcspn(s, " \t\f\v");
			if (len == 0)
				break;
			peer = config_lookup(names, cfg->nnodes, s, len);
			if (peer < 0) {
				config_error(p, line, "peers: \"%.*s\" is not a node", (int)len, s);
			} else if ((size_t)peer == i) {
				config_error(p, line, "peers: node %s names itself",
				    cfg->nodes[i].name);
			} else {
				if (nedges + 2 > edges_size) {
					edges_size = edges_size == 0 ? 16 : edges_size * 2;
					edges = config_xreallocarray(edges, edges_size,
					    sizeof *edges);
				}
				edges[nedges].from = i;
				edges[nedges++].to = (size_t)peer;
				edges[nedges].from = (size_t)peer;
				edges[nedges++].to = i;
			}
			s += len;
		}
	}
	free(names);

	/* qsort wants a valid pointer even for no elements. */
	if (nedges > 1)
		qsort(edges, nedges, sizeof *edges, config_edge_cmp);
	for (i = 0; i < nedges; i = j) {
		struct config_node *node = &cfg->nodes[edges[i].from];

		for (j = i; j < nedges && edges[j].from == edges[i].from; j++)
			continue;
		node->neighbours = config_xreallocarray(NULL, j - i, sizeof *node->neighbours);
		for (len = i; len < j; len++) {
			if (len == i || edges[len].to != edges[len - 1].to)
				node->neighbours[node->nneighbours++] = edges[len].to;
		}
	}
	free(edges);
}

/* Orders address uses by what they name, then by line. */
static int
config_addr_use_cmp(const void *a, const void *b)
{
	const struct config_addr_use *ua = a, *ub = b;
	int c;

	if (ua->addr->kind != ub->addr->kind)
		return ua->addr->kind < ub->addr->kind ? -1 : 1;
	if ((c = strcmp(ua->addr->host, ub->addr->host)) != 0)
		return c;
	if (ua->addr->port != ub->addr->port)
		return ua->addr->port < ub->addr->port ? -1 : 1;
	if (ua->line != ub->line)
		return ua->line < ub->line ? -1 : 1;
	return 0;
}

/* Reports every address used a second time anywhere in the herd, at that use. */
static void
config_check_addrs(struct config_parser *p)
{
	struct herd_config *cfg = p->cfg;
	struct config_addr_use *uses;
	const struct config_addr *addr;
	char buf[300];
	size_t nuses = 0, i, first = 0;
	int k;

	uses = config_xreallocarray(NULL, cfg->nnodes * 3, sizeof *uses);
	for (i = 0; i < cfg->nnodes; i++) {
		for (k = CONFIG_NODE_LISTEN; k <= CONFIG_NODE_ADMIN_LISTEN; k++) {
			addr = (const struct config_addr *)(const void *)
			    ((const char *)&cfg->nodes[i] + config_node_keys[k].offset);
			if (!addr->set)
				continue;
			uses[nuses].addr = addr;
			uses[nuses++].line = p->extras[i].key_line[k];
		}
	}
	if (nuses > 1)
		qsort(uses, nuses, sizeof *uses, config_addr_use_cmp);
	for (i = 1; i < nuses; i++) {
		if (uses[i].addr->kind != uses[first].addr->kind ||
		    uses[i].addr->port != uses[first].addr->port ||
		    strcmp(uses[i].addr->host, uses[first].addr->host) != 0) {
			first = i;
			continue;
		}
		config_error(p, uses[i].line, "address %s used twice (first at line %d)",
		    config_addr_format(uses[i].addr, buf, sizeof buf), uses[first].line);
	}
	free(uses);
}

/* The line of [herd] key NAME, 0 when the file does not set it. */
static int
config_herd_key_line(const struct config_parser *p, const char *name)
{
	size_t i;

	for (i = 0; i < CONFIG_HERD_NKEYS; i++) {
		if (strcmp(config_herd_keys[i].name, name) == 0)
			return p->herd_key_line[i];
	}
	return 0;
}

/*
 * Limits that depend on each other: a neighbour's output queue must hold a sync window
 * and a few of the longest records, or one long record would drop the link on every sync.
 */
static void
config_check_limits(struct config_parser *p)
{
	struct herd_config *cfg = p->cfg;
	size_t need = CONFIG_PEER_SYNC_WINDOW +
	    CONFIG_PEER_OUTPUT_LINES * (cfg->max_line + CONFIG_PEER_LINE_EXTRA);
	int line = config_herd_key_line(p, "peer_output_limit");

	/* 0: not set (or set to something already reported as wrong). */
	if (cfg->peer_output_limit == 0)
		cfg->peer_output_limit = need > 1048576 ? need : 1048576;
	else if (cfg->peer_output_limit < need)
		config_error(p, line, "peer_output_limit %zu is too small for max_line %zu: "
		    "it must hold a sync window of %d bytes and %d peer lines of max_line + %d "
		    "bytes (%zu)", cfg->peer_output_limit, cfg->max_line, CONFIG_PEER_SYNC_WINDOW,
		    CONFIG_PEER_OUTPUT_LINES, CONFIG_PEER_LINE_EXTRA, need);
}

/* The checks that need the whole file: limits, required keys, peers, addresses, secrets. */
static void
config_check(struct config_parser *p)
{
	struct herd_config *cfg = p->cfg;
	struct config_node *node;
	char buf[300];
	size_t i;
	int peer_open = 0, admin_open = 0;

	config_check_limits(p);
	if (cfg->nnodes == 0) {
		config_error(p, 0, "no [node] section");
		return;
	}
	for (i = 0; i < cfg->nnodes; i++) {
		node = &cfg->nodes[i];
		if (!node->listen.set && !p->extras[i].key_bad[CONFIG_NODE_LISTEN])
			config_error(p, node->line, "node %s: missing listen", node->name);
		if (!node->peer_listen.set && !p->extras[i].key_bad[CONFIG_NODE_PEER_LISTEN])
			config_error(p, node->line, "node %s: missing peer_listen", node->name);
	}
	config_link_nodes(p);
	config_check_addrs(p);

	/* One report each is enough: the fix is the same for every address. */
	for (i = 0; i < cfg->nnodes; i++) {
		node = &cfg->nodes[i];
		if (cfg->secret_file == NULL && !peer_open && node->peer_listen.set &&
		    !config_addr_is_loopback(&node->peer_listen)) {
			config_error(p, p->extras[i].key_line[CONFIG_NODE_PEER_LISTEN],
			    "peer_listen %s is not loopback: secret_file is required",
			    config_addr_format(&node->peer_listen, buf, sizeof buf));
			peer_open = 1;
		}
		if (cfg->admin_token_file == NULL && !admin_open && node->admin_listen.set &&
		    !config_addr_is_loopback(&node->admin_listen)) {
			config_error(p, p->extras[i].key_line[CONFIG_NODE_ADMIN_LISTEN],
			    "admin_listen %s is not loopback: admin_token_file is required",
			    config_addr_format(&node->admin_listen, buf, sizeof buf));
			admin_open = 1;
		}
	}
}

struct herd_config *
config_parse(const char *path, const char *text, size_t len, struct config_errors *errs)
{
	struct config_parser p;
	struct herd_config *cfg;
	const char *s, *end, *nl, *slash;
	size_t i;
	int line = 0;

	if (path == NULL)
		path = "(config)";
	if (text == NULL) {
		text = "";
		len = 0;
	}
	memset(&p, 0, sizeof p);
	p.path = path;
	slash = strrchr(path, '/');
	p.dirlen = slash == NULL ? 0 : (size_t)(slash - path) + 1;

	cfg = config_xreallocarray(NULL, 1, sizeof *cfg);
	memset(cfg, 0, sizeof *cfg);
	cfg->path = config_xstrndup(path, strlen(path));
	cfg->places_api = PLACES_API_LEGACY;
	cfg->places_timeout = 5;
	cfg->max_line = 4096;
	cfg->peer_backoff_max = 5;
	cfg->max_clock_skew = 86400;
	cfg->max_clients = 1000000;
	cfg->max_connections = 10000;
	cfg->client_idle_timeout = 300;
	cfg->client_line_timeout = 10;
	cfg->client_write_timeout = 30;
	cfg->client_max_pending = 16;
	cfg->admin_max_connections = 16;
	cfg->admin_timeout = 10;
	cfg->peer_handshake_max = 32;
	cfg->peer_handshake_timeout = 3;
	cfg->peer_output_limit = 0;    /* set from max_line after parsing unless given */
	cfg->peer_heartbeat_timeout = 5;
	cfg->peer_write_timeout = 15;
	cfg->places_max_requests = 256;
	p.cfg = cfg;

	if (len > CONFIG_FILE_MAX) {
		config_error(&p, 0, "file too large (more than %d bytes)", CONFIG_FILE_MAX);
		goto out;
	}
	s = text;
	end = text + len;
	/* Editors on some systems start a UTF-8 file with a byte order mark. */
	if (len >= 3 && memcmp(s, "\xef\xbb\xbf", 3) == 0)
		s += 3;
	while (s < end) {
		nl = memchr(s, '\n', (size_t)(end - s));
		if (nl == NULL)
			nl = end;
		config_parse_line(&p, s, (size_t)(nl - s), ++line);
		s = nl + 1;
	}
	if (cfg->places_url == NULL) {
		s = cfg->places_api == PLACES_API_NEW ? CONFIG_DEFAULT_URL_NEW :
		    CONFIG_DEFAULT_URL_LEGACY;
		cfg->places_url = config_xstrndup(s, strlen(s));
	}
	config_check(&p);

out:
	for (i = 0; i < cfg->nnodes; i++)
		free(p.extras[i].peers);
	free(p.extras);
	if (p.nerrors != 0) {
		config_errors_flush(&p, errs);
		config_free(cfg);
		return NULL;
	}
	free(p.errors);
	return cfg;
}

/* Adds "FILE:0: cannot read: ..." to ERRS, for a file that gave no text to parse. */
static void
config_read_error(struct config_errors *errs, const char *path, int errnum)
{
	struct config_parser p;

	memset(&p, 0, sizeof p);
	p.path = path;
	config_error(&p, 0, "cannot read: %s", strerror(errnum));
	config_errors_flush(&p, errs);
}

struct herd_config *
config_load(const char *path, struct config_errors *errs)
{
	struct herd_config *cfg;
	FILE *f;
	char *text;
	size_t len;
	int error;

	if ((f = fopen(path, "rb")) == NULL) {
		config_read_error(errs, path, errno);
		return NULL;
	}
	/* One byte more than allowed tells a file at the limit from a larger one. */
	text = config_xreallocarray(NULL, CONFIG_FILE_MAX + 1, 1);
	errno = 0;
	len = fread(text, 1, CONFIG_FILE_MAX + 1, f);
	error = ferror(f) ? (errno != 0 ? errno : EIO) : 0;
	fclose(f);
	if (error != 0) {
		config_read_error(errs, path, error);
		free(text);
		return NULL;
	}
	cfg = config_parse(path, text, len, errs);
	free(text);
	return cfg;
}

void
config_free(struct herd_config *cfg)
{
	size_t i;

	if (cfg == NULL)
		return;
	for (i = 0; i < cfg->nnodes; i++)
		free(cfg->nodes[i].neighbours);
	free(cfg->nodes);
	free(cfg->path);
	free(cfg->places_url);
	free(cfg->places_key_file);
	free(cfg->places_ca_file);
	free(cfg->secret_file);
	free(cfg->log_dir);
	free(cfg->state_dir);
	free(cfg->admin_token_file);
	free(cfg);
}

void
config_errors_clear(struct config_errors *errs)
{
	size_t i;

	if (errs == NULL)
		return;
	for (i = 0; i < errs->count; i++)
		free(errs->msgs[i]);
	free(errs->msgs);
	errs->msgs = NULL;
	errs->count = 0;
}

const struct config_node *
config_find_node(const struct herd_config *cfg, const char *name)
{
	if (name == NULL)
		return NULL;
	return config_find_node_len(cfg, name, strlen(name));
}

const struct config_node *
config_find_node_len(const struct herd_config *cfg, const char *name, size_t len)
{
	size_t i;

	if (cfg == NULL || len >= CONFIG_NAME_MAX)
		return NULL;
	for (i = 0; i < cfg->nnodes; i++) {
		if (memcmp(cfg->nodes[i].name, name, len) == 0 && cfg->nodes[i].name[len] == '\0')
			return &cfg->nodes[i];
	}
	return NULL;
}

bool
config_are_neighbours(const struct herd_config *cfg, size_t a, size_t b)
{
	const struct config_node *node;
	size_t lo = 0, hi, mid;

	if (cfg == NULL || a >= cfg->nnodes || b >= cfg->nnodes)
		return false;
	node = &cfg->nodes[a];
	hi = node->nneighbours;
	while (lo < hi) {
		mid = lo + (hi - lo) / 2;
		if (node->neighbours[mid] == b)
			return true;
		if (node->neighbours[mid] < b)
			lo = mid + 1;
		else
			hi = mid;
	}
	return false;
}
