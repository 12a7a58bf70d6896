/**
 * The live charts (uPlot): end-to-end latency per frame with rolling p50/p99, and the server's breakdown
 * (queue, decode, inference) with the network remainder per frame. x is the frame's answer time, s since
 * the run started. Each chart's element carries `data-points` (frames plotted) for tests and tools.
 */
import uPlot from 'uplot';

const WIDTH = 560;
const HEIGHT = 220;

export interface LiveChart {
  push(x: number, ys: Array<number | null>): void;
  reset(): void;
}

function chart(el: HTMLElement, title: string, names: Array<{ label: string; stroke: string; dash?: number[] }>): LiveChart {
  const data: Array<Array<number | null>> = [[], ...names.map(() => [])];
  const plot = new uPlot(
    {
      title,
      width: WIDTH,
      height: HEIGHT,
      scales: { x: { time: false } },
      axes: [{ label: 's' }, { label: 'ms' }],
      series: [{ label: 't (s)' }, ...names.map((n) => ({ label: n.label, stroke: n.stroke, dash: n.dash, width: 1.5, points: { show: false } }))],
    },
    data as uPlot.AlignedData,
    el,
  );
  let pending = false;
  const redraw = (): void => {
    pending = false;
    plot.setData(data as uPlot.AlignedData);
    el.dataset.points = String(data[0].length);
  };
  return {
    push(x, ys): void {
      data[0].push(x);
      ys.forEach((y, i) => data[i + 1].push(y));
      // At most one redraw per animation frame, however many answers arrive.
      if (!pending) {
        pending = true;
        requestAnimationFrame(redraw);
      }
    },
    reset(): void {
      data.forEach((d) => (d.length = 0));
      redraw();
    },
  };
}

export function latencyChart(el: HTMLElement): LiveChart {
  return chart(el, 'end-to-end latency per frame (send → answer)', [
    { label: 'frame', stroke: '#9bb7d4' },
    { label: 'p50 (last 50)', stroke: '#1f5fa8' },
    { label: 'p99 (last 50)', stroke: '#c0392b', dash: [6, 3] },
  ]);
}

export function breakdownChart(el: HTMLElement): LiveChart {
  return chart(el, 'where the time went, per frame', [
    { label: 'queue', stroke: '#8e44ad' },
    { label: 'decode', stroke: '#d35400' },
    { label: 'inference', stroke: '#27ae60' },
    { label: 'network + client', stroke: '#2c3e50', dash: [4, 2] },
  ]);
}
