import type { Server } from 'node:http';
import type { Socket } from 'node:net';
import { foldIp, isTrusted, throttleIdentity } from '@airlock/net';
import type { EdgeContext } from './context.ts';

export interface ConnState {
  socket: Socket;
  ipKey: string;
  busy: number;
  served: number;
}

const connKey = (s: Socket): string => `${s.remoteAddress ?? ''}|${s.remotePort ?? ''}`;

export type ConnLookup = (socket: Socket) => ConnState | undefined;

export interface Connections {
  lookup: ConnLookup;
  /** End of the shutdown grace: every client connection goes, mid-TLS-handshake ones included. */
  destroyAll: () => void;
}

/**
 * Connection policy: at most EDGE_MAX_CONNECTIONS_PER_IP open connections per
 * client identity, making room by closing an idle keep-alive connection of the
 * same client first. A trusted proxy is not capped: it carries many clients,
 * which are throttled per request instead.
 */
export const enforceConnectionCap = (server: Server, edge: EdgeContext): Connections => {
  const { config, metrics, logger } = edge;
  // Keyed by address and port, not by socket object: under TLS the request's
  // socket is the TLSSocket wrapping the one 'connection' saw.
  const conns = new Map<string, ConnState>();
  const byIp = new Map<string, Set<ConnState>>();
  const refusalLogged = new Map<string, number>();
  server.on('connection', (socket: Socket) => {
    const peer = foldIp(socket.remoteAddress ?? '');
    const capped = !(edge.hasTrustedProxies && isTrusted(edge.trust, peer));
    const ipKey = throttleIdentity(peer);
    let set = byIp.get(ipKey);
    if (!set) {
      set = new Set();
      byIp.set(ipKey, set);
    }
    if (capped && set.size >= config.limits.maxConnectionsPerIp) {
      // Prefer evicting an idle keep-alive connection of the same client: a
      // NAT full of agents should not be refused because of parked sockets.
      const idle = [...set].find((c) => c.busy === 0 && c.served > 0);
      if (idle) {
        set.delete(idle);
        idle.socket.destroy();
      } else {
        metrics.connectionsRefused.inc();
        // One line per client per 10 s: a connection flood must not become a log flood.
        const now = Date.now();
        if ((refusalLogged.get(ipKey) ?? 0) < now - 10_000) {
          refusalLogged.set(ipKey, now);
          if (refusalLogged.size > 10_000) refusalLogged.clear();
          logger.log('warn', 'connection refused: per-IP connection cap', { ip: ipKey, cap: config.limits.maxConnectionsPerIp });
        }
        if (set.size === 0) byIp.delete(ipKey);
        socket.destroy();
        return;
      }
    }
    const state: ConnState = { socket, ipKey, busy: 0, served: 0 };
    set.add(state);
    const key = connKey(socket);
    conns.set(key, state);
    metrics.connectionsOpen.inc();
    socket.once('close', () => {
      metrics.connectionsOpen.dec();
      if (conns.get(key) === state) conns.delete(key);
      const s = byIp.get(ipKey);
      s?.delete(state);
      if (s && s.size === 0) byIp.delete(ipKey);
    });
  });
  return {
    lookup: (socket) => conns.get(connKey(socket)),
    destroyAll: () => {
      for (const state of conns.values()) state.socket.destroy();
    },
  };
};
