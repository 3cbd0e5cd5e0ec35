/**
 * Webhooks as operators manage them (contract "Alerts: webhooks"). The
 * events themselves are not made here: the audit trigger of migration 0010
 * derives them from audit rows in the transaction of the change. Every
 * function takes the Actor so a tenant scope check plugs in at one place
 * (`scopeOf` below; tenants arrive with the fleet work).
 */
import { randomUUID } from 'node:crypto';
import type { CreateWebhookRequest } from '@airlock/schema';
import type { Executor } from '../db/client.ts';
import { ApiError } from '../errors.ts';
import { getSite } from '../store/sites.ts';
import {
  deleteWebhookRow,
  getWebhook,
  insertTestEvent,
  insertWebhook,
  listDeliveryRows,
  listWebhookRows,
  rotateWebhookSecretRow,
  type WebhookRow,
} from '../store/webhooks.ts';
import { encryptWebhookSecret, mintWebhookSecret } from '../webhooks/secrets.ts';
import { resolveWebhookTarget, WebhookTargetRefused } from '../webhooks/ssrf.ts';
import { recordAudit } from './audit.ts';
import type { Actor, Client, Deps } from './deps.ts';
import { decodeSeqCursor, encodeSeqCursor, pageOf } from './paging.ts';

/** How long a rotated-out secret keeps signing. */
const ROTATION_OVERLAP_SECONDS = 24 * 3600;


const view = (w: WebhookRow, now: Date) => ({
  id: w.id,
  url: w.url,
  events: w.events,
  site_code: w.siteCode,
  tenant_code: w.tenantCode,
  format: w.format,
  description: w.description,
  created_at: w.createdAt.toISOString(),
  created_by: w.createdBy,
  disabled_at: w.disabledAt?.toISOString() ?? null,
  failing_since: w.failingSince?.toISOString() ?? null,
  previous_secret_expires_at: w.previousSecretExpiresAt && w.previousSecretExpiresAt > now ? w.previousSecretExpiresAt.toISOString() : null,
});

/** Refuses a URL whose host resolves to a link-local or metadata address (checked again at every delivery). */
const checkTarget = async (url: string) => {
  try {
    await resolveWebhookTarget(new URL(url));
  } catch (err) {
    const why = err instanceof WebhookTargetRefused ? err.message : 'does not resolve';
    throw new ApiError('invalid_request', 'Invalid request body', { fields: { url: why } });
  }
};

export const createWebhook = async (deps: Deps, body: CreateWebhookRequest, actor: Actor, client: Client) => {
  await checkTarget(body.url);
  const id = randomUUID();
  const secret = mintWebhookSecret();
  return deps.db.transaction(async (tx) => {
    // A site out of the operator's scope is as missing as one that does not exist.
    const site = body.site_code ? await getSite(tx, body.site_code, actor) : null;
    if (body.site_code && !site) throw new ApiError('not_found', `No site ${body.site_code}`);
    const row = await insertWebhook(tx, {
      id,
      url: body.url,
      events: [...new Set(body.events)],
      siteCode: body.site_code ?? null,
      // A scoped operator's webhook hears its tenant's events only; a global one's, every tenant's (or its site's).
      tenantCode: site?.tenantCode ?? actor.tenantCode,
      format: body.format,
      description: body.description ?? null,
      secretCiphertext: encryptWebhookSecret(deps.serverSecret, id, secret),
      createdBy: actor.name,
      createdAt: deps.clock.now(),
    });
    if (!row) throw new Error('insert returned no row');
    await recordAudit(tx, deps, client, {
      eventType: 'webhook.created',
      actor: actor.name,
      siteCode: row.siteCode,
      // The URL's host only: a receiver's path may carry its own token (Slack's do).
      details: { webhook_id: id, host: new URL(row.url).host, events: row.events, format: row.format },
    });
    return { id, url: row.url, events: row.events, site_code: row.siteCode, format: row.format, secret, created_at: row.createdAt.toISOString() };
  });
};

export const listWebhooks = async (deps: Deps, actor: Actor) => {
  const now = deps.clock.now();
  return { items: (await listWebhookRows(deps.db, actor)).map((w) => view(w, now)) };
};

const findWebhook = async (db: Executor, id: string, actor: Actor) => {
  const row = await getWebhook(db, id, actor);
  if (!row) throw new ApiError('not_found', 'No such webhook');
  return row;
};

export const deleteWebhook = async (deps: Deps, id: string, actor: Actor, client: Client) =>
  deps.db.transaction(async (tx) => {
    const row = await findWebhook(tx, id, actor);
    await deleteWebhookRow(tx, row.id);
    await recordAudit(tx, deps, client, {
      eventType: 'webhook.deleted',
      actor: actor.name,
      siteCode: row.siteCode,
      details: { webhook_id: id, host: new URL(row.url).host },
    });
  });

export const testWebhook = async (deps: Deps, id: string, actor: Actor, client: Client) =>
  deps.db.transaction(async (tx) => {
    const row = await findWebhook(tx, id, actor);
    const eventId = await insertTestEvent(tx, row.id, deps.clock.now(), { webhook_id: row.id, requested_by: actor.name });
    await recordAudit(tx, deps, client, {
      eventType: 'webhook.tested',
      actor: actor.name,
      siteCode: row.siteCode,
      details: { webhook_id: id, event_id: eventId },
    });
    return { event_id: eventId };
  });

export const rotateWebhookSecret = async (deps: Deps, id: string, actor: Actor, client: Client) =>
  deps.db.transaction(async (tx) => {
    const row = await findWebhook(tx, id, actor);
    const secret = mintWebhookSecret();
    const rotated = await rotateWebhookSecretRow(tx, row.id, encryptWebhookSecret(deps.serverSecret, row.id, secret), ROTATION_OVERLAP_SECONDS);
    await recordAudit(tx, deps, client, {
      eventType: 'webhook.secret_rotated',
      actor: actor.name,
      siteCode: row.siteCode,
      details: { webhook_id: id, previous_secret_expires_at: rotated?.previousSecretExpiresAt?.toISOString() ?? null },
    });
    return { secret };
  });

export const listWebhookDeliveries = async (deps: Deps, id: string, q: { limit: number; cursor?: string | undefined }, actor: Actor) => {
  const row = await findWebhook(deps.db, id, actor);
  const rows = await listDeliveryRows(deps.db, row.id, q.cursor ? decodeSeqCursor(q.cursor) : undefined, q.limit + 1);
  const { page, nextCursor } = pageOf(rows, q.limit, (last) => encodeSeqCursor(last.seq));
  return {
    items: page.map((d) => ({
      event_id: d.eventId,
      event_type: d.eventType,
      attempt: d.attempt,
      state: d.state,
      status_code: d.statusCode,
      error: d.error,
      duration_ms: d.durationMs,
      attempted_at: d.attemptedAt?.toISOString() ?? null,
      next_attempt_at: d.state === 'retrying' ? d.nextAttemptAt.toISOString() : null,
    })),
    next_cursor: nextCursor,
  };
};
