/*
 * Secrets read at start-up and on reload: the herd secret, the Places API key, the admin
 * token.
 * Under systemd, a credential passed with LoadCredential= takes the place of the
 * configured file, so the unit can hand secrets to a DynamicUser service.
 */
#ifndef HERD_SECRET_H
#define HERD_SECRET_H

#include <stdbool.h>
#include <stddef.h>

#define SECRET_MAX 4096

/*
 * Where the secret CREDENTIAL (e.g. "herd.secret") comes from: the file of that name,
 * or of that name after "herd_" (a credentials folder), in $CREDENTIALS_DIRECTORY when
 * it is there and not empty, else PATH (which may be NULL).
 * The credential's path is written into BUF.
 */
const char *secret_source(const char *path, const char *credential, char *buf, size_t size);

/*
 * Reads the secret at PATH into BUF (at least SECRET_MAX + 1 bytes), NUL-ended, without
 * trailing white space. An unreadable, empty or oversized file stops the node with
 * WHAT (the configuration key) in the message; a file others can read is warned about.
 * The contents are never logged. Returns the length.
 */
size_t secret_read(const char *what, const char *path, char *buf);
/*
 * The same without stopping the node (a reload): 0, with the reason in WHY ("empty",
 * "cannot open it: ...") and errno set (0 unless a system call failed), when the file
 * cannot be read, is empty or is too long.
 */
size_t secret_load(const char *what, const char *path, char *buf, char *why, size_t size);
/* True when (S, LEN) is one word of printable ASCII: what a header or a URL query takes
 * as it is (tokens and API keys). */
bool secret_is_word(const char *s, size_t len);

#endif
