/**
 * Webhooks, their outbox and the delivery queue (migration 0010). The queue
 * runs on database time (now()), so every replica agrees on what is due
 * whatever its own clock; a claim is a lease, so a crashed replica's claims
 * come back when it ends.
 */
import { webhookDeliveries, webhookEvents, webhooks } from '@airlock/schema/db';
import { and, desc, eq, lt, sql } from 'drizzle-orm';
import type { Executor } from '../db/client.ts';
import { tenantInScope, type Scope } from './scope.ts';

export type WebhookRow = typeof webhooks.$inferSelect;

export const insertWebhook = async (db: Executor, row: typeof webhooks.$inferInsert) => (await db.insert(webhooks).values(row).returning())[0];

/** The webhooks in scope (a scoped operator's tenant's; a global operator's: all), newest first. */
export const listWebhookRows = (db: Executor, scope: Scope) =>
  db.select().from(webhooks).where(tenantInScope(scope, webhooks.tenantCode)).orderBy(desc(webhooks.createdAt)).limit(500);

/** One webhook in scope; another tenant's is as missing as one that does not exist. */
export const getWebhook = async (db: Executor, id: string, scope: Scope) =>
  (await db.select().from(webhooks).where(and(eq(webhooks.id, id), tenantInScope(scope, webhooks.tenantCode))))[0] ?? null;

export const deleteWebhookRow = async (db: Executor, id: string) =>
  (await db.delete(webhooks).where(eq(webhooks.id, id)).returning({ id: webhooks.id, url: webhooks.url, siteCode: webhooks.siteCode }))[0] ?? null;

/**
 * The current secret becomes the previous one, signing until `overlapSeconds`
 * from now in database time (the clock the worker compares it with).
 */
export const rotateWebhookSecretRow = async (db: Executor, id: string, secretCiphertext: string, overlapSeconds: number) =>
  (
    await db
      .update(webhooks)
      .set({
        secretCiphertext,
        previousSecretCiphertext: sql`${webhooks.secretCiphertext}`,
        previousSecretExpiresAt: sql`now() + make_interval(secs => ${overlapSeconds})`,
      })
      .where(eq(webhooks.id, id))
      .returning({ id: webhooks.id, previousSecretExpiresAt: webhooks.previousSecretExpiresAt })
  )[0] ?? null;

/** A `webhook.test` event for one endpoint only, and its delivery, in one statement. */
export const insertTestEvent = async (db: Executor, webhookId: string, occurredAt: Date, data: Record<string, unknown>): Promise<string> => {
  const rows = await db.execute<{ id: string }>(sql`
    with e as (
      insert into webhook_events (event_type, occurred_at, data) values ('webhook.test', ${occurredAt.toISOString()}::timestamptz, ${JSON.stringify(data)}::jsonb)
      returning id
    ), d as (insert into webhook_deliveries (event_id, webhook_id) select e.id, ${webhookId} from e)
    select e.id, pg_notify('airlock_webhooks', '') from e`);
  const id = rows[0]?.id;
  if (!id) throw new Error('webhook.test insert returned no row');
  return id;
};

export const listDeliveryRows = (db: Executor, webhookId: string, beforeSeq: number | undefined, limit: number) =>
  db
    .select({
      seq: webhookDeliveries.seq,
      eventId: webhookDeliveries.eventId,
      eventType: webhookEvents.eventType,
      attempt: webhookDeliveries.attempt,
      state: webhookDeliveries.state,
      statusCode: webhookDeliveries.statusCode,
      error: webhookDeliveries.error,
      durationMs: webhookDeliveries.durationMs,
      attemptedAt: webhookDeliveries.attemptedAt,
      nextAttemptAt: webhookDeliveries.nextAttemptAt,
    })
    .from(webhookDeliveries)
    .innerJoin(webhookEvents, eq(webhookEvents.id, webhookDeliveries.eventId))
    .where(and(eq(webhookDeliveries.webhookId, webhookId), beforeSeq === undefined ? undefined : lt(webhookDeliveries.seq, beforeSeq)))
    .orderBy(desc(webhookDeliveries.seq))
    .limit(limit);

export type ClaimedDelivery = {
  seq: number;
  event_id: string;
  webhook_id: string;
  attempt: number;
  event_type: string;
  occurred_at: Date;
  data: Record<string, unknown>;
  url: string;
  format: 'standard' | 'slack';
  secret_ciphertext: string;
  /** null unless a rotated-out secret still overlaps. */
  previous_secret_ciphertext: string | null;
};

/**
 * Claims up to `limit` due deliveries of enabled endpoints, skipping rows
 * another replica holds (FOR UPDATE SKIP LOCKED, then a lease that outlives
 * the attempt) and endpoints listed in `busy` (this replica's per-endpoint
 * concurrency is full). One statement, one round trip.
 */
export const claimDueDeliveries = async (
  db: Executor,
  o: { token: string; leaseSeconds: number; limit: number; busy: readonly string[] },
): Promise<ClaimedDelivery[]> => {
  const rows = await db.execute<ClaimedDelivery & { occurred_at: string | Date }>(sql`
    with due as (
      select d.seq from webhook_deliveries d
      join webhooks w on w.id = d.webhook_id
      where d.state = 'retrying' and d.next_attempt_at <= now()
        and (d.lease_until is null or d.lease_until < now())
        and w.disabled_at is null
        and not (d.webhook_id = any(string_to_array(${o.busy.join(',')}, ',')::uuid[]))
      order by d.next_attempt_at
      limit ${o.limit}
      for update of d skip locked
    ), claimed as (
      update webhook_deliveries d set lease_until = now() + make_interval(secs => ${o.leaseSeconds}), lease_token = ${o.token}
      from due where d.seq = due.seq
      returning d.seq, d.event_id, d.webhook_id, d.attempt
    )
    select c.seq, c.event_id, c.webhook_id, c.attempt, e.event_type, e.occurred_at, e.data, w.url, w.format, w.secret_ciphertext,
      case when w.previous_secret_expires_at > now() then w.previous_secret_ciphertext end as previous_secret_ciphertext
    from claimed c join webhook_events e on e.id = c.event_id join webhooks w on w.id = c.webhook_id`);
  return rows.map((r) => ({ ...r, seq: Number(r.seq), occurred_at: new Date(r.occurred_at) }));
};

export interface AttemptRecord {
  statusCode: number | null;
  error: string | null;
  durationMs: number;
}

/**
 * Records a 2xx (under our lease only: a late answer after the lease was
 * lost changes nothing) and clears the endpoint's failing streak.
 */
export const recordDelivered = async (db: Executor, seq: number, token: string, r: AttemptRecord): Promise<boolean> => {
  const rows = await db.execute<{ webhook_id: string }>(sql`
    with d as (
      update webhook_deliveries set state = 'delivered', attempt = attempt + 1, status_code = ${r.statusCode}, error = null,
        duration_ms = ${r.durationMs}, attempted_at = now(), lease_until = null, lease_token = null
      where seq = ${seq} and lease_token = ${token}
      returning webhook_id
    ), w as (update webhooks set failing_since = null where id in (select webhook_id from d) and failing_since is not null)
    select webhook_id from d`);
  return rows.length > 0;
};

/**
 * Records a failed attempt: retried after `delaySeconds`, or `failed` when
 * that would be past `windowSeconds` from the event's first delivery row.
 * Starts the endpoint's failing streak; returns the new state and whether
 * the endpoint has now failed for longer than `disableAfterSeconds`.
 */
export const recordFailure = async (
  db: Executor,
  seq: number,
  token: string,
  r: AttemptRecord,
  o: { delaySeconds: number; windowSeconds: number; disableAfterSeconds: number },
): Promise<{ state: 'retrying' | 'failed'; webhookId: string; failingTooLong: boolean } | null> => {
  const rows = await db.execute<{ state: 'retrying' | 'failed'; webhook_id: string; failing_too_long: boolean }>(sql`
    with d as (
      update webhook_deliveries set attempt = attempt + 1, status_code = ${r.statusCode}, error = ${r.error}, duration_ms = ${r.durationMs},
        attempted_at = now(), lease_until = null, lease_token = null,
        state = case when created_at + make_interval(secs => ${o.windowSeconds}) < now() + make_interval(secs => ${o.delaySeconds})
                     then 'failed' else 'retrying' end,
        next_attempt_at = now() + make_interval(secs => ${o.delaySeconds})
      where seq = ${seq} and lease_token = ${token}
      returning webhook_id, state
    ), w as (
      update webhooks set failing_since = coalesce(failing_since, now()) where id in (select webhook_id from d)
      returning failing_since
    )
    select d.state, d.webhook_id, coalesce((select failing_since < now() - make_interval(secs => ${o.disableAfterSeconds}) from w), false) as failing_too_long
    from d`);
  const row = rows[0];
  return row ? { state: row.state, webhookId: row.webhook_id, failingTooLong: row.failing_too_long } : null;
};

/** Disables an endpoint (once: null when it already was). */
export const disableWebhookRow = async (db: Executor, id: string, at: Date) =>
  (
    await db
      .update(webhooks)
      .set({ disabledAt: at })
      .where(and(eq(webhooks.id, id), sql`${webhooks.disabledAt} is null`))
      .returning({ id: webhooks.id, url: webhooks.url, siteCode: webhooks.siteCode, failingSince: webhooks.failingSince })
  )[0] ?? null;

/** For the metrics: age of the oldest due delivery (outbox lag) and the failed ones. */
export const outboxStats = async (db: Executor): Promise<{ lagSeconds: number; failed: number }> => {
  const rows = await db.execute<{ lag: string | null; failed: string }>(sql`
    select extract(epoch from now() - (select min(next_attempt_at) from webhook_deliveries where state = 'retrying' and next_attempt_at <= now())) as lag,
      (select count(*) from webhook_deliveries where state = 'failed') as failed`);
  return { lagSeconds: Math.max(0, Number(rows[0]?.lag ?? 0)), failed: Number(rows[0]?.failed ?? 0) };
};
