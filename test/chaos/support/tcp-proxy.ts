/**
 * A TCP hop in front of the real api that holds the api's answers back for
 * `delayMs`: the api "answers after the upstream timeout" without any change
 * to the api. It also counts the connections the edge holds open to it.
 */
import { createServer, connect, type Socket } from 'node:net';
import type { AddressInfo } from 'node:net';

export interface DelayProxy {
  port: number;
  url: string;
  /** Connections from the edge open right now. */
  open: () => number;
  /** Most connections from the edge open at once. */
  peak: () => number;
  accepted: () => number;
  close: () => Promise<void>;
}

export const startDelayProxy = async (upstreamPort: number, delayMs: number): Promise<DelayProxy> => {
  const sockets = new Set<Socket>();
  const fromEdge = new Set<Socket>();
  let peak = 0;
  let accepted = 0;
  const server = createServer((client) => {
    accepted += 1;
    sockets.add(client);
    fromEdge.add(client);
    peak = Math.max(peak, fromEdge.size);
    const api = connect(upstreamPort, '127.0.0.1');
    sockets.add(api);
    const end = () => {
      client.destroy();
      api.destroy();
      sockets.delete(client);
      fromEdge.delete(client);
      sockets.delete(api);
    };
    client.on('data', (d: Buffer) => api.write(d));
    api.on('data', (d: Buffer) => {
      setTimeout(() => {
        if (!client.destroyed) client.write(d);
      }, delayMs).unref();
    });
    client.on('close', end);
    client.on('error', end);
    api.on('close', () => setTimeout(end, delayMs).unref());
    api.on('error', end);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  const port = (server.address() as AddressInfo).port;
  return {
    port,
    url: `http://127.0.0.1:${port}`,
    open: () => fromEdge.size,
    peak: () => peak,
    accepted: () => accepted,
    close: async () => {
      for (const s of sockets) s.destroy();
      await new Promise<void>((r) => server.close(() => r()));
    },
  };
};
