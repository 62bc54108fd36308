#!/bin/sh
# mkcerts.sh DIR: mint throw-away test certificates (EC P-256) into DIR.
#
#   ca.pem ca.key                  the test CA
#   server.pem server.key          localhost (DNS:localhost, DNS:places.test, IP:127.0.0.1), from the CA
#   wrong-host.pem wrong-host.key  DNS:wrong.example only, from the CA
#   other-ca.pem                   an unrelated CA
#   other-server.pem other-server.key  localhost, from the unrelated CA
#
# Idempotent: when every file is there it does nothing. Concurrent runs on
# one DIR are serialised by a lock, and a set is moved in only when whole.
# Quiet unless something fails.
set -eu

if [ $# -ne 1 ]; then
	echo "usage: mkcerts.sh DIR" >&2
	exit 2
fi
dir=$1
files="ca.pem ca.key server.pem server.key wrong-host.pem wrong-host.key
other-ca.pem other-server.pem other-server.key"

complete() {
	for f in $files; do
		[ -s "$dir/$f" ] || return 1
	done
}

mkdir -p "$dir"
exec 9>"$dir/.mkcerts.lock"
flock 9
complete && exit 0

umask 077
work=$(mktemp -d "$dir/.mkcerts.XXXXXX")
trap 'rm -rf "$work"' EXIT
log=$work/log

cat >"$work/openssl.cnf" <<'EOF'
[req]
distinguished_name = dn
[dn]
[ca_ext]
basicConstraints = critical, CA:TRUE
keyUsage = critical, keyCertSign, cRLSign
subjectKeyIdentifier = hash
[localhost_ext]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature
extendedKeyUsage = serverAuth
subjectAltName = DNS:localhost, DNS:places.test, IP:127.0.0.1
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
[wrong_host_ext]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature
extendedKeyUsage = serverAuth
subjectAltName = DNS:wrong.example
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
EOF

run() {
	if ! "$@" >>"$log" 2>&1; then
		cat "$log" >&2
		echo "mkcerts.sh: failed: $*" >&2
		exit 1
	fi
}

new_key() {
	run openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 \
		-out "$work/$1.key"
}

# new_ca NAME CN
new_ca() {
	new_key "$1"
	run openssl req -config "$work/openssl.cnf" -new -x509 -sha256 \
		-key "$work/$1.key" -subj "/CN=$2" -days 3650 \
		-extensions ca_ext -out "$work/$1.pem"
}

# new_cert NAME CN CA EXTENSIONS
new_cert() {
	new_key "$1"
	run openssl req -config "$work/openssl.cnf" -new -sha256 \
		-key "$work/$1.key" -subj "/CN=$2" -out "$work/$1.csr"
	run openssl x509 -req -sha256 -in "$work/$1.csr" \
		-CA "$work/$3.pem" -CAkey "$work/$3.key" -days 825 \
		-extfile "$work/openssl.cnf" -extensions "$4" -out "$work/$1.pem"
}

new_ca ca "herd test CA"
new_cert server localhost ca localhost_ext
new_cert wrong-host wrong.example ca wrong_host_ext
new_ca other-ca "herd unrelated test CA"
new_cert other-server localhost other-ca localhost_ext

chmod 644 "$work"/*.pem
for f in $files; do
	mv -f "$work/$f" "$dir/$f"
done
