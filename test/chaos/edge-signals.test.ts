/**
 * The edge process under load (issue 13): SIGTERM drains (every request the
 * edge had accepted is answered in full, new connections are refused, the
 * process exits 0 within its grace period); SIGHUP swaps the TLS certificate
 * with no failed request; an api slower than the upstream timeout gets a 504
 * envelope and the edge's sockets to it do not pile up.
 */
import { copyFileSync, mkdtempSync, rmSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { connect as tlsConnect } from 'node:tls';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sleep, waitFor } from '@airlock/testing';
import { ensureSelfSignedCert } from '@airlock/crypto';
import { wrongCodeBody } from './support/flood.ts';
import { hit, loopbackAddresses, quantile, report, type HitError } from './support/http.ts';
import { edgeProcess } from './support/processes.ts';
import { startChaosStack, type ChaosStack } from './support/stack.ts';
import { startDelayProxy } from './support/tcp-proxy.ts';

const GRACE_MS = 8_000;

let stack: ChaosStack;
let site: string;

beforeAll(async () => {
  // No Redis: these promises are about the edge's own sockets; limits stay out of the way.
  stack = await startChaosStack({
    redisEnv: {},
    tls: true,
    edgeEnv: {
      EDGE_SHUTDOWN_GRACE_MS: String(GRACE_MS),
      EDGE_LIMIT_ENROLL_PAIRING_PER_HOUR: '1000000',
      EDGE_LOCKOUT_FAILURES: '1000000',
      EDGE_BLOCK_FAILURES: '1000000',
    },
  });
  site = await stack.admin.site('manual');
});

afterAll(async () => {
  await stack?.stop();
});

interface LoadResult {
  ok: number;
  statuses: Record<number, number>;
  errors: Record<string, number>;
  /** When each request whose connection was reset before its TLS handshake began. */
  resetBeforeTlsStartedAt: number[];
  ms: number[];
}

/**
 * A reset before the TLS handshake completed: the request was never sent (the
 * client writes it only after the handshake), so the edge never saw it.
 */
const RESET_BEFORE_TLS = 'ECONNRESET before TLS';

/** Steady load from `sources`, a new connection per request (as appliances do), until `until()`. */
const load = async (url: string, sources: string[], until: () => boolean): Promise<LoadResult> => {
  const result: LoadResult = { ok: 0, statuses: {}, errors: {}, resetBeforeTlsStartedAt: [], ms: [] };
  const body = wrongCodeBody(site);
  await Promise.all(
    sources.map(async (source) => {
      let n = 0;
      while (!until()) {
        n += 1;
        try {
          const res = await hit(url, { body: body(source, n), localAddress: source, timeoutMs: 20_000 });
          result.statuses[res.status] = (result.statuses[res.status] ?? 0) + 1;
          result.ms.push(res.ms);
          if (res.status === 401) result.ok += 1;
        } catch (err) {
          const e = err as HitError;
          let code = e.code ?? e.message;
          if (code === 'ECONNRESET' && !e.secure) {
            code = RESET_BEFORE_TLS;
            result.resetBeforeTlsStartedAt.push(e.startedAt);
          }
          result.errors[code] = (result.errors[code] ?? 0) + 1;
          await sleep(20);
        }
      }
    }),
  );
  return result;
};

/** Opens a TLS request and sends all but the last bytes of its body: in flight at the edge. */
const halfRequest = async (port: number, source: string, n: number): Promise<{ finish: () => Promise<string> }> => {
  const payload = JSON.stringify(wrongCodeBody(site)(source, n));
  const head = `POST /api/v1/enroll HTTP/1.1\r\nhost: localhost\r\ncontent-type: application/json\r\ncontent-length: ${Buffer.byteLength(payload)}\r\n\r\n`;
  // The TCP socket is bound to the source address; TLS runs on top of it.
  const tcp = connect({ host: '127.0.0.1', port, localAddress: source });
  const socket = await new Promise<Socket>((resolve, reject) => {
    const s = tlsConnect({ socket: tcp, rejectUnauthorized: false }, () => resolve(s));
    s.once('error', reject);
  });
  let received = '';
  socket.on('data', (d: Buffer) => (received += d.toString('utf8')));
  const closed = new Promise<void>((r) => socket.once('close', () => r()));
  socket.on('error', () => undefined);
  socket.write(head + payload.slice(0, payload.length - 5));
  return {
    finish: async () => {
      socket.write(payload.slice(payload.length - 5));
      // The answer is complete when its body (content-length bytes) is in, or the edge closes.
      const complete = () => {
        const end = received.indexOf('\r\n\r\n');
        const length = Number(/content-length: (\d+)/i.exec(received)?.[1] ?? NaN);
        return end >= 0 && Buffer.byteLength(received.slice(end + 4)) >= length;
      };
      await Promise.race([closed, waitFor(complete, 'the answer', 15_000).catch(() => undefined)]);
      socket.destroy();
      return received;
    },
  };
};

describe('edge SIGTERM under load', () => {
  it('answers every accepted request, refuses new connections, and exits 0 within the grace period', async () => {
    const edge = await stack.startEdge();
    const url = `https://127.0.0.1:${edge.port}/api/v1/enroll`;
    let stopLoad = false;
    const background = load(url, loopbackAddresses(20, 31), () => stopLoad);
    await sleep(1_500);
    // Requests the edge has accepted and is still reading when the signal comes.
    const inFlight = await Promise.all(loopbackAddresses(30, 32).map((s, i) => halfRequest(edge.port, s, i)));

    const signalledAt = performance.now();
    edge.proc.child.kill('SIGTERM');
    await waitFor(() => edge.proc.output().includes('edge draining'), 'the edge to start draining', 5_000);
    // New connections are refused from now on.
    const refused = await new Promise<string>((resolve) => {
      const s = connect({ host: '127.0.0.1', port: edge.port, localAddress: '127.0.33.1' });
      s.once('connect', () => {
        s.destroy();
        resolve('connected');
      });
      s.once('error', (err: Error & { code?: string }) => resolve(err.code ?? err.message));
    });
    expect(refused).toBe('ECONNREFUSED');

    const answers = await Promise.all(inFlight.map((r) => r.finish()));
    for (const raw of answers) {
      expect(raw).toMatch(/^HTTP\/1\.1 401 /);
      expect(raw).toContain('{"error":{"code":"enrollment_denied"');
    }
    const exit = await edge.proc.exited;
    const exitMs = performance.now() - signalledAt;
    stopLoad = true;
    const bg = await background;
    expect(exit.code).toBe(0);
    expect(exitMs).toBeLessThan(GRACE_MS + 5_000);
    // The steady load saw answers until the drain, then refusals: never a cut or garbled answer.
    expect(bg.ok).toBeGreaterThan(0);
    expect(Object.keys(bg.statuses).filter((s) => s !== '401')).toEqual([]);
    // A client that connected before the drain is answered, one that connects after is refused.
    // Refused mostly at connect (ECONNREFUSED). But Linux completes handshakes for a listening
    // socket without the process, and closing the socket resets the connections still queued
    // in it; the edge empties that queue before it closes (listener.ts), yet one that completes
    // between the last accept and the close() call is reset, and no server can take it: there
    // is no atomic "stop listening and accept the rest". That client never got to send its
    // request (TLS first), so nothing the edge received is lost. The client may see that
    // reset as its connect failing (ECONNRESET before its 'connect' event) when the reset
    // beats its event loop. What is asserted: no other error, and every such reset is of a
    // connection begun after the signal was sent, so it was a new connection refused,
    // never one the edge had accepted or that was queued when the drain began.
    expect(Object.keys(bg.errors).filter((c) => c !== 'ECONNREFUSED' && c !== RESET_BEFORE_TLS)).toEqual([]);
    expect(bg.resetBeforeTlsStartedAt.filter((at) => at <= signalledAt)).toEqual([]);
    const drainLine = edge.proc.output().split('\n').find((l) => l.includes('"edge draining"'));
    const drain = drainLine ? (JSON.parse(drainLine) as { accept_turns?: number; accept_ms?: number; accepted_while_stopping?: number }) : {};
    report('edge SIGTERM', {
      accept_turns: drain.accept_turns,
      accept_ms: drain.accept_ms,
      accepted_while_stopping: drain.accepted_while_stopping,
      in_flight_at_signal: inFlight.length,
      in_flight_answered: answers.filter((r) => r.startsWith('HTTP/1.1 401')).length,
      exit_code: exit.code,
      exit_after_ms: Math.round(exitMs),
      grace_ms: GRACE_MS,
      background_answers: bg.statuses,
      background_refused_after_close: bg.errors,
      reset_before_tls_begun_after_signal: bg.resetBeforeTlsStartedAt.length,
    });
  });
});

describe('edge SIGHUP under load', () => {
  it('serves the new certificate to new connections with no failed request', async () => {
    if (!stack.cert) throw new Error('stack has no certificate');
    const edge = await stack.startEdge();
    const url = `https://127.0.0.1:${edge.port}/api/v1/enroll`;
    const fingerprint = () =>
      new Promise<string>((resolve, reject) => {
        const s = tlsConnect({ host: '127.0.0.1', port: edge.port, rejectUnauthorized: false }, () => {
          resolve(s.getPeerX509Certificate()?.fingerprint256 ?? '');
          s.destroy();
        });
        s.once('error', reject);
      });
    const before = await fingerprint();
    let stopLoad = false;
    const background = load(url, loopbackAddresses(20, 34), () => stopLoad);
    await sleep(1_500);
    const dir = mkdtempSync(path.join(tmpdir(), 'airlock-chaos-cert-'));
    try {
      const next = await ensureSelfSignedCert(dir, ['localhost', 'airlock-renewed']);
      // Renewal as certbot does it: new files in place, then SIGHUP.
      copyFileSync(next.keyPath, stack.cert.keyPath);
      copyFileSync(next.certPath, stack.cert.certPath);
      edge.proc.child.kill('SIGHUP');
      await waitFor(() => edge.proc.output().includes('tls certificate reloaded'), 'the edge to reload TLS', 10_000);
      await sleep(1_500);
      stopLoad = true;
      const bg = await background;
      const after = await fingerprint();
      expect(after).not.toBe(before);
      expect(after).toBe(next.fingerprint256);
      expect(bg.errors).toEqual({});
      expect(Object.keys(bg.statuses)).toEqual(['401']);
      expect(edge.proc.alive()).toBe(true);
      report('edge SIGHUP', { requests: bg.ok, failed: Object.values(bg.errors).reduce((a, b) => a + b, 0), p99_ms: Math.round(quantile(bg.ms, 0.99)) });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('slow api', () => {
  it('answers 504 after the upstream timeout and does not pile up sockets to the api', async () => {
    const proxy = await startDelayProxy(stack.api.port, 3_000);
    const edge = await edgeProcess({ ...stack.edgeEnv, EDGE_UPSTREAM: proxy.url, EDGE_UPSTREAM_TIMEOUT_MS: '1000' });
    try {
      const url = `https://127.0.0.1:${edge.port}/api/v1/enroll`;
      const sources = loopbackAddresses(20, 35);
      const stopAt = Date.now() + 6_000;
      const res = await load(url, sources, () => Date.now() > stopAt);
      const openAtEnd = proxy.open();
      expect(Object.keys(res.statuses)).toEqual(['504']);
      expect(res.errors).toEqual({});
      const sample = await hit(url, { body: wrongCodeBody(site)('127.0.35.250', 1), localAddress: '127.0.35.250' });
      expect(sample.status).toBe(504);
      expect(JSON.parse(sample.body)).toEqual({ error: { code: 'gateway_timeout', message: expect.any(String) } });
      // Never more sockets to the api than requests in flight (20 sources + the sample).
      expect(proxy.peak()).toBeLessThanOrEqual(sources.length + 1);
      // And they go away once the late answers are in: nothing accumulates.
      await waitFor(() => proxy.open() <= 1, 'the edge to drop its timed-out api sockets', 15_000);
      report('slow api', {
        requests: res.statuses[504] ?? 0,
        answered_504: res.statuses[504] ?? 0,
        p50_ms: Math.round(quantile(res.ms, 0.5)),
        api_connections_opened: proxy.accepted(),
        api_sockets_peak: proxy.peak(),
        api_sockets_open_at_end_of_load: openAtEnd,
        api_sockets_open_after: proxy.open(),
      });
    } finally {
      await edge.proc.stop('SIGKILL');
      await proxy.close();
    }
  });
});
