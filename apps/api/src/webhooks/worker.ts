/**
 * The delivery worker, one in every api replica. It claims due deliveries
 * (store/webhooks.ts: FOR UPDATE SKIP LOCKED plus a lease), sends each one on
 * its own promise (so a hanging receiver holds only its endpoint's slots and
 * never an api request: the claim and the records are short statements, no
 * transaction stays open across an attempt), and records the outcome under
 * its lease. Woken by NOTIFY at the commit of an event (when the database
 * offers it) and by a poll. A database outage only pauses it: nothing is
 * lost from the outbox, and an attempt whose outcome could not be recorded
 * is sent again when its lease ends (at least once, webhook-id to dedupe).
 */
import { randomUUID } from 'node:crypto';
import type { WebhookFormat } from '@airlock/schema';
import { recordAudit } from '../domain/audit.ts';
import type { Deps } from '../domain/deps.ts';
import {
  claimDueDeliveries,
  disableWebhookRow,
  recordDelivered,
  recordFailure,
  type AttemptRecord,
  type ClaimedDelivery,
} from '../store/webhooks.ts';
import { retryDelaySeconds } from './schedule.ts';
import { decryptWebhookSecret } from './secrets.ts';
import { sendWebhook } from './send.ts';
import { signedHeaders, webhookBody } from './sign.ts';

/** Attempts in flight in one replica, whatever the endpoint. */
const MAX_IN_FLIGHT = 64;
/** Longest pause between polls while the database is unreachable. */
const MAX_OUTAGE_PAUSE_MS = 5000;

export interface DeliveryWorker {
  /** Look for due deliveries now (e.g. on NOTIFY). */
  wake(): void;
  /** Stops claiming; attempts in flight get up to `graceMs` to record, the rest return when their lease ends. */
  stop(graceMs?: number): Promise<void>;
}

export const startDeliveryWorker = (deps: Deps): DeliveryWorker => {
  const cfg = deps.config.webhooks;
  // The lease outlives the attempt's timeout twice over, so only a stalled or dead replica loses it.
  const leaseSeconds = Math.ceil((2 * cfg.timeoutMs) / 1000) + 5;
  const perEndpoint = new Map<string, number>();
  const inFlight = new Set<Promise<void>>();
  let stopped = false;
  let outage = 0;
  let wakeUp: (() => void) | null = null;
  let pending = false;

  const wake = () => {
    pending = true;
    wakeUp?.();
  };
  const sleep = (ms: number) =>
    new Promise<void>((resolve) => {
      const timer = setTimeout(done, ms);
      function done() {
        clearTimeout(timer);
        wakeUp = null;
        resolve();
      }
      wakeUp = done;
    });

  const attempt = async (d: ClaimedDelivery, token: string): Promise<void> => {
    let result: AttemptRecord & { ok: boolean };
    try {
      const secrets = [d.secret_ciphertext, d.previous_secret_ciphertext]
        .filter((c): c is string => c !== null)
        .map((c) => decryptWebhookSecret(deps.serverSecret, d.webhook_id, c));
      const event = { id: d.event_id, type: d.event_type, occurredAt: d.occurred_at, data: d.data };
      const body = webhookBody(event, d.format as WebhookFormat);
      result = await sendWebhook(d.url, signedHeaders(secrets, d.event_id, new Date(), body), body, cfg.timeoutMs);
    } catch (err) {
      // A secret that no longer opens (the server secret changed) or a URL that no longer parses.
      result = { ok: false, statusCode: null, error: `not sent: ${(err as Error).name}`, durationMs: 0 };
    }
    if (result.ok) {
      await recordDelivered(deps.db, d.seq, token, result);
      deps.metrics?.webhookDelivery('delivered');
      return;
    }
    const rec = await recordFailure(deps.db, d.seq, token, result, {
      delaySeconds: retryDelaySeconds(d.attempt + 1, cfg.retryBaseMs),
      windowSeconds: cfg.retryWindowSeconds,
      disableAfterSeconds: cfg.disableAfterSeconds,
    });
    if (!rec) return;
    deps.metrics?.webhookDelivery(rec.state);
    deps.logger.info('webhook attempt failed', {
      webhook_id: d.webhook_id,
      event_id: d.event_id,
      attempt: d.attempt + 1,
      state: rec.state,
      status_code: result.statusCode,
      error: result.error,
    });
    if (rec.failingTooLong) await disableFailingEndpoint(deps, d.webhook_id);
  };

  const launch = (d: ClaimedDelivery, token: string) => {
    perEndpoint.set(d.webhook_id, (perEndpoint.get(d.webhook_id) ?? 0) + 1);
    const p = attempt(d, token)
      .catch((err: unknown) => deps.logger.warn('webhook outcome not recorded; the delivery is retried when its lease ends', { error: String(err) }))
      .finally(() => {
        const n = (perEndpoint.get(d.webhook_id) ?? 1) - 1;
        if (n <= 0) perEndpoint.delete(d.webhook_id);
        else perEndpoint.set(d.webhook_id, n);
        inFlight.delete(p);
        wake();
      });
    inFlight.add(p);
  };

  const loop = async () => {
    while (!stopped) {
      pending = false;
      const free = MAX_IN_FLIGHT - inFlight.size;
      let claimed = 0;
      if (free > 0) {
        const busy = [...perEndpoint].filter(([, n]) => n >= cfg.perEndpoint).map(([id]) => id);
        const token = randomUUID();
        try {
          const due = await claimDueDeliveries(deps.db, { token, leaseSeconds, limit: free, busy });
          // Warn like the pause it ends, so a warn-level log tells the whole outage.
          if (outage > 0) deps.logger.warn('webhook delivery resumed: the database answers again');
          outage = 0;
          if (stopped) return;
          for (const d of due) launch(d, token);
          claimed = due.length;
        } catch (err) {
          // drizzle wraps the driver's error in one that repeats the whole statement: the cause says what failed.
          if (outage === 0) deps.logger.warn('webhook delivery paused: the database does not answer', { error: String((err as { cause?: unknown }).cause ?? err) });
          outage += 1;
        }
      }
      if (stopped) return;
      // A full batch or a wake-up during the claim: look again at once.
      if ((claimed > 0 && claimed === free) || (pending && outage === 0)) continue;
      await sleep(outage > 0 ? Math.min(cfg.pollMs * 2 ** outage, MAX_OUTAGE_PAUSE_MS) : cfg.pollMs);
    }
  };
  const running = loop();

  return {
    wake,
    stop: async (graceMs = 1000) => {
      stopped = true;
      wakeUp?.();
      await running;
      await Promise.race([Promise.allSettled([...inFlight]), new Promise((r) => setTimeout(r, graceMs).unref())]);
    },
  };
};

/** Five days of failures: the endpoint stops receiving, and the audit trail says so (webhook.disabled). */
const disableFailingEndpoint = async (deps: Deps, webhookId: string) =>
  deps.db.transaction(async (tx) => {
    const row = await disableWebhookRow(tx, webhookId, deps.clock.now());
    if (!row) return;
    await recordAudit(tx, deps, null, {
      eventType: 'webhook.disabled',
      actor: 'system',
      siteCode: row.siteCode,
      details: { webhook_id: row.id, reason: 'failing', failing_since: row.failingSince?.toISOString() ?? null },
    });
    deps.logger.warn('webhook endpoint disabled after failing too long', { webhook_id: row.id });
  });
