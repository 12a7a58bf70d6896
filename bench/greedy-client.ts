/**
 * The greedy client of bench/fairness.ts, in its own process so its event loop and CPU are not the polite
 * client's: two ClassifyStreams on one connection that keep `window` frames outstanding each. Runs until
 * SIGTERM, then prints {"status": count, …} of the frames answered as one JSON line on stdout.
 *
 * Usage: node dist/bench/greedy-client.js TARGET IMAGE [WINDOW]
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as grpc from '@grpc/grpc-js';
import { ClassifyRequest, type ClassifyResponse } from '../src/gen/inference/v1/inference';
import { connect } from '../test/helpers/grpc-client';

/**
 * The greedy client stands for another tenant's machine: on this one it must not take the CPU the polite
 * client needs to send and read its own calls, or the polite figures would blame the server for the
 * greedy client's own CPU use. Lowest priority, for its scheduler group (fairness.ts starts it in its own
 * session, so its own autogroup) and its threads.
 */
function yieldCpu(): void {
  try {
    fs.writeFileSync('/proc/self/autogroup', '19');
  } catch {
    // no autogroup scheduling here: the process nice value below still applies within the group
  }
  os.setPriority(19);
}

function main(): void {
  yieldCpu();
  const [target, imageFile, windowArg] = process.argv.slice(2);
  if (!target || !imageFile) throw new Error('usage: greedy-client.js TARGET IMAGE [WINDOW]');
  const window = Number(windowArg ?? 96);
  const image = fs.readFileSync(imageFile);
  const client = connect(target, { 'grpc.use_local_subchannel_pool': 1 });
  const byStatus: Record<string, number> = {};
  let stop = false;
  const streams = [0, 1].map(() => {
    const call = client.classifyStream();
    let sent = 0;
    let answered = 0;
    const top = (): void => {
      while (!stop && sent - answered < window) {
        call.write(ClassifyRequest.fromPartial({ image, topK: 1 }));
        sent++;
      }
    };
    call.on('data', (r: ClassifyResponse) => {
      answered++;
      const name = grpc.status[r.error?.code ?? 0];
      byStatus[name] = (byStatus[name] ?? 0) + 1;
      top();
    });
    call.on('error', () => undefined);
    top();
    return call;
  });
  process.once('SIGTERM', () => {
    stop = true;
    streams.forEach((s) => s.end());
    client.close();
    process.stdout.write(`${JSON.stringify(byStatus)}\n`);
    process.exit(0);
  });
  process.stdout.write('started\n');
}

main();
