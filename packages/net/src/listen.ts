import type { AddressInfo, Server } from 'node:net';

/**
 * Listens on host:port and resolves with the port bound (port 0: the one the
 * kernel picked), or rejects with the listen error (EADDRINUSE, EACCES) so a
 * caller can say which address failed, instead of an unhandled 'error' event.
 */
export const listenOn = (server: Server, port: number, host: string): Promise<number> =>
  new Promise<number>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve((server.address() as AddressInfo).port);
    });
  });
