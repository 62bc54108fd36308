/*
 * TLS 1.3 on peer links (README "Peer links"), authenticated with an external pre-shared
 * key, no certificates to manage. The dialler offers the identity of its own node name;
 * both ends derive the key from the herd secret and the two names, and the HELLO that
 * follows must name the node whose key it was. (Every node holds the secret, so this
 * keeps honest names apart and strangers out; it is no defence against a node of the
 * herd lying about itself.) (EC)DHE is still required (psk_dhe_ke), so a secret that
 * leaks later does not open recorded links. With peer_ca_file, certificates of a herd CA
 * take the PSK's place: each node's own, naming it, which the other end verifies.
 */
#include "peertls.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "config.h"
#include "herdd.h"
#include "log.h"
#include "ratelimit.h"
#include "secret.h"
#include "tls.h"
#include "util.h"
#include "xmalloc.h"

#define PEERTLS_KEY_LEN 32                    /* SHA-256 */
#define PEERTLS_EXPORTER_LABEL "EXPORTER-herd-link-auth"

/* The one cipher suite of the PSK sessions: its hash must be the key derivation's. */
static const unsigned char aes128gcm_sha256[] = { 0x13, 0x01 };

static SSL_CTX *ctx;
static const unsigned char *secret;    /* peer.c's, as link.c holds it */
static size_t secret_len;

/* The PSK of the link CLIENT dials to SERVER into KEY; false if it cannot be made. */
static bool peertls_key(const char *client, size_t client_len, const char *server,
    unsigned char key[PEERTLS_KEY_LEN])
{
	char msg[2 * CONFIG_NAME_MAX + 32];
	unsigned int len = 0;
	int n = snprintf(msg, sizeof(msg), "herd TLS PSK\n%.*s\n%s", (int)client_len, client,
	    server);

	if (n < 0 || (size_t)n >= sizeof(msg) || secret_len == 0)
		return false;
	return HMAC(EVP_sha256(), secret, (int)secret_len, (const unsigned char *)msg,
	    (size_t)n, key, &len) != NULL && len == PEERTLS_KEY_LEN;
}

/* A resumable TLS 1.3 session that carries KEY: what OpenSSL's PSK callbacks hand over. */
static SSL_SESSION *peertls_session(SSL *ssl, const unsigned char key[PEERTLS_KEY_LEN])
{
	const SSL_CIPHER *cipher = SSL_CIPHER_find(ssl, aes128gcm_sha256);
	SSL_SESSION *sess = SSL_SESSION_new();

	if (sess == NULL || cipher == NULL || !SSL_SESSION_set1_master_key(sess, key,
	    PEERTLS_KEY_LEN) || !SSL_SESSION_set_cipher(sess, cipher) ||
	    !SSL_SESSION_set_protocol_version(sess, TLS1_3_VERSION)) {
		SSL_SESSION_free(sess);
		return NULL;
	}
	return sess;
}

/* The dialler: its identity is its own name, the key that of this link's two ends. */
static int peertls_use_session(SSL *ssl, const EVP_MD *md, const unsigned char **id,
    size_t *idlen, SSL_SESSION **sess)
{
	const char *peer = SSL_get_app_data(ssl);
	unsigned char key[PEERTLS_KEY_LEN];

	*sess = NULL;
	if (md != NULL && md != EVP_sha256())
		return 1;
	if (peer == NULL || !peertls_key(herdd.self->name, strlen(herdd.self->name), peer, key))
		return 0;
	*sess = peertls_session(ssl, key);
	OPENSSL_cleanse(key, sizeof(key));
	*id = (const unsigned char *)herdd.self->name;
	*idlen = strlen(herdd.self->name);
	return *sess != NULL;
}

/* The accepting end: the identity must be another node of the file. */
static int peertls_find_session(SSL *ssl, const unsigned char *id, size_t idlen,
    SSL_SESSION **sess)
{
	const struct config_node *node = config_find_node_len(herdd.config, (const char *)id,
	    idlen);
	unsigned char key[PEERTLS_KEY_LEN];

	*sess = NULL;
	if (node == NULL || node == herdd.self)
		return 1;           /* no PSK: the handshake fails */
	if (!peertls_key(node->name, strlen(node->name), herdd.self->name, key))
		return 0;
	*sess = peertls_session(ssl, key);
	OPENSSL_cleanse(key, sizeof(key));
	/* The node whose key this is: its HELLO must name it (link.c). */
	SSL_set_app_data(ssl, (void *)(uintptr_t)node->name);
	return *sess != NULL;
}

/* Names are matched as DNS names of subjectAltName, never the subject's CN, no wildcard. */
#define PEERTLS_NAME_FLAGS (X509_CHECK_FLAG_NO_WILDCARDS | X509_CHECK_FLAG_NEVER_CHECK_SUBJECT)

/* WHAT failed: the reason, with OpenSSL's words for it, into WHY. */
static bool peertls_failed(const char *what, char *why, size_t size)
{
	char err[160];

	tls_error_text("no reason given", err, sizeof(err));
	snprintf(why, size, "%s: %s", what, err);
	return false;
}

/*
 * Logs why a neighbour's certificate was refused (the link's close says only "certificate
 * verify failed"); at most a few lines per interval, as strangers may try often.
 */
static int peertls_verify_cb(int preverify_ok, X509_STORE_CTX *store)
{
	static struct ratelimit refusals;
	X509 *cert = X509_STORE_CTX_get_current_cert(store);
	char subject[256] = "?";
	uint64_t held_back;
	int err;

	if (preverify_ok || !ratelimit_allow(&refusals, htime_mono_ms(), &held_back))
		return preverify_ok;
	err = X509_STORE_CTX_get_error(store);
	if (cert != NULL)
		X509_NAME_oneline(X509_get_subject_name(cert), subject, sizeof(subject));
	log_warnx("event=peer_certificate_refused depth=%d subject=%s reason=%s "
	    "suppressed=%llu", X509_STORE_CTX_get_error_depth(store),
	    log_quote(subject, strlen(subject)), log_quote(X509_verify_cert_error_string(err),
	    strlen(X509_verify_cert_error_string(err))), (unsigned long long)held_back);
	return preverify_ok;
}

/*
 * This node's certificate and key (its [node] section's), and the CA a neighbour's must
 * chain to, which both ends ask for (a dialler's certificate too). The key may be the
 * credential peer.NAME.key.
 */
static bool peertls_load_certificates(char *why, size_t size)
{
	const struct config_node *self = herdd.self;
	char path[4096], credential[CONFIG_NAME_MAX + 16];
	const char *key;

	snprintf(credential, sizeof(credential), "peer.%s.key", self->name);
	key = secret_source(self->peer_key_file, credential, path, sizeof(path));
	if (SSL_CTX_use_certificate_chain_file(ctx, self->peer_cert_file) != 1)
		return peertls_failed("peer_cert_file", why, size);
	/* This also checks that the key is the certificate's. */
	if (SSL_CTX_use_PrivateKey_file(ctx, key, SSL_FILETYPE_PEM) != 1)
		return peertls_failed("peer_key_file (a PEM key, of peer_cert_file)", why, size);
	if (SSL_CTX_load_verify_locations(ctx, herdd.config->peer_ca_file, NULL) != 1)
		return peertls_failed("peer_ca_file", why, size);
	SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT,
	    peertls_verify_cb);
	return true;
}

bool peertls_init(const unsigned char *key, size_t keylen, char *why, size_t size)
{
	ctx = SSL_CTX_new(TLS_method());
	if (ctx == NULL || !SSL_CTX_set_min_proto_version(ctx, TLS1_3_VERSION) ||
	    !SSL_CTX_set_ciphersuites(ctx, "TLS_AES_128_GCM_SHA256"))
		return peertls_failed("OpenSSL cannot set up TLS 1.3", why, size);
	/* No tickets (a link is one session) and no resumption of anything but the PSK. */
	SSL_CTX_set_num_tickets(ctx, 0);
	SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
	/* A record is taken from the socket's buffer in one read, not its header then its body. */
	SSL_CTX_set_read_ahead(ctx, 1);
	if (herdd.config->peer_ca_file != NULL) {
		if (!peertls_load_certificates(why, size)) {
			peertls_free();
			return false;
		}
	} else {
		SSL_CTX_set_psk_use_session_callback(ctx, peertls_use_session);
		SSL_CTX_set_psk_find_session_callback(ctx, peertls_find_session);
	}
	peertls_set_secret(key, keylen);
	return true;
}

bool peertls_certificates(void)
{
	/* A reload keeps peer_ca_file as it was when the context was made. */
	return ctx != NULL && herdd.config->peer_ca_file != NULL;
}

void peertls_set_secret(const unsigned char *key, size_t keylen)
{
	secret = key;
	secret_len = keylen;
}

bool peertls_enabled(void)
{
	return ctx != NULL;
}

SSL *peertls_new(void)
{
	SSL *ssl = SSL_new(ctx);

	if (ssl == NULL)
		fatalx("event=out_of_memory what=\"a peer link's TLS\"");
	return ssl;
}

void peertls_set_peer(SSL *ssl, const char *name)
{
	X509_VERIFY_PARAM *param = SSL_get0_param(ssl);

	SSL_set_app_data(ssl, (void *)(uintptr_t)name);
	if (!peertls_certificates())
		return;
	/*
	 * The handshake fails on a certificate for another name (peertls_authenticated_as
	 * then tells case apart too). Set as a DNS name even when it looks like an address,
	 * as SSL_set1_host would not.
	 */
	X509_VERIFY_PARAM_set_hostflags(param, PEERTLS_NAME_FLAGS);
	if (X509_VERIFY_PARAM_set1_host(param, name, 0) != 1)
		fatalx("event=out_of_memory what=\"a peer link's TLS host name\"");
}

bool peertls_authenticated_as(SSL *ssl, const char *name, size_t len)
{
	const char *keyed = SSL_get_app_data(ssl);
	X509 *cert;
	char *matched = NULL;
	bool same;

	if (!peertls_certificates())
		return keyed != NULL && strlen(keyed) == len && memcmp(keyed, name, len) == 0;
	cert = SSL_get0_peer_certificate(ssl);
	if (cert == NULL || SSL_get_verify_result(ssl) != X509_V_OK ||
	    X509_check_host(cert, name, len, PEERTLS_NAME_FLAGS, &matched) != 1)
		return false;
	same = matched != NULL && strlen(matched) == len && memcmp(matched, name, len) == 0;
	OPENSSL_free(matched);
	return same;
}

bool peertls_binding(SSL *ssl, char out[PEERTLS_BINDING_HEX + 1])
{
	unsigned char material[PEERTLS_BINDING_HEX / 2];

	if (SSL_export_keying_material(ssl, material, sizeof(material), PEERTLS_EXPORTER_LABEL,
	    strlen(PEERTLS_EXPORTER_LABEL), NULL, 0, 0) != 1)
		return false;
	hex_encode(material, sizeof(material), out);
	OPENSSL_cleanse(material, sizeof(material));
	return true;
}

void peertls_free(void)
{
	SSL_CTX_free(ctx);
	ctx = NULL;
	secret = NULL;
	secret_len = 0;
}
