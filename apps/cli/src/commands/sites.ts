/** Sites and their enrollment keys (`cek_`). */
import type { EnrollmentKeyDescription as KeyDescription, RotatedEnrollmentKey as RotatedKey } from '@airlock/client';
import { choiceFlag, integerFlag, requiredFlag, stringFlag } from '../args.ts';
import { emit, emitTable, positional, timeOf, type Command, type Page } from '../context.ts';
import { renderPairs } from '../format.ts';

interface SiteView {
  site_code: string;
  name: string;
  policy: 'manual' | 'auto';
  created_at: string;
  created_by: string;
}

/** Site codes are restricted to A-Z 0-9 -, but a typo must not turn into another path. */
const sitePath = (site: string): string => `/api/v1/admin/sites/${encodeURIComponent(site)}/enrollment-key`;

export const sitesListCommand: Command = {
  path: ['sites', 'list'],
  positionals: [],
  options: {},
  synopsis: '',
  summary: 'list sites',
  details: '',
  run: async (ctx) => {
    const page = await ctx.admin().get<Page<SiteView>>('/api/v1/admin/sites');
    emitTable<SiteView>(ctx, page, 'no sites', [
      { header: 'site', value: (s) => s.site_code },
      { header: 'name', value: (s) => s.name, max: 40 },
      { header: 'policy', value: (s) => s.policy },
      { header: 'created', value: (s) => timeOf(ctx, s.created_at) },
      { header: 'by', value: (s) => s.created_by },
    ]);
  },
};

export const sitesCreateCommand: Command = {
  path: ['sites', 'create'],
  positionals: [],
  options: { code: { type: 'string' }, name: { type: 'string' }, policy: { type: 'string' } },
  synopsis: '--code CODE --name NAME [--policy manual|auto]',
  summary: 'create a site',
  details: `  --code CODE             2-32 characters of A-Z 0-9 -, e.g. ACME-PHX (stored upper-case)
  --name NAME             a human name, up to 100 printable characters
  --policy manual|auto    how enrollment-key enrollments are decided (default manual);
                          pairing-code enrollments always wait for an operator`,
  run: async (ctx) => {
    const cmd = sitesCreateCommand;
    const body = {
      site_code: requiredFlag(ctx.values, 'code', cmd),
      name: requiredFlag(ctx.values, 'name', cmd),
      policy: choiceFlag(ctx.values, 'policy', ['manual', 'auto'] as const, cmd) ?? 'manual',
    };
    const site = await ctx.admin().post<SiteView>('/api/v1/admin/sites', body);
    emit(ctx, site, (s) => `created site ${s.site_code} (${s.name}), policy ${s.policy}\n`);
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
