/**
 * The real MobileNet from ../shared served by startServer on port 0, a client connected to it, and the two
 * photos whose answers the server tests know (chelsea.jpg: a domestic cat; coffee.png: espresso).
 */
import * as fs from 'node:fs';
import { startServer, type RunningServer } from '../../src/server/app';
import type { ServerOptions } from '../../src/server/options';
import { MOBILENET_JSON, sharedFixture } from './fixtures';
import { connect, type Client } from './grpc-client';

export interface MobilenetServer {
  server: RunningServer;
  client: Client;
  /** 127.0.0.1:port of `server`. */
  target: string;
  chelsea: Buffer;
  coffee: Buffer;
}

/**
 * Adds a before hook to the calling suite that starts the server (`options` over the model, port 0 and
 * signed normalisation; a function is called inside the hook, for options that exist only by then) and an
 * after hook that closes the client and shuts the server down. The object returned is filled in by the
 * before hook, so tests read its fields, never a copy taken at suite definition.
 */
export function mobilenetServer(options: Partial<ServerOptions> | (() => Partial<ServerOptions>)): MobilenetServer {
  const live = {} as MobilenetServer;
  before(async function () {
    const model = sharedFixture(this, MOBILENET_JSON);
    live.chelsea = fs.readFileSync(sharedFixture(this, 'images/chelsea.jpg'));
    live.coffee = fs.readFileSync(sharedFixture(this, 'images/coffee.png'));
    live.server = await startServer({ drainDelayMs: 0, port: 0, model, normalize: 'signed', ...(typeof options === 'function' ? options() : options) });
    live.target = `127.0.0.1:${live.server.port}`;
    live.client = connect(live.target);
  });
  after(async () => {
    live.client?.close();
    await live.server?.shutdown(2000);
  });
  return live;
}
