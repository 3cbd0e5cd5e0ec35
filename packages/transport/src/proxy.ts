import { connect as netConnect, isIP, type Socket } from 'node:net';
import { TransportError } from './errors.ts';

/**
 * The proxy for a server URL from the usual variables (HTTPS_PROXY /
 * https_proxy for https, HTTP_PROXY / http_proxy for http, NO_PROXY /
 * no_proxy), as curl reads them, so the agent and the shell client behave
 * the same behind a corporate proxy. Only http:// proxies (CONNECT).
 *
 * @example
 *   proxyFor(new URL('https://edge.example.com'), { HTTPS_PROXY: 'http://proxy:3128' }) // => URL http://proxy:3128
 */
export const proxyFor = (server: URL, env: NodeJS.ProcessEnv): URL | null => {
  const raw = server.protocol === 'https:' ? (env.https_proxy ?? env.HTTPS_PROXY) : (env.http_proxy ?? env.HTTP_PROXY);
  if (raw === undefined || raw.trim() === '') return null;
  if (bypassed(server, env.no_proxy ?? env.NO_PROXY ?? '')) return null;
  let proxy: URL;
  try {
    proxy = new URL(raw.includes('://') ? raw : `http://${raw}`);
  } catch {
    throw new TransportError('network', 'the proxy in HTTPS_PROXY / HTTP_PROXY is not a valid URL');
  }
  if (proxy.protocol !== 'http:') throw new TransportError('network', `only http:// proxies are supported, not ${proxy.protocol}//`);
  return proxy;
};

const bypassed = (server: URL, noProxy: string): boolean => {
  const host = server.hostname.replace(/^\[|\]$/g, '').toLowerCase();
  const port = server.port || (server.protocol === 'https:' ? '443' : '80');
  return noProxy
    .split(/[\s,]+/)
    .filter((entry) => entry !== '')
    .some((entry) => {
      if (entry === '*') return true;
      let [pattern = '', entryPort] = entry.toLowerCase().split(/:(?=\d+$)/);
      if (entryPort !== undefined && entryPort !== port) return false;
      pattern = pattern.replace(/^\*?\./, '');
      if (isIP(host) !== 0) return host === pattern;
      return host === pattern || host.endsWith(`.${pattern}`);
    });
};

/** The proxy as shown to people: never its credentials. */
export const describeProxy = (proxy: URL): string => `${proxy.protocol}//${proxy.host}`;

/**
 * Opens a CONNECT tunnel to host:port through an http:// proxy. TLS (and the
 * pin check) then runs inside the tunnel, end to end with the edge, so the
 * proxy sees neither the pairing code nor the credentials.
 */
export const openTunnel = (proxy: URL, host: string, port: number, timeoutMs: number, signal?: AbortSignal): Promise<Socket> =>
  new Promise((resolve, reject) => {
    const target = `${isIP(host) === 6 ? `[${host}]` : host}:${port}`;
    const socket = netConnect({ host: proxy.hostname.replace(/^\[|\]$/g, ''), port: Number(proxy.port || 80) });
    let head = Buffer.alloc(0);
    const fail = (error: TransportError) => {
      cleanup();
      socket.destroy();
      reject(error);
    };
    const onError = (error: Error) => fail(new TransportError('network', `proxy ${describeProxy(proxy)}: ${error.message}`));
    const onAbort = () => fail(new TransportError('aborted', 'interrupted'));
    const onClose = () => fail(new TransportError('network', `proxy ${describeProxy(proxy)} closed the connection`));
    const onData = (chunk: Buffer) => {
      head = Buffer.concat([head, chunk]);
      const end = head.indexOf('\r\n\r\n');
      if (end < 0) {
        if (head.length > 16 * 1024) fail(new TransportError('network', `proxy ${describeProxy(proxy)} sent an oversized answer`));
        return;
      }
      const statusLine = head.subarray(0, head.indexOf('\r\n')).toString('latin1');
      const status = /^HTTP\/1\.[01] (\d{3})/.exec(statusLine)?.[1];
      if (status !== '200') {
        return fail(new TransportError('network', `proxy ${describeProxy(proxy)} refused the tunnel to ${target}: ${statusLine.slice(0, 100)}`));
      }
      cleanup();
      const rest = head.subarray(end + 4);
      if (rest.length > 0) socket.unshift(rest);
      resolve(socket);
    };
    const timer = setTimeout(() => fail(new TransportError('timeout', `no tunnel through proxy ${describeProxy(proxy)} within ${timeoutMs / 1000} s`)), timeoutMs);
    const cleanup = () => {
      clearTimeout(timer);
      socket.off('data', onData);
      socket.off('error', onError);
      socket.off('close', onClose);
      signal?.removeEventListener('abort', onAbort);
    };
    socket.on('error', onError);
    socket.on('close', onClose);
    socket.on('data', onData);
    signal?.addEventListener('abort', onAbort, { once: true });
    const auth =
      proxy.username !== ''
        ? `Proxy-Authorization: Basic ${Buffer.from(`${decodeURIComponent(proxy.username)}:${decodeURIComponent(proxy.password)}`).toString('base64')}\r\n`
        : '';
    socket.write(`CONNECT ${target} HTTP/1.1\r\nHost: ${target}\r\n${auth}\r\n`);
  });
