/** Enrollments and the operator's decisions on them. */
import type { Enrollment } from '@airlock/client';
import { ENROLLMENT_STATUSES, IDENTITY_CHOICES } from '@airlock/schema';
import { choiceFlag, requiredFlag, stringFlag } from '../args.ts';
import { emit, positional, timeOf, type Command, type CommandContext } from '../context.ts';
import { PAGING_OPTIONS, PAGING_SYNOPSIS, pagingDetails, pagingFlags, streamPages } from '../paging.ts';
import { formatAge, renderTable, sanitizeCell, type Column } from '../format.ts';
import { resolveIdPrefix } from '../id-prefix.ts';

type EnrollmentView = Enrollment;

/** "replaces agent X, old fingerprint -> new fingerprint" for each pending key change (#8.2). */
const replacementLines = (items: readonly EnrollmentView[]): string =>
  items
    .filter((e) => e.replaces_agent_id && e.replaces_fingerprint)
    .map(
      (e) =>
        `${sanitizeCell(e.id)} replaces agent ${sanitizeCell(e.replaces_agent_id ?? '')}, ` +
        `${sanitizeCell(e.replaces_fingerprint ?? '')} -> ${sanitizeCell(e.fingerprint)}` +
        (e.rekey_signed
          ? ' (signed by the old key)'
          : ' (NOT signed by the old key: check before approving; a clone of that machine: approve --identity separate)') +
        '\n',
    )
    .join('');

/** Issue 18: enrollments held because their key is a revoked agent's. */
const revokedKeyLines = (items: readonly EnrollmentView[]): string =>
  items
    .filter((e) => e.revoked_key_agent_id)
    .map(
      (e) =>
        `${sanitizeCell(e.id)} uses the key of REVOKED agent ${sanitizeCell(e.revoked_key_agent_id ?? '')}: ` +
        'approving lets that key back in (reject unless the revocation was a mistake)\n',
    )
    .join('');

const pendingColumns = (ctx: CommandContext): Column<EnrollmentView>[] => [
  { header: 'id', value: (e) => e.id },
  { header: 'status', value: (e) => (e.status === 'pending_confirmation' ? 'pending_confirmation (re-enroll)' : e.status) },
  { header: 'site', value: (e) => e.site_code },
  { header: 'hostname', value: (e) => e.hostname, max: 40 },
  { header: 'fingerprint', value: (e) => e.fingerprint },
  { header: 'source ip', value: (e) => e.source_ip },
  { header: 'age', value: (e) => formatAge(e.created_at, ctx.now()) },
  { header: 'method', value: (e) => e.method },
];

export const pendingCommand: Command = {
  path: ['pending'],
  positionals: [],
  options: {},
  synopsis: '',
  summary: 'enrollments waiting for a decision (awaiting_approval, pending_confirmation)',
  details: `Compare the fingerprint with the one the agent printed (ssh-keygen -lf on the
machine) before approving. pending_confirmation means the machine re-enrolled
with a new key while an agent for it already exists: the lines under the table say
which agent an approval would re-key, old fingerprint -> new fingerprint. Oldest first.`,
  run: async (ctx) => {
    const { items } = await ctx.admin().listPending();
    emit(ctx, { items }, (p) =>
      p.items.length === 0
        ? 'no enrollments are waiting for a decision\n'
        : renderTable(pendingColumns(ctx), p.items) + replacementLines(p.items) + revokedKeyLines(p.items),
    );
  },
};

export const enrollmentsListCommand: Command = {
  path: ['enrollments', 'list'],
  positionals: [],
  options: { status: { type: 'string' }, site: { type: 'string' }, tenant: { type: 'string' }, ...PAGING_OPTIONS },
  synopsis: `[--status STATUS] [--site S] [--tenant T] ${PAGING_SYNOPSIS}`,
  summary: 'list enrollments, newest first',
  details: `  --status STATUS   one of: ${ENROLLMENT_STATUSES.join(', ')}
  --site S          only this site's enrollments
  --tenant T        only this tenant's enrollments
${pagingDetails(500, 100)}`,
  run: async (ctx) => {
    const status = choiceFlag(ctx.values, 'status', ENROLLMENT_STATUSES, enrollmentsListCommand);
    const filter = { status, site_code: stringFlag(ctx.values, 'site'), tenant_code: stringFlag(ctx.values, 'tenant') };
    const req = pagingFlags(ctx, enrollmentsListCommand, 500, 100);
    const client = ctx.admin();
    const fetchPage = (cursor: string | undefined, limit: number) => client.listEnrollments({ ...filter, cursor, limit });
    await streamPages<EnrollmentView>(ctx, req, fetchPage, { empty: status ? `no ${status} enrollments` : 'no enrollments', more: (c) => `more: airlock enrollments list --cursor ${c} (or --all)\n`, columns: [
      { header: 'id', value: (e) => e.id },
      { header: 'status', value: (e) => e.status },
      { header: 'site', value: (e) => e.site_code },
      { header: 'hostname', value: (e) => e.hostname, max: 40 },
      { header: 'fingerprint', value: (e) => e.fingerprint },
      { header: 'source ip', value: (e) => e.source_ip },
      { header: 'created', value: (e) => timeOf(ctx, e.created_at) },
      { header: 'method', value: (e) => e.method },
      { header: 'version', value: (e) => e.agent_version },
    ] });
  },
};

/** A full id, or a unique prefix of a decidable enrollment's id (as `pending` and `audit` print). */
const enrollmentId = (ctx: CommandContext) =>
  resolveIdPrefix(positional(ctx, 0), 'enrollment', async () => (await ctx.admin().listEnrollments({ limit: 500 })).items);

export const approveCommand: Command = {
  path: ['approve'],
  positionals: ['id'],
  options: { notes: { type: 'string' }, identity: { type: 'string' } },
  synopsis: 'ID [--notes TEXT] [--identity replace|separate]',
  summary: 'approve an enrollment (the agent then collects its key)',
  details: [
    '  --notes TEXT         recorded in the audit log',
    '  --identity CHOICE    for an identity collision (pending_confirmation): replace (default) gives the',
    '                       existing agent the new key; separate enrolls the machine as a new agent beside',
    '                       it (template-cloned VMs that share a hardware UUID)',
  ].join('\n'),
  run: async (ctx) => {
    const notes = stringFlag(ctx.values, 'notes');
    const identity = choiceFlag(ctx.values, 'identity', IDENTITY_CHOICES, approveCommand);
    const id = await enrollmentId(ctx);
    const body = { ...(notes === undefined ? {} : { notes }), ...(identity === undefined ? {} : { identity }) };
    const result = await ctx.admin().approveEnrollment(id, body);
    emit(ctx, result, (r) => `approved enrollment ${r.id}${identity === 'separate' ? ' as a separate agent' : ''}\n`);
  },
};

export const rejectCommand: Command = {
  path: ['reject'],
  positionals: ['id'],
  options: { reason: { type: 'string' } },
  synopsis: 'ID --reason TEXT',
  summary: 'reject an enrollment; the agent is told the reason',
  details: '  --reason TEXT   required; shown to the agent and recorded in the audit log',
  run: async (ctx) => {
    const reason = requiredFlag(ctx.values, 'reason', rejectCommand);
    const id = await enrollmentId(ctx);
    const result = await ctx.admin().rejectEnrollment(id, { reason });
    emit(ctx, result, (r) => `rejected enrollment ${r.id}\n`);
  },
};
