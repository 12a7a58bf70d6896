/**
 * --tls-allowed-client: with mutual TLS, only client certificates whose CN or a SAN is listed may call.
 * Certificates from scripts/dev-certs.sh (run for real): the client certificate's CN is
 * "realtime-inference dev client".
 */
import * as fs from 'node:fs';
import { expect } from 'chai';
import * as grpc from '@grpc/grpc-js';
import { InferenceServiceClient } from '../src/gen/inference/v1/inference';
import { startServer } from '../src/server/app';
import { certificateIdentities } from '../src/server/client-identity';
import { makeDevCerts, type DevCerts } from './helpers/dev-certs';
import { MOBILENET_JSON, sharedFixture } from './helpers/fixtures';

const DEV_CLIENT = 'realtime-inference dev client';

describe('client certificate pinning (--tls-allowed-client)', function () {
  let certs: DevCerts;
  before(() => {
    certs = makeDevCerts();
  });
  after(() => certs?.remove());

  const pingOver = async (allowed: string[], model: string): Promise<grpc.ServiceError | null> => {
    const server = await startServer({
      drainDelayMs: 0, host: '127.0.0.1', port: 0, model, normalize: 'signed', logLevel: 'silent',
      tlsCert: certs.serverCert, tlsKey: certs.serverKey, tlsCa: certs.ca, tlsAllowedClient: allowed,
    });
    const creds = grpc.credentials.createSsl(fs.readFileSync(certs.ca), fs.readFileSync(certs.clientKey), fs.readFileSync(certs.clientCert));
    const c = new InferenceServiceClient(`localhost:${server.port}`, creds);
    try {
      return await new Promise((resolve) =>
        c.ping({ seq: 1n, payload: Buffer.alloc(0), responseBytes: 0, echoPayload: false, clientSendUnixNanos: 0n }, (err) => resolve(err)),
      );
    } finally {
      c.close();
      await server.shutdown(1000);
    }
  };

  it('a CA-signed client certificate that is not listed gets PERMISSION_DENIED; a listed one is served', async function () {
    const model = sharedFixture(this, MOBILENET_JSON);
    const denied = await pingOver(['someone-else'], model);
    expect(denied?.code).to.equal(grpc.status.PERMISSION_DENIED);
    expect(denied?.details).to.equal(`client certificate "${DEV_CLIENT}" is not allowed (--tls-allowed-client)`);
    expect(await pingOver([DEV_CLIENT], model)).to.equal(null);
  });

  it('reads the CN and every DNS/URI/email/IP SAN; refuses to start without --tls-ca', async function () {
    expect(
      certificateIdentities({ subject: { CN: 'svc' }, subjectaltname: 'DNS:a.example, URI:spiffe://x/y, email:o@p, IP Address:10.0.0.1' } as never),
    ).to.deep.equal(['svc', 'a.example', 'spiffe://x/y', 'o@p', '10.0.0.1']);
    expect(certificateIdentities(undefined)).to.deep.equal([]);
    const err = await startServer({ drainDelayMs: 0, host: '127.0.0.1', port: 0, logLevel: 'silent', tlsAllowedClient: ['x'] }).catch((e: Error) => e);
    expect(String((err as Error).message)).to.equal('--tls-allowed-client needs --tls-ca (client certificates exist only with mutual TLS)');
  });
});
