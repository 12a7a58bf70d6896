/**
 * One ClassifyStream's window of unanswered frames: the reorder buffer and the flow control of a stream.
 *
 * - Answers leave in the order the frames arrived, each exactly once: a slot per frame, written once it and
 *   every slot before it are filled (frames are still decoded and batched concurrently).
 * - Reading pauses while `window` frames are unanswered (in flight, or done but held for an earlier frame)
 *   or while the peer is not reading its answers (write() returned false until 'drain'), so a fast sender
 *   cannot grow our memory.
 * - After the client half-closes, the stream ends once every slot is written.
 * - Once stopped (client cancelled, call failed), nothing more is written and new frames get no slot.
 *
 * Knows nothing of gRPC: the call is reached through StreamPeer, so tests drive it without a network.
 */

/** The side of the call the window writes to and throttles. */
export interface StreamPeer<T> {
  /** Writes one answer; false when the peer's buffer is full (wait for the next onDrain). */
  write(answer: T): boolean;
  /** Calls `fn` once, when the peer has taken what was buffered. */
  onceDrain(fn: () => void): void;
  pause(): void;
  resume(): void;
  end(): void;
}

export interface StreamWindow<T> {
  /**
   * A frame arrived: takes the next slot in arrival order and returns the function that fills it, or
   * undefined once the stream is over (the frame is then ignored).
   */
  arrive(): ((answer: T) => void) | undefined;
  /** The client half-closed: the stream ends once every slot is written. */
  halfClose(): void;
  /** The call is over (cancelled or failed): nothing more is written. */
  stop(): void;
  /** True once the stream ended or was stopped. */
  readonly finished: boolean;
  /** Frames that have a slot and whose answer is not yet written. */
  readonly unanswered: number;
  /** True while the window holds back reading. */
  readonly paused: boolean;
}

export function createStreamWindow<T>(peer: StreamPeer<T>, window: number): StreamWindow<T> {
  const size = Math.max(1, window);
  const slots: Array<{ answer?: T; filled: boolean }> = [];
  let paused = false;
  let writeBlocked = false;
  let halfClosed = false;
  let finished = false;

  const updateReading = (): void => {
    const shouldPause = slots.length >= size || writeBlocked;
    if (shouldPause && !paused) peer.pause();
    else if (!shouldPause && paused) peer.resume();
    paused = shouldPause;
  };

  const flush = (): void => {
    while (slots.length > 0 && slots[0].filled && !finished) {
      const slot = slots.shift()!;
      // Writing goes on while the peer is slow (grpc-js buffers it); only reading stops, so the slots the
      // window allows are the bound on what we hold.
      if (!peer.write(slot.answer as T) && !writeBlocked) {
        writeBlocked = true;
        peer.onceDrain(() => {
          writeBlocked = false;
          updateReading();
        });
      }
    }
    if (halfClosed && slots.length === 0 && !finished) {
      finished = true;
      peer.end();
    }
  };

  return {
    arrive() {
      if (finished) return undefined;
      const slot: { answer?: T; filled: boolean } = { filled: false };
      slots.push(slot);
      updateReading();
      return (answer: T) => {
        if (slot.filled) return;
        slot.answer = answer;
        slot.filled = true;
        flush();
        updateReading();
      };
    },
    halfClose() {
      halfClosed = true;
      flush();
    },
    stop() {
      finished = true;
    },
    get finished() {
      return finished;
    },
    get unanswered() {
      return slots.length;
    },
    get paused() {
      return paused;
    },
  };
}
