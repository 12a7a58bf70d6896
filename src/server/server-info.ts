/**
 * The GetServerInfo answer: what a client needs to interpret its measurements (engine and how it was chosen,
 * model and the provenance of its weights, batching, versions, host, security). Built once, when the model
 * is warm, and static for the life of the server. Sources appear as names, never paths or URLs; the host
 * name and versions are for callers with a token when auth is on (GetServerInfo is not auth-exempt).
 */
import * as os from 'node:os';
import { type GetServerInfoResponse, WeightsProvenance } from '../gen/inference/v1/inference';
import type { ModelDescriptor } from '../models/model';
import type { ServedModel } from '../models/served-model';
import type { ServerOptions } from './options';
import { componentVersions } from './versions';
import { publicSourceName } from '../shared/source-name';

/** Real weights, or random ones that make compute and timings real but labels meaningless. */
export function provenance(w: ModelDescriptor['weights']): WeightsProvenance {
  return w === 'synthetic' ? WeightsProvenance.WEIGHTS_PROVENANCE_SYNTHETIC : WeightsProvenance.WEIGHTS_PROVENANCE_REAL;
}

export interface ServerInfoInput {
  served: ServedModel;
  /** Batching in effect (flags or the backend's defaults). */
  batching: { maxBatch: number; maxQueueDelayUs: number };
  options: Pick<ServerOptions, 'maxQueue' | 'maxConcurrentBatches' | 'maxMessageBytes' | 'tlsCert'>;
  authRequired: boolean;
  /** Wall clock, Unix nanoseconds, of the moment the server started serving. */
  startedUnixNanos: bigint;
  /** This replica's name (--server-id, default the host name). */
  serverId: string;
}

export function buildServerInfo(i: ServerInfoInput): GetServerInfoResponse {
  const { engine, descriptor, selection } = i.served;
  return {
    engine: {
      backend: engine.info.backend,
      reason: selection.reason,
      selectionLog: selection.log,
      library: engine.info.library,
      version: engine.info.version,
      threads: engine.info.threads,
      executionProvider: engine.info.executionProvider,
      instances: engine.info.instances ?? 1,
      soloThreads: engine.info.soloThreads ?? 0,
      plan: engine.info.plan ?? '',
    },
    model: {
      name: descriptor.name,
      // Names only: a path tells a caller the host's layout, and a URL may carry credentials.
      source: publicSourceName(descriptor.source),
      format: descriptor.format,
      inputHeight: descriptor.inputHeight,
      inputWidth: descriptor.inputWidth,
      inputChannels: descriptor.inputChannels,
      normalize: descriptor.normalize,
      numClasses: engine.numClasses,
      labelsSource: publicSourceName(descriptor.labelsSource),
      weights: provenance(descriptor.weights),
      weightsSource: publicSourceName(descriptor.weightsSource),
      parameters: BigInt(descriptor.parameters),
    },
    batching: {
      maxBatch: i.batching.maxBatch,
      maxQueueDelayMicros: i.batching.maxQueueDelayUs,
      maxQueue: i.options.maxQueue,
      maxConcurrentBatches: i.options.maxConcurrentBatches ?? 1,
    },
    versions: componentVersions(),
    maxMessageBytes: i.options.maxMessageBytes,
    hostname: os.hostname(),
    cpus: os.cpus().length,
    startedUnixNanos: i.startedUnixNanos,
    tls: i.options.tlsCert !== undefined,
    authRequired: i.authRequired,
    serverId: i.serverId,
  };
}
