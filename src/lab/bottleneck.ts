/**
 * The optional bottleneck on the client↔edge link: a `tbf` qdisc (a real kernel queue; this kernel has no
 * netem) on the egress of both ends, so uploads and downloads are limited alike. Applied, changed or
 * removed in place on a running lab.
 */
import { runIn } from './run';
import { CLIENT_LINK } from './topology';

/**
 * tbf parameters for a rate: the bucket holds 10 full-size frames (enough for the kernel's timer
 * granularity at these rates, small enough not to let a 256 KiB transfer pass at line speed), and the
 * queue holds 50 ms at the rate before dropping.
 */
export function tbfArgs(rateMbit: number): string[] {
  const burstBytes = 15_000;
  return ['rate', `${rateMbit}mbit`, 'burst', String(burstBytes), 'latency', '50ms'];
}

export function setBottleneck(rateMbit: number | undefined): void {
  for (const end of [CLIENT_LINK.a, CLIENT_LINK.b]) {
    runIn(end.host, 'tc', ['qdisc', 'del', 'dev', end.dev, 'root'], { allowFail: true });
    if (rateMbit !== undefined) runIn(end.host, 'tc', ['qdisc', 'add', 'dev', end.dev, 'root', 'tbf', ...tbfArgs(rateMbit)]);
  }
}
