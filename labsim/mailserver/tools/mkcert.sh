#!/bin/sh
#
# Make a self-signed certificate for Dovecot, the way Dovecot's own mkcert.sh
# does: read dovecot-openssl.cnf (edit its `name` first), write the
# certificate to $SSLDIR/certs/dovecot.pem and the key to
# $SSLDIR/private/dovecot.pem, and never overwrite either one.
#
# labsim: every absolute path is taken under the lab root ${LABSIM_ROOT:-/},
# so the script works the same in a container and in the local sandbox.
# Messages name paths as the lab sees them.

umask 077
OPENSSL=${OPENSSL-openssl}
SSLDIR=${SSLDIR-/etc/ssl}
OPENSSLCONFIG=${OPENSSLCONFIG-dovecot-openssl.cnf}

CERTDIR=$SSLDIR/certs
KEYDIR=$SSLDIR/private
CERTFILE=$CERTDIR/dovecot.pem
KEYFILE=$KEYDIR/dovecot.pem

# The host path of a lab path: absolute ones live under the lab root.
ROOT=${LABSIM_ROOT:-/}
ROOT=${ROOT%/}
host() {
  case $1 in
    /*) printf '%s\n' "$ROOT$1" ;;
    *) printf '%s\n' "$1" ;;
  esac
}

for dir in "$CERTDIR" "$KEYDIR"; do
  if [ ! -d "$(host "$dir")" ]; then
    echo "$dir directory doesn't exist"
    exit 1
  fi
done

for file in "$CERTFILE" "$KEYFILE"; do
  if [ -f "$(host "$file")" ]; then
    echo "$file already exists, won't overwrite"
    exit 1
  fi
done

HOST_CERT=$(host "$CERTFILE")
HOST_KEY=$(host "$KEYFILE")
$OPENSSL req -new -x509 -nodes -config "$(host "$OPENSSLCONFIG")" \
  -out "$HOST_CERT" -keyout "$HOST_KEY" -days 365 || exit 2
chmod 0600 "$HOST_KEY"
echo
$OPENSSL x509 -subject -fingerprint -noout -in "$HOST_CERT" || exit 2
