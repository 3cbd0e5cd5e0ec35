/**
 * An HTTP CONNECT proxy per real agent, each leaving from its own loopback
 * source address, so the edge sees every airlock-agent process as its own
 * client (as appliances behind different NATs are) while the agents stay
 * unmodified: they use HTTPS_PROXY like any agent behind a corporate proxy.
 * TLS and the certificate pin stay end to end, through the tunnel.
 *
 * It also times the round trips in each tunnel (agent bytes out, first edge
 * bytes back), which is the per-request latency the agent sees on the wire,
 * TLS handshake legs included.
 */
import * as http from 'node:http';
import { connect, type Socket } from 'node:net';
import type { AddressInfo } from 'node:net';

export interface ConnectProxy {
  url: string;
  roundTripsMs: number[];
  close: () => Promise<void>;
}

export const startConnectProxy = async (sourceAddress: string, allowedPort: number): Promise<ConnectProxy> => {
  const roundTripsMs: number[] = [];
  const sockets = new Set<Socket>();
  const server = http.createServer((_req, res) => {
    res.writeHead(405).end();
  });
  server.on('connect', (req: http.IncomingMessage, client: Socket, head: Buffer) => {
    const [host, port] = (req.url ?? '').split(':');
    // Only to the edge under test, on loopback: never anywhere else.
    if (host !== '127.0.0.1' || Number(port) !== allowedPort) {
      client.end('HTTP/1.1 403 Forbidden\r\n\r\n');
      return;
    }
    const upstream = connect({ host: '127.0.0.1', port: allowedPort, localAddress: sourceAddress });
    sockets.add(client);
    sockets.add(upstream);
    let sentAt: number | null = null;
    upstream.once('connect', () => {
      client.write('HTTP/1.1 200 Connection Established\r\n\r\n');
      if (head.length > 0) upstream.write(head);
      client.on('data', (d: Buffer) => {
        sentAt ??= performance.now();
        upstream.write(d);
      });
      upstream.on('data', (d: Buffer) => {
        if (sentAt !== null) {
          roundTripsMs.push(performance.now() - sentAt);
          sentAt = null;
        }
        client.write(d);
      });
    });
    const end = () => {
      client.destroy();
      upstream.destroy();
      sockets.delete(client);
      sockets.delete(upstream);
    };
    client.on('close', end);
    client.on('error', end);
    upstream.on('close', end);
    upstream.on('error', end);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    roundTripsMs,
    close: async () => {
      for (const s of sockets) s.destroy();
      await new Promise<void>((r) => server.close(() => r()));
    },
  };
};
