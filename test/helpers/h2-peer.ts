/**
 * A scripted HTTP/2 peer for the client transport's tests: a raw `net.Server` on loopback that speaks
 * frames the test writes by hand, so a test controls exactly which frames arrive and in which order —
 * padding, PRIORITY fields, window updates and SETTINGS changes that no real server sends on demand.
 * It reads the client's preface, ACKs the client's SETTINGS, and hands every other frame to the script.
 */
import { Flag, Frame, FRAME_HEADER, frame, PREFACE } from '../../src/client/h2/frames';
import { literalNewName } from '../../src/client/h2/hpack';
import { listenLoopback, type LoopbackServer } from './loopback-server';

export interface PeerFrame {
  type: number;
  flags: number;
  streamId: number;
  payload: Buffer;
}

export interface PeerSession {
  send(...frames: Buffer[]): void;
}

export type ScriptedPeer = LoopbackServer;

/**
 * Listens on 127.0.0.1. Each connection is sent `preface` (its first frame must be the server's SETTINGS)
 * once the client's preface has arrived; then `onFrame` sees each frame the client sends except the ACKs
 * of our SETTINGS.
 */
export function startScriptedPeer(preface: Buffer[], onFrame: (f: PeerFrame, peer: PeerSession) => void): Promise<ScriptedPeer> {
  return listenLoopback((socket) => {
    const peer: PeerSession = { send: (...frames) => void (socket.destroyed || socket.write(Buffer.concat(frames))) };
    let buf = Buffer.alloc(0);
    let gotPreface = false;
    socket.on('data', (chunk: Buffer) => {
      buf = Buffer.concat([buf, chunk]);
      if (!gotPreface) {
        if (buf.length < PREFACE.length) return;
        if (!buf.subarray(0, PREFACE.length).equals(PREFACE)) return void socket.destroy(); // not an HTTP/2 client: its call fails
        buf = buf.subarray(PREFACE.length);
        gotPreface = true;
        peer.send(...preface);
      }
      while (buf.length >= FRAME_HEADER) {
        const len = buf.readUIntBE(0, 3);
        if (buf.length < FRAME_HEADER + len) break;
        const f: PeerFrame = { type: buf[3], flags: buf[4], streamId: buf.readUInt32BE(5) & 0x7fffffff, payload: Buffer.from(buf.subarray(FRAME_HEADER, FRAME_HEADER + len)) };
        buf = buf.subarray(FRAME_HEADER + len);
        if (f.type === Frame.SETTINGS) {
          if (!(f.flags & Flag.ACK)) peer.send(frame(Frame.SETTINGS, Flag.ACK, 0));
          continue;
        }
        onFrame(f, peer);
      }
    });
  });
}

/** A header block of literals without indexing (new names, no Huffman): decodable by any HPACK decoder, table untouched. */
export function headerBlock(fields: Array<[string, string]>): Buffer {
  return Buffer.concat(fields.map(([name, value]) => literalNewName(name, value)));
}

/**
 * The payload of a PADDED (and optionally PRIORITY) DATA or HEADERS frame, laid out as RFC 9113 §6.1 and
 * §6.2 say: Pad Length, [Exclusive + Stream Dependency, Weight], the content, then `padLength` zero bytes.
 */
export function paddedPayload(content: Buffer, padLength: number, priority?: { dependsOn: number; weight: number }): Buffer {
  const prio = priority ? Buffer.alloc(5) : Buffer.alloc(0);
  if (priority) {
    prio.writeUInt32BE(priority.dependsOn & 0x7fffffff, 0);
    prio[4] = priority.weight;
  }
  return Buffer.concat([Buffer.from([padLength]), prio, content, Buffer.alloc(padLength)]);
}

/** A gRPC length-prefixed, uncompressed message. */
export function grpcMessage(body: Buffer): Buffer {
  const p = Buffer.alloc(5);
  p.writeUInt32BE(body.length, 1);
  return Buffer.concat([p, body]);
}

export const RESPONSE_HEADERS = headerBlock([
  [':status', '200'],
  ['content-type', 'application/grpc'],
]);
export const OK_TRAILERS = headerBlock([['grpc-status', '0']]);
