/**
 * The lab's hosts, links and addresses: one definition that every other part of the lab (and its tests)
 * reads. Addresses come only from 198.18.0.0/15 (RFC 2544, benchmarking) and one ULA /48, so nothing the
 * lab does can reach or shadow a real network. Names carry a prefix so they never collide with anything
 * else on the machine.
 *
 *   client ──veth── edge ──veth (underlay)── server-a      WireGuard wg0 over each underlay:
 *                        ──veth (underlay)── server-b      edge 198.19.0.1 ⇄ server-a .2, server-b .3
 */
import * as os from 'node:os';
import * as path from 'node:path';

export const DEFAULT_LAB_NAME = 'rtilab';

/**
 * The lab's name, RTINFER_LAB (default rtilab): the prefix of everything of the lab that is visible
 * machine-wide (namespaces, WireGuard interface names, the state directory), so labs with different names
 * never touch each other's parts. Addresses and ports live inside the namespaces and may repeat.
 * At most 8 characters: interface names (NAME-wg-e) are limited to 15.
 */
export function labName(): string {
  const n = process.env.RTINFER_LAB ?? DEFAULT_LAB_NAME;
  if (!/^[a-z][a-z0-9]{0,7}$/.test(n)) throw new Error(`RTINFER_LAB is 1–8 lowercase letters or digits, starting with a letter (got '${n}'): it prefixes interface names, which Linux limits to 15 characters`);
  return n;
}
/** The ULA /48 every IPv6 address of the lab lives in. */
export const ULA_48 = 'fd72:7469:6e66';

export type HostName = 'client' | 'edge' | 'server-a' | 'server-b';
export const HOSTS: readonly HostName[] = ['client', 'edge', 'server-a', 'server-b'];
export type ServerName = 'server-a' | 'server-b';
export const SERVERS: readonly ServerName[] = ['server-a', 'server-b'];

export function nsOf(host: HostName): string {
  return `${labName()}-${host}`;
}

export interface DualAddress {
  ipv4: string;
  ipv6: string;
}

/** A veth pair: `a` end in one namespace, `b` end in the other, one /24 and one /64. */
export interface Link {
  a: { host: HostName; dev: string; addr: DualAddress };
  b: { host: HostName; dev: string; addr: DualAddress };
}

function link(aHost: HostName, aDev: string, bHost: HostName, bDev: string, subnet: number): Link {
  return {
    a: { host: aHost, dev: aDev, addr: { ipv4: `198.18.${subnet}.1`, ipv6: `${ULA_48}:${subnet}::1` } },
    b: { host: bHost, dev: bDev, addr: { ipv4: `198.18.${subnet}.2`, ipv6: `${ULA_48}:${subnet}::2` } },
  };
}

/** client↔edge carries the public side (and the optional tbf bottleneck); edge↔server-* the tunnels' underlay. */
export const CLIENT_LINK = link('edge', 'client0', 'client', 'edge0', 1);
export const SERVER_LINKS: Record<ServerName, Link> = {
  'server-a': link('edge', 'srva0', 'server-a', 'edge0', 2),
  'server-b': link('edge', 'srvb0', 'server-b', 'edge0', 3),
};

/**
 * WireGuard interface names, unique machine-wide although each lives in its own namespace: wireguard-go's
 * control socket is /var/run/wireguard/NAME.sock, a path every namespace shares.
 */
export function wgDev(host: 'edge' | ServerName): string {
  return `${labName()}-wg-${host === 'edge' ? 'e' : host === 'server-a' ? 'a' : 'b'}`;
}
export const WG_SOCKET_DIR = '/var/run/wireguard';
export const WG_PORT = 51820;
/** Addresses inside the tunnel (one /24 and one /64 shared by the edge and both servers). */
export const TUNNEL: Record<'edge' | ServerName, DualAddress> = {
  edge: { ipv4: '198.19.0.1', ipv6: `${ULA_48}:100::1` },
  'server-a': { ipv4: '198.19.0.2', ipv6: `${ULA_48}:100::2` },
  'server-b': { ipv4: '198.19.0.3', ipv6: `${ULA_48}:100::3` },
};

/** The public endpoint: the edge's client-side addresses. */
export const EDGE_PORT = 8443;
export const EDGE_ADDRESS: DualAddress = CLIENT_LINK.a.addr;
/** TLS name in the edge's certificate besides its two addresses (scripts/dev-certs.sh EXTRA_SANS). */
export const EDGE_SERVERNAME = 'edge.rtinfer-lab.test';

/** What each server listens on, inside its namespace (bound to every address; nft admits the tunnel only). */
export const SERVER_GRPC_PORT = 8000;
export const SERVER_METRICS_PORT = 9464;
/** The servers' gRPC-web / Connect port, which also serves the browser page. */
export const SERVER_WEB_PORT = 8080;
/** The impairment proxies listen on the edge's loopback, one per server. */
export const PROXY_PORTS: Record<ServerName, number> = { 'server-a': 18001, 'server-b': 18002 };

/** Where the lab keeps its state file, keys, certificates, configs and logs; `down` removes it whole. */
export function labDir(): string {
  return path.join(os.tmpdir(), `${labName()}-state`);
}
export function stateFile(): string {
  return path.join(labDir(), 'state.json');
}
