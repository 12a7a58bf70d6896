/**
 * The run JSON's `environment` for a browser run: rtinfer's fields, filled with what a page can know (the
 * browser's user agent stands where rtinfer puts the OS release; no Node, no CPU model, no memory size).
 */
import type { Environment } from '../measure/report-doc';

export function browserEnvironment(server: Record<string, unknown> | undefined): Environment {
  return {
    node: 'none (browser)',
    platform: 'browser',
    os_release: navigator.userAgent,
    arch: '',
    cpus: navigator.hardwareConcurrency || 0,
    cpu_model: 'unknown',
    total_memory_bytes: 0,
    hostname: location.hostname,
    target: location.host,
    ...(server ? { server } : {}),
  };
}
