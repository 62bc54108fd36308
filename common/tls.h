/*
 * TLS for outgoing connections (the Places client): a context that verifies the chain,
 * and per-connection set-up that sends SNI and verifies the host name or address.
 */
#ifndef HERD_TLS_H
#define HERD_TLS_H

#include <stdbool.h>
#include <stddef.h>

#include <openssl/ssl.h>

/*
 * A client context: TLS 1.2 or later, peer verification on, trusting the PEM bundle
 * CA_FILE (NULL: the system trust store), tolerant of servers that close without
 * close_notify. NULL on failure, with the reason in WHY (SIZE bytes).
 */
SSL_CTX *tls_client_context(const char *ca_file, char *why, size_t size);

/*
 * A connection of CTX to HOST (a DNS name or a numeric address, without brackets): SNI
 * for names, and the certificate must name HOST. The first certificate check that fails
 * is stored in *VERIFY_ERROR (an X509_V_ERR_* code; left alone while all pass), which
 * must outlive the connection. NULL on ENOMEM.
 */
SSL *tls_client_new(SSL_CTX *ctx, const char *host, long *verify_error);

/* Writes the oldest queued OpenSSL error, or FALLBACK, into BUF, and clears the queue. */
void tls_error_text(const char *fallback, char *buf, size_t size);

/*
 * Why a handshake failed, for logs and error messages: the certificate check's verdict
 * VERIFY_ERROR when there is one, else the OpenSSL error ERR (0 if none).
 */
void tls_describe_failure(long verify_error, unsigned long err, char *buf, size_t size);

#endif
