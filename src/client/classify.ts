/**
 * `classify <images…>`: one Classify per image, a top-k table, the end-to-end time and the server's own
 * breakdown of it. A failing image prints its gRPC status and the run continues; the exit code says
 * whether any failed.
 */
import type * as grpc from '@grpc/grpc-js';
import { ClassifyResponse, GetServerInfoRequest, GetServerInfoResponse, InferenceServiceService, weightsProvenanceToJSON } from '../gen/inference/v1/inference';
import { Connection, describeError } from './connect';
import type { LoadedImage } from '../shared/images';
import type { UnaryTransport } from './unary-transport';
import type { PathTracker } from './path-tracker';
import { UPSTREAM_TIME_HEADER } from '../measure/upstream-time';
import { classifyRequestOf } from './issuers';

export interface ClassifyResult {
  image: string;
  bytes: number;
  status: string;
  message?: string;
  e2e_ms?: number;
  predictions?: Array<{ class_index: number; label: string; probability: number }>;
  server_timing_ms?: Record<string, number>;
  batch_size?: number;
  model?: string;
  weights?: string;
  /** The replica that answered (server_id), when the server names itself. */
  server_id?: string;
}

const ms = (ns: bigint): number => Number(ns) / 1e6;

/**
 * One Classify over grpc-js. With `path`, an HTTP/2 PING goes alongside on the tracker's (separate)
 * connection and the response headers are read for the edge's upstream time (path-tracker.ts).
 */
export function classifyOne(conn: Connection, im: LoadedImage, topK: number, path?: PathTracker): Promise<ClassifyResult> {
  return new Promise((resolve) => {
    let upstream: string | undefined;
    const t0 = process.hrtime.bigint();
    const call = conn.clients[0].classify(classifyRequestOf(im, topK, im.name), conn.metadata, conn.callOptions(), (err: grpc.ServiceError | null, res: ClassifyResponse) => {
      const end = process.hrtime.bigint();
      const e2e = Number(end - t0) / 1e6;
      if (err) {
        const [name, ...rest] = describeError(err).split(': ');
        resolve({ image: im.name, bytes: im.bytes.length, status: name, message: rest.join(': '), e2e_ms: e2e });
        return;
      }
      const t = res.timing;
      path?.call(0, t0, end, upstream, t ? Number(t.totalNanos) : undefined, t, res.serverId || undefined);
      resolve({
        image: im.name,
        bytes: im.bytes.length,
        status: 'OK',
        e2e_ms: e2e,
        predictions: res.predictions.map((p) => ({ class_index: p.classIndex, label: p.label, probability: p.probability })),
        server_timing_ms: t
          ? { queue: ms(t.queueNanos), decode: ms(t.decodeNanos), preprocess: ms(t.preprocessNanos), inference: ms(t.inferenceNanos), postprocess: ms(t.postprocessNanos), total: ms(t.totalNanos) }
          : undefined,
        batch_size: t?.batchSize,
        model: res.model?.name,
        weights: res.model ? weightsProvenanceToJSON(res.model.weights) : undefined,
        server_id: res.serverId || undefined,
      });
    });
    if (path) {
      call.on('metadata', (m: grpc.Metadata) => (upstream = m.get(UPSTREAM_TIME_HEADER)[0]?.toString()));
      path.pings.afterCall(0);
    }
  });
}

export function classifyText(r: ClassifyResult): string {
  if (r.status !== 'OK') return `${r.image}: ${r.status}: ${r.message}`;
  const by = r.server_id ? `, answered by ${r.server_id}` : '';
  const l = [`${r.image} (${r.bytes} bytes) — ${r.model ?? '?'}${by}${r.weights === 'WEIGHTS_PROVENANCE_SYNTHETIC' ? ' [SYNTHETIC weights: labels are meaningless]' : ''}`];
  l.push('  rank  prob     class  label');
  (r.predictions ?? []).forEach((p, i) => l.push(`  ${String(i + 1).padStart(4)}  ${(p.probability * 100).toFixed(2).padStart(6)}%  ${String(p.class_index).padStart(5)}  ${p.label}`));
  const t = r.server_timing_ms;
  l.push(`  end-to-end ${r.e2e_ms!.toFixed(2)} ms` + (t ? `; server ${t.total.toFixed(2)} ms = queue ${t.queue.toFixed(2)} + decode ${t.decode.toFixed(2)} + preprocess ${t.preprocess.toFixed(2)} + inference ${t.inference.toFixed(2)} + postprocess ${t.postprocess.toFixed(2)} (batch ${r.batch_size}); network+client ${(r.e2e_ms! - t.total).toFixed(2)} ms` : ''));
  return l.join('\n');
}

/** GetServerInfo as a plain JSON-able record for the report's environment (undefined when it fails). */
export function serverInfo(conn: Connection, timeoutMs = 5000): Promise<Record<string, unknown> | undefined> {
  return new Promise((resolve) => {
    conn.clients[0].getServerInfo({}, conn.metadata, { deadline: Date.now() + timeoutMs }, (err: grpc.ServiceError | null, res: GetServerInfoResponse) => {
      if (err) resolve(undefined);
      else resolve(GetServerInfoResponse.toJSON(res) as Record<string, unknown>);
    });
  });
}

/** The same over a UnaryTransport (ping's), so ping needs no second connection just for this call. */
export function serverInfoVia(t: UnaryTransport, timeoutMs = 5000): Promise<Record<string, unknown> | undefined> {
  const req = Buffer.from(GetServerInfoRequest.encode({}).finish());
  return new Promise((resolve) =>
    t.unary(0, InferenceServiceService.getServerInfo.path, req, (o) => {
      if (o.code !== 0 || !o.response) return resolve(undefined);
      try {
        resolve(GetServerInfoResponse.toJSON(GetServerInfoResponse.decode(o.response)) as Record<string, unknown>);
      } catch {
        resolve(undefined);
      }
    }, timeoutMs),
  );
}
