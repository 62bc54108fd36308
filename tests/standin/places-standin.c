/*
 * places-standin: a local Google Places Nearby Search over TLS, for tests
 * and `./herd up`. Answers both the legacy and the new API with places
 * generated around the asked location, and can be told to fail in chosen
 * ways (POST /_control). See tests/standin/README.md.
 */
#include <getopt.h>
#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <openssl/err.h>

#include "standin.h"

#define HTTP_TIMEOUT_SECONDS 30
#define HEADERS_MAX (16 * 1024)

struct options {
	const char *listen;
	const char *cert;
	const char *key;
	const char *port_file;
	const char *log_file;
	const char *key_required;
	int idle_timeout;
};

static void
usage(FILE *out)
{
	fprintf(out,
	    "usage: places-standin --listen HOST:PORT --cert PEM --key PEM\n"
	    "                      [--port-file FILE] [--log FILE]"
	    " [--key-required KEY]\n"
	    "                      [--idle-timeout SECONDS]\n");
}

void
standin_fatalx(const char *what)
{
	fprintf(stderr, "places-standin: %s\n", what);
	exit(1);
}

/* Start-up failures of OpenSSL: show its error queue, then stop. */
static void
fatal_tls(const char *what)
{
	fprintf(stderr, "places-standin: %s\n", what);
	ERR_print_errors_fp(stderr);
	exit(1);
}

void
standin_log(struct standin *sd, const char *fmt, ...)
{
	char stamp[32];
	time_t now = time(NULL);
	struct tm tm;
	va_list ap;

	strftime(stamp, sizeof(stamp), "%Y-%m-%dT%H:%M:%SZ",
	    gmtime_r(&now, &tm));
	fprintf(sd->log, "%s places-standin ", stamp);
	va_start(ap, fmt);
	vfprintf(sd->log, fmt, ap);
	va_end(ap);
	fputc('\n', sd->log);
}

static void
parse_options(int argc, char **argv, struct options *opt)
{
	static const struct option longopts[] = {
		{ "listen", required_argument, NULL, 'l' },
		{ "cert", required_argument, NULL, 'c' },
		{ "key", required_argument, NULL, 'k' },
		{ "port-file", required_argument, NULL, 'p' },
		{ "log", required_argument, NULL, 'L' },
		{ "key-required", required_argument, NULL, 'K' },
		{ "idle-timeout", required_argument, NULL, 'I' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	int ch;

	memset(opt, 0, sizeof(*opt));
	while ((ch = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
		switch (ch) {
		case 'l': opt->listen = optarg; break;
		case 'c': opt->cert = optarg; break;
		case 'k': opt->key = optarg; break;
		case 'p': opt->port_file = optarg; break;
		case 'L': opt->log_file = optarg; break;
		case 'K': opt->key_required = optarg; break;
		case 'I': opt->idle_timeout = atoi(optarg); break;
		case 'h': usage(stdout); exit(0);
		default: usage(stderr); exit(2);
		}
	}
	if (optind != argc || opt->listen == NULL || opt->cert == NULL ||
	    opt->key == NULL) {
		usage(stderr);
		exit(2);
	}
}

/* HOST:PORT or [V6]:PORT into a host string (owned) and a port. */
static char *
split_listen(const char *listen, unsigned short *port)
{
	const char *colon = strrchr(listen, ':');
	char *host, *end;
	unsigned long value;
	size_t len;

	if (colon == NULL || colon == listen || colon[1] == '\0')
		standin_fatalx("--listen wants HOST:PORT");
	value = strtoul(colon + 1, &end, 10);
	if (*end != '\0' || value > 65535)
		standin_fatalx("--listen: bad port");
	*port = (unsigned short)value;
	len = (size_t)(colon - listen);
	if (listen[0] == '[' && listen[len - 1] == ']') {
		listen++;
		len -= 2;
	}
	if ((host = strndup(listen, len)) == NULL)
		standin_fatalx("out of memory");
	return host;
}

static SSL_CTX *
tls_context(const char *cert, const char *key)
{
	SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());

	if (ctx == NULL)
		fatal_tls("SSL_CTX_new failed");
	SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
	/* Clients that hang up without close_notify are not our error. */
	SSL_CTX_set_options(ctx, SSL_OP_IGNORE_UNEXPECTED_EOF);
	if (SSL_CTX_use_certificate_chain_file(ctx, cert) != 1)
		fatal_tls("cannot load --cert");
	if (SSL_CTX_use_PrivateKey_file(ctx, key, SSL_FILETYPE_PEM) != 1)
		fatal_tls("cannot load --key");
	if (SSL_CTX_check_private_key(ctx) != 1)
		fatal_tls("--key does not match --cert");
	return ctx;
}

/* evhttp's bufferevent factory: every accepted connection speaks TLS. */
static struct bufferevent *
tls_bufferevent(struct event_base *base, void *arg)
{
	struct standin *sd = arg;
	SSL *ssl = SSL_new(sd->tls);
	struct bufferevent *bev;

	if (ssl == NULL)
		standin_fatalx("SSL_new failed");
	bev = bufferevent_openssl_socket_new(base, -1, ssl,
	    BUFFEREVENT_SSL_ACCEPTING, BEV_OPT_CLOSE_ON_FREE);
	if (bev == NULL)
		standin_fatalx("bufferevent_openssl_socket_new failed");
	bufferevent_openssl_set_allow_dirty_shutdown(bev, 1);
	return bev;
}

static unsigned
bound_port(struct evhttp_bound_socket *handle)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);
	evutil_socket_t fd = evhttp_bound_socket_get_fd(handle);

	if (getsockname(fd, (struct sockaddr *)&ss, &len) != 0)
		standin_fatalx("getsockname failed");
	if (ss.ss_family == AF_INET6)
		return ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
	return ntohs(((struct sockaddr_in *)&ss)->sin_port);
}

/* Written whole then renamed, so a reader never sees half a number. */
static void
write_port_file(const char *path, unsigned port)
{
	size_t len = strlen(path) + sizeof(".tmp");
	char *tmp = malloc(len);
	FILE *f;

	if (tmp == NULL)
		standin_fatalx("out of memory");
	snprintf(tmp, len, "%s.tmp", path);
	if ((f = fopen(tmp, "w")) == NULL)
		standin_fatalx("cannot write --port-file");
	fprintf(f, "%u\n", port);
	if (fclose(f) != 0 || rename(tmp, path) != 0)
		standin_fatalx("cannot write --port-file");
	free(tmp);
}

static FILE *
open_log(const char *path)
{
	FILE *f;

	if (path == NULL)
		return stderr;
	if ((f = fopen(path, "a")) == NULL)
		standin_fatalx("cannot open --log");
	setvbuf(f, NULL, _IOLBF, 0);
	return f;
}

static void
on_signal(evutil_socket_t sig, short what, void *arg)
{
	struct standin *sd = arg;

	standin_log(sd, "stopping signal=%d", (int)sig);
	event_base_loopexit(sd->base, NULL);
}

static struct evhttp *
http_server(struct standin *sd, int idle_timeout)
{
	struct evhttp *http = evhttp_new(sd->base);

	if (http == NULL)
		standin_fatalx("evhttp_new failed");
	/* Also how long a kept-alive connection may sit idle before it is closed. */
	evhttp_set_timeout(http, idle_timeout > 0 ? idle_timeout : HTTP_TIMEOUT_SECONDS);
	evhttp_set_max_body_size(http, BODY_MAX);
	evhttp_set_max_headers_size(http, HEADERS_MAX);
	evhttp_set_bevcb(http, tls_bufferevent, sd);
	evhttp_set_gencb(http, routes_dispatch, sd);
	return http;
}

/* Bind, then tell the world the port: the port file and stdout. */
static void
http_listen(struct standin *sd, const struct options *opt)
{
	struct evhttp_bound_socket *handle;
	unsigned short port;
	char *host = split_listen(opt->listen, &port);
	unsigned bound;

	handle = evhttp_bind_socket_with_handle(sd->http, host, port);
	if (handle == NULL)
		standin_fatalx("cannot bind --listen address");
	bound = bound_port(handle);
	if (opt->port_file != NULL)
		write_port_file(opt->port_file, bound);
	printf("listening %s:%u\n", host, bound);
	fflush(stdout);
	standin_log(sd, "listening address=%s:%u", host, bound);
	free(host);
}

int
main(int argc, char **argv)
{
	struct options opt;
	struct standin sd;
	struct event *sigterm, *sigint;

	parse_options(argc, argv, &opt);
	signal(SIGPIPE, SIG_IGN);

	memset(&sd, 0, sizeof(sd));
	TAILQ_INIT(&sd.delayed);
	fault_defaults(&sd.fault);
	sd.key_required = opt.key_required;
	sd.log = open_log(opt.log_file);
	if ((sd.base = event_base_new()) == NULL)
		standin_fatalx("event_base_new failed");
	sd.tls = tls_context(opt.cert, opt.key);
	sd.http = http_server(&sd, opt.idle_timeout);

	sigterm = evsignal_new(sd.base, SIGTERM, on_signal, &sd);
	sigint = evsignal_new(sd.base, SIGINT, on_signal, &sd);
	if (sigterm == NULL || sigint == NULL || evsignal_add(sigterm, NULL) ||
	    evsignal_add(sigint, NULL))
		standin_fatalx("cannot handle signals");
	http_listen(&sd, &opt);

	event_base_dispatch(sd.base);

	reply_drop_delayed(&sd);
	evhttp_free(sd.http);
	event_free(sigterm);
	event_free(sigint);
	SSL_CTX_free(sd.tls);
	event_base_free(sd.base);
	stats_free(&sd.stats);
	if (sd.log != stderr)
		fclose(sd.log);
	return 0;
}
