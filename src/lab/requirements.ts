/**
 * What the lab needs from the machine, checked before it touches anything: root (namespaces, links,
 * qdiscs), /dev/net/tun (wireguard-go) and each binary, with the Debian package that provides it.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';

export type EdgeKind = 'haproxy' | 'envoy';

interface Binary {
  name: string;
  /** How to get it, for the one-line message. */
  install: string;
}

const COMMON: Binary[] = [
  { name: 'ip', install: 'apt-get install iproute2' },
  { name: 'tc', install: 'apt-get install iproute2' },
  { name: 'nft', install: 'apt-get install nftables' },
  { name: 'wireguard-go', install: 'apt-get install wireguard-go' },
  { name: 'wg', install: 'apt-get install wireguard-tools' },
  { name: 'openssl', install: 'apt-get install openssl' },
];
const EDGES: Record<EdgeKind, Binary> = {
  haproxy: { name: 'haproxy', install: 'apt-get install haproxy' },
  envoy: { name: 'envoy', install: 'install Envoy ≥ 1.29 from https://www.envoyproxy.io/docs/envoy/latest/start/install (not packaged in Debian 12)' },
};

/** Absolute path of an executable on PATH, or undefined. */
export function onPath(name: string, envPath = process.env.PATH ?? ''): string | undefined {
  for (const dir of envPath.split(path.delimiter)) {
    if (!dir) continue;
    const p = path.join(dir, name);
    try {
      fs.accessSync(p, fs.constants.X_OK);
      if (fs.statSync(p).isFile()) return p;
    } catch {
      // not here
    }
  }
  return undefined;
}

/**
 * The first thing missing, as the one line to print (and exit 1 with), or undefined when the lab can run.
 * `uid` and `envPath` are parameters so tests can ask about another machine.
 */
export function missingRequirement(edge: EdgeKind, uid = process.getuid?.() ?? -1, envPath = process.env.PATH ?? '', tun = '/dev/net/tun'): string | undefined {
  if (uid !== 0) return 'lab: needs root (network namespaces, veth links, qdiscs): run it as root, e.g. sudo npm run lab -- up';
  for (const b of [...COMMON, EDGES[edge]]) {
    if (!onPath(b.name, envPath)) return `lab: '${b.name}' not found on PATH (${b.install})`;
  }
  if (!fs.existsSync(tun)) return `lab: ${tun} is missing (wireguard-go needs the tun device: modprobe tun, or run the container with --device /dev/net/tun)`;
  return undefined;
}
