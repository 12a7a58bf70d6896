/**
 * The VPN: WireGuard between the edge and each server, in user space (wireguard-go + wg; this kernel has
 * no WireGuard module). Keys are made fresh for every lab in its private directory and never leave it.
 * The edge has one interface with a peer per server; each server has one peer, the edge, whose tunnel
 * addresses are the only ones it accepts (allowed-ips is WireGuard's own source filter).
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { startIn, type LabProcess } from './processes';
import { run, runIn } from './run';
import { SERVER_LINKS, SERVERS, TUNNEL, wgDev, WG_PORT, type ServerName } from './topology';

type WgHost = 'edge' | ServerName;

interface KeyPair {
  privateFile: string;
  publicKey: string;
}

function makeKeys(dir: string, host: WgHost): KeyPair {
  const privateKey = run('wg', ['genkey']).stdout.trim();
  const privateFile = path.join(dir, `wg-${host}.key`);
  fs.writeFileSync(privateFile, `${privateKey}\n`, { mode: 0o600 });
  return { privateFile, publicKey: run('wg', ['pubkey'], { input: `${privateKey}\n` }).stdout.trim() };
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

async function waitForInterface(host: WgHost, proc: LabProcess): Promise<void> {
  for (let i = 0; i < 100; i++) {
    if (runIn(host, 'ip', ['link', 'show', wgDev(host)], { allowFail: true }).status === 0) return;
    await sleep(50);
  }
  throw new Error(`wireguard-go did not create ${wgDev(host)} in ${host} within 5 s; see ${proc.log}`);
}

function peerArgs(peerKey: string, allowed: { ipv4: string; ipv6: string }, endpoint: string): string[] {
  return ['peer', peerKey, 'allowed-ips', `${allowed.ipv4}/32,${allowed.ipv6}/128`, 'endpoint', endpoint];
}

/** Starts wireguard-go on the edge and both servers (each reported to `onProcess` at once) and configures the tunnels. */
export async function startTunnels(dir: string, onProcess: (p: LabProcess) => void): Promise<void> {
  const hosts: WgHost[] = ['edge', ...SERVERS];
  const keys = Object.fromEntries(hosts.map((h) => [h, makeKeys(dir, h)])) as Record<WgHost, KeyPair>;
  // Silences wireguard-go's banner recommending the kernel module, which this kernel cannot load.
  const env = { ...process.env, WG_I_PREFER_BUGGY_USERSPACE_TO_POLISHED_KMOD: '1' };
  for (const h of hosts) {
    const proc = startIn(h, `wireguard-go@${h}`, ['wireguard-go', '-f', wgDev(h)], path.join(dir, `wireguard-${h}.log`), env);
    onProcess(proc);
    await waitForInterface(h, proc);
  }
  const edgePeers = SERVERS.flatMap((s) => peerArgs(keys[s].publicKey, TUNNEL[s], `${SERVER_LINKS[s].b.addr.ipv4}:${WG_PORT}`));
  runIn('edge', 'wg', ['set', wgDev('edge'), 'listen-port', String(WG_PORT), 'private-key', keys.edge.privateFile, ...edgePeers]);
  for (const s of SERVERS) {
    runIn(s, 'wg', ['set', wgDev(s), 'listen-port', String(WG_PORT), 'private-key', keys[s].privateFile, ...peerArgs(keys.edge.publicKey, TUNNEL.edge, `${SERVER_LINKS[s].a.addr.ipv4}:${WG_PORT}`)]);
  }
  for (const h of hosts) {
    runIn(h, 'ip', ['addr', 'add', `${TUNNEL[h].ipv4}/24`, 'dev', wgDev(h)]);
    runIn(h, 'ip', ['-6', 'addr', 'add', `${TUNNEL[h].ipv6}/64`, 'dev', wgDev(h), 'nodad']);
    runIn(h, 'ip', ['link', 'set', wgDev(h), 'up']);
  }
}
