/**
 * The tunnel's application-level health check (issue 21). An `ssh -N` can
 * look up while its forwards carry nothing (a half-dead path the keep-alives
 * have not noticed yet, a forward the server stopped serving). Every
 * interval each local forward is dialled: ssh accepts on 127.0.0.1 and opens
 * a channel to the destination; when the destination does not answer, ssh
 * closes the local connection at once. A connection that stays open for the
 * probe window (or receives data) counts as answering.
 */
import * as net from 'node:net';

/** True when 127.0.0.1:port accepts and the connection is not closed within `windowMs` (data counts as an answer). */
const probeForward = (port: number, windowMs = 1500, timeoutMs = 5000): Promise<boolean> =>
  new Promise((resolve) => {
    const s = net.connect({ port, host: '127.0.0.1' });
    let done = false;
    const finish = (ok: boolean) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      s.destroy();
      resolve(ok);
    };
    const timer = setTimeout(() => finish(false), timeoutMs);
    s.once('connect', () => setTimeout(() => finish(true), windowMs).unref());
    s.once('data', () => finish(true));
    s.once('close', () => finish(false));
    s.once('error', () => finish(false));
  });

export interface HealthWatch {
  stop(): void;
}

/**
 * Probes `ports` every `intervalMs`; after `maxFailures` rounds in a row with
 * a forward not answering, calls `onUnhealthy` once (the caller drops the
 * connection and reconnects). `report` hears every round.
 */
export const watchForwards = (o: {
  ports: number[];
  intervalMs: number;
  maxFailures: number;
  onRound(r: { ok: boolean; failures: number }): void;
  onUnhealthy(): void;
}): HealthWatch => {
  let failures = 0;
  let busy = false;
  let stopped = false;
  const timer = setInterval(() => {
    if (busy || stopped || o.ports.length === 0) return;
    busy = true;
    Promise.all(o.ports.map((p) => probeForward(p)))
      .then((results) => {
        if (stopped) return;
        const ok = results.every(Boolean);
        failures = ok ? 0 : failures + 1;
        o.onRound({ ok, failures });
        if (failures >= o.maxFailures) {
          stopped = true;
          o.onUnhealthy();
        }
      })
      .finally(() => {
        busy = false;
      });
  }, o.intervalMs);
  return {
    stop: () => {
      stopped = true;
      clearInterval(timer);
    },
  };
};
