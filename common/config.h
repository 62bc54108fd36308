/* The herd configuration: one INI file for the whole herd (SPEC section 2). */
#ifndef HERD_CONFIG_H
#define HERD_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define CONFIG_NAME_MAX 64
#define CONFIG_FILE_MAX (1024 * 1024)   /* bytes; a larger file is an error */
#define CONFIG_LINE_MAX 8192            /* bytes per line, without the line end */
/* Bytes a peer line may have beyond max_line: the node's own fields of an AT line, SYNC. */
#define CONFIG_PEER_LINE_EXTRA 512
/* "SYNC " before a record on a peer line. */
#define CONFIG_PEER_SYNC_PREFIX 5
/* A sync keeps up to this many bytes queued to a neighbour (it overshoots by one line). */
#define CONFIG_PEER_SYNC_WINDOW (64 * 1024)
/* peer_output_limit holds a full sync window and this many of the longest peer lines. */
#define CONFIG_PEER_OUTPUT_LINES 4

/* Peer links over TLS 1.3 (README "Peer links"). */
enum peer_tls {
	PEER_TLS_ON,             /* whenever the node has a herd secret (the default) */
	PEER_TLS_OFF,            /* plaintext, for loopback test herds */
};

enum places_api {
	PLACES_API_LEGACY,
	PLACES_API_NEW,
};

enum addr_kind {
	ADDR_IPV4,   /* numeric IPv4 literal */
	ADDR_IPV6,   /* numeric IPv6 literal, written [v6addr]:port */
	ADDR_NAME,   /* DNS name, resolved with evdns at run time */
};

/* One host:port as written in the file. */
struct config_addr {
	enum addr_kind kind;
	char host[256];          /* without brackets for IPv6 */
	uint16_t port;           /* 1..65535 */
	bool set;
};

struct config_node {
	char name[CONFIG_NAME_MAX];
	int line;                /* line of the [node NAME] header */
	struct config_addr listen;
	struct config_addr peer_listen;
	struct config_addr admin_listen;   /* .set false: no admin endpoint */
	size_t *neighbours;      /* indexes into config.nodes, symmetric, sorted, no self */
	size_t nneighbours;
	/* With peer_ca_file: PEM, its certificate (chain), naming it, and its private key
	 * (the credential peer.NAME.key comes first). */
	char *peer_cert_file;
	char *peer_key_file;
	int *key_lines;          /* the line of each of its keys, 0 when not set */
};

struct herd_config {
	char *path;
	char *text;              /* the file's bytes as parsed (a reload of the same keeps this) */
	size_t text_len;
	enum places_api places_api;
	char *places_url;        /* default depends on places_api */
	char *places_key_file;   /* NULL: HERD_PLACES_KEY from the environment */
	char *places_ca_file;    /* NULL: system trust store */
	int places_timeout;      /* seconds, default 5 */
	char *secret_file;       /* NULL: none (allowed only when every peer_listen is loopback) */
	enum peer_tls peer_tls;  /* default on */
	/* Peer TLS with certificates of a herd CA in place of the PSK (each node's own). */
	char *peer_ca_file;      /* PEM: the CA(s) a neighbour's certificate must chain to */
	char *log_dir;           /* NULL: none */
	char *state_dir;         /* NULL: none */
	char *herd_id;           /* NULL: derived from the secret, or from the node names */
	char *admin_token_file;  /* NULL: none (allowed only when every admin_listen is loopback) */
	size_t max_line;         /* bytes, default 4096 */
	int peer_backoff_max;    /* seconds, default 5 */
	int max_clock_skew;      /* seconds a client time may be ahead, default 86400 */
	size_t max_clients;      /* client IDs in the table, default 1000000 */

	/* Limits on connections (README "Limits"); every one has a key and a safe default. */
	size_t max_connections;        /* client connections at once, default 10000 */
	int client_idle_timeout;       /* seconds without a command, default 300 */
	int client_line_timeout;       /* seconds from a line's first byte to its LF, default 10 */
	int client_write_timeout;      /* seconds a client may leave its replies unread, default 30 */
	size_t client_max_pending;     /* replies waiting (behind a WHATSAT) per client, 16 */
	size_t admin_max_connections;  /* default 16 */
	int admin_timeout;             /* seconds for one admin request, default 10 */
	size_t peer_handshake_max;     /* inbound peer connections not yet authenticated, 32 */
	int peer_handshake_timeout;    /* seconds from connect to authenticated, default 3 */
	size_t peer_output_limit;      /* bytes queued to a neighbour, default 1 MiB */
	int peer_heartbeat_timeout;    /* seconds a link may be silent, default 5 */
	int peer_write_timeout;        /* seconds queued output may make no progress, 15 */
	size_t places_max_requests;    /* upstream Places calls at once, default 256 */
	size_t places_connections;     /* kept-alive connections to Places, default 4 */
	int places_idle_timeout;       /* seconds an idle Places connection is kept, 30 */

	/* The record journal and snapshot in state_dir (README "Durability"). */
	int state_fsync_interval;      /* ms between fsyncs of unsynced records, default 10 */
	size_t state_fsync_batch;      /* unsynced records that start an fsync at once, 256 */
	size_t state_compact_min;      /* journal records before a snapshot, default 10000 */

	/* Link-state reports between nodes (README "Link state"). */
	int linkstate_interval;        /* seconds between a node's reports, default 2 */
	int linkstate_max_age;         /* seconds unheard before a node counts as stale, 10 */

	struct config_node *nodes;
	size_t nnodes;
	int *key_lines;          /* the line of each [herd] key, 0 when not set */
};

/* Errors collected while loading, each "FILE:LINE: message" (LINE may be 0 for the file). */
struct config_errors {
	char **msgs;
	size_t count;
};

/*
 * Parse and validate PATH. Returns NULL and fills ERRS with every error found.
 * Messages are appended to ERRS, which must start zeroed ({0}) or cleared; ERRS may be NULL.
 */
struct herd_config *config_load(const char *path, struct config_errors *errs);
/*
 * The same from text already in memory; PATH names the file in messages, and relative
 * file and folder names in the text are resolved against its folder.
 */
struct herd_config *config_parse(const char *path, const char *text, size_t len,
    struct config_errors *errs);
void config_free(struct herd_config *cfg);
void config_errors_clear(struct config_errors *errs);

/* The node called NAME, or NULL. */
const struct config_node *config_find_node(const struct herd_config *cfg, const char *name);
/* The node called (NAME, LEN), which need not be NUL-ended and may hold any bytes. */
const struct config_node *config_find_node_len(const struct herd_config *cfg, const char *name,
    size_t len);
bool config_are_neighbours(const struct herd_config *cfg, size_t a, size_t b);
/* The line that set KEY of NODE (NULL: of [herd]), 0 when the file does not set it. */
int config_key_line(const struct herd_config *cfg, const struct config_node *node,
    const char *key);
/* What the command line put in the place of the file's keys, for config_check_files. */
struct config_files_given {
	bool log_file;           /* -l: log_dir is not used */
	bool state_dir;          /* --state-dir: cfg->state_dir is that, not the file's */
};

/*
 * The files and folders CFG names, looked at without reading them, as node SELF opens
 * them when it starts: each must be there, of its kind, and readable (a systemd
 * credential in a file's place counts, secret.h). GIVEN says which the command line
 * replaced. Appends "FILE:LINE: message" to ERRS for each that is not; returns how many.
 */
size_t config_check_files(const struct herd_config *cfg, const struct config_node *self,
    const struct config_files_given *given, struct config_errors *errs);
/* True when ADDR names the loopback interface (127.0.0.0/8, ::1, "localhost"). */
bool config_addr_is_loopback(const struct config_addr *addr);
/* "host:port" or "[v6]:port" into BUF; returns BUF. */
const char *config_addr_format(const struct config_addr *addr, char *buf, size_t size);
/*
 * Parse TEXT ("host:port", "[v6addr]:port" or "dnsname:port") into ADDR. On failure
 * returns false and, when WHY is not NULL, points it at a static reason.
 */
bool config_addr_parse(const char *text, struct config_addr *addr, const char **why);
/* The longest host and port of a URL: a host of config_addr, brackets, ":65535". */
#define CONFIG_URL_AUTHORITY_MAX (sizeof(((struct config_addr *)0)->host) + 8)
/*
 * True when URL, which begins "https://", is one the Places client can use: a host as
 * an address of the file has it (a DNS name, an IPv4 address, [an IPv6 one]), a port
 * from 1 to 65535 if any, and path, query and fragment of URL characters (RFC 3986,
 * %XX escapes). On failure WHY points at a static reason.
 */
bool config_url_check(const char *url, const char **why);

#endif
