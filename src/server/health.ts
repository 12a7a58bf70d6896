/**
 * Standard grpc.health.v1 (grpc-health-check): the overall server ("") and the inference service report
 * NOT_SERVING until the model is warm, SERVING after, and NOT_SERVING again once shutdown begins, so load
 * balancers and `grpc_health_probe` drain traffic before the listener closes.
 */
import type * as grpc from '@grpc/grpc-js';
import { HealthImplementation, type ServingStatus } from 'grpc-health-check';

export const INFERENCE_SERVICE_NAME = 'inference.v1.InferenceService';
const SERVICES = ['', INFERENCE_SERVICE_NAME];

export interface Health {
  setServing(serving: boolean): void;
  /** What "" reports: the readiness endpoint mirrors it for HTTP-only checkers. */
  isServing(): boolean;
  addToServer(server: grpc.Server): void;
}

export function createHealth(): Health {
  const impl = new HealthImplementation(Object.fromEntries(SERVICES.map((s) => [s, 'NOT_SERVING' as ServingStatus])));
  let serving = false;
  return {
    setServing(on) {
      serving = on;
      for (const s of SERVICES) impl.setStatus(s, on ? 'SERVING' : 'NOT_SERVING');
    },
    isServing: () => serving,
    addToServer(server) {
      impl.addToServer(server);
    },
  };
}
