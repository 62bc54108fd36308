/* Hex and address formatting, numbers, files. */
#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdio.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

bool decimal_parse(const char *p, size_t len, uint64_t *out)
{
	uint64_t value = 0;

	if (len == 0 || len > 19)
		return false;
	for (size_t i = 0; i < len; i++) {
		if (!is_digit(p[i]))
			return false;
		value = value * 10 + (uint64_t)(p[i] - '0');
	}
	*out = value;
	return true;
}

void hex_encode(const unsigned char *in, size_t len, char *out)
{
	static const char digits[] = "0123456789abcdef";

	for (size_t i = 0; i < len; i++) {
		out[2 * i] = digits[in[i] >> 4];
		out[2 * i + 1] = digits[in[i] & 0xf];
	}
	out[2 * len] = '\0';
}

bool socket_connected(int fd)
{
	struct sockaddr_storage peer;
	socklen_t len = sizeof(peer);

	return fd >= 0 && getpeername(fd, (struct sockaddr *)&peer, &len) == 0;
}

const char *addr_format(const struct sockaddr *sa, size_t salen, char buf[ADDR_TEXT_MAX])
{
	char host[INET6_ADDRSTRLEN], port[8];

	if (getnameinfo(sa, (socklen_t)salen, host, sizeof(host), port, sizeof(port),
	    NI_NUMERICHOST | NI_NUMERICSERV) != 0)
		snprintf(buf, ADDR_TEXT_MAX, "?");
	else if (sa->sa_family == AF_INET6)
		snprintf(buf, ADDR_TEXT_MAX, "[%s]:%s", host, port);
	else
		snprintf(buf, ADDR_TEXT_MAX, "%s:%s", host, port);
	return buf;
}

int file_open_regular(const char *path, struct stat *st)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
	int error;

	if (fd < 0)
		return -1;
	if (fstat(fd, st) < 0)
		error = errno;
	else if (!S_ISREG(st->st_mode))
		error = EINVAL;
	else
		return fd;
	close(fd);
	errno = error;
	return -1;
}
