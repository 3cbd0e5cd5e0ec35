/**
 * Issue 21: the api's live tunnel state. The endpoint reports every session
 * it holds (the whole list, so a report lost while the api was away is
 * repaired by the next one) under a lease of TUNNEL_LEASE_SECONDS, renewed
 * every third of it and sent at once after any change. An endpoint that
 * dies stops renewing; the api then shows its agents disconnected once the
 * lease has run out (plus its reaper's few seconds).
 */
import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import type { TunnelApi } from './api.ts';
import type { LogFn } from './events.ts';
import type { LiveSession } from './session-guard.ts';

export interface LiveStateReporter {
  /** The sessions held now; sent when they differ from the last report that went through, or when the lease is due. */
  update(sessions: LiveSession[]): void;
  /** Stops renewing; sends an empty list so the api shows the sessions closed at once. */
  close(): Promise<void>;
  readonly endpoint: string;
}

/** This endpoint process's name at the api: host, port and a per-run suffix (a restarted endpoint is a new one). */
const endpointName = (port: number): string =>
  `${hostname().replace(/[^A-Za-z0-9_.-]/g, '_').slice(0, 80)}:${port}:${randomBytes(4).toString('hex')}`;

export const createLiveStateReporter = (o: { api: TunnelApi; port: number; leaseSeconds: number; log: LogFn }): LiveStateReporter => {
  const endpoint = endpointName(o.port);
  let current: LiveSession[] = [];
  let sent: string | null = null;
  let inFlight: Promise<void> | null = null;
  let again = false;
  let closed = false;

  const send = async (): Promise<void> => {
    if (inFlight) {
      again = true;
      return inFlight;
    }
    const body = JSON.stringify(current);
    inFlight = o.api
      .reportSessions({ endpoint, lease_seconds: o.leaseSeconds, sessions: current })
      .then(
        () => {
          sent = body;
        },
        (err: unknown) => {
          // Retried at the next change or renewal; the lease bounds how stale the api can get.
          o.log('warn', 'tunnel session report not recorded', { reason: err instanceof Error ? err.message : 'unknown' });
        },
      )
      .finally(() => {
        inFlight = null;
        if (again && !closed) {
          again = false;
          void send();
        }
      });
    return inFlight;
  };

  const timer = setInterval(() => void send(), Math.max(1000, Math.floor((o.leaseSeconds * 1000) / 3)));
  timer.unref();
  void send();

  return {
    endpoint,
    update: (sessions) => {
      current = sessions;
      if (JSON.stringify(sessions) !== sent) void send();
    },
    close: async () => {
      clearInterval(timer);
      if (inFlight) await inFlight;
      closed = true;
      current = [];
      await send();
    },
  };
};
