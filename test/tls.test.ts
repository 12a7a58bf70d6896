import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { expect } from 'chai';
import { serverCredentials, transportSecurity } from '../src/server/tls';
import { DevCerts, makeDevCerts } from './helpers/dev-certs';
import { statusOf } from './helpers/grpc-client';
import { healthCheck, InferenceServiceClient, ping, startTinyServer, TinyServer } from './helpers/tiny-grpc-server';

function ipv6LoopbackAvailable(): boolean {
  return Object.values(os.networkInterfaces()).some((list) => list?.some((a) => a.address === '::1'));
}

describe('TLS (server credentials from PEM files, against a real grpc-js server)', function () {
  let certs: DevCerts;
  before(function () {
    certs = makeDevCerts();
  });
  after(() => certs.remove());

  describe('server TLS', function () {
    let server: TinyServer;
    before(async function () {
      server = await startTinyServer(serverCredentials({ certFile: certs.serverCert, keyFile: certs.serverKey }));
    });
    after(() => server.close());

    it('a client trusting the dev CA completes the handshake and gets SERVING', async function () {
      const creds = grpc.credentials.createSsl(fs.readFileSync(certs.ca));
      expect(await healthCheck(`localhost:${server.port}`, creds)).to.equal('SERVING');
    });

    it('a client connecting by IP (127.0.0.1 is in the SANs) can call Ping', async function () {
      const client = new InferenceServiceClient(`127.0.0.1:${server.port}`, grpc.credentials.createSsl(fs.readFileSync(certs.ca)));
      try {
        const r = await ping(client, 42);
        expect(r.seq).to.equal(42n);
      } finally {
        client.close();
      }
    });

    it('a client trusting a different CA refuses the server certificate (UNAVAILABLE)', async function () {
      const creds = grpc.credentials.createSsl(fs.readFileSync(certs.otherCa));
      const e = await statusOf(healthCheck(`localhost:${server.port}`, creds));
      expect(e.code).to.equal(grpc.status.UNAVAILABLE);
      expect(e.details).to.match(/certificate|self.signed|verify/i);
    });

    it('a plaintext client cannot talk to the TLS port', async function () {
      const e = await statusOf(healthCheck(`localhost:${server.port}`, grpc.credentials.createInsecure()));
      expect(e.code).to.equal(grpc.status.UNAVAILABLE);
    });
  });

  describe('mutual TLS (--tls-ca)', function () {
    let server: TinyServer;
    before(async function () {
      server = await startTinyServer(
        serverCredentials({ certFile: certs.serverCert, keyFile: certs.serverKey, caFile: certs.ca }),
      );
    });
    after(() => server.close());

    it('rejects a client that presents no certificate', async function () {
      const creds = grpc.credentials.createSsl(fs.readFileSync(certs.ca));
      const e = await statusOf(healthCheck(`localhost:${server.port}`, creds));
      expect(e.code).to.equal(grpc.status.UNAVAILABLE);
    });

    it('accepts a client with a certificate signed by the CA', async function () {
      const creds = grpc.credentials.createSsl(
        fs.readFileSync(certs.ca),
        fs.readFileSync(certs.clientKey),
        fs.readFileSync(certs.clientCert),
      );
      expect(await healthCheck(`localhost:${server.port}`, creds)).to.equal('SERVING');
    });

    it('rejects a client presenting a CA-signed cert that lacks the clientAuth usage', async function () {
      // The server cert lacks the clientAuth extended key usage, so OpenSSL must refuse it as a client cert.
      const creds = grpc.credentials.createSsl(
        fs.readFileSync(certs.ca),
        fs.readFileSync(certs.serverKey),
        fs.readFileSync(certs.serverCert),
      );
      const e = await statusOf(healthCheck(`localhost:${server.port}`, creds));
      expect(e.code).to.equal(grpc.status.UNAVAILABLE);
    });
  });

  it('serves TLS on IPv6 loopback ([::1] is in the SANs)', async function () {
    if (!ipv6LoopbackAvailable()) {
      console.log('      skipped: no ::1 on this machine');
      this.skip();
    }
    const server = await startTinyServer(serverCredentials({ certFile: certs.serverCert, keyFile: certs.serverKey }), [], '::1');
    try {
      const creds = grpc.credentials.createSsl(fs.readFileSync(certs.ca));
      expect(await healthCheck(`[::1]:${server.port}`, creds)).to.equal('SERVING');
    } finally {
      await server.close();
    }
  });

  describe('flag validation', function () {
    it('no cert means plaintext, and a plaintext client works', async function () {
      expect(transportSecurity({})).to.equal('plaintext');
      const server = await startTinyServer(serverCredentials({}));
      try {
        expect(await healthCheck(`127.0.0.1:${server.port}`, grpc.credentials.createInsecure())).to.equal('SERVING');
      } finally {
        await server.close();
      }
    });

    it('names the missing flag when cert and key are not both given', function () {
      expect(() => serverCredentials({ certFile: certs.serverCert })).to.throw(/--tls-cert given without --tls-key/);
      expect(() => serverCredentials({ keyFile: certs.serverKey })).to.throw(/--tls-key given without --tls-cert/);
      expect(() => serverCredentials({ caFile: certs.ca })).to.throw(/--tls-ca needs --tls-cert and --tls-key/);
    });

    it('says which file is unreadable or not PEM', function () {
      const missing = path.join(certs.dir, 'nope.crt');
      expect(() => serverCredentials({ certFile: missing, keyFile: certs.serverKey })).to.throw(/cannot read certificate --tls-cert .*nope\.crt/);
      const notPem = path.join(certs.dir, 'not-pem.crt');
      fs.writeFileSync(notPem, 'hello');
      expect(() => serverCredentials({ certFile: notPem, keyFile: certs.serverKey })).to.throw(/is not PEM/);
      expect(transportSecurity({ certFile: 'a', keyFile: 'b', caFile: 'c' })).to.equal('mtls');
    });
  });
});
