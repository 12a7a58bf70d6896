#!/usr/bin/env node
// Container HEALTHCHECK: asks the server's standard grpc.health.v1 service whether
// inference.v1.InferenceService is SERVING (it is NOT_SERVING until the model is warm).
// Exit 0 = healthy, 1 = not (Docker's contract). Plain JavaScript so it runs without a build step, and a
// Node script because grpc_health_probe is not in the image (grpc-js is).
//
// Environment (all optional):
//   HEALTHCHECK_TARGET   host:port to probe          default 127.0.0.1:$INFER_PORT (8000)
//   HEALTHCHECK_SERVICE  service name to ask about   default inference.v1.InferenceService
//   HEALTHCHECK_CA       CA that signed the server cert; setting it (or INFER_TLS_CERT) switches to TLS.
//                        Defaults to INFER_TLS_CA.
//   HEALTHCHECK_CERT / HEALTHCHECK_KEY   client cert and key when the server requires mTLS (--tls-ca)
//   HEALTHCHECK_SERVER_NAME  name to verify in the server cert   default localhost
//   HEALTHCHECK_TOKEN    bearer token, only needed when health is not auth-exempt (--auth-exempt none)
//   HEALTHCHECK_TIMEOUT_MS   default 2500
'use strict';
const fs = require('fs');
const grpc = require('@grpc/grpc-js');
const { service: healthService } = require('grpc-health-check');

const env = process.env;
const target = env.HEALTHCHECK_TARGET || `127.0.0.1:${env.INFER_PORT || 8000}`;
const serviceName = env.HEALTHCHECK_SERVICE ?? 'inference.v1.InferenceService';
const timeoutMs = Number(env.HEALTHCHECK_TIMEOUT_MS || 2500);

function fail(msg) {
  process.stderr.write(`healthcheck: ${target}: ${msg}\n`);
  process.exit(1);
}

let creds = grpc.credentials.createInsecure();
const options = {};
const caFile = env.HEALTHCHECK_CA || env.INFER_TLS_CA;
if (caFile || env.INFER_TLS_CERT) {
  if (!caFile) fail('the server uses TLS (INFER_TLS_CERT) but no CA to verify it: set HEALTHCHECK_CA');
  try {
    creds = grpc.credentials.createSsl(
      fs.readFileSync(caFile),
      env.HEALTHCHECK_KEY ? fs.readFileSync(env.HEALTHCHECK_KEY) : null,
      env.HEALTHCHECK_CERT ? fs.readFileSync(env.HEALTHCHECK_CERT) : null,
    );
  } catch (e) {
    fail(`cannot read TLS files: ${e.message}`);
  }
  // We dial 127.0.0.1 but the certificate names the service; verify that name instead.
  options['grpc.ssl_target_name_override'] = env.HEALTHCHECK_SERVER_NAME || 'localhost';
}

const Health = grpc.makeClientConstructor(healthService, 'grpc.health.v1.Health');
const client = new Health(target, creds, options);
const md = new grpc.Metadata();
if (env.HEALTHCHECK_TOKEN) md.set('authorization', `Bearer ${env.HEALTHCHECK_TOKEN}`);
client.check({ service: serviceName }, md, { deadline: Date.now() + timeoutMs }, (err, res) => {
  client.close();
  if (err) fail(`${grpc.status[err.code] || err.code}: ${err.details}`);
  if (res.status !== 'SERVING') fail(`${serviceName || '(server)'} is ${res.status}`);
  process.stdout.write(`healthcheck: ${target}: ${serviceName || '(server)'} SERVING\n`);
  process.exit(0);
});
