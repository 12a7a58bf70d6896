/**
 * Hosts as network namespaces, joined by veth pairs. Each pair is created with both ends already inside
 * their namespaces, so no interface of the lab ever appears in the machine's own namespace. No namespace
 * gets a default route, and none forwards: the client can reach only the edge's public addresses, and the
 * servers only the edge (firewall.ts narrows that further to the tunnel).
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { run, runIn } from './run';
import { CLIENT_LINK, EDGE_ADDRESS, EDGE_SERVERNAME, HOSTS, labName, SERVER_LINKS, SERVERS, nsOf, type HostName, type Link } from './topology';

/** Namespaces of ours that exist now (by prefix), whether or not a state file remembers them. */
export function existingNamespaces(): string[] {
  const out = run('ip', ['netns', 'list']).stdout;
  return out
    .split('\n')
    .map((l) => l.trim().split(/\s+/)[0])
    .filter((n) => n.startsWith(`${labName()}-`));
}

export function createNamespace(host: HostName): void {
  run('ip', ['netns', 'add', nsOf(host)]);
  runIn(host, 'ip', ['link', 'set', 'lo', 'up']);
  // Explicit, not inherited: a host that forwarded would bridge the client to the servers' underlay.
  for (const f of ['/proc/sys/net/ipv4/ip_forward', '/proc/sys/net/ipv6/conf/all/forwarding']) {
    runIn(host, 'sh', ['-c', `echo 0 > ${f}`]);
  }
}

/** `nodad`: a duplicate cannot exist on a two-host link, and waiting out DAD would delay every bind. */
function addAddresses(host: HostName, dev: string, addr: { ipv4: string; ipv6: string }): void {
  runIn(host, 'ip', ['addr', 'add', `${addr.ipv4}/24`, 'dev', dev]);
  runIn(host, 'ip', ['-6', 'addr', 'add', `${addr.ipv6}/64`, 'dev', dev, 'nodad']);
  runIn(host, 'ip', ['link', 'set', dev, 'up']);
}

export function createLink(l: Link): void {
  run('ip', ['link', 'add', l.a.dev, 'netns', nsOf(l.a.host), 'type', 'veth', 'peer', 'name', l.b.dev, 'netns', nsOf(l.b.host)]);
  addAddresses(l.a.host, l.a.dev, l.a.addr);
  addAddresses(l.b.host, l.b.dev, l.b.addr);
}

/** Every namespace and link of the topology (namespaces must not exist yet). */
export function createHostsAndLinks(onNamespace: (ns: string) => void): void {
  for (const h of HOSTS) {
    createNamespace(h);
    onNamespace(nsOf(h));
  }
  writeClientHostsFile();
  createLink(CLIENT_LINK);
  for (const s of SERVERS) createLink(SERVER_LINKS[s]);
}

/**
 * The client resolves EDGE_SERVERNAME to the edge's addresses: `ip netns exec` mounts
 * /etc/netns/NS/hosts over /etc/hosts for commands run in that namespace.
 */
export function hostsFileDir(host: HostName): string {
  return `/etc/netns/${nsOf(host)}`;
}

export function writeClientHostsFile(): void {
  fs.mkdirSync(hostsFileDir('client'), { recursive: true });
  const lines = ['127.0.0.1 localhost', '::1 localhost', `${EDGE_ADDRESS.ipv4} ${EDGE_SERVERNAME}`, `${EDGE_ADDRESS.ipv6} ${EDGE_SERVERNAME}`];
  fs.writeFileSync(path.join(hostsFileDir('client'), 'hosts'), `${lines.join('\n')}\n`);
}

/** /etc/netns directories of ours (by prefix). */
export function existingHostsDirs(): string[] {
  if (!fs.existsSync('/etc/netns')) return [];
  return fs
    .readdirSync('/etc/netns')
    .filter((n) => n.startsWith(`${labName()}-`))
    .map((n) => path.join('/etc/netns', n));
}

/** PIDs of every process inside one of our namespaces (`ip netns pids`). */
export function pidsIn(ns: string): number[] {
  const r = run('ip', ['netns', 'pids', ns], { allowFail: true });
  return r.stdout
    .split('\n')
    .map((l) => Number(l.trim()))
    .filter((n) => Number.isInteger(n) && n > 0);
}

/** Deleting a namespace removes its veth ends, and with them their peers. */
export function deleteNamespace(ns: string): void {
  run('ip', ['netns', 'del', ns], { allowFail: true });
}
