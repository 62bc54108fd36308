/*
 * Inside the configuration parser: what config.c (reading lines and keys),
 * config_addr.c and config_check.c (the checks that need the whole file, and the error
 * list) share. Not for use outside common/config*.c.
 */
#ifndef HERD_CONFIG_PARSER_H
#define HERD_CONFIG_PARSER_H

#include <stdbool.h>
#include <stddef.h>

#include "config.h"

#define CONFIG_NODE_NAME_LEN (CONFIG_NAME_MAX - 1)
#define CONFIG_DNS_NAME_LEN 253
#define CONFIG_DNS_LABEL_LEN 63
/* The number of [herd] keys: config_herd_keys has one entry each. */
#define CONFIG_HERD_NKEYS 36

/* How a key's value is read. */
enum config_type {
	CONFIG_PLACES_API,
	CONFIG_PEER_TLS,
	CONFIG_URL,
	CONFIG_NAME,             /* like a node name: A-Z a-z 0-9 _ . - */
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

extern const struct config_key config_herd_keys[CONFIG_HERD_NKEYS];

enum {
	CONFIG_NODE_LISTEN,
	CONFIG_NODE_PEER_LISTEN,
	CONFIG_NODE_ADMIN_LISTEN,
	CONFIG_NODE_PEERS,
	CONFIG_NODE_PEER_CERT_FILE,
	CONFIG_NODE_PEER_KEY_FILE,
	CONFIG_NODE_NKEYS,
};

/* Indexed by the enum above. */
extern const struct config_key config_node_keys[CONFIG_NODE_NKEYS];

/* What the parser knows of a node beyond struct config_node: where each key was. */
struct config_node_extra {
	int key_line[CONFIG_NODE_NKEYS];
	bool key_bad[CONFIG_NODE_NKEYS];        /* given, but already reported as wrong */
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

/* Records an error at LINE (0: the whole file); the file name is added when sorting. */
void config_error(struct config_parser *p, int line, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Sorts the errors into file order and hands them to ERRS (or drops them). */
void config_errors_flush(struct config_parser *p, struct config_errors *errs);
/* Adds "FILE:0: cannot read: ..." to ERRS, for a file that gave no text to parse. */
void config_read_error(struct config_errors *errs, const char *path, const char *why);
/* The checks that need the whole file: limits, required keys, peers, addresses, secrets. */
void config_check(struct config_parser *p);
/* The line of [herd] key NAME, 0 when the file does not set it. */
int config_herd_key_line(const struct config_parser *p, const char *name);
/* True when S is a DNS name: dot-separated labels of letters, digits and inner hyphens. */
bool config_dns_name_valid(const char *s);

/* Reads a decimal integer in MIN..MAX (MIN >= 0), digits only. */
bool config_int_parse(const char *s, long min, long max, long *value);

#endif
