/*
 * The herd configuration parser (SPEC section 2).
 *
 * One pass reads the lines into struct herd_config and records the line of every key; the
 * cross-field checks of config_check.c run after it. Every error is collected with its
 * line (config_error) and the list is sorted by line at the end.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config.h"
#include "config_parser.h"
#include "util.h"
#include "xmalloc.h"

#define CONFIG_DEFAULT_URL_LEGACY \
	"https://maps.googleapis.com/maps/api/place/nearbysearch/json"
#define CONFIG_DEFAULT_URL_NEW "https://places.googleapis.com/v1/places:searchNearby"

const struct config_key config_herd_keys[] = {
	{ "places_api", CONFIG_PLACES_API, offsetof(struct herd_config, places_api), 0, 0 },
	{ "places_url", CONFIG_URL, offsetof(struct herd_config, places_url), 0, 0 },
	{ "places_key_file", CONFIG_PATH,
	    offsetof(struct herd_config, places_key_file), 0, 0 },
	{ "places_ca_file", CONFIG_PATH, offsetof(struct herd_config, places_ca_file), 0, 0 },
	{ "places_timeout", CONFIG_INT, offsetof(struct herd_config, places_timeout), 1, 300 },
	{ "secret_file", CONFIG_PATH, offsetof(struct herd_config, secret_file), 0, 0 },
	{ "peer_tls", CONFIG_PEER_TLS, offsetof(struct herd_config, peer_tls), 0, 0 },
	{ "peer_ca_file", CONFIG_PATH, offsetof(struct herd_config, peer_ca_file), 0, 0 },
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
	{ "places_connections", CONFIG_SIZE,
	    offsetof(struct herd_config, places_connections), 1, 1024 },
	{ "places_idle_timeout", CONFIG_INT,
	    offsetof(struct herd_config, places_idle_timeout), 1, 3600 },
	{ "herd_id", CONFIG_NAME, offsetof(struct herd_config, herd_id), 0, 0 },
	{ "state_fsync_interval", CONFIG_INT,
	    offsetof(struct herd_config, state_fsync_interval), 1, 60000 },
	{ "state_fsync_batch", CONFIG_SIZE,
	    offsetof(struct herd_config, state_fsync_batch), 1, 1000000 },
	{ "state_compact_min", CONFIG_SIZE,
	    offsetof(struct herd_config, state_compact_min), 1, 1000000000 },
	{ "linkstate_interval", CONFIG_INT,
	    offsetof(struct herd_config, linkstate_interval), 1, 3600 },
	{ "linkstate_max_age", CONFIG_INT,
	    offsetof(struct herd_config, linkstate_max_age), 2, 86400 },
};
/* config_parser.h gives the count, for the parser's arrays. */
_Static_assert(sizeof(config_herd_keys) / sizeof(config_herd_keys[0]) == CONFIG_HERD_NKEYS,
    "CONFIG_HERD_NKEYS in config_parser.h is the number of [herd] keys");

/* Indexed by the enum above. */
const struct config_key config_node_keys[CONFIG_NODE_NKEYS] = {
	{ "listen", CONFIG_ADDR, offsetof(struct config_node, listen), 0, 0 },
	{ "peer_listen", CONFIG_ADDR, offsetof(struct config_node, peer_listen), 0, 0 },
	{ "admin_listen", CONFIG_ADDR, offsetof(struct config_node, admin_listen), 0, 0 },
	{ "peers", CONFIG_PEERS, 0, 0, 0 },
	{ "peer_cert_file", CONFIG_PATH, offsetof(struct config_node, peer_cert_file), 0, 0 },
	{ "peer_key_file", CONFIG_PATH, offsetof(struct config_node, peer_key_file), 0, 0 },
};

/* White space as in the client protocol; CR counts only as part of a CRLF line end. */
static bool config_is_space(char c)
{
	return c == ' ' || c == '\t' || c == '\f' || c == '\v';
}

/* Trims white space off both ends of the LEN bytes at *S. */
static void config_trim(const char **s, size_t *len)
{
	while (*len > 0 && config_is_space(**s)) {
		(*s)++;
		(*len)--;
	}
	while (*len > 0 && config_is_space((*s)[*len - 1]))
		(*len)--;
}

/* True when S is a valid node name: also what may appear in a log file name. */
static bool config_node_name_valid(const char *s, size_t len)
{
	size_t i;

	if (len == 0 || len > CONFIG_NODE_NAME_LEN)
		return false;
	for (i = 0; i < len; i++) {
		if ((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= 'A' && s[i] <= 'Z') ||
		    (s[i] >= '0' && s[i] <= '9') || s[i] == '_' || s[i] == '.' || s[i] == '-')
			continue;
		return false;
	}
	return true;
}

bool config_int_parse(const char *s, long min, long max, long *value)
{
	long v = 0;
	size_t i;

	if (*s == '\0')
		return false;
	for (i = 0; s[i] != '\0'; i++) {
		if (s[i] < '0' || s[i] > '9')
			return false;
		v = v * 10 + (s[i] - '0');
		if (v > max)
			return false;
	}
	if (v < min)
		return false;
	*value = v;
	return true;
}

/* A file or folder name: relative ones are taken from the configuration file's folder. */
static char *config_path_resolve(struct config_parser *p, const char *value)
{
	if (value[0] == '/' || p->dirlen == 0)
		return xstrndup(value, strlen(value));
	return xasprintf("%.*s%s", (int)p->dirlen, p->path, value);
}

/* Stores VALUE (not empty) of KEY in BASE, or records why it cannot be and returns 0. */
static bool config_set(struct config_parser *p, const struct config_key *key, void *base,
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
			return false;
		}
		break;
	case CONFIG_PEER_TLS:
		if (strcmp(value, "on") == 0)
			*(enum peer_tls *)(void *)field = PEER_TLS_ON;
		else if (strcmp(value, "off") == 0)
			*(enum peer_tls *)(void *)field = PEER_TLS_OFF;
		else {
			config_error(p, line, "%s: \"%s\" is not on or off", key->name, value);
			return false;
		}
		break;
	case CONFIG_URL:
		if (strncmp(value, "https://", 8) != 0 || value[8] == '\0' || value[8] == '/') {
			config_error(p, line, "%s: \"%s\" is not an https:// URL", key->name,
			    value);
			return false;
		}
		if (strpbrk(value, " \t\f\v") != NULL) {
			config_error(p, line, "%s: \"%s\" contains white space", key->name,
			    value);
			return false;
		}
		if (!config_url_check(value, &why)) {
			config_error(p, line, "%s: \"%s\": %s", key->name, value, why);
			return false;
		}
		free(*(char **)(void *)field);
		*(char **)(void *)field = xstrndup(value, strlen(value));
		break;
	case CONFIG_NAME:
		if (!config_node_name_valid(value, strlen(value))) {
			config_error(p, line, "%s: \"%s\" is not 1 to %d of A-Z a-z 0-9 _ . -",
			    key->name, value, CONFIG_NODE_NAME_LEN);
			return false;
		}
		free(*(char **)(void *)field);
		*(char **)(void *)field = xstrndup(value, strlen(value));
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
			return false;
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
			return false;
		}
		break;
	case CONFIG_PEERS:
		free(extra->peers);
		extra->peers = xstrndup(value, strlen(value));
		break;
	}
	return true;
}

/* Adds a node for a [node NAME] header at LINE. */
static void config_node_add(struct config_parser *p, const char *name, size_t len, int line)
{
	struct herd_config *cfg = p->cfg;
	struct config_node *node;

	if (cfg->nnodes == p->nodes_size) {
		p->nodes_size = p->nodes_size == 0 ? 8 : p->nodes_size * 2;
		cfg->nodes = xreallocarray(cfg->nodes, p->nodes_size, sizeof(*cfg->nodes));
		p->extras = xreallocarray(p->extras, p->nodes_size, sizeof(*p->extras));
	}
	node = &cfg->nodes[cfg->nnodes];
	memset(node, 0, sizeof(*node));
	memcpy(node->name, name, len);
	node->name[len] = '\0';
	node->line = line;
	memset(&p->extras[cfg->nnodes], 0, sizeof(p->extras[cfg->nnodes]));
	cfg->nnodes++;
}

/* Handles a "[...]" line; S is what lies between the brackets. */
static void config_parse_section(struct config_parser *p, const char *s, size_t len, int line)
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
static void config_parse_key(struct config_parser *p, const char *name, size_t namelen,
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
	/*
	 * A key with an empty value is as if it were not there (herd.conf(5)), unless it was
	 * set before: the empty one does not take it back to its default.
	 */
	if (*value == '\0' && key_line[i] == 0)
		return;
	if (key_line[i] != 0) {
		config_error(p, line, "duplicate key \"%s\" (first at line %d)", keys[i].name,
		    key_line[i]);
		return;
	}
	key_line[i] = line;
	if (node != NULL) {
		if (!config_set(p, &keys[i], node, extra, value, line))
			extra->key_bad[i] = true;
	} else
		config_set(p, &keys[i], p->cfg, NULL, value, line);
}

/* Parses one line of LEN bytes (without its LF). */
static void config_parse_line(struct config_parser *p, const char *s, size_t len, int line)
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

struct herd_config *config_parse(const char *path, const char *text, size_t len,
    struct config_errors *errs)
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
	memset(&p, 0, sizeof(p));
	p.path = path;
	slash = strrchr(path, '/');
	p.dirlen = slash == NULL ? 0 : (size_t)(slash - path) + 1;

	cfg = xreallocarray(NULL, 1, sizeof(*cfg));
	memset(cfg, 0, sizeof(*cfg));
	cfg->path = xstrndup(path, strlen(path));
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
	cfg->places_connections = 4;
	cfg->places_idle_timeout = 30;
	cfg->state_fsync_interval = 10;
	cfg->state_fsync_batch = 256;
	cfg->state_compact_min = 10000;
	cfg->linkstate_interval = 2;
	cfg->linkstate_max_age = 10;
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
		cfg->places_url = xstrndup(s, strlen(s));
	}
	config_check(&p);
	cfg->key_lines = xmemdup(p.herd_key_line, sizeof(p.herd_key_line));
	for (i = 0; i < cfg->nnodes; i++)
		cfg->nodes[i].key_lines = xmemdup(p.extras[i].key_line,
		    sizeof(p.extras[i].key_line));

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

struct herd_config *config_load(const char *path, struct config_errors *errs)
{
	struct herd_config *cfg;
	struct stat st = { 0 };
	FILE *f;
	char *text;
	size_t len;
	int error;
	int fd = file_open_regular(path, &st);

	if (fd < 0 || (f = fdopen(fd, "rb")) == NULL) {
		error = errno;
		config_read_error(errs, path, error == EINVAL ? "not a regular file" :
		    strerror(error));
		if (fd >= 0)
			close(fd);
		return NULL;
	}
	/* One byte more than allowed tells a file at the limit from a larger one. */
	text = xreallocarray(NULL, CONFIG_FILE_MAX + 1, 1);
	errno = 0;
	len = fread(text, 1, CONFIG_FILE_MAX + 1, f);
	error = ferror(f) ? (errno != 0 ? errno : EIO) : 0;
	fclose(f);
	if (error != 0) {
		config_read_error(errs, path, strerror(error));
		free(text);
		return NULL;
	}
	cfg = config_parse(path, text, len, errs);
	if (cfg != NULL) {
		cfg->text = xreallocarray(text, len + 1, 1);
		cfg->text_len = len;
	} else {
		free(text);
	}
	return cfg;
}

void config_free(struct herd_config *cfg)
{
	size_t i;

	if (cfg == NULL)
		return;
	for (i = 0; i < cfg->nnodes; i++) {
		free(cfg->nodes[i].neighbours);
		free(cfg->nodes[i].peer_cert_file);
		free(cfg->nodes[i].peer_key_file);
		free(cfg->nodes[i].key_lines);
	}
	free(cfg->key_lines);
	free(cfg->nodes);
	free(cfg->path);
	free(cfg->text);
	free(cfg->places_url);
	free(cfg->places_key_file);
	free(cfg->places_ca_file);
	free(cfg->secret_file);
	free(cfg->peer_ca_file);
	free(cfg->log_dir);
	free(cfg->state_dir);
	free(cfg->herd_id);
	free(cfg->admin_token_file);
	free(cfg);
}

const struct config_node *config_find_node(const struct herd_config *cfg, const char *name)
{
	if (name == NULL)
		return NULL;
	return config_find_node_len(cfg, name, strlen(name));
}

const struct config_node *config_find_node_len(const struct herd_config *cfg, const char *name,
    size_t len)
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

bool config_are_neighbours(const struct herd_config *cfg, size_t a, size_t b)
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

int config_key_line(const struct herd_config *cfg, const struct config_node *node,
    const char *key)
{
	const int *lines = node != NULL ? node->key_lines : cfg->key_lines;
	const struct config_key *keys = node != NULL ? config_node_keys : config_herd_keys;
	size_t nkeys = node != NULL ? CONFIG_NODE_NKEYS : CONFIG_HERD_NKEYS;

	for (size_t i = 0; lines != NULL && i < nkeys; i++) {
		if (strcmp(keys[i].name, key) == 0)
			return lines[i];
	}
	return 0;
}

int config_herd_key_line(const struct config_parser *p, const char *name)
{
	size_t i;

	for (i = 0; i < CONFIG_HERD_NKEYS; i++) {
		if (strcmp(config_herd_keys[i].name, name) == 0)
			return p->herd_key_line[i];
	}
	return 0;
}
