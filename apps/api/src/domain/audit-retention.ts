/**
 * Audit retention: the only way rows leave audit_events. The database
 * function airlock_prune_audit (migration 0002) deletes rows older than the
 * cutoff, counted refusals too, and writes its own `audit.pruned` row, all in
 * one transaction; the append-only trigger lets that DELETE through and
 * nothing else (see docs/security.md, "Audit retention").
 */
import { sql } from 'drizzle-orm';
import { ApiError } from '../errors.ts';
import type { Executor } from '../db/client.ts';
import type { Actor, Client, Deps } from './deps.ts';

const DAY_MS = 86_400_000;

export interface PruneContext {
  db: Executor;
  now: Date;
  minRetentionDays: number;
}

export const pruneAuditRows = async (ctx: PruneContext, before: Date, actorName: string, client: Client | null) => {
  const latest = new Date(ctx.now.getTime() - ctx.minRetentionDays * DAY_MS);
  if (before > latest) {
    throw new ApiError('invalid_request', `Audit rows are kept at least ${ctx.minRetentionDays} days`, {
      fields: { before: `must be on or before ${latest.toISOString()} (AIRLOCK_AUDIT_MIN_RETENTION_DAYS)` },
      audit: { eventType: 'audit.prune_refused', details: { before: before.toISOString() } },
    });
  }
  const details = { request_id: client?.requestId ?? null };
  const rows = await ctx.db.transaction((tx) =>
    tx.execute<{ events: string; refusal_counts: string }>(
      sql`select events, refusal_counts from airlock_prune_audit(${before.toISOString()}::timestamptz, ${actorName}, ${ctx.now.toISOString()}::timestamptz, ${client?.ip ?? null}, ${client?.userAgent ?? null}, ${JSON.stringify(details)}::jsonb)`,
    ),
  );
  const r = rows[0];
  return {
    before: before.toISOString(),
    events_deleted: Number(r?.events ?? 0),
    refusal_counts_deleted: Number(r?.refusal_counts ?? 0),
  };
};

/** Through the admin API: the operator's name is the actor. */
export const pruneAudit = (deps: Deps, before: Date, actor: Actor, client: Client | null) =>
  pruneAuditRows({ db: deps.db, now: deps.clock.now(), minRetentionDays: deps.config.auditMinRetentionDays }, before, actor.name, client);
