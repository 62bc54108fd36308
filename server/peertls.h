/*
 * TLS 1.3 for peer links (peertls.c): an external PSK from the herd secret and the two
 * node names, or, when the configuration names them, certificates of a herd CA that
 * name the nodes. link.c wraps each link's socket in a bufferevent_openssl with an SSL
 * from here when peer_tls says so.
 */
#ifndef HERD_PEERTLS_H
#define HERD_PEERTLS_H

#include <stdbool.h>
#include <stddef.h>

#include <openssl/ssl.h>

/* Hex digits of the TLS exporter value the AUTH MAC covers (peerproto.h). */
#define PEERTLS_BINDING_HEX 64

/*
 * Sets up TLS with the herd SECRET (KEYLEN > 0, the caller's, kept while TLS is in use),
 * and with this node's certificate and the herd CA when peer_cert_file is set (files read
 * now, once); false, with the reason in WHY, when OpenSSL cannot or a file will not do.
 */
bool peertls_init(const unsigned char *secret, size_t keylen, char *why, size_t size);
/* True when links authenticate with certificates, false for the PSK. */
bool peertls_certificates(void);
/* A reload's new herd secret (the caller's, as above), for handshakes from now on. */
void peertls_set_secret(const unsigned char *secret, size_t keylen);
/* True once peertls_init succeeded: links are TLS. */
bool peertls_enabled(void);
/* A new SSL for a link. */
SSL *peertls_new(void);
/*
 * A dialler's SSL: NAME (kept by the caller) is the neighbour it offers the PSK to, or
 * whose certificate must name it.
 */
void peertls_set_peer(SSL *ssl, const char *name);
/*
 * True when an established SSL authenticated the other end as node (NAME, LEN): the PSK
 * was that node's, or its certificate names it exactly (a DNS name in subjectAltName,
 * byte for byte; node names are case-sensitive, host names are not).
 */
bool peertls_authenticated_as(SSL *ssl, const char *name, size_t len);
/*
 * The channel binding of an established SSL: its exporter value for the AUTH MAC, so a
 * relay between two channels cannot pass a handshake on. False if OpenSSL cannot.
 */
bool peertls_binding(SSL *ssl, char out[PEERTLS_BINDING_HEX + 1]);
void peertls_free(void);

#endif
