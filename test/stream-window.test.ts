import { expect } from 'chai';
import { createStreamWindow, type StreamPeer } from '../src/server/stream-window';

/** A ClassifyStream call reduced to what the window sees: what was written, paused, resumed and ended. */
class FakePeer implements StreamPeer<string> {
  events: string[] = [];
  written: string[] = [];
  /** What the next write() returns (false: the client is not reading). */
  accepting = true;
  drainListeners: Array<() => void> = [];
  write(answer: string): boolean {
    this.written.push(answer);
    this.events.push(`write ${answer}`);
    return this.accepting;
  }
  onceDrain(fn: () => void): void {
    this.drainListeners.push(fn);
  }
  pause(): void {
    this.events.push('pause');
  }
  resume(): void {
    this.events.push('resume');
  }
  end(): void {
    this.events.push('end');
  }
  drain(): void {
    this.accepting = true;
    const ls = this.drainListeners;
    this.drainListeners = [];
    for (const l of ls) l();
  }
}

describe('server: ClassifyStream window (reorder buffer and flow control, no network)', () => {
  it('writes answers in arrival order whatever order the frames complete in', () => {
    const peer = new FakePeer();
    const w = createStreamWindow(peer, 8);
    const [a, b, c, d] = [w.arrive()!, w.arrive()!, w.arrive()!, w.arrive()!];
    c('c');
    expect(peer.written, 'c waits for a and b').to.deep.equal([]);
    a('a');
    expect(peer.written).to.deep.equal(['a']);
    d('d');
    expect(peer.written, 'd waits for b').to.deep.equal(['a']);
    b('b');
    expect(peer.written).to.deep.equal(['a', 'b', 'c', 'd']);
    expect(w.unanswered).to.equal(0);
  });

  it('answers each frame once: a second answer for the same frame is ignored', () => {
    const peer = new FakePeer();
    const w = createStreamWindow(peer, 8);
    const a = w.arrive()!;
    a('first');
    a('second');
    expect(peer.written).to.deep.equal(['first']);
  });

  it('stops reading while the window of unanswered frames is full, and reads again when one is written', () => {
    const peer = new FakePeer();
    const w = createStreamWindow(peer, 2);
    const a = w.arrive()!;
    expect(peer.events).to.deep.equal([]);
    const b = w.arrive()!;
    expect(peer.events, 'two unanswered frames fill a window of 2').to.deep.equal(['pause']);
    expect(w.paused).to.equal(true);
    b('b');
    expect(peer.events, 'b is done but held for a: the window stays full').to.deep.equal(['pause']);
    a('a');
    expect(peer.events).to.deep.equal(['pause', 'write a', 'write b', 'resume']);
    expect(w.paused).to.equal(false);
  });

  it('stops reading while the client does not read its answers, until drain, however many writes were refused', () => {
    const peer = new FakePeer();
    const w = createStreamWindow(peer, 8);
    peer.accepting = false;
    const a = w.arrive()!;
    const b = w.arrive()!;
    a('a');
    b('b');
    expect(peer.written, 'answers still go to the call buffer').to.deep.equal(['a', 'b']);
    expect(peer.events.filter((e) => e === 'pause')).to.have.length(1);
    expect(w.paused, 'window is not full, but the client is not reading').to.equal(true);
    expect(peer.drainListeners, 'one drain listener, not one per refused write').to.have.length(1);
    peer.drain();
    expect(w.paused).to.equal(false);
    expect(peer.events.at(-1)).to.equal('resume');
  });

  it('after the client half-closes, ends once every pending answer is written, and only then', () => {
    const peer = new FakePeer();
    const w = createStreamWindow(peer, 8);
    const a = w.arrive()!;
    const b = w.arrive()!;
    w.halfClose();
    b('b');
    expect(peer.events).to.not.include('end');
    a('a');
    expect(peer.events.filter((e) => e.startsWith('write') || e === 'end')).to.deep.equal(['write a', 'write b', 'end']);
    expect(w.finished).to.equal(true);
    expect(w.arrive(), 'no slot for a frame after the end').to.equal(undefined);
  });

  it('ends at once on half-close when nothing is pending', () => {
    const peer = new FakePeer();
    const w = createStreamWindow(peer, 8);
    w.halfClose();
    expect(peer.events).to.deep.equal(['end']);
  });

  it('after a cancel, writes nothing more, never ends the call, and gives new frames no slot', () => {
    const peer = new FakePeer();
    const w = createStreamWindow(peer, 8);
    const a = w.arrive()!;
    const b = w.arrive()!;
    a('a');
    w.stop();
    b('b');
    w.halfClose();
    expect(peer.written).to.deep.equal(['a']);
    expect(peer.events).to.not.include('end');
    expect(w.arrive()).to.equal(undefined);
  });
});
