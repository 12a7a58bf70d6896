/**
 * Our HTTP/2 transport (src/client/h2/) against a scripted peer (test/helpers/h2-peer.ts) that sends the
 * frames no real server sends on demand: padded DATA and HEADERS (with and without PRIORITY fields),
 * WINDOW_UPDATE at the connection and stream level releasing a request larger than the window, and
 * SETTINGS changed while a stream is open (INITIAL_WINDOW_SIZE lowered and raised, MAX_FRAME_SIZE raised
 * and lowered). What is checked is what a user of the transport sees: the call's status, message and the
 * response bytes — and, on the peer's side, that the client never sent more than the peer allowed.
 * No test depends on timing: a client that ignored a window update would stall until the call's deadline
 * and fail with DEADLINE_EXCEEDED.
 */
import { expect } from 'chai';
import { createHash, randomBytes } from 'node:crypto';
import { main } from '../src/client/cli';
import { h2Transport } from '../src/client/h2';
import { DEFAULT_WINDOW, Flag, Frame, frame, Setting, settingsFrame, windowUpdateFrame } from '../src/client/h2/frames';
import type { UnaryOutcome } from '../src/client/unary-transport';
import { grpcMessage, headerBlock, OK_TRAILERS, paddedPayload, RESPONSE_HEADERS, startScriptedPeer, type PeerFrame, type PeerSession, type ScriptedPeer } from './helpers/h2-peer';

/** Long enough for any working call on a busy machine; a stalled one fails with DEADLINE_EXCEEDED after it. */
const DEADLINE_MS = 20_000;

const peers: ScriptedPeer[] = [];
after(async () => {
  await Promise.all(peers.splice(0).map((p) => p.close()));
});

async function peer(preface: Buffer[], onFrame: (f: PeerFrame, p: PeerSession) => void): Promise<number> {
  const p = await startScriptedPeer(preface, onFrame);
  peers.push(p);
  return p.port;
}

/** One unary call over a fresh h2 transport to the peer. */
async function call(port: number, request: Buffer): Promise<UnaryOutcome> {
  const t = h2Transport({ target: `127.0.0.1:${port}`, tls: false, connections: 1, deadlineMs: DEADLINE_MS });
  try {
    await t.ready(10_000);
    return await new Promise<UnaryOutcome>((r) => t.unary(0, '/test.Peer/Call', request, r));
  } finally {
    t.close();
  }
}

/** Calls `respond(streamId, peer)` when a request stream has ended. */
function onRequestEnd(respond: (id: number, p: PeerSession) => void): (f: PeerFrame, p: PeerSession) => void {
  return (f, p) => {
    if ((f.type === Frame.DATA || f.type === Frame.HEADERS) && f.flags & Flag.END_STREAM) respond(f.streamId, p);
  };
}

const serverSettings = (settings: Array<[number, number]> = []): Buffer => settingsFrame(settings);

/** Resolves once `ready()` holds; the test's own timeout bounds the wait. */
async function until(ready: () => boolean): Promise<void> {
  while (!ready()) await new Promise((r) => setTimeout(r, 5));
}

describe('h2 frames: padded DATA', function () {
  this.timeout(60_000);

  it('padding (pad length 10, 0, and a frame of padding only) is stripped: the response is exactly the message sent', async () => {
    const message = randomBytes(300);
    const body = grpcMessage(message);
    const port = await peer(
      [serverSettings()],
      onRequestEnd((id, p) =>
        p.send(
          frame(Frame.HEADERS, Flag.END_HEADERS, id, RESPONSE_HEADERS),
          frame(Frame.DATA, Flag.PADDED, id, paddedPayload(body.subarray(0, 100), 10)),
          frame(Frame.DATA, Flag.PADDED, id, paddedPayload(Buffer.alloc(0), 7)),
          frame(Frame.DATA, Flag.PADDED, id, paddedPayload(body.subarray(100), 0)),
          frame(Frame.HEADERS, Flag.END_HEADERS | Flag.END_STREAM, id, OK_TRAILERS),
        ),
      ),
    );
    const r = await call(port, Buffer.from('ping'));
    expect(r.code, r.details).to.equal(0);
    expect(r.response!.equals(message)).to.equal(true);
  });

  it('padding counts against our receive window: the client returns it in WINDOW_UPDATE, so a mostly-padding response is not stalled', async () => {
    // The client grants 1 MiB per stream. The peer sends frames of 1 data byte and 255 bytes of padding
    // (257-byte payloads) until it has used almost all of that grant, and sends the rest of the response
    // only after the client has given credit back: a client that counted only the data (4 080 bytes) would
    // never do so, and the call would stall until its deadline.
    const STREAM_WINDOW = 1 << 20;
    const frames = Math.floor(STREAM_WINDOW / 257);
    const body = grpcMessage(randomBytes(frames + 100 - 5));
    let streamId = 0;
    const updates: number[] = [];
    const port = await peer([serverSettings()], (f, p) => {
      if (f.type === Frame.DATA && f.flags & Flag.END_STREAM) {
        streamId = f.streamId;
        const out = [frame(Frame.HEADERS, Flag.END_HEADERS, streamId, RESPONSE_HEADERS)];
        for (let i = 0; i < frames; i++) out.push(frame(Frame.DATA, Flag.PADDED, streamId, paddedPayload(body.subarray(i, i + 1), 255)));
        p.send(...out);
      }
      if (f.type === Frame.WINDOW_UPDATE && f.streamId === streamId && streamId !== 0 && updates.push(f.payload.readUInt32BE(0)) === 1) {
        p.send(frame(Frame.DATA, 0, streamId, body.subarray(frames)), frame(Frame.HEADERS, Flag.END_HEADERS | Flag.END_STREAM, streamId, OK_TRAILERS));
      }
    });
    const r = await call(port, Buffer.from('ping'));
    expect(r.code, r.details).to.equal(0);
    expect(r.response!.equals(body.subarray(5))).to.equal(true);
    // The first credit returned is whole frames, padding and pad-length byte included, once half the window is used.
    expect(updates[0] % 257).to.equal(0);
    expect(updates[0]).to.be.at.least(STREAM_WINDOW / 2);
  });

  it('a pad length beyond the frame is a connection error: INTERNAL naming it, and the peer is told PROTOCOL_ERROR', async () => {
    let goaway: number | undefined;
    const port = await peer([serverSettings()], (f, p) => {
      if (f.type === Frame.GOAWAY) goaway = f.payload.readUInt32BE(4);
      if (f.type === Frame.DATA && f.flags & Flag.END_STREAM) {
        const bad = Buffer.concat([Buffer.from([20]), Buffer.alloc(10)]); // 20 bytes of padding in an 11-byte payload
        p.send(frame(Frame.HEADERS, Flag.END_HEADERS, f.streamId, RESPONSE_HEADERS), frame(Frame.DATA, Flag.PADDED, f.streamId, bad));
      }
    });
    const r = await call(port, Buffer.from('ping'));
    expect(r.code).to.equal(13);
    expect(r.details).to.match(/HTTP\/2 PROTOCOL_ERROR from 127\.0\.0\.1:\d+: DATA padding exceeds the frame/);
    await until(() => goaway !== undefined);
    expect(goaway).to.equal(1);
  });
});

describe('h2 frames: padded HEADERS, with and without PRIORITY', function () {
  this.timeout(60_000);

  const FAILED_PRECONDITION = 9;
  const trailers = headerBlock([
    ['grpc-status', String(FAILED_PRECONDITION)],
    ['grpc-message', 'padded trailers read back'],
  ]);

  const cases: Array<{ name: string; send: (id: number, body: Buffer) => Buffer[] }> = [
    {
      name: 'response headers PADDED, trailers PADDED|PRIORITY',
      send: (id, body) => [
        frame(Frame.HEADERS, Flag.END_HEADERS | Flag.PADDED, id, paddedPayload(RESPONSE_HEADERS, 7)),
        frame(Frame.DATA, 0, id, body),
        frame(Frame.HEADERS, Flag.END_HEADERS | Flag.END_STREAM | Flag.PADDED | Flag.PRIORITY, id, paddedPayload(trailers, 3, { dependsOn: 0, weight: 200 })),
      ],
    },
    {
      name: 'response headers PRIORITY only (exclusive bit set), trailers PADDED with pad length 0',
      send: (id, body) => {
        const prio = Buffer.alloc(5);
        prio.writeUInt32BE(0x80000000, 0);
        prio[4] = 15;
        return [
          frame(Frame.HEADERS, Flag.END_HEADERS | Flag.PRIORITY, id, Buffer.concat([prio, RESPONSE_HEADERS])),
          frame(Frame.DATA, 0, id, body),
          frame(Frame.HEADERS, Flag.END_HEADERS | Flag.END_STREAM | Flag.PADDED, id, paddedPayload(trailers, 0)),
        ];
      },
    },
    {
      name: 'response headers PADDED|PRIORITY split over a CONTINUATION frame',
      send: (id, body) => [
        frame(Frame.HEADERS, Flag.PADDED | Flag.PRIORITY, id, paddedPayload(RESPONSE_HEADERS.subarray(0, 5), 9, { dependsOn: 0, weight: 1 })),
        frame(Frame.CONTINUATION, Flag.END_HEADERS, id, RESPONSE_HEADERS.subarray(5)),
        frame(Frame.DATA, 0, id, body),
        frame(Frame.HEADERS, Flag.END_HEADERS | Flag.END_STREAM, id, trailers),
      ],
    },
  ];

  for (const c of cases) {
    it(`${c.name}: the status and message are read as sent`, async () => {
      const port = await peer([serverSettings()], onRequestEnd((id, p) => p.send(...c.send(id, grpcMessage(Buffer.from('unused'))))));
      const r = await call(port, Buffer.from('ping'));
      expect(r.code, r.details).to.equal(FAILED_PRECONDITION);
      expect(r.details).to.equal('padded trailers read back');
    });
  }

  it('a trailers-only response in one PADDED|PRIORITY HEADERS frame: the status is read as sent', async () => {
    const block = headerBlock([
      [':status', '200'],
      ['content-type', 'application/grpc'],
      ['grpc-status', '5'],
      ['grpc-message', 'not%20here'],
    ]);
    const port = await peer([serverSettings()], onRequestEnd((id, p) => p.send(frame(Frame.HEADERS, Flag.END_HEADERS | Flag.END_STREAM | Flag.PADDED | Flag.PRIORITY, id, paddedPayload(block, 32, { dependsOn: 0, weight: 16 })))));
    const r = await call(port, Buffer.from('ping'));
    expect(r.code).to.equal(5);
    expect(r.details).to.equal('not here');
  });

  it('a pad length beyond the frame is a connection error: INTERNAL naming it', async () => {
    const port = await peer([serverSettings()], onRequestEnd((id, p) => p.send(frame(Frame.HEADERS, Flag.END_HEADERS | Flag.PADDED, id, Buffer.concat([Buffer.from([200]), RESPONSE_HEADERS])))));
    const r = await call(port, Buffer.from('ping'));
    expect(r.code).to.equal(13);
    expect(r.details).to.match(/HTTP\/2 PROTOCOL_ERROR from .*: HEADERS padding exceeds the frame/);
  });
});

/**
 * A peer that receives one large request under flow control it enforces: it counts the client's credit at
 * the connection and stream level exactly as RFC 9113 §6.9 does, records every DATA frame larger than its
 * MAX_FRAME_SIZE or beyond the credit, and calls `onStall` each time the client has used a window up. When
 * the request ends it answers with the SHA-256 of the message received, so the caller sees that every byte
 * arrived in order.
 */
interface FlowPeer {
  connCredit: number;
  streamCredit: number;
  maxFrame: number;
  /** DATA frame sizes, one list per phase (a phase ends when the script changes SETTINGS). */
  frameSizes: number[][];
  violations: string[];
  streamUpdates: number;
  connUpdates: number;
  grantConn(n: number): void;
  grantStream(n: number): void;
  /** Sends SETTINGS; the client applies it on receipt, and (stalled) has nothing in flight meanwhile. */
  settings(s: Array<[number, number]>): void;
}

async function flowPeer(preface: { initialWindow?: number; connIncrement?: number }, onStall: (st: FlowPeer) => void): Promise<{ port: number; st: FlowPeer }> {
  const chunks: Buffer[] = [];
  let peerSession: PeerSession | undefined;
  let streamId = 0;
  const st: FlowPeer = {
    connCredit: DEFAULT_WINDOW + (preface.connIncrement ?? 0),
    streamCredit: preface.initialWindow ?? DEFAULT_WINDOW,
    maxFrame: 16_384,
    frameSizes: [[]],
    violations: [],
    streamUpdates: 0,
    connUpdates: 0,
    grantConn(n) {
      st.connCredit += n;
      st.connUpdates++;
      peerSession!.send(windowUpdateFrame(0, n));
    },
    grantStream(n) {
      st.streamCredit += n;
      st.streamUpdates++;
      peerSession!.send(windowUpdateFrame(streamId, n));
    },
    settings(s) {
      for (const [id, v] of s) {
        if (id === Setting.INITIAL_WINDOW_SIZE) {
          st.streamCredit += v - initialWindow;
          initialWindow = v;
        }
        if (id === Setting.MAX_FRAME_SIZE) st.maxFrame = v;
      }
      st.frameSizes.push([]);
      peerSession!.send(settingsFrame(s));
    },
  };
  let initialWindow = st.streamCredit;
  const first: Array<[number, number]> = preface.initialWindow === undefined ? [] : [[Setting.INITIAL_WINDOW_SIZE, preface.initialWindow]];
  const frames = [settingsFrame(first)];
  if (preface.connIncrement) frames.push(windowUpdateFrame(0, preface.connIncrement));
  const port = await peer(frames, (f, p) => {
    peerSession = p;
    if (f.type === Frame.HEADERS) streamId = f.streamId;
    if (f.type !== Frame.DATA) return;
    const n = f.payload.length;
    st.frameSizes[st.frameSizes.length - 1].push(n);
    if (n > st.maxFrame) st.violations.push(`a DATA frame of ${n} bytes with MAX_FRAME_SIZE ${st.maxFrame}`);
    st.connCredit -= n;
    st.streamCredit -= n;
    if (st.connCredit < 0 || st.streamCredit < 0) st.violations.push(`sent beyond the window: connection credit ${st.connCredit}, stream credit ${st.streamCredit}`);
    chunks.push(f.payload);
    if (f.flags & Flag.END_STREAM) {
      const digest = createHash('sha256').update(Buffer.concat(chunks).subarray(5)).digest();
      p.send(frame(Frame.HEADERS, Flag.END_HEADERS, f.streamId, RESPONSE_HEADERS), frame(Frame.DATA, 0, f.streamId, grpcMessage(digest)), frame(Frame.HEADERS, Flag.END_HEADERS | Flag.END_STREAM, f.streamId, OK_TRAILERS));
      return;
    }
    if (st.connCredit <= 0 || st.streamCredit <= 0) onStall(st);
  });
  return { port, st };
}

async function sendLarge(port: number, bytes: number): Promise<void> {
  const request = randomBytes(bytes);
  const r = await call(port, request);
  expect(r.code, r.details).to.equal(0);
  expect(r.response!.equals(createHash('sha256').update(request).digest()), 'the peer received the request intact').to.equal(true);
}

describe('h2 frames: WINDOW_UPDATE from the peer releases a request larger than the window', function () {
  this.timeout(60_000);

  it('connection level: the client stops at the 65 535-byte connection window and goes on with each WINDOW_UPDATE on stream 0', async () => {
    // The stream window is not the limit (1 MiB); the connection's is the default, topped up 40 000 at a time.
    const { port, st } = await flowPeer({ initialWindow: 1 << 20 }, (s) => s.grantConn(40_000));
    await sendLarge(port, 200_000);
    expect(st.violations).to.deep.equal([]);
    expect(st.connUpdates).to.equal(Math.ceil((200_005 - DEFAULT_WINDOW) / 40_000));
    expect(st.streamUpdates).to.equal(0);
  });

  it('stream level: with SETTINGS_INITIAL_WINDOW_SIZE 16 384 the client stops at each stream window and goes on with each WINDOW_UPDATE on the stream', async () => {
    const { port, st } = await flowPeer({ initialWindow: 16_384, connIncrement: 1 << 20 }, (s) => s.grantStream(10_000));
    await sendLarge(port, 100_000);
    expect(st.violations).to.deep.equal([]);
    expect(st.streamUpdates).to.equal(Math.ceil((100_005 - 16_384) / 10_000));
    expect(st.connUpdates).to.equal(0);
  });
});

describe('h2 frames: SETTINGS changed while a stream is open', function () {
  this.timeout(60_000);

  it('INITIAL_WINDOW_SIZE lowered mid-stream: the open stream\'s window goes negative, and the client sends nothing until the peer has made it positive again', async () => {
    // Stalled at 65 535 bytes, the window is lowered to 16 384: the stream window becomes −49 151. A
    // WINDOW_UPDATE of 49 151 brings it to 0 and one of 1 000 lets exactly 1 000 bytes through; a client
    // that ignored the change would think it had 50 151 and send a full 16 384-byte frame.
    let creditAfterChange: number | undefined;
    const { port, st } = await flowPeer({ connIncrement: 1 << 20 }, (s) => {
      if (creditAfterChange === undefined) {
        s.settings([[Setting.INITIAL_WINDOW_SIZE, 16_384]]);
        creditAfterChange = s.streamCredit;
        s.grantStream(49_151);
        s.grantStream(1000);
      } else s.grantStream(16_384);
    });
    await sendLarge(port, 150_000);
    expect(creditAfterChange).to.equal(-49_151);
    expect(st.violations).to.deep.equal([]);
    expect(st.frameSizes[1][0], 'the first frame after the change').to.equal(1000);
    expect(st.frameSizes[1].reduce((a, b) => a + b, 0)).to.equal(150_005 - DEFAULT_WINDOW);
  });

  it('INITIAL_WINDOW_SIZE raised mid-stream: the open stream\'s window grows by the difference and the rest of the request flows without any WINDOW_UPDATE', async () => {
    let raised = 0;
    const { port, st } = await flowPeer({ initialWindow: 16_384, connIncrement: 1 << 20 }, (s) => {
      raised++;
      if (raised === 1) s.settings([[Setting.INITIAL_WINDOW_SIZE, 16_384 + 100_000]]);
    });
    await sendLarge(port, 100_000);
    expect(st.violations).to.deep.equal([]);
    expect(raised, 'stalled once, before the change only').to.equal(1);
    expect(st.streamUpdates).to.equal(0);
  });

  it('MAX_FRAME_SIZE raised then lowered mid-stream: the client sends DATA frames up to the size in force, never beyond', async () => {
    let stalls = 0;
    const { port, st } = await flowPeer({ initialWindow: 50_000, connIncrement: 1 << 20 }, (s) => {
      stalls++;
      if (stalls === 1) {
        s.settings([[Setting.MAX_FRAME_SIZE, 65_536]]);
        s.grantStream(150_000);
      } else if (stalls === 2) {
        s.settings([[Setting.MAX_FRAME_SIZE, 16_384]]);
        s.grantStream(100_000);
      }
    });
    await sendLarge(port, 250_000);
    expect(st.violations).to.deep.equal([]);
    const [before, raised, lowered] = st.frameSizes;
    expect(Math.max(...before)).to.equal(16_384);
    expect(Math.max(...raised), 'larger frames once allowed').to.equal(65_536);
    expect(raised.reduce((a, b) => a + b, 0)).to.equal(150_000);
    expect(Math.max(...lowered)).to.equal(16_384);
    expect(lowered.reduce((a, b) => a + b, 0)).to.equal(250_005 - 200_000);
  });

  it('MAX_FRAME_SIZE below the minimum 16 384 is a connection error: INTERNAL naming the value, the peer told PROTOCOL_ERROR', async () => {
    let goaway: number | undefined;
    const port = await peer([serverSettings()], (f, p) => {
      if (f.type === Frame.GOAWAY) goaway = f.payload.readUInt32BE(4);
      if (f.type === Frame.DATA && f.flags & Flag.END_STREAM) p.send(settingsFrame([[Setting.MAX_FRAME_SIZE, 1000]]));
    });
    const r = await call(port, Buffer.from('ping'));
    expect(r.code).to.equal(13);
    expect(r.details).to.match(/PROTOCOL_ERROR .*invalid SETTINGS_MAX_FRAME_SIZE 1000/);
    await until(() => goaway !== undefined);
    expect(goaway).to.equal(1);
  });
});

describe('h2 frames: a peer that never ACKs our PINGs', function () {
  // The only bound: a PING that waits for its ACK for ever never lets these runs end.
  this.timeout(60_000);
  let port = 0;
  let pings = 0;

  before(async () => {
    // Answers every call (GetServerInfo, Ping) with an empty message and OK; swallows PINGs.
    port = await peer([serverSettings()], (f, p) => {
      if (f.type === Frame.PING) return void (f.flags & Flag.ACK || pings++);
      if ((f.type === Frame.DATA || f.type === Frame.HEADERS) && f.flags & Flag.END_STREAM) {
        p.send(
          frame(Frame.HEADERS, Flag.END_HEADERS, f.streamId, RESPONSE_HEADERS),
          frame(Frame.DATA, 0, f.streamId, grpcMessage(Buffer.alloc(0))),
          frame(Frame.HEADERS, Flag.END_HEADERS | Flag.END_STREAM, f.streamId, OK_TRAILERS),
        );
      }
    });
  });

  async function ping(args: string[]): Promise<{ code: number; json: any; err: string }> {
    const out: string[] = [];
    const err: string[] = [];
    const code = await main(['ping', '--target', `127.0.0.1:${port}`, '-c', '2', '-i', '100', '-q', '--json', '-', ...args], { out: (l) => out.push(l), err: (l) => err.push(l) });
    return { code, json: JSON.parse(out.join('\n')), err: err.join('\n') };
  }

  it('warm references: the run ends, every probe is answered, and the references whose warm-up went unanswered are missing', async () => {
    const before = pings;
    const r = await ping([]);
    expect(r.code, r.err).to.equal(0);
    expect(r.json.summary).to.include({ sent: 2, received: 2 });
    expect(pings - before, 'warm-up PINGs sent').to.be.at.least(1);
    expect(r.json.probes.filter((p: { warm_reference?: boolean }) => p.warm_reference)).to.have.length(0);
    expect(r.json.summary.warm_reference).to.equal(undefined);
  });

  it('--keep-warm: the run ends, its unanswered PINGs counted as sent, the probes all answered', async () => {
    const before = pings;
    // --no-path: the per-hop PINGs would count with keep-warm's here.
    const r = await ping(['--no-warm-reference', '--keep-warm', '--no-path']);
    expect(r.code, r.err).to.equal(0);
    expect(r.json.summary).to.include({ sent: 2, received: 2, keep_warm: true });
    expect(r.json.summary.keep_warm_traffic.sent).to.be.at.least(1);
    expect(pings - before).to.equal(r.json.summary.keep_warm_traffic.sent);
  });
});
