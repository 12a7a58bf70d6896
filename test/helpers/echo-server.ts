/** A TCP echo server on loopback: the far end the impairment proxy's own tests forward to. */
import { listenLoopback, type LoopbackServer } from './loopback-server';

/** `noDelay` turns Nagle off on the echo side, for tests that time small round trips. */
export function echoServer(options: { noDelay?: boolean } = {}): Promise<LoopbackServer> {
  return listenLoopback((s) => {
    if (options.noDelay) s.setNoDelay(true);
    s.on('data', (d) => s.write(d));
  });
}
