/** The audit log, newest first, page by page; counted refusals; retention. */
import { userInfo } from 'node:os';
import { ApiError, withAdminDatabase } from '@airlock/api/admin';
import type { AuditEvent, AuditPage } from '@airlock/client';
import { Instant } from '@airlock/schema';
import * as v from 'valibot';
import { integerFlag, requiredFlag, stringFlag, UsageError } from '../args.ts';
import { PAGING_OPTIONS, PAGING_SYNOPSIS, pagingDetails, pagingFlags, streamPages } from '../paging.ts';
import { CliError, emit, timeOf, type Command } from '../context.ts';
import { databaseUrlFrom } from './database.ts';
import { formatDetails, renderTable } from '../format.ts';

const subject = (e: AuditEvent): string | null =>
  e.agent_id ? `agent ${e.agent_id.slice(0, 8)}` : e.enrollment_id ? `enrollment ${e.enrollment_id.slice(0, 8)}` : null;

export const auditCommand: Command = {
  path: ['audit'],
  positionals: [],
  options: {
    'event-type': { type: 'string' },
    site: { type: 'string' },
    agent: { type: 'string' },
    ...PAGING_OPTIONS,
  },
  synopsis: `[--event-type T] [--site S] [--agent ID] ${PAGING_SYNOPSIS}`,
  summary: 'read the audit log, newest first',
  details: `  --event-type T   only this event type, e.g. enrollment.approved
  --site S         only events of this site
  --agent ID       only events of this agent
${pagingDetails(200, 50)}

--all --json streams every event (no cap) as it arrives, in constant memory.`,
  run: async (ctx) => {
    const query = {
      event_type: stringFlag(ctx.values, 'event-type'),
      site_code: stringFlag(ctx.values, 'site'),
      agent_id: stringFlag(ctx.values, 'agent'),
    };
    const req = pagingFlags(ctx, auditCommand, 200, 50);
    const client = ctx.admin();
    await streamPages<AuditEvent>(ctx, req, (cursor, limit) => client.get<AuditPage>('/api/v1/admin/audit', { ...query, limit, cursor }), {
      empty: 'no audit events',
      moreOnStdout: true,
      more: (c) => `next cursor: ${c} (airlock audit --cursor ${c})\n`,
      columns: [
        { header: 'time', value: (e) => timeOf(ctx, e.occurred_at) },
        { header: 'event', value: (e) => e.event_type },
        { header: 'actor', value: (e) => e.actor },
        { header: 'site', value: (e) => e.site_code },
        { header: 'subject', value: subject },
        { header: 'source ip', value: (e) => e.source_ip },
        { header: 'details', value: (e) => formatDetails(e.details), max: 80 },
      ],
    });
  },
};

interface RefusalCount {
  source_ip: string;
  kind: string;
  minute: string;
  count: number;
  last_at: string;
}

/** `airlock audit refusals`: the counted refusals that concern no real site, enrollment or agent. */
export const auditRefusalsCommand: Command = {
  path: ['audit', 'refusals'],
  positionals: [],
  options: { since: { type: 'string' }, kind: { type: 'string' }, ip: { type: 'string' }, limit: { type: 'string' }, cursor: { type: 'string' } },
  synopsis: '[--since TIME] [--kind K] [--ip ADDR] [--limit N] [--cursor C]',
  summary: 'counted refusals from strangers (junk bodies, unknown sites, bad tokens), per source IP, kind and minute',
  details: `  --since TIME   only minutes from this RFC 3339 time or date on
  --kind K       only this kind, e.g. enroll.invalid, admin.unauthorized
  --ip ADDR      only this source address
  --limit N      rows per page, 1-1000 (default 100)
  --cursor C     continue after a previous page

Refusals about a real site, enrollment or agent are full rows in \`airlock audit\`.`,
  run: async (ctx) => {
    const limit = integerFlag(ctx.values, 'limit', auditRefusalsCommand, { min: 1, max: 1000 });
    const page = await ctx.admin().get<{ items: RefusalCount[]; next_cursor: string | null }>('/api/v1/admin/audit/refusals', {
      since: stringFlag(ctx.values, 'since'),
      kind: stringFlag(ctx.values, 'kind'),
      source_ip: stringFlag(ctx.values, 'ip'),
      limit,
      cursor: stringFlag(ctx.values, 'cursor'),
    });
    emit(ctx, page, (p) => {
      const table =
        p.items.length === 0
          ? 'no counted refusals\n'
          : renderTable<RefusalCount>(
              [
                { header: 'minute', value: (r) => timeOf(ctx, r.minute) },
                { header: 'source ip', value: (r) => r.source_ip },
                { header: 'kind', value: (r) => r.kind },
                { header: 'count', value: (r) => String(r.count) },
              ],
              p.items,
            );
      return p.next_cursor ? `${table}next cursor: ${p.next_cursor}\n` : table;
    });
  },
};

/** `airlock audit prune --before DATE`: the only way audit rows leave (admin only; audited as audit.pruned). */
export const auditPruneCommand: Command = {
  path: ['audit', 'prune'],
  positionals: [],
  options: { before: { type: 'string' } },
  synopsis: '--before DATE',
  summary: 'delete audit rows and counted refusals older than DATE (admin; writes an audit.pruned row)',
  details: `  --before DATE   RFC 3339 time or date (e.g. 2026-01-01); rows older than this go.
                  A cutoff newer than AIRLOCK_AUDIT_MIN_RETENTION_DAYS (default 90) days
                  ago is refused. audit.pruned rows are never deleted.

Through the admin API (admin role), or with DATABASE_URL set directly on the
database (actor database:<unix user>), for when the api is down.`,
  run: async (ctx) => {
    const raw = requiredFlag(ctx.values, 'before', auditPruneCommand);
    const url = databaseUrlFrom(ctx.env);
    type Pruned = { before: string; events_deleted: number; refusal_counts_deleted: number };
    let r: Pruned;
    if (url) {
      // Direct: whoever holds DATABASE_URL owns the tables anyway; the same function, limits and audit.pruned row.
      const parsed = v.safeParse(Instant, raw);
      if (!parsed.success) throw new UsageError('--before must be an RFC 3339 time or a date', auditPruneCommand);
      // The api's own setting, read the same way (whole days, default 90).
      const configured = ctx.env.AIRLOCK_AUDIT_MIN_RETENTION_DAYS;
      if (configured && !/^\d{1,5}$/.test(configured)) throw new CliError('AIRLOCK_AUDIT_MIN_RETENTION_DAYS must be a whole number of days');
      const minRetentionDays = configured ? Number(configured) : 90;
      const actor = `database:${userInfo().username}`;
      try {
        r = await withAdminDatabase(url, (db) => db.pruneAudit(parsed.output, actor, { now: ctx.now(), minRetentionDays }));
      } catch (err) {
        if (err instanceof ApiError) throw new CliError(`${err.message}: ${Object.values(err.extra.fields ?? {}).join('; ')}`);
        throw err;
      }
    } else {
      r = await ctx.admin().post<Pruned>('/api/v1/admin/audit/prune', { before: raw });
    }
    emit(ctx, r, (x) => `pruned ${x.events_deleted} audit events and ${x.refusal_counts_deleted} refusal counts older than ${x.before}\n`);
  },
};
