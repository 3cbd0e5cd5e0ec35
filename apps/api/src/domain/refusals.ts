/**
 * Where a refused request leaves its trace. A refusal about a real site,
 * enrollment or agent, or made by an authenticated operator, keeps its own
 * audit row. One that concerns nothing real (unknown site, malformed token or
 * body, failed admin bearer, unknown poll token or enrollment) only counts up
 * a summary row per (source IP, kind, minute) and the in-process metric, so a
 * stranger looping junk cannot grow the audit table without bound (#8.1).
 */
import type { AuditOnRefusal } from '../errors.ts';
import { anonymousRefusals } from '../metrics/refusals.ts';
import { countRefusal, listRefusalCounts, siteExists } from '../store/refusals.ts';
import { badCursor, pageOf } from './paging.ts';
import { recordAudit } from './audit.ts';
import type { Client, Deps } from './deps.ts';

const MINUTE_MS = 60_000;

export const recordRefusal = async (
  deps: Deps,
  client: Client | null,
  actor: string,
  authenticated: boolean,
  a: AuditOnRefusal,
  code: string,
): Promise<void> => {
  const full = () =>
    recordAudit(deps.db, deps, client, {
      eventType: a.eventType,
      actor,
      siteCode: a.siteCode ?? null,
      enrollmentId: a.enrollmentId ?? null,
      agentId: a.agentId ?? null,
      details: { ...a.details, code },
    });
  if (!a.anonymous || authenticated || a.enrollmentId || a.agentId) return full();
  // Same work on both paths (one read, one write), so the audit path is no oracle for site existence.
  const realSite = a.siteCode ? await siteExists(deps.db, a.siteCode) : false;
  if (realSite) return full();
  const now = deps.clock.now();
  anonymousRefusals.inc(a.eventType);
  await countRefusal(deps.db, {
    sourceIp: client?.ip ?? 'unknown',
    kind: a.eventType,
    minute: new Date(Math.floor(now.getTime() / MINUTE_MS) * MINUTE_MS),
    at: now,
  });
};

// Opaque cursor: the last row's (minute, ip, kind).
const encodeCursor = (r: { minute: Date; sourceIp: string; kind: string }) =>
  Buffer.from(JSON.stringify([r.minute.getTime(), r.sourceIp, r.kind])).toString('base64url');
const decodeCursor = (cursor: string) => {
  let parsed: unknown;
  try {
    parsed = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'));
  } catch {
    throw badCursor();
  }
  if (!Array.isArray(parsed) || parsed.length !== 3) throw badCursor();
  const [ms, sourceIp, kind] = parsed as unknown[];
  if (typeof ms !== 'number' || !Number.isSafeInteger(ms) || typeof sourceIp !== 'string' || typeof kind !== 'string') throw badCursor();
  if (sourceIp.length > 64 || kind.length > 64) throw badCursor();
  return { minute: new Date(ms), sourceIp, kind };
};

/** The counted refusals, newest minute first, for operators. */
export const listRefusals = async (
  deps: Deps,
  q: { since?: Date; kind?: string; sourceIp?: string; limit: number; cursor?: string },
) => {
  const rows = await listRefusalCounts(deps.db, {
    since: q.since,
    kind: q.kind,
    sourceIp: q.sourceIp,
    after: q.cursor ? decodeCursor(q.cursor) : undefined,
    limit: q.limit + 1,
  });
  const { page, nextCursor } = pageOf(rows, q.limit, encodeCursor);
  return {
    items: page.map((r) => ({
      source_ip: r.sourceIp,
      kind: r.kind,
      minute: r.minute.toISOString(),
      count: r.count,
      last_at: r.lastAt.toISOString(),
    })),
    next_cursor: nextCursor,
  };
};
