import { expect } from 'chai';
import { PingResponse } from '../src/gen/inference/v1/inference';
import { pingServerId } from '../src/client/issuers';
import { createReplicaTable, MAX_REPLICAS, OTHER_REPLICAS, summarizeReplicas } from '../src/measure/replicas';

describe('measure: calls by replica (src/measure/replicas.ts)', () => {
  it('keeps at most MAX_REPLICAS names and pools the rest, so a server naming itself anew each call cannot grow the client', () => {
    const t = createReplicaTable();
    for (let i = 0; i < MAX_REPLICAS + 50; i++) t.record(`r${i}`, true, 1e6, undefined, 1e6);
    expect(t.entries().size).to.equal(MAX_REPLICAS + 1);
    expect(t.entries().get(OTHER_REPLICAS)?.ok).to.equal(50);
    const s = summarizeReplicas(t.entries());
    expect(s.reduce((a, r) => a + r.share, 0)).to.be.closeTo(1, 1e-9);
  });
});

describe('client: server_id from a raw PingResponse (bench --rpc ping does not decode responses)', () => {
  it('finds field 8 after megabytes of padding; undefined when absent or garbage', () => {
    const withId = Buffer.from(PingResponse.encode(PingResponse.fromPartial({ seq: 5n, padding: Buffer.alloc(2_000_000, 1), serverReceiveUnixNanos: 7n, serverId: 'server-b' })).finish());
    expect(pingServerId(withId)).to.equal('server-b');
    expect(pingServerId(Buffer.from(PingResponse.encode(PingResponse.fromPartial({ seq: 5n })).finish()))).to.equal(undefined);
    expect(pingServerId(Buffer.from([0x0a, 0xff, 0xff, 0xff, 0x0f]))).to.equal(undefined);
    expect(pingServerId(Buffer.alloc(0))).to.equal(undefined);
  });
});
