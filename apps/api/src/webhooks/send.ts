/**
 * One webhook attempt over node:http(s), connected to the address the SSRF
 * check approved (the `lookup` option answers with it, so there is no second
 * DNS lookup and no rebinding window; TLS still checks the certificate
 * against the URL's host name). @airlock/transport connects by name and
 * cannot be given a pre-checked address, hence this small sender.
 * Redirects are not followed (node:http never does; a 3xx is a failure),
 * the whole attempt is bounded by `timeoutMs`, and at most RESPONSE_CAP
 * bytes of the answer are read.
 */
import http from 'node:http';
import https from 'node:https';
import type { LookupFunction } from 'node:net';
import { resolveWebhookTarget, WebhookTargetRefused } from './ssrf.ts';

const RESPONSE_CAP = 4096;

export interface AttemptResult {
  ok: boolean;
  statusCode: number | null;
  error: string | null;
  durationMs: number;
}

export const sendWebhook = async (
  url: string,
  headers: Record<string, string>,
  body: string,
  timeoutMs: number,
): Promise<AttemptResult> => {
  const started = performance.now();
  const done = (statusCode: number | null, error: string | null): AttemptResult => ({
    ok: error === null && statusCode !== null && statusCode >= 200 && statusCode < 300,
    statusCode,
    error,
    durationMs: Math.round(performance.now() - started),
  });
  const target = new URL(url);
  let resolved;
  try {
    resolved = await resolveWebhookTarget(target);
  } catch (err) {
    return done(null, err instanceof WebhookTargetRefused ? `refused: ${err.message}` : `dns: ${(err as Error).message}`);
  }
  const pinned: LookupFunction = (_host, opts, cb) => {
    if ((opts as { all?: boolean }).all) (cb as (e: null, a: { address: string; family: number }[]) => void)(null, [resolved]);
    else cb(null, resolved.address, resolved.family);
  };
  const client = target.protocol === 'https:' ? https : http;
  return new Promise<AttemptResult>((resolve) => {
    let settled = false;
    const finish = (r: AttemptResult) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      req.destroy();
      resolve(r);
    };
    const req = client.request(
      target,
      {
        method: 'POST',
        headers: { ...headers, 'content-length': String(Buffer.byteLength(body)), 'user-agent': 'Airlock-Webhooks/1' },
        lookup: pinned,
        agent: false,
      },
      (res) => {
        const status = res.statusCode ?? 0;
        let read = 0;
        res.on('data', (chunk: Buffer) => {
          read += chunk.length;
          // The answer is not ours to keep: a small cap, then the status is all we need.
          if (read > RESPONSE_CAP) finish(done(status, status >= 200 && status < 300 ? null : `HTTP ${status}`));
        });
        res.on('end', () => finish(done(status, status >= 200 && status < 300 ? null : `HTTP ${status}`)));
        res.on('error', (err) => finish(done(status, `read: ${err.message}`)));
      },
    );
    const timer = setTimeout(() => finish(done(null, `timeout after ${timeoutMs} ms`)), timeoutMs);
    req.on('error', (err) => finish(done(null, `connect: ${err.message}`)));
    req.end(body);
  });
};
