#!/usr/bin/env bash
# Development PKI for the inference service and the Envoy edge. NOT for production (keys are unencrypted).
#
#   scripts/dev-certs.sh [OUT_DIR]          default OUT_DIR: deploy/certs
#   EXTRA_SANS="DNS:infer.example.com,IP:10.0.0.5" scripts/dev-certs.sh
#
# Writes into OUT_DIR:
#   ca.crt ca.key            a dev certificate authority (trust ca.crt in clients: --ca / --cacert)
#   server.crt server.key    serverAuth cert, SANs localhost, 127.0.0.1, ::1, envoy, inference-cpu-1/2,
#                            inference-gpu (+ EXTRA_SANS)
#   client.crt client.key    clientAuth cert for mutual TLS (server --tls-ca ca.crt)
#   other-ca.crt             an unrelated CA, for testing that a wrong CA is rejected
#   jwt-signing.key jwks.json dev.jwt    ES256 key, its public JWKS (Envoy jwt_authn) and a token valid
#                            JWT_DAYS days (default 30) for issuer/audience used in deploy/envoy/envoy.yaml
#   dev-token.txt            a random bearer token for the server's own --tokens-file auth
# Requires openssl; node (already needed by this project) for the JWK/JWT encoding.
set -euo pipefail

OUT=${1:-deploy/certs}
DAYS=${DAYS:-365}
JWT_DAYS=${JWT_DAYS:-30}
JWT_ISSUER=${JWT_ISSUER:-https://dev.realtime-inference.local}
JWT_AUDIENCE=${JWT_AUDIENCE:-inference.v1.InferenceService}
SANS="DNS:localhost,IP:127.0.0.1,IP:::1,DNS:envoy,DNS:inference-cpu-1,DNS:inference-cpu-2,DNS:inference-gpu"
if [[ -n "${EXTRA_SANS:-}" ]]; then SANS="$SANS,$EXTRA_SANS"; fi

command -v openssl >/dev/null || { echo "dev-certs: openssl not found (apt-get install openssl)" >&2; exit 1; }
mkdir -p "$OUT"
cd "$OUT"
umask 077   # private keys readable by the owner only

ec_key() { openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$1" 2>/dev/null; }

# CA
ec_key ca.key
openssl req -x509 -new -key ca.key -sha256 -days "$DAYS" -subj "/CN=realtime-inference dev CA" \
  -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" -out ca.crt

# sign NAME CN EXT_USAGE [SANS]
sign() {
  local name=$1 cn=$2 usage=$3 sans=${4:-}
  ec_key "$name.key"
  openssl req -new -key "$name.key" -subj "/CN=$cn" -out "$name.csr"
  {
    echo "basicConstraints=critical,CA:FALSE"
    echo "keyUsage=critical,digitalSignature,keyEncipherment"
    echo "extendedKeyUsage=$usage"
    if [[ -n "$sans" ]]; then echo "subjectAltName=$sans"; fi
  } > "$name.ext"
  openssl x509 -req -in "$name.csr" -CA ca.crt -CAkey ca.key -CAcreateserial -sha256 -days "$DAYS" \
    -extfile "$name.ext" -out "$name.crt" 2>/dev/null
  rm -f "$name.csr" "$name.ext"
}
sign server localhost serverAuth "$SANS"
sign client "realtime-inference dev client" clientAuth

# A second, unrelated CA: certificates it vouches for must be rejected by clients trusting ca.crt.
ec_key other-ca.key
openssl req -x509 -new -key other-ca.key -sha256 -days "$DAYS" -subj "/CN=unrelated dev CA" \
  -addext "basicConstraints=critical,CA:TRUE" -out other-ca.crt
rm -f other-ca.key ca.srl

# Bearer token for the server's own auth (--tokens-file).
openssl rand -hex 32 > dev-token.txt

# JWT signing key, JWKS for Envoy, and one dev token. Node does the base64url/JWK encoding.
ec_key jwt-signing.key
JWT_ISSUER="$JWT_ISSUER" JWT_AUDIENCE="$JWT_AUDIENCE" JWT_DAYS="$JWT_DAYS" node -e '
const crypto = require("crypto"), fs = require("fs");
const key = crypto.createPrivateKey(fs.readFileSync("jwt-signing.key"));
const jwk = crypto.createPublicKey(key).export({ format: "jwk" });
const kid = crypto.createHash("sha256").update(JSON.stringify([jwk.crv, jwk.x, jwk.y])).digest("base64url").slice(0, 16);
fs.writeFileSync("jwks.json", JSON.stringify({ keys: [{ ...jwk, kid, alg: "ES256", use: "sig" }] }, null, 2) + "\n");
const b64 = (o) => Buffer.from(JSON.stringify(o)).toString("base64url");
const now = Math.floor(Date.now() / 1000);
const input = b64({ alg: "ES256", typ: "JWT", kid }) + "." + b64({
  iss: process.env.JWT_ISSUER, aud: process.env.JWT_AUDIENCE, sub: "dev", iat: now,
  exp: now + Number(process.env.JWT_DAYS) * 86400 });
const sig = crypto.sign("sha256", Buffer.from(input), { key, dsaEncoding: "ieee-p1363" }).toString("base64url");
fs.writeFileSync("dev.jwt", input + "." + sig + "\n");
'
# server.key and client.key are world-readable ON PURPOSE for development: the containers run as non-root
# users (node uid 1000, envoy uid 101) that differ from the host user owning the bind-mounted files. Real
# deployments mount keys from a secret store with the right owner instead. Signing keys stay owner-only.
chmod 0644 ./*.crt jwks.json server.key client.key
chmod 0600 ca.key jwt-signing.key dev-token.txt dev.jwt
echo "dev-certs: wrote $(ls | tr '\n' ' ')to $(pwd)"
