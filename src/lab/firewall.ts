/**
 * The servers' firewall (nftables, in each server namespace): the only way in is the WireGuard tunnel from
 * the edge. On the underlay only the edge's WireGuard UDP packets (and IPv6 neighbour discovery, without
 * which the underlay's IPv6 would not resolve) are admitted; inside the tunnel only the edge's tunnel
 * addresses. Everything else is dropped, so a server's gRPC and metrics ports, although bound to every
 * address, answer nobody but the edge through the tunnel.
 */
import { runIn } from './run';
import { SERVER_LINKS, TUNNEL, wgDev, WG_PORT, type ServerName } from './topology';

export function serverRuleset(server: ServerName): string {
  const under = SERVER_LINKS[server];
  return [
    'table inet rtilab {',
    '  chain input {',
    '    type filter hook input priority 0; policy drop;',
    '    iifname "lo" accept',
    '    ct state established,related accept',
    `    iifname "${under.b.dev}" ip saddr ${under.a.addr.ipv4} udp dport ${WG_PORT} accept`,
    `    iifname "${under.b.dev}" ip6 saddr ${under.a.addr.ipv6} udp dport ${WG_PORT} accept`,
    `    iifname "${under.b.dev}" icmpv6 type { nd-neighbor-solicit, nd-neighbor-advert, nd-router-advert } accept`,
    `    iifname "${wgDev(server)}" ip saddr ${TUNNEL.edge.ipv4} accept`,
    `    iifname "${wgDev(server)}" ip6 saddr ${TUNNEL.edge.ipv6} accept`,
    '  }',
    '}',
    '',
  ].join('\n');
}

export function applyServerFirewall(server: ServerName): void {
  runIn(server, 'nft', ['-f', '-'], { input: serverRuleset(server) });
}
