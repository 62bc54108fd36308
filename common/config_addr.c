/* Addresses in the configuration: host:port, [v6addr]:port and dnsname:port. */
#include <arpa/inet.h>
#include <netinet/in.h>

#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "config.h"
#include "config_parser.h"
#include "util.h"

bool config_dns_name_valid(const char *s)
{
	size_t len = strlen(s), label = 0, i;

	if (len == 0 || len > CONFIG_DNS_NAME_LEN)
		return false;
	for (i = 0; i <= len; i++) {
		if (s[i] == '.' || s[i] == '\0') {
			if (label == 0 || label > CONFIG_DNS_LABEL_LEN || s[i - 1] == '-')
				return false;
			label = 0;
			continue;
		}
		if (s[i] == '-') {
			if (label == 0)
				return false;
		} else if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= 'A' && s[i] <= 'Z') ||
		    (s[i] >= '0' && s[i] <= '9')))
			return false;
		label++;
	}
	return true;
}

/* Reads a port: digits only, 1..65535. */
static bool config_port_parse(const char *s, uint16_t *port)
{
	long value;

	if (!config_int_parse(s, 1, 65535, &value))
		return false;
	*port = (uint16_t)value;
	return true;
}

bool config_addr_parse(const char *text, struct config_addr *addr, const char **why)
{
	struct in6_addr in6;
	struct in_addr in4;
	const char *colon, *close, *host;
	size_t hostlen;
	const char *ignored;
	bool numeric;

	memset(addr, 0, sizeof(*addr));
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
	if (hostlen >= sizeof(addr->host)) {
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

/* True for what RFC 3986 lets a path, a query or a fragment hold as it is. */
static bool url_char(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || is_digit(c) ||
	    (c != '\0' && strchr("-._~!$&'()*+,;=:@/?#", c) != NULL);
}

bool config_url_check(const char *url, const char **why)
{
	const char *authority = url + strlen("https://");
	size_t len = strcspn(authority, "/?#");
	const char *close = authority[0] == '[' ? memchr(authority, ']', len) : NULL;
	bool has_port = close != NULL ? close + 1 < authority + len :
	    memchr(authority, ':', len) != NULL;
	char text[CONFIG_URL_AUTHORITY_MAX + sizeof(":443")];
	struct config_addr addr;
	const char *fragment;
	char *dot;

	if (memchr(authority, '@', len) != NULL) {
		*why = "a user name in the URL";
		return false;
	}
	if (len >= CONFIG_URL_AUTHORITY_MAX) {
		*why = "host too long";
		return false;
	}
	/* The host and port as an address of the file is written; 443 when it has none. */
	snprintf(text, sizeof(text), "%.*s%s", (int)len, authority, has_port ? "" : ":443");
	/* A name may end in the root's dot (evhttp takes it): the address does not. */
	if (text[0] != '[' && (dot = strstr(text, ".:")) != NULL)
		memmove(dot, dot + 1, strlen(dot + 1) + 1);
	if (!config_addr_parse(text, &addr, why))
		return false;
	fragment = strchr(authority + len, '#');
	for (const char *p = authority + len; *p != '\0'; p++) {
		if (*p == '%' ? hex_value(p[1]) < 0 || hex_value(p[2]) < 0 :
		    !url_char(*p) || (*p == '#' && p != fragment)) {
			*why = "a character a URL cannot hold as it is (percent-encode it)";
			return false;
		}
	}
	return true;
}

bool config_addr_is_loopback(const struct config_addr *addr)
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

const char *config_addr_format(const struct config_addr *addr, char *buf, size_t size)
{
	if (size == 0)
		return buf;
	if (addr->kind == ADDR_IPV6)
		snprintf(buf, size, "[%s]:%u", addr->host, (unsigned)addr->port);
	else
		snprintf(buf, size, "%s:%u", addr->host, (unsigned)addr->port);
	return buf;
}
