/**
 * The page: wires the form, the source, the frame run, the live view, the Ping panel and the run JSON.
 * Stable element ids for automation: #top1-label, #latency-p99-ms, #achieved-fps, #verdict, #run-json
 * (filled when a run ends), #error, #ping-rtt-ms.
 */
import './app.css';
import { toJson as messageToJson } from '@bufbuild/protobuf';
import { GetServerInfoResponseSchema, WeightsProvenance, type ClassifyResponse, type GetServerInfoResponse } from '../gen/inference/v1/inference_pb';
import { fillStreamReport } from '../measure/load-report';
import { emptyReport, toJson, type LoadSummary } from '../measure/report-doc';
import { cameraSource, fileSource, frameEncoder, type FrameSource } from './capture';
import { breakdownChart, latencyChart } from './charts';
import { describeFailure, inferenceClient } from './client';
import { browserEnvironment } from './environment';
import { runFrames, type FrameEvent } from './frame-run';
import { createLiveStats } from './live';
import { runPings } from './ping-panel';
import { DEFAULT_SETTINGS, settingsFromUrl, type PageSettings } from './settings';

declare const RTINFER_VERSION: string;

function el<T extends HTMLElement = HTMLElement>(id: string): T {
  const e = document.getElementById(id);
  if (!e) throw new Error(`page element #${id} missing`);
  return e as T;
}
const text = (id: string, value: string): void => {
  el(id).textContent = value;
};
const ms = (x: number): string => (Number.isFinite(x) ? x.toFixed(1) : '—');
const nsToMs = (ns: bigint | undefined): number => Number(ns ?? 0n) / 1e6;

const input = (id: string): HTMLInputElement => el<HTMLInputElement>(id);

function showError(message: string | undefined): void {
  const e = el('error');
  e.textContent = message ?? '';
  e.hidden = message === undefined;
}

function formSettings(base: PageSettings): PageSettings {
  const n = (id: string, min: number, max: number, name: string): number => {
    const v = Number(input(id).value);
    if (!Number.isFinite(v) || v < min || v > max) throw new Error(`${name} must be from ${min} to ${max}`);
    return v;
  };
  return {
    ...base,
    source: el<HTMLSelectElement>('source').value === 'file' ? 'file' : 'camera',
    fps: n('fps', 0.1, 120, 'fps'),
    window: Math.round(n('window', 1, 64, 'window')),
    durationS: n('duration', 1, 3600, 'duration'),
    budgetMs: n('budget', 1, 60000, 'budget'),
    encode: input('full-frame').checked ? 'full' : 'model',
  };
}

function fillForm(s: PageSettings): void {
  el<HTMLSelectElement>('source').value = s.source;
  input('fps').value = String(s.fps);
  input('window').value = String(s.window);
  input('duration').value = String(s.durationS);
  input('budget').value = String(s.budgetMs);
  input('full-frame').checked = s.encode === 'full';
}

function showServer(info: GetServerInfoResponse): void {
  const m = info.model;
  const synthetic = m?.weights === WeightsProvenance.SYNTHETIC;
  text('server', `${m?.name ?? '?'} ${m?.inputWidth ?? '?'}×${m?.inputHeight ?? '?'} on ${info.engine?.backend ?? '?'} — replica ${info.serverId || info.hostname}`);
  el('synthetic').hidden = !synthetic;
}

function showPredictions(res: ClassifyResponse): void {
  const list = el('top5');
  list.replaceChildren(
    ...res.predictions.map((p) => {
      const li = document.createElement('li');
      li.textContent = `${p.label} — ${(p.probability * 100).toFixed(1)} %`;
      return li;
    }),
  );
  text('top1-label', res.predictions[0]?.label ?? '');
  text('replica', res.serverId || '—');
}

/** The last frame stays on the page once the camera is released. */
function keepStill(source: FrameSource): void {
  if (source.element !== el('video')) return;
  const still = el<HTMLCanvasElement>('still');
  still.width = source.width;
  still.height = source.height;
  still.getContext('2d')?.drawImage(source.element, 0, 0, source.width, source.height);
  still.hidden = false;
  el('video').hidden = true;
}

async function main(): Promise<void> {
  let settings: PageSettings = DEFAULT_SETTINGS;
  try {
    settings = settingsFromUrl(location.search);
  } catch (err) {
    showError(err instanceof Error ? err.message : String(err));
  }
  fillForm(settings);
  const client = inferenceClient(location.origin, () => input('token').value);
  const latency = latencyChart(el('latency-chart'));
  const breakdown = breakdownChart(el('breakdown-chart'));
  const live = createLiveStats();
  let running: AbortController | undefined;
  let lastRunJson = '';

  const start = async (): Promise<void> => {
    if (running) return;
    showError(undefined);
    let s: PageSettings;
    try {
      s = formSettings(settings);
    } catch (err) {
      showError(err instanceof Error ? err.message : String(err));
      return;
    }
    running = new AbortController();
    el<HTMLButtonElement>('start').disabled = true;
    el<HTMLButtonElement>('stop').disabled = false;
    text('verdict', 'running…');
    el('verdict').className = '';
    el('verdict-reasons').replaceChildren();
    el('run-json').textContent = '';
    el<HTMLButtonElement>('download').disabled = true;
    let source: FrameSource | undefined;
    try {
      const info = await client.getServerInfo({}, { timeoutMs: s.deadlineMs });
      showServer(info);
      const file = input('file').files?.[0];
      if (s.source === 'file' && !file) throw new Error('choose an image or video file first');
      source = s.source === 'file' && file ? await fileSource(file, el<HTMLVideoElement>('video'), el<HTMLImageElement>('image')) : await cameraSource(el<HTMLVideoElement>('video'));
      el('video').hidden = source.element !== el('video');
      el('image').hidden = source.element !== el('image');
      el('still').hidden = true;
      const size = s.encode === 'full' ? 'full' : { width: info.model?.inputWidth || 224, height: info.model?.inputHeight || 224 };
      const encoder = frameEncoder(source, size);
      text('frame-size', `${encoder.width}×${encoder.height} JPEG`);
      text('target-fps', String(s.fps));
      const started = new Date();
      const t0 = performance.now();
      let phaseStart = performance.now();
      let lastSeq = -1;
      const onPhase = (measured: boolean): void => {
        phaseStart = performance.now();
        lastSeq = -1;
        live.reset();
        latency.reset();
        breakdown.reset();
        text('phase', measured ? 'measuring' : 'warm-up (not counted)');
      };
      const onFrame = (e: FrameEvent): void => {
        lastSeq = Math.max(lastSeq, e.seq);
        const now = performance.now();
        const f = live.add(e, now);
        const x = (now - t0) / 1000;
        if (e.response) {
          showPredictions(e.response);
          const t = e.response.timing;
          latency.push(x, [e.e2eMs, f.p50Ms, f.p99Ms]);
          breakdown.push(x, [nsToMs(t?.queueNanos), nsToMs(t?.decodeNanos), nsToMs(t?.inferenceNanos) + nsToMs(t?.preprocessNanos), Math.max(0, e.e2eMs - nsToMs(t?.totalNanos))]);
        } else if (e.error) showError(e.error);
        text('latency-p50-ms', ms(f.p50Ms));
        text('latency-p99-ms', ms(f.p99Ms));
        text('achieved-fps', f.fps.toFixed(1));
        text('jitter-ms', ms(f.jitter.meanAbsIpdv));
        text('jitter-rfc3550-ms', ms(f.jitter.rfc3550));
        const due = Math.floor(((now - phaseStart) / 1000) * s.fps) + 1;
        text('dropped', String(Math.max(0, due - (lastSeq + 1))));
        text('frames', `${f.ok} OK, ${f.failed} failed`);
      };
      const r = await runFrames({ client, encoder, settings: s, signal: running.signal, onFrame, onPhase });
      const rep = emptyReport(
        'stream',
        {
          source: source.name,
          images: [source.name],
          encode: s.encode,
          frameSize: `${encoder.width}x${encoder.height}`,
          fps: s.fps,
          window: s.window,
          duration: s.durationS,
          warmup: s.warmupS,
          budgetMs: s.budgetMs,
          percentile: s.percentile,
          topK: s.topK,
          deadlineMs: s.deadlineMs,
          transport: 'grpc-web (browser)',
          token: input('token').value.trim() !== '' ? '(set)' : undefined,
        },
        browserEnvironment(messageToJson(GetServerInfoResponseSchema, info) as Record<string, unknown>),
        started,
        RTINFER_VERSION,
      );
      const summary: LoadSummary = fillStreamReport(rep, r, { budgetMs: s.budgetMs, fps: s.fps, percentile: s.percentile, window: s.window });
      const j = live.jitterNow();
      rep.summary.frame_jitter = { rfc3550_ms: j.rfc3550, mean_abs_ipdv_ms: j.meanAbsIpdv, max_abs_ipdv_ms: j.maxAbsIpdv, pairs: j.pairs };
      text('latency-p50-ms', ms(summary.latency.percentiles_ms.p50));
      text('latency-p99-ms', ms(summary.latency.percentiles_ms.p99));
      text('achieved-fps', (rep.summary.achieved_fps as number).toFixed(2));
      text('dropped', String(rep.summary.dropped ?? 0));
      text('frames', `${summary.ok} OK, ${summary.errors} failed, ${summary.unfinished} unfinished (measured ${summary.duration_s.toFixed(1)} s)`);
      text('phase', 'done');
      const v = rep.verdict;
      text('verdict', v?.status ?? '—');
      el('verdict').className = v?.status === 'PASS' ? 'pass' : 'fail';
      el('verdict-reasons').replaceChildren(
        ...[...(v?.reasons ?? []).map((x) => `✗ ${x}`), ...(v?.passed ?? []).map((x) => `✓ ${x}`)].map((x) => {
          const li = document.createElement('li');
          li.textContent = x;
          return li;
        }),
      );
      lastRunJson = toJson(rep);
      el('run-json').textContent = lastRunJson;
      el<HTMLButtonElement>('download').disabled = false;
    } catch (err) {
      const message = err instanceof Error && err.name !== 'ConnectError' ? err.message : describeFailure(err).text;
      showError(message);
      text('verdict', '—');
    } finally {
      if (source) {
        keepStill(source);
        source.stop();
      }
      running = undefined;
      el<HTMLButtonElement>('start').disabled = false;
      el<HTMLButtonElement>('stop').disabled = true;
    }
  };

  el('start').addEventListener('click', () => void start());
  el('stop').addEventListener('click', () => running?.abort());
  el('download').addEventListener('click', () => {
    if (!lastRunJson) return;
    const a = document.createElement('a');
    a.href = URL.createObjectURL(new Blob([lastRunJson], { type: 'application/json' }));
    a.download = `rtinfer-web-${new Date().toISOString().replace(/[:.]/g, '-')}.json`;
    a.click();
    setTimeout(() => URL.revokeObjectURL(a.href), 10_000);
  });
  el('ping-start').addEventListener('click', () => {
    const count = Math.max(1, Math.min(10_000, Math.round(Number(input('ping-count').value) || 20)));
    const interval = Math.max(1, Math.min(60_000, Number(input('ping-interval').value) || 100));
    const button = el<HTMLButtonElement>('ping-start');
    button.disabled = true;
    text('ping-error', '');
    void runPings(
      client,
      count,
      interval,
      settings.deadlineMs,
      (f) => {
        text('ping-sent', `${f.received}/${f.sent}`);
        text('ping-rtt-ms', ms(f.rttP50Ms));
        text('ping-rtt-p99-ms', ms(f.rttP99Ms));
        text('ping-jitter-ms', ms(f.meanAbsIpdvMs));
        text('ping-rfc3550-ms', ms(f.rfc3550Ms));
        text('ping-error', f.error ?? '');
      },
    ).finally(() => {
      button.disabled = false;
    });
  });
  if (settings.autostart) void start();
}

void main();
