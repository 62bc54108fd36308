/* OpenSSL client set-up with both the chain and the host name verified. */
#include "tls.h"

#include <stdio.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/x509v3.h>

#include <arpa/inet.h>

void tls_error_text(const char *fallback, char *buf, size_t size)
{
	unsigned long err = ERR_peek_error();

	if (err != 0)
		ERR_error_string_n(err, buf, size);
	else
		snprintf(buf, size, "%s", fallback);
	ERR_clear_error();
}

SSL_CTX *tls_client_context(const char *ca_file, char *why, size_t size)
{
	SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());

	if (ctx == NULL) {
		tls_error_text("cannot create a TLS context", why, size);
		return NULL;
	}
	SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
	SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
	/* OpenSSL 3 reports a missing close_notify as an error; many servers skip it. */
	SSL_CTX_set_options(ctx, SSL_OP_IGNORE_UNEXPECTED_EOF);
	if (ca_file != NULL ? SSL_CTX_load_verify_locations(ctx, ca_file, NULL) != 1 :
	    SSL_CTX_set_default_verify_paths(ctx) != 1) {
		char detail[256];

		tls_error_text("no usable certificates", detail, sizeof(detail));
		snprintf(why, size, "cannot load CA certificates from %s: %s",
		    ca_file != NULL ? ca_file : "the system trust store", detail);
		SSL_CTX_free(ctx);
		return NULL;
	}
	return ctx;
}

/* True when HOST is a numeric IPv4 or IPv6 address (no SNI for those: RFC 6066). */
static bool tls_host_is_address(const char *host)
{
	unsigned char addr[16];

	return inet_pton(AF_INET, host, addr) == 1 || inet_pton(AF_INET6, host, addr) == 1;
}

/*
 * Keeps OpenSSL's verdict (preverify_ok) and records the first failure: libevent
 * clears the SSL object when the connection is reset, before anyone can ask it why.
 */
static int tls_verify_cb(int preverify_ok, X509_STORE_CTX *store)
{
	SSL *ssl = X509_STORE_CTX_get_ex_data(store, SSL_get_ex_data_X509_STORE_CTX_idx());
	long *verify_error = ssl != NULL ? SSL_get_app_data(ssl) : NULL;

	if (!preverify_ok && verify_error != NULL && *verify_error == X509_V_OK)
		*verify_error = X509_STORE_CTX_get_error(store);
	return preverify_ok;
}

SSL *tls_client_new(SSL_CTX *ctx, const char *host, long *verify_error)
{
	SSL *ssl = SSL_new(ctx);
	bool ok;

	if (ssl == NULL)
		return NULL;
	*verify_error = X509_V_OK;
	SSL_set_app_data(ssl, verify_error);
	SSL_set_verify(ssl, SSL_VERIFY_PEER, tls_verify_cb);
	if (tls_host_is_address(host))
		ok = X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl), host) == 1;
	else
		ok = SSL_set_tlsext_host_name(ssl, host) == 1 && SSL_set1_host(ssl, host) == 1;
	if (!ok) {
		ERR_clear_error();
		SSL_free(ssl);
		return NULL;
	}
	return ssl;
}

void tls_describe_failure(long verify_error, unsigned long err, char *buf, size_t size)
{
	if (verify_error != X509_V_OK)
		snprintf(buf, size, "certificate verify failed: %s",
		    X509_verify_cert_error_string(verify_error));
	else if (err != 0)
		ERR_error_string_n(err, buf, size);
	else
		snprintf(buf, size, "TLS handshake failed");
}
