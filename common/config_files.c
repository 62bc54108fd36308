/*
 * The files and folders a configuration names, looked at (stat, access) before a node
 * starts, so that -t and a start report every one that cannot be used, each at its line,
 * where the start itself would stop at the first.
 */
#include "config.h"

#include <errno.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config_parser.h"
#include "secret.h"

/*
 * Why PATH cannot be opened for reading as a regular file (a folder when FOLDER), or
 * NULL when it can. WHY has room for the reason.
 */
static const char *files_unusable(const char *path, bool folder, char *why, size_t size)
{
	struct stat st;

	if (stat(path, &st) < 0)
		snprintf(why, size, "%s", errno == ENOENT ? "no such file or folder" :
		    strerror(errno));
	else if (folder && !S_ISDIR(st.st_mode))
		snprintf(why, size, "not a folder");
	else if (!folder && !S_ISREG(st.st_mode))
		snprintf(why, size, "not a regular file");
	else if (access(path, folder ? W_OK | X_OK : R_OK) < 0)
		snprintf(why, size, "%s", strerror(errno));
	else
		return NULL;
	return why;
}

/*
 * Checks the file of KEY (of NODE, NULL: [herd]) at PATH, unless a systemd credential
 * CREDENTIAL (NULL: none) stands in for it; counts and reports a problem.
 */
static void files_check_one(const struct herd_config *cfg, const struct config_node *node,
    const char *key, const char *path, const char *credential, struct config_parser *found)
{
	char source[PATH_MAX], why[256];

	if (path == NULL)
		return;
	if (credential != NULL && secret_source(path, credential, source, sizeof(source)) !=
	    path)
		return;
	if (files_unusable(path, false, why, sizeof(why)) != NULL)
		config_error(found, config_key_line(cfg, node, key), "%s %s: %s", key, path, why);
}

/* state_dir: a folder, or one the node can make (its parent is there); FROM_CLI: -s. */
static void files_check_state_dir(const struct herd_config *cfg, bool from_cli,
    struct config_parser *found)
{
	char parent[PATH_MAX], why[256], reason[200];
	const char *bad;
	size_t len;

	if (cfg->state_dir == NULL)
		return;
	if (access(cfg->state_dir, F_OK) == 0) {
		bad = files_unusable(cfg->state_dir, true, why, sizeof(why));
	} else {
		/* The folder it would be made in: what comes before its last name. */
		snprintf(parent, sizeof(parent), "%s", cfg->state_dir);
		len = strlen(parent);
		while (len > 1 && parent[len - 1] == '/')
			parent[--len] = '\0';
		while (len > 0 && parent[len - 1] != '/')
			parent[--len] = '\0';
		while (len > 1 && parent[len - 1] == '/')
			parent[--len] = '\0';
		if (len == 0)
			snprintf(parent, sizeof(parent), ".");
		bad = files_unusable(parent, true, reason, sizeof(reason));
		if (bad != NULL)
			snprintf(why, sizeof(why), "cannot be made here: its folder: %s", reason);
	}
	if (bad != NULL)
		config_error(found, from_cli ? 0 : config_key_line(cfg, NULL, "state_dir"),
		    "%s %s: %s", from_cli ? "--state-dir" : "state_dir", cfg->state_dir, why);
}

size_t config_check_files(const struct herd_config *cfg, const struct config_node *self,
    const struct config_files_given *given, struct config_errors *errs)
{
	char credential[CONFIG_NAME_MAX + 16], why[256];
	struct config_parser found;
	size_t n;

	/* The parser's own list: the problems come out in file order, as "FILE:LINE: ...". */
	memset(&found, 0, sizeof(found));
	found.path = cfg->path;
	files_check_one(cfg, NULL, "secret_file", cfg->secret_file, "herd.secret", &found);
	/* Read by the admin endpoint only. */
	if (self == NULL || self->admin_listen.set)
		files_check_one(cfg, NULL, "admin_token_file", cfg->admin_token_file,
		    "admin.token", &found);
	files_check_one(cfg, NULL, "places_key_file", cfg->places_key_file, "places.key",
	    &found);
	files_check_one(cfg, NULL, "places_ca_file", cfg->places_ca_file, NULL, &found);
	files_check_one(cfg, NULL, "peer_ca_file", cfg->peer_ca_file, NULL, &found);
	if (self != NULL) {
		snprintf(credential, sizeof(credential), "peer.%s.key", self->name);
		files_check_one(cfg, self, "peer_cert_file", self->peer_cert_file, NULL, &found);
		files_check_one(cfg, self, "peer_key_file", self->peer_key_file, credential,
		    &found);
	}
	if (cfg->log_dir != NULL && !given->log_file &&
	    files_unusable(cfg->log_dir, true, why, sizeof(why)) != NULL)
		config_error(&found, config_key_line(cfg, NULL, "log_dir"), "log_dir %s: %s",
		    cfg->log_dir, why);
	files_check_state_dir(cfg, given->state_dir, &found);

	n = found.nerrors;
	config_errors_flush(&found, errs);
	return n;
}
