/*
 * SIGHUP (systemctl reload): the log is reopened and the configuration file read again.
 * A file that loads, names this node and whose secrets can be read is applied without
 * dropping clients or the links it leaves alone; anything else is logged, every error
 * as FILE:LINE, and the configuration in force stays whole. What cannot change while
 * the node runs (its listening addresses, its folders, sizes fixed at start) keeps its
 * value, and the log says so key by key.
 */
#include "reload.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include "admin.h"
#include "config.h"
#include "herdd.h"
#include "linkstate.h"
#include "log.h"
#include "notify.h"
#include "peer.h"
#include "places.h"
#include "secret.h"
#include "table.h"
#include "xmalloc.h"

/*
 * Configurations a reload replaced. Links and records may still point at names in
 * them, so they live until the node stops (a few KiB each).
 */
static struct herd_config **retired;
static size_t nretired;

/* Refuses this reload over ERRORS problems, the last of them WHY (NULL: all logged). */
static void reload_refuse(size_t errors, const char *why)
{
	if (why != NULL)
		log_warnx("event=reload_error error=%s", log_quote(why, strlen(why)));
	log_warnx("event=reload_failed errors=%zu note=\"the configuration in force is "
	    "unchanged\"", errors);
	notify_reloaded("serving; the last reload failed (see the log)");
}

/* Both NULL, or equal strings. */
static bool same_text(const char *a, const char *b)
{
	return a == NULL || b == NULL ? a == b : strcmp(a, b) == 0;
}

/* Keeps the string option KEY at the value in force, saying so when the file changed it. */
static void keep_text(const char *key, char **fresh, const char *in_force)
{
	if (same_text(*fresh, in_force))
		return;
	log_warnx("event=reload_kept key=%s reason=\"takes effect when the node restarts\"",
	    key);
	free(*fresh);
	*fresh = in_force != NULL ? xstrdup(in_force) : NULL;
}

/* Keeps FIELD (a number) of the configuration at the value in force, saying so. */
#define KEEP_NUMBER(fresh, old, field) do {					\
	if ((fresh)->field != (old)->field) {					\
		log_warnx("event=reload_kept key=%s reason=\"takes effect when the "	\
		    "node restarts\"", #field);						\
		(fresh)->field = (old)->field;					\
	}								\
} while (0)

/* This node's addresses stay bound where they are. */
static void keep_addr(const char *key, struct config_addr *fresh,
    const struct config_addr *in_force)
{
	char a[300], b[300];

	if (fresh->set == in_force->set && (!fresh->set ||
	    strcmp(config_addr_format(fresh, a, sizeof(a)),
	    config_addr_format(in_force, b, sizeof(b))) == 0))
		return;
	log_warnx("event=reload_kept key=%s address=%s reason=\"a listening address changes "
	    "when the node restarts\"", key, in_force->set ? config_addr_format(in_force, b,
	    sizeof(b)) : "none");
	*fresh = *in_force;
}

/* What the node set up at start and keeps: NEW gets the values in force. */
static void keep_fixed(struct herd_config *fresh, struct config_node *self)
{
	const struct herd_config *old = herdd.config;

	keep_addr("listen", &self->listen, &herdd.self->listen);
	keep_addr("peer_listen", &self->peer_listen, &herdd.self->peer_listen);
	keep_addr("admin_listen", &self->admin_listen, &herdd.self->admin_listen);
	keep_text("state_dir", &fresh->state_dir, old->state_dir);
	keep_text("log_dir", &fresh->log_dir, old->log_dir);
	keep_text("herd_id", &fresh->herd_id, old->herd_id);
	KEEP_NUMBER(fresh, old, max_line);
	KEEP_NUMBER(fresh, old, max_connections);
	KEEP_NUMBER(fresh, old, admin_max_connections);
	KEEP_NUMBER(fresh, old, state_fsync_interval);
	KEEP_NUMBER(fresh, old, peer_tls);
	/* The TLS context holds them, loaded once. */
	keep_text("peer_ca_file", &fresh->peer_ca_file, old->peer_ca_file);
	keep_text("peer_cert_file", &self->peer_cert_file, herdd.self->peer_cert_file);
	keep_text("peer_key_file", &self->peer_key_file, herdd.self->peer_key_file);
}

/*
 * The herd secret CFG names (or its credential) into BUF; *LEN 0 for none, which only
 * a herd whose every peer_listen is loopback may have. False, with WHY, otherwise.
 */
static bool reload_secret(const struct herd_config *cfg, char *buf, size_t *len, char *why,
    size_t size)
{
	char source[4096];
	const char *path = secret_source(cfg->secret_file, "herd.secret", source,
	    sizeof(source));

	char reason[256];

	*len = 0;
	if (path != NULL) {
		*len = secret_load("secret_file", path, buf, reason, sizeof(reason));
		if (*len == 0)
			snprintf(why, size, "secret_file %s: %s", path, reason);
		return *len > 0;
	}
	for (size_t i = 0; i < cfg->nnodes; i++) {
		if (!config_addr_is_loopback(&cfg->nodes[i].peer_listen)) {
			snprintf(why, size, "secret_file is required: a peer_listen is not "
			    "loopback");
			return false;
		}
	}
	return true;
}

/*
 * The file's own checks saw its addresses; this node keeps the ones it is bound to, and
 * what needs a restart to change. False, with WHY, when the file asks for what the
 * running node cannot give.
 */
static bool reload_rules(const struct herd_config *fresh, const struct config_node *self,
    char *why, size_t size)
{
	char source[4096];
	const unsigned char *secret;
	size_t len;
	bool had_secret, has_secret = secret_source(fresh->secret_file, "herd.secret", source,
	    sizeof(source)) != NULL;

	/* An endpoint off loopback keeps its token: the kept address decides, not the file's. */
	if (self->admin_listen.set && !config_addr_is_loopback(&self->admin_listen) &&
	    secret_source(fresh->admin_token_file, "admin.token", source, sizeof(source)) ==
	    NULL) {
		snprintf(why, size, "admin_token_file is required: this node's admin endpoint "
		    "stays off loopback until it restarts");
		return false;
	}
	/* TLS on the links is set up at start, from the secret the node had then. */
	secret = peers_secret(&len);
	had_secret = secret != NULL && len > 0;
	if (fresh->peer_tls == PEER_TLS_ON && has_secret != had_secret) {
		snprintf(why, size, "%s the herd secret takes a restart: the links' TLS is set up "
		    "at start", has_secret ? "adding" : "removing");
		return false;
	}
	return true;
}

/* Frees a configuration a refused reload read, unless it is the one in force. */
static void reload_drop(struct herd_config *fresh)
{
	if (fresh != herdd.config)
		config_free(fresh);
}

void reload_run(const char *path, const char *name, const char *state_dir)
{
	struct config_errors errs = { NULL, 0 };
	struct herd_config *fresh;
	struct config_node *self = NULL;
	struct places *places;
	struct peers_change change;
	char secret[SECRET_MAX + 1], why[4200];
	const char *what = "places";
	const unsigned char *old_secret;
	size_t secret_len, old_len;
	bool secret_changed;

	notify_reloading();
	log_info("event=reload_started config=%s", log_quote(path, strlen(path)));
	if (log_reopen() < 0)
		log_warn("event=log_reopen_failed");
	else
		log_info("event=log_reopened");

	fresh = config_load(path, &errs);
	if (fresh == NULL) {
		for (size_t i = 0; i < errs.count; i++)
			log_warnx("event=reload_error error=%s",
			    log_quote(errs.msgs[i], strlen(errs.msgs[i])));
		reload_refuse(errs.count, NULL);
		config_errors_clear(&errs);
		return;
	}
	/*
	 * The same bytes as the file in force (a reload for the log, the secrets or the key,
	 * or by a tool that reloads on a timer): that configuration stays, and no other is
	 * retired to live until the node stops.
	 */
	if (fresh->text_len == herdd.config->text_len && herdd.config->text != NULL &&
	    memcmp(fresh->text, herdd.config->text, fresh->text_len) == 0 &&
	    strcmp(fresh->path, herdd.config->path) == 0) {
		config_free(fresh);
		fresh = herdd.config;
	}
	for (size_t i = 0; i < fresh->nnodes; i++) {
		if (strcmp(fresh->nodes[i].name, name) == 0)
			self = &fresh->nodes[i];
	}
	if (self == NULL) {
		snprintf(why, sizeof(why), "%s:0: no [node %s] in this file", path, name);
		reload_refuse(1, why);
		reload_drop(fresh);
		return;
	}
	if (fresh != herdd.config) {
		if (state_dir != NULL) {
			free(fresh->state_dir);
			fresh->state_dir = xstrdup(state_dir);
		}
		keep_fixed(fresh, self);
	}

	/* Everything that can fail, before anything changes. */
	if (!reload_rules(fresh, self, why, sizeof(why))) {
		reload_refuse(1, why);
		reload_drop(fresh);
		return;
	}
	if (!reload_secret(fresh, secret, &secret_len, why, sizeof(why))) {
		reload_refuse(1, why);
		OPENSSL_cleanse(secret, sizeof(secret));
		reload_drop(fresh);
		return;
	}
	places = places_open(herdd.base, herdd.dns, fresh, &what, why, sizeof(why));
	if (places == NULL) {
		log_warnx("event=reload_error what=%s error=%s", what, log_quote(why, strlen(why)));
		reload_refuse(1, NULL);
		OPENSSL_cleanse(secret, sizeof(secret));
		reload_drop(fresh);
		return;
	}
	if (self->admin_listen.set && !admin_reload(fresh, why, sizeof(why))) {
		log_warnx("event=reload_error what=admin_token_file error=%s",
		    log_quote(why, strlen(why)));
		reload_refuse(1, NULL);
		places_free(places);
		OPENSSL_cleanse(secret, sizeof(secret));
		reload_drop(fresh);
		return;
	}

	/* The new configuration is in force from here. */
	if (fresh != herdd.config) {
		retired = xreallocarray(retired, nretired + 1, sizeof(*retired));
		retired[nretired++] = herdd.config;
		herdd.config = fresh;
	}
	herdd.self = self;
	herdd.self_index = (size_t)(self - fresh->nodes);

	old_secret = peers_secret(&old_len);
	secret_changed = old_len != secret_len || (secret_len > 0 &&
	    CRYPTO_memcmp(old_secret, secret, secret_len) != 0);
	if (secret_changed) {
		peers_set_secret((const unsigned char *)secret, secret_len);
		log_info("event=secret_changed note=\"handshakes from now on use the new herd "
		    "secret; links up stay up; the table's keys and herd_id keep the one the "
		    "node started with until it restarts\"");
	}
	OPENSSL_cleanse(secret, sizeof(secret));
	peers_reload(&change);
	linkstate_reload();
	places_retire(herdd.places);
	herdd.places = places;
	table_set_limit(herdd.table, fresh->max_clients);

	log_info("event=reloaded config=%s neighbours=%zu added=%zu removed=%zu "
	    "readdressed=%zu secret=%s", log_quote(path, strlen(path)), self->nneighbours,
	    change.added, change.removed, change.readdressed,
	    secret_changed ? "changed" : "same");
	notify_reloaded("serving");
}

void reload_free(void)
{
	for (size_t i = 0; i < nretired; i++)
		config_free(retired[i]);
	free(retired);
	retired = NULL;
	nretired = 0;
}
