/** Pairing codes: one-time, short-lived, shown once. */
import type { CreatedPairingCode as CreatedCode, PairingCode as CodeView } from '@airlock/client';
import { formatPairingCode, normalizePairingCode } from '@airlock/crypto';
import { booleanFlag, choiceFlag, integerFlag, requiredFlag, stringFlag } from '../args.ts';
import { emit, positional, timeOf, type Command } from '../context.ts';
import { resolveIdPrefix } from '../id-prefix.ts';
import { PAGING_OPTIONS, PAGING_SYNOPSIS, pagingDetails, pagingFlags, streamPages } from '../paging.ts';

const CODE_STATUSES = ['active', 'used', 'expired', 'revoked'] as const;

/** Always XXXX-XXXX-XXXX, whatever grouping the api chose. */
const displayPairingCode = (code: string): string => {
  const canonical = normalizePairingCode(code);
  return canonical ? formatPairingCode(canonical) : code;
};

export const codesCreateCommand: Command = {
  path: ['codes', 'create'],
  positionals: [],
  options: { site: { type: 'string' }, ttl: { type: 'string' }, note: { type: 'string' }, 'auto-approve': { type: 'boolean' } },
  synopsis: '--site SITE [--ttl SECONDS] [--note TEXT] [--auto-approve]',
  summary: 'make a one-time pairing code for a site',
  details: `  --site SITE       the site the code enrolls into
  --ttl SECONDS     lifetime, 60 to 86400 (default: the api's, 600)
  --note TEXT       a note for the audit log and the code list (not a secret)
  --auto-approve    approve the enrollment without waiting for an operator

The code is printed once, alone on the last line; only a keyed digest is stored.`,
  run: async (ctx) => {
    const cmd = codesCreateCommand;
    const ttl = integerFlag(ctx.values, 'ttl', cmd, { min: 60, max: 86400 });
    const note = stringFlag(ctx.values, 'note');
    const body = {
      site_code: requiredFlag(ctx.values, 'site', cmd),
      ...(ttl !== undefined ? { ttl_seconds: ttl } : {}),
      ...(note !== undefined ? { note } : {}),
      ...(booleanFlag(ctx.values, 'auto-approve') ? { auto_approve: true } : {}),
    };
    const created = await ctx.admin().post<CreatedCode>('/api/v1/admin/pairing-codes', body);
    emit(ctx, created, (c) =>
      [
        `pairing code for ${c.site_code} (id ${c.id}), single use${c.auto_approve ? ', auto-approve' : ''}`,
        `expires: ${timeOf(ctx, c.expires_at)}`,
        'it is shown only now:',
        displayPairingCode(c.code),
        '',
      ].join('\n'),
    );
  },
};

export const codesListCommand: Command = {
  path: ['codes', 'list'],
  positionals: [],
  options: { status: { type: 'string' }, site: { type: 'string' }, ...PAGING_OPTIONS },
  synopsis: `[--status active|used|expired|revoked] [--site S] ${PAGING_SYNOPSIS}`,
  summary: 'list pairing codes, newest first (never the codes themselves)',
  details: `  --status STATUS   only codes in this state
  --site S          only this site's codes
${pagingDetails(500, 100)}`,
  run: async (ctx) => {
    const status = choiceFlag(ctx.values, 'status', CODE_STATUSES, codesListCommand);
    const site = stringFlag(ctx.values, 'site');
    const req = pagingFlags(ctx, codesListCommand, 500, 100);
    const client = ctx.admin();
    const fetchPage = (cursor: string | undefined, limit: number) => client.listPairingCodes({ status, site_code: site, cursor, limit: String(limit) });
    await streamPages<CodeView>(ctx, req, fetchPage, { empty: status ? `no ${status} pairing codes` : 'no pairing codes', more: (c) => `more: airlock codes list --cursor ${c} (or --all)\n`, columns: [
      { header: 'id', value: (c) => c.id },
      { header: 'site', value: (c) => c.site_code },
      { header: 'status', value: (c) => c.status },
      { header: 'expires', value: (c) => timeOf(ctx, c.expires_at) },
      { header: 'auto', value: (c) => (c.auto_approve ? 'yes' : 'no') },
      { header: 'by', value: (c) => c.created_by },
      { header: 'note', value: (c) => c.note, max: 40 },
    ] });
  },
};

export const codesRevokeCommand: Command = {
  path: ['codes', 'revoke'],
  positionals: ['id'],
  options: {},
  synopsis: 'ID',
  summary: 'revoke an unused pairing code',
  details: '',
  run: async (ctx) => {
    const id = await resolveIdPrefix(positional(ctx, 0), 'pairing code', async () => (await ctx.admin().listPairingCodes({ limit: '500' })).items);
    await ctx.admin().delete<null>(`/api/v1/admin/pairing-codes/${encodeURIComponent(id)}`);
    emit(ctx, { id, status: 'revoked' }, () => `revoked pairing code ${id}\n`);
  },
};
