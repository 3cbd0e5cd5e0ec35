/** Sites and their enrollment keys (`cek_`). */
import type { EnrollmentKeyDescription as KeyDescription, RotatedEnrollmentKey as RotatedKey, Site as SiteView } from '@airlock/client';
import { choiceFlag, integerFlag, requiredFlag, stringFlag, UsageError } from '../args.ts';
import { emit, positional, timeOf, type Command } from '../context.ts';
import { renderPairs, renderTable, type Column } from '../format.ts';

const renderTableOr = <R>(rows: readonly R[], empty: string, columns: readonly Column<R>[]) => (rows.length === 0 ? `${empty}\n` : renderTable(columns, rows));
import { PAGING_OPTIONS, PAGING_SYNOPSIS, pagingDetails, pagingFlags, streamPages } from '../paging.ts';

/** `--allow 10.0.0.0/8,2001:db8::/32`: the site's source allowlist; an empty value clears it. */
const cidrsFlag = (values: Record<string, unknown>): string[] | undefined => {
  const raw = values['allow'];
  if (raw === undefined) return undefined;
  if (typeof raw !== 'string') throw new UsageError('--allow takes a comma-separated list of CIDRs');
  return raw
    .split(',')
    .map((c) => c.trim())
    .filter((c) => c !== '');
};
const allowText = (s: SiteView) => (s.allowed_cidrs.length === 0 ? 'any source' : s.allowed_cidrs.join(','));

/** Site codes are restricted to A-Z 0-9 -, but a typo must not turn into another path. */
const sitePath = (site: string): string => `/api/v1/admin/sites/${encodeURIComponent(site)}/enrollment-key`;

export const sitesListCommand: Command = {
  path: ['sites', 'list'],
  positionals: [],
  options: { tenant: { type: 'string' }, ...PAGING_OPTIONS },
  synopsis: `[--tenant T] ${PAGING_SYNOPSIS}`,
  summary: 'list sites by code',
  details: `  --tenant T        only this tenant's sites
${pagingDetails(500, 100)}`,
  run: async (ctx) => {
    const tenant = stringFlag(ctx.values, 'tenant');
    const req = pagingFlags(ctx, sitesListCommand, 500, 100);
    const client = ctx.admin();
    await streamPages<SiteView>(ctx, req, (cursor, limit) => client.listSites({ tenant_code: tenant, cursor, limit: String(limit) }), {
      empty: 'no sites',
      more: (c) => `more: airlock sites list --cursor ${c} (or --all)\n`,
      columns: [
        { header: 'site', value: (s) => s.site_code },
        { header: 'tenant', value: (s) => s.tenant_code },
        { header: 'name', value: (s) => s.name, max: 40 },
        { header: 'policy', value: (s) => s.policy },
        { header: 'sources', value: allowText, max: 60 },
        { header: 'created', value: (s) => timeOf(ctx, s.created_at) },
        { header: 'by', value: (s) => s.created_by },
      ],
    });
  },
};

export const sitesCreateCommand: Command = {
  path: ['sites', 'create'],
  positionals: [],
  options: { code: { type: 'string' }, name: { type: 'string' }, policy: { type: 'string' }, tenant: { type: 'string' }, allow: { type: 'string' } },
  synopsis: '--code CODE --name NAME [--policy manual|auto] [--tenant T] [--allow CIDR,…]',
  summary: 'create a site',
  details: `  --code CODE             2-32 characters of A-Z 0-9 -, e.g. ACME-PHX (stored upper-case)
  --name NAME             a human name, up to 100 printable characters
  --policy manual|auto    how enrollment-key enrollments are decided (default manual);
                          pairing-code enrollments always wait for an operator
  --tenant T              the site's tenant (default: default, or a scoped operator's own)
  --allow CIDR,…          enroll only from these sources (IPv4/IPv6 CIDRs; default: any)`,
  run: async (ctx) => {
    const cmd = sitesCreateCommand;
    const tenant = stringFlag(ctx.values, 'tenant');
    const allowed = cidrsFlag(ctx.values);
    const body = {
      site_code: requiredFlag(ctx.values, 'code', cmd),
      name: requiredFlag(ctx.values, 'name', cmd),
      policy: choiceFlag(ctx.values, 'policy', ['manual', 'auto'] as const, cmd) ?? 'manual',
      ...(tenant === undefined ? {} : { tenant_code: tenant }),
      ...(allowed === undefined ? {} : { allowed_cidrs: allowed }),
    };
    const site = await ctx.admin().createSite(body);
    emit(ctx, site, (s) => `created site ${s.site_code} (${s.name}) in tenant ${s.tenant_code}, policy ${s.policy}, enroll from ${allowText(s)}\n`);
  },
};

export const sitesUpdateCommand: Command = {
  path: ['sites', 'update'],
  positionals: ['site'],
  options: { name: { type: 'string' }, policy: { type: 'string' }, allow: { type: 'string' } },
  synopsis: 'SITE [--name NAME] [--policy manual|auto] [--allow CIDR,…]',
  summary: "change a site's name, policy or source allowlist (audited as site.updated)",
  details: `  --name NAME             a new human name
  --policy manual|auto    a new policy for enrollment-key enrollments
  --allow CIDR,…          enroll only from these sources; --allow '' lets any source in`,
  run: async (ctx) => {
    const cmd = sitesUpdateCommand;
    const name = stringFlag(ctx.values, 'name');
    const policy = choiceFlag(ctx.values, 'policy', ['manual', 'auto'] as const, cmd);
    const allowed = cidrsFlag(ctx.values);
    if (name === undefined && policy === undefined && allowed === undefined) throw new UsageError('name at least one of --name, --policy, --allow', cmd);
    const body = { ...(name === undefined ? {} : { name }), ...(policy === undefined ? {} : { policy }), ...(allowed === undefined ? {} : { allowed_cidrs: allowed }) };
    const site = await ctx.admin().updateSite(positional(ctx, 0), body);
    emit(ctx, site, (s) => `updated site ${s.site_code} (${s.name}), policy ${s.policy}, enroll from ${allowText(s)}\n`);
  },
};

export const tenantsListCommand: Command = {
  path: ['tenants', 'list'],
  positionals: [],
  options: {},
  synopsis: '',
  summary: 'list tenants (a scoped operator sees its own)',
  details: '',
  run: async (ctx) => {
    const page = await ctx.admin().listTenants();
    emit(ctx, page, (p) =>
      renderTableOr(p.items, 'no tenants', [
        { header: 'tenant', value: (t) => t.tenant_code },
        { header: 'name', value: (t) => t.name, max: 40 },
        { header: 'created', value: (t) => timeOf(ctx, t.created_at) },
        { header: 'by', value: (t) => t.created_by },
      ]),
    );
  },
};

export const tenantsCreateCommand: Command = {
  path: ['tenants', 'create'],
  positionals: [],
  options: { code: { type: 'string' }, name: { type: 'string' } },
  synopsis: '--code CODE --name NAME',
  summary: 'create a tenant (global admins only)',
  details: '  --code CODE   2-32 characters of a-z 0-9 -\n  --name NAME   a human name',
  run: async (ctx) => {
    const cmd = tenantsCreateCommand;
    const t = await ctx.admin().createTenant({ tenant_code: requiredFlag(ctx.values, 'code', cmd), name: requiredFlag(ctx.values, 'name', cmd) });
    emit(ctx, t, (x) => `created tenant ${x.tenant_code} (${x.name})\n`);
  },
};

export const sitesKeyRotateCommand: Command = {
  path: ['sites', 'key', 'rotate'],
  positionals: ['site'],
  options: { 'expires-in': { type: 'string' }, 'max-uses': { type: 'string' } },
  synopsis: 'SITE [--expires-in SECONDS] [--max-uses N]',
  summary: "mint a new enrollment key for a site (the old one stops working)",
  details: `  --expires-in SECONDS   the key stops working after this long (60 to 31622400);
                         0 or none: never. Default: the api's AIRLOCK_SITE_KEY_TTL_SECONDS (30 days)
  --max-uses N           the key stops working after N enrollments;
                         0 or none: unlimited. Default: the api's AIRLOCK_SITE_KEY_MAX_USES (1000)

The key is printed once, alone on the last line; it cannot be shown again.
Agents already enrolled keep working: they hold their own agent keys.`,
  run: async (ctx) => {
    const cmd = sitesKeyRotateCommand;
    const site = positional(ctx, 0);
    // `0` / `none` ask explicitly for no limit (null); absent leaves the api's default.
    const unlimited = (name: string) => ['0', 'none'].includes(stringFlag(ctx.values, name) ?? '');
    const expires = unlimited('expires-in') ? null : integerFlag(ctx.values, 'expires-in', cmd, { min: 60, max: 366 * 86400 });
    const maxUses = unlimited('max-uses') ? null : integerFlag(ctx.values, 'max-uses', cmd, { min: 1, max: 1_000_000 });
    const body = {
      ...(expires !== undefined ? { expires_in_seconds: expires } : {}),
      ...(maxUses !== undefined ? { max_uses: maxUses } : {}),
    };
    const key = await ctx.admin().post<RotatedKey>(sitePath(site), body);
    emit(ctx, key, (k) =>
      [
        `rotated the enrollment key of ${site.toUpperCase()}: ${k.fingerprint}`,
        `expires: ${timeOf(ctx, k.expires_at) ?? 'never'}; max uses: ${k.max_uses ?? 'unlimited'}`,
        'WARNING: the key is shown only now and cannot be retrieved later; store it in your deployment secrets.',
        k.key,
        '',
      ].join('\n'),
    );
  },
};

export const sitesKeyShowCommand: Command = {
  path: ['sites', 'key', 'show'],
  positionals: ['site'],
  options: {},
  synopsis: 'SITE',
  summary: "show a site's active enrollment key (fingerprint, usage and uses left, never the key)",
  details: '',
  run: async (ctx) => {
    const site = positional(ctx, 0);
    const key = await ctx.admin().get<KeyDescription>(sitePath(site));
    emit(ctx, key, (k) =>
      renderPairs([
        ['site', site.toUpperCase()],
        ['fingerprint', k.fingerprint],
        ['version', String(k.version)],
        ['created', timeOf(ctx, k.created_at)],
        ['created by', k.created_by],
        ['last used', timeOf(ctx, k.last_used_at) ?? 'never'],
        ['uses', k.use_count === undefined ? null : String(k.use_count)],
        ['max uses', k.max_uses == null ? 'unlimited' : String(k.max_uses)],
        // Issue 18: what a leaked key could still spend before the site stops enrolling new machines.
        ['uses left', k.max_uses == null ? 'unlimited' : k.uses_left == null ? null : String(k.uses_left)],
        ['expires', timeOf(ctx, k.expires_at) ?? 'never'],
      ]),
    );
  },
};
