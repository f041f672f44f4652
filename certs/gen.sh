#!/bin/sh
# Development and test certificates only: a throwaway CA, two server
# certificates (EC P-256 in server.pem, RSA-2048 in server-rsa.pem; SAN
# localhost, 127.0.0.1, ::1) and a client certificate, all signed by the
# CA.  Written into DIR (default: certs/),
# git-ignored; existing files are kept.  Never use these in production.
#
#   sh certs/gen.sh [DIR]
set -eu
dir=${1:-certs}
mkdir -p "$dir"
cd "$dir"
# Kept while complete and valid for at least another day.
[ -s ca.pem ] && [ -s server.pem ] && [ -s server.key ] && \
    [ -s server-rsa.pem ] && [ -s server-rsa.key ] && \
    [ -s client.pem ] && [ -s client.key ] && \
    openssl x509 -checkend 86400 -noout -in server.pem >/dev/null 2>&1 && \
    openssl x509 -checkend 86400 -noout -in client.pem >/dev/null 2>&1 && \
    exit 0

echo "secho: generating development certificates in $dir/"
umask 077
days=825
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

openssl ecparam -name prime256v1 -genkey -noout -out ca.key 2>/dev/null
openssl req -x509 -new -key ca.key -sha256 -days 3650 \
    -subj "/O=secho development/CN=secho development CA" \
    -addext "basicConstraints=critical,CA:TRUE" \
    -addext "keyUsage=critical,keyCertSign,cRLSign" \
    -out ca.pem 2>/dev/null

# name subject extfile [rsa]
issue() {
	if [ "${4:-}" = rsa ]; then
		openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 \
		    -out "$1.key" 2>/dev/null
	else
		openssl ecparam -name prime256v1 -genkey -noout -out "$1.key" \
		    2>/dev/null
	fi
	openssl req -new -key "$1.key" -subj "$2" -out "$tmp/$1.csr" 2>/dev/null
	openssl x509 -req -in "$tmp/$1.csr" -CA ca.pem -CAkey ca.key \
	    -CAcreateserial -CAserial "$tmp/ca.srl" -days $days -sha256 \
	    -extfile "$3" -out "$1.pem" 2>/dev/null
}

cat > "$tmp/server.ext" <<EXT
basicConstraints=critical,CA:FALSE
keyUsage=critical,digitalSignature
extendedKeyUsage=serverAuth
subjectAltName=DNS:localhost,IP:127.0.0.1,IP:::1
EXT
cat > "$tmp/client.ext" <<EXT
basicConstraints=critical,CA:FALSE
keyUsage=critical,digitalSignature
extendedKeyUsage=clientAuth
EXT
issue server "/O=secho development/CN=localhost" "$tmp/server.ext"
issue server-rsa "/O=secho development/CN=localhost" "$tmp/server.ext" rsa
issue client "/O=secho development/CN=client-one" "$tmp/client.ext"
chmod 644 ca.pem server.pem server-rsa.pem client.pem
