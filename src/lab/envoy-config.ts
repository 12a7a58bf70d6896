/**
 * `--edge envoy`: the production edge, deploy/envoy/envoy.yaml, rendered for the lab. Only what names the
 * deployment changes: the listener's address (the edge's public addresses), the files Envoy reads (the
 * lab's certificates and JWKS) and the cluster's members (the servers' tunnel addresses, or the
 * impairment proxies in front of them). Routes, timeouts, auth and health checks are the file's own.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as YAML from 'yaml';
import type { LabCerts } from './certs';
import { EDGE_PORT, PROXY_PORTS, SERVERS, SERVER_GRPC_PORT, TUNNEL } from './topology';

export const ENVOY_YAML = path.resolve(__dirname, '..', '..', '..', 'deploy', 'envoy', 'envoy.yaml');

type Obj = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any -- walking untyped YAML

function need(o: Obj | undefined, what: string): Obj {
  if (o === undefined || o === null || typeof o !== 'object') throw new Error(`${ENVOY_YAML}: ${what} not found; the lab's Envoy rendering must follow the file's layout`);
  return o;
}

export function renderEnvoyConfig(certs: LabCerts, viaProxy: boolean, source = fs.readFileSync(ENVOY_YAML, 'utf8')): string {
  const cfg = YAML.parse(source) as Obj;
  const listener = need(cfg.static_resources?.listeners?.[0], 'static_resources.listeners[0]');
  // "::" with ipv4_compat stays: inside the edge namespace the only addresses are the lab's.
  listener.address = { socket_address: { address: '::', port_value: EDGE_PORT, ipv4_compat: true } };
  const chain = need(listener.filter_chains?.[0], 'filter_chains[0]');
  const tls = need(chain.transport_socket?.typed_config?.common_tls_context, 'common_tls_context');
  tls.tls_certificates = [{ certificate_chain: { filename: certs.serverCert }, private_key: { filename: certs.serverKey } }];
  const filters = need(chain.filters?.[0]?.typed_config?.http_filters, 'http_filters') as Obj[];
  const jwt = need(filters.find((f) => f.name === 'envoy.filters.http.jwt_authn'), 'the jwt_authn filter');
  for (const p of Object.values(need(jwt.typed_config?.providers, 'jwt providers'))) (p as Obj).local_jwks = { filename: certs.jwks };
  const cluster = need((cfg.static_resources.clusters as Obj[] | undefined)?.find((c) => c.name === 'inference'), "the 'inference' cluster");
  cluster.type = 'STATIC';
  delete cluster.dns_lookup_family;
  delete cluster.dns_refresh_rate;
  cluster.load_assignment = {
    cluster_name: 'inference',
    endpoints: [
      {
        lb_endpoints: SERVERS.map((s) => ({
          endpoint: {
            address: { socket_address: viaProxy ? { address: '127.0.0.1', port_value: PROXY_PORTS[s] } : { address: TUNNEL[s].ipv4, port_value: SERVER_GRPC_PORT } },
            // Health checks go straight into the tunnel even when traffic goes through the proxy.
            health_check_config: { address: { socket_address: { address: TUNNEL[s].ipv4, port_value: SERVER_GRPC_PORT } } },
          },
        })),
      },
    ],
  };
  return `# Lab edge (Envoy), rendered by src/lab/envoy-config.ts from deploy/envoy/envoy.yaml.\n${YAML.stringify(cfg)}`;
}
