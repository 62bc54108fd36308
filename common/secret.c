/* Reading secrets at start-up, with systemd credentials taking precedence. */
#include "secret.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/crypto.h>

#include "log.h"
#include "util.h"

const char *secret_source(const char *path, const char *credential, char *buf, size_t size)
{
	const char *dir = getenv("CREDENTIALS_DIRECTORY");
	struct stat st;
	int n;

	if (dir == NULL || dir[0] == '\0')
		return path;
	/* Its own name (LoadCredential=herd.secret:FILE), or herd_NAME: the unit loads
	 * the folder /etc/herd/credentials as credentials herd_FILE. */
	for (int prefixed = 0; prefixed < 2; prefixed++) {
		n = snprintf(buf, size, "%s/%s%s", dir, prefixed ? "herd_" : "", credential);
		if (n < 0 || (size_t)n >= size)
			return path;
		/* An empty credential means "not given". */
		if (stat(buf, &st) == 0 && S_ISREG(st.st_mode) && st.st_size > 0)
			return buf;
	}
	return path;
}

/* A failed secret_load: nothing of the file stays in BUF. Returns 0. */
static size_t secret_fail(char *buf)
{
	int saved = errno;

	OPENSSL_cleanse(buf, SECRET_MAX + 1);
	errno = saved;
	return 0;
}

size_t secret_load(const char *what, const char *path, char *buf, char *why, size_t size)
{
	const char *quoted = log_quote(path, strlen(path));
	size_t len = 0;
	struct stat st = { 0 };
	int fd = file_open_regular(path, &st);

	if (fd < 0 && errno == EINVAL) {
		snprintf(why, size, "it is not a regular file");
		return secret_fail(buf);
	}
	if (fd < 0) {
		snprintf(why, size, "cannot open it: %s", strerror(errno));
		return 0;
	}
	if ((st.st_mode & (S_IRWXG | S_IRWXO)) != 0)
		log_warnx("event=secret_permissions what=%s path=%s mode=%04o "
		    "note=\"readable by others than its owner\"", what, quoted,
		    (unsigned)(st.st_mode & 07777));
	while (len < SECRET_MAX + 1) {
		ssize_t n = read(fd, buf + len, SECRET_MAX + 1 - len);

		if (n == 0)
			break;
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			int saved = errno;

			snprintf(why, size, "cannot read it: %s", strerror(saved));
			close(fd);
			errno = saved;
			return secret_fail(buf);
		}
		len += (size_t)n;
	}
	close(fd);
	if (len > SECRET_MAX) {
		snprintf(why, size, "longer than %d bytes", SECRET_MAX);
		errno = 0;
		return secret_fail(buf);
	}
	while (len > 0 && (buf[len - 1] == '\n' || buf[len - 1] == '\r' || buf[len - 1] == ' ' ||
	    buf[len - 1] == '\t'))
		len--;
	if (len == 0) {
		snprintf(why, size, "empty");
		errno = 0;
		return secret_fail(buf);
	}
	buf[len] = '\0';
	return len;
}

size_t secret_read(const char *what, const char *path, char *buf)
{
	char why[4200];
	size_t len = secret_load(what, path, buf, why, sizeof(why));

	/* A failed open or read is logged with its errno, as fatal() does. */
	if (len == 0 && errno != 0)
		fatal("event=startup_failed what=%s path=%s", what, log_quote(path, strlen(path)));
	if (len == 0)
		fatalx("event=startup_failed what=%s path=%s error=\"%s\"", what,
		    log_quote(path, strlen(path)), why);
	return len;
}

bool secret_is_word(const char *s, size_t len)
{
	if (len == 0)
		return false;
	for (size_t i = 0; i < len; i++) {
		if ((unsigned char)s[i] <= ' ' || (unsigned char)s[i] > '~')
			return false;
	}
	return true;
}
