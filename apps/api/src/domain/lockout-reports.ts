/**
 * The edges' reports of the lockouts and blocks they impose (issue 20): one
 * `security.lockout` audit row each, from which the audit trigger (migration
 * 0010) makes the webhook event in the same transaction. The enroll's site
 * code is the client's claim: it becomes the row's site only when such a
 * site exists (a stranger's junk site codes stay in the details).
 */
import type { LockoutReportRequest } from '@airlock/schema';
import { sql } from 'drizzle-orm';
import { EVERY_TENANT } from '../store/scope.ts';
import { getSite } from '../store/sites.ts';
import { recordAudit } from './audit.ts';
import type { Actor, Client, Deps } from './deps.ts';

export const recordLockoutReport = async (deps: Deps, r: LockoutReportRequest, actor: Actor, client: Client): Promise<{ recorded: boolean }> =>
  deps.db.transaction(async (tx) => {
    // An edge retries a report whose answer it lost: the second one records nothing.
    // Serialised per report id so two retries in flight cannot both pass the check.
    await tx.execute(sql`select pg_advisory_xact_lock(hashtext(${`lockout-report:${r.report_id}`}))`);
    const seen = await tx.execute(
      sql`select 1 from audit_events where event_type = 'security.lockout' and details->>'report_id' = ${r.report_id} limit 1`,
    );
    if (seen.length > 0) return { recorded: false };
    const site = r.site_code ? await getSite(tx, r.site_code, EVERY_TENANT) : null;
    await recordAudit(tx, deps, client, {
      eventType: 'security.lockout',
      actor: actor.name,
      siteCode: site ? site.code : null,
      details: {
        report_id: r.report_id,
        kind: r.kind,
        source_ip: r.source_ip,
        until: r.until,
        failures: r.failures,
        counters: r.counters,
        ...(r.site_code && !site ? { claimed_site_code: r.site_code } : {}),
      },
    });
    return { recorded: true };
  });
