/**
 * Seeds a migrated Airlock database with a fleet (issue 22), set-based: one
 * INSERT … SELECT generate_series per table, no row-at-a-time loop. The full
 * size is 1,000,000 agents (20 sites, 2 tenants), 1,000,000 enrollments and
 * 10,000,000 audit rows; `scale` multiplies it (0.01 is the 1/100).
 *
 * Data shaped like a real fleet: agents spread over the sites and ten
 * minutes of creation times per thousand (millisecond timestamps, as the api
 * writes them), 5% revoked, labels on each, a machine_uid each; enrollments
 * mostly approved with 2,000 × scale still waiting, half of those past their
 * deadline; audit rows over 40 event types and every site.
 *
 * Alone: `DATABASE_URL=… tsx apps/api/bench/fleet-seed.ts 0.01` (migrate first: `pnpm airlock migrate`).
 */
import postgres from 'postgres';

export interface FleetSize {
  agents: number;
  enrollments: number;
  audit: number;
  waiting: number;
}

export const fleetSize = (scale: number): FleetSize => ({
  agents: Math.round(1_000_000 * scale),
  enrollments: Math.round(1_000_000 * scale),
  audit: Math.round(10_000_000 * scale),
  waiting: Math.max(20, Math.round(2_000 * scale)),
});

const SITES = 20;
export const siteCode = (i: number) => `FLEET-${String(i).padStart(2, '0')}`;
/** A valid SSH fingerprint shape for row n (the tunnel lookup's key). */
export const fingerprintOf = (n: number) => `SHA256:${String(n).padStart(43, 'A')}`;

export const seedFleet = async (databaseUrl: string, size: FleetSize, log: (line: string) => void = () => {}): Promise<void> => {
  const sql = postgres(databaseUrl, { max: 1, onnotice: () => {} });
  const step = async (what: string, q: () => Promise<unknown>) => {
    const started = performance.now();
    await q();
    log(`  seeded ${what} in ${((performance.now() - started) / 1000).toFixed(1)} s`);
  };
  try {
    await sql`set synchronous_commit = off`;
    await step('tenants and sites', async () => {
      await sql`insert into tenants (code, name, created_by) values ('fleet-a', 'Fleet A', 'bench'), ('fleet-b', 'Fleet B', 'bench') on conflict do nothing`;
      await sql`
        insert into sites (code, name, policy, created_by, tenant_code)
        select 'FLEET-' || lpad(g::text, 2, '0'), 'Fleet site ' || g, 'manual', 'bench', case when g % 2 = 0 then 'fleet-a' else 'fleet-b' end
        from generate_series(0, ${SITES - 1}) g`;
    });
    // Agents: n = 1..N, newest = highest n; site n % 20; created one every 600 ms back from now.
    await step(`${size.agents} agents`, () => sql`
      insert into agents (id, site_code, tenant_code, enrollment_id, public_key, fingerprint, hostname, machine_uid, status,
                          created_at, created_by, last_seen_at, revoked_at, labels, approved_by, approved_at)
      select md5('agent' || n)::uuid, 'FLEET-' || lpad((n % ${SITES})::text, 2, '0'), case when (n % ${SITES}) % 2 = 0 then 'fleet-a' else 'fleet-b' end,
             md5('enrollment' || n)::uuid, 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAI' || lpad(n::text, 43, 'A'),
             'SHA256:' || lpad(n::text, 43, 'A'), 'host-' || n, 'uid-' || n,
             case when n % 20 = 0 then 'revoked' else 'active' end,
             date_trunc('milliseconds', now() - (${size.agents} - n) * interval '600 milliseconds'), 'bench',
             now() - (n % 3600) * interval '1 second',
             case when n % 20 = 0 then now() - interval '1 day' end,
             jsonb_build_object('company', 'company-' || (n % 50), 'department', 'dept-' || (n % 7), 'device_type', case when n % 3 = 0 then 'router' else 'appliance' end),
             'bench', date_trunc('milliseconds', now() - (${size.agents} - n) * interval '600 milliseconds')
      from generate_series(1, ${size.agents}) n`);
    await step(`${size.agents} agent keys`, () => sql`
      insert into agent_keys (agent_id, digest, start, created_at)
      select md5('agent' || n)::uuid, md5('key' || n) || md5('key2' || n), 'cak_' || n, now()
      from generate_series(1, ${size.agents}) n`);
    // Enrollments: most approved (one per agent), the newest `waiting` still waiting, half of them past the deadline.
    await step(`${size.enrollments} enrollments`, () => sql`
      insert into enrollments (id, site_code, method, public_key, fingerprint, hostname, machine_uid, labels, source_ip, challenge, challenge_expires_at,
                               status, poll_interval, approval_expires_at, agent_id, decided_by, decided_at, created_at, updated_at)
      select md5('enrollment' || n)::uuid, 'FLEET-' || lpad((n % ${SITES})::text, 2, '0'), 'pairing_code',
             'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAI' || lpad(n::text, 43, 'A'), 'SHA256:' || lpad(n::text, 43, 'A'), 'host-' || n, 'uid-' || n,
             '{}'::jsonb, '192.0.2.' || (n % 250), 'c', now(),
             case when n > ${size.enrollments - size.waiting} then 'awaiting_approval' else 'approved' end, 5,
             case when n > ${size.enrollments - size.waiting} then now() + (case when n % 2 = 0 then 1 else -1 end) * interval '1 day' end,
             case when n <= ${size.enrollments - size.waiting} then md5('agent' || n)::uuid end,
             case when n <= ${size.enrollments - size.waiting} then 'bench' end, now(),
             date_trunc('milliseconds', now() - (${size.enrollments} - n) * interval '600 milliseconds'), now()
      from generate_series(1, ${size.enrollments}) n`);
    // Audit: 40 event types, every site, an agent for most rows; the table is append-only, so one INSERT.
    await step(`${size.audit} audit rows`, () => sql`
      insert into audit_events (occurred_at, event_type, actor, site_code, agent_id, source_ip, details)
      select now() - (${size.audit} - n) * interval '60 milliseconds',
             (array['enroll.created','verify.ok','enrollment.approved','credentials.issued','agent.revoked','enroll.denied','tunnel.opened','tunnel.closed',
                    'agent_key.denied','site.created','pairing_code.created','pairing_code.revoked','enrollment.rejected','request.invalid','agent.labels_changed',
                    'enroll.source_refused','verify.denied','verify.expired','operator.login','operator.logout','site.updated','agent.machine_moved',
                    'agent.certificates_revoked','site.enrollment_key_rotated','enroll.site_conflict','status.slow_down','tunnel.denied','operator.created',
                    'operator.disabled','admin.forbidden','admin.unauthorized','lockout.lifted','enrollment.expired','credentials.renewed','agent.challenge',
                    'agent.credentials','enrollment.approve_refused','pairing_code.revoke_refused','tenant.created','site.create_refused'])[1 + n % 40],
             'bench', 'FLEET-' || lpad((n % ${SITES})::text, 2, '0'),
             case when n % 4 <> 0 then md5('agent' || (1 + n % ${Math.max(1, size.agents)}))::uuid end,
             '192.0.2.' || (n % 250), '{}'::jsonb
      from generate_series(1, ${size.audit}) n`);
    await step('analyze', () => sql`analyze`);
  } finally {
    await sql.end();
  }
};

if (import.meta.url === `file://${process.argv[1]}`) {
  const url = process.env.DATABASE_URL;
  if (!url) throw new Error('DATABASE_URL is required');
  await seedFleet(url, fleetSize(Number(process.argv[2] ?? '0.01')), (l) => console.log(l));
}
