/** Pairing codes: one-time, short-lived, shown to the operator once. */
import { generatePairingCode, hmacSha256Hex, normalizePairingCode } from '@airlock/crypto';
import type { CreatePairingCodeRequest } from '@airlock/schema';
import { addSeconds } from '../clock.ts';
import { ApiError } from '../errors.ts';
import {
  getPairingCode,
  insertPairingCode,
  listPairingCodes,
  revokePairingCode,
  type PairingCodeRow,
  type PairingCodeStatus,
} from '../store/pairing-codes.ts';
import { getSite } from '../store/sites.ts';
import { recordAudit } from './audit.ts';
import type { Scope } from '../store/scope.ts';
import type { Actor, Client, Deps } from './deps.ts';
import { pageOf, timeIdCursor } from './paging.ts';

/** The digest under which a code is stored and looked up; also used by enroll. */
export const pairingCodeDigest = (serverSecret: string, canonical: string): string =>
  hmacSha256Hex(serverSecret, `pairing-code:${canonical}`);

const statusOf = (c: PairingCodeRow, now: Date): PairingCodeStatus =>
  c.usedAt ? 'used' : c.revokedAt ? 'revoked' : c.expiresAt <= now ? 'expired' : 'active';

const view = (c: PairingCodeRow, now: Date) => ({
  id: c.id,
  site_code: c.siteCode,
  status: statusOf(c, now),
  note: c.note,
  auto_approve: c.autoApprove,
  created_by: c.createdBy,
  created_at: c.createdAt.toISOString(),
  expires_at: c.expiresAt.toISOString(),
  used_at: c.usedAt?.toISOString() ?? null,
  used_by_enrollment: c.usedByEnrollment,
  revoked_at: c.revokedAt?.toISOString() ?? null,
});

export const createPairingCode = async (deps: Deps, body: CreatePairingCodeRequest, actor: Actor, client: Client) =>
  deps.db.transaction(async (tx) => {
    if (!(await getSite(tx, body.site_code, actor))) throw new ApiError('not_found', `No site ${body.site_code}`);
    const now = deps.clock.now();
    const code = generatePairingCode();
    const canonical = normalizePairingCode(code);
    if (!canonical) throw new Error('generated pairing code does not normalise');
    const ttl = body.ttl_seconds ?? deps.config.pairingCodeTtlSeconds;
    const row = await insertPairingCode(tx, {
      digest: pairingCodeDigest(deps.serverSecret, canonical),
      siteCode: body.site_code,
      createdBy: actor.name,
      note: body.note ?? null,
      autoApprove: body.auto_approve ?? false,
      createdAt: now,
      expiresAt: addSeconds(now, ttl),
    });
    if (!row) throw new Error('insert returned no row');
    await recordAudit(tx, deps, client, {
      eventType: 'pairing_code.created',
      actor: actor.name,
      siteCode: row.siteCode,
      details: { pairing_code_id: row.id, ttl_seconds: ttl, auto_approve: row.autoApprove, note: row.note },
    });
    return { id: row.id, code, site_code: row.siteCode, expires_at: row.expiresAt.toISOString(), auto_approve: row.autoApprove, note: row.note };
  });

export const listCodes = async (
  deps: Deps,
  scope: Scope,
  q: { status?: PairingCodeStatus; siteCode?: string; limit?: number; cursor?: string } = {},
) => {
  const now = deps.clock.now();
  const limit = q.limit ?? 100;
  const rows = await listPairingCodes(deps.db, scope, {
    status: q.status,
    siteCode: q.siteCode,
    now,
    limit: limit + 1,
    after: q.cursor ? timeIdCursor.decode(q.cursor) : undefined,
  });
  const { page, nextCursor } = pageOf(rows, limit, timeIdCursor.encode);
  return { items: page.map((c) => view(c, now)), next_cursor: nextCursor };
};

export const revokeCode = async (deps: Deps, id: string, actor: Actor, client: Client) =>
  deps.db.transaction(async (tx) => {
    const now = deps.clock.now();
    const row = await revokePairingCode(tx, id, actor.name, now, actor);
    if (!row) {
      const existing = await getPairingCode(tx, id, actor);
      if (!existing) throw new ApiError('not_found', 'No such pairing code');
      throw new ApiError('invalid_state', `The pairing code is already ${statusOf(existing, now)}`, {
        audit: { eventType: 'pairing_code.revoke_refused', siteCode: existing.siteCode, details: { pairing_code_id: id } },
      });
    }
    await recordAudit(tx, deps, client, {
      eventType: 'pairing_code.revoked',
      actor: actor.name,
      siteCode: row.siteCode,
      details: { pairing_code_id: row.id },
    });
  });
