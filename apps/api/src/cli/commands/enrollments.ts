/** Enrollments and the operator's decisions on them. */
import { ENROLLMENT_STATUSES } from '@airlock/schema';
import { choiceFlag, requiredFlag, stringFlag } from '../args.ts';
import { emit, emitTable, positional, timeOf, type Command, type CommandContext } from '../context.ts';
import { formatAge, renderTable, sanitizeCell, type Column } from '../format.ts';

interface EnrollmentView {
  id: string;
  site_code: string;
  method: string;
  hostname: string;
  agent_version: string | null;
  fingerprint: string;
  source_ip: string | null;
  status: string;
  created_at: string;
  /** #8.2: the agent an approval would re-key, and its current fingerprint. */
  replaces_agent_id?: string | null;
  replaces_fingerprint?: string | null;
  rekey_signed?: boolean;
}

interface EnrollmentPage {
  items: EnrollmentView[];
  next_cursor?: string | null;
}

// The api pages at most 500 rows; a bound keeps a misbehaving server from looping us forever.
const MAX_PAGES = 1000;

/** Every enrollment of one status, following the api's cursor (#8.11: no silent truncation at 500). */
const listAll = async (ctx: CommandContext, status: string): Promise<EnrollmentView[]> => {
  const client = ctx.admin();
  const items: EnrollmentView[] = [];
  let cursor: string | undefined;
  for (let i = 0; i < MAX_PAGES; i++) {
    const page = await client.get<EnrollmentPage>(LIST_PATH, { status, cursor });
    items.push(...page.items);
    if (!page.next_cursor || page.next_cursor === cursor) break;
    cursor = page.next_cursor;
  }
  return items;
};

/** "replaces agent X, old fingerprint -> new fingerprint" for each pending key change. */
const replacementLines = (items: readonly EnrollmentView[]): string =>
  items
    .filter((e) => e.replaces_agent_id && e.replaces_fingerprint)
    .map(
      (e) =>
        `${sanitizeCell(e.id)} replaces agent ${sanitizeCell(e.replaces_agent_id ?? '')}, ` +
        `${sanitizeCell(e.replaces_fingerprint ?? '')} -> ${sanitizeCell(e.fingerprint)}` +
        (e.rekey_signed ? ' (signed by the old key)' : ' (NOT signed by the old key: check before approving)') +
        '\n',
    )
    .join('');

const LIST_PATH = '/api/v1/admin/enrollments';
/** The two states an operator can decide on. */
const DECIDABLE = ['awaiting_approval', 'pending_confirmation'] as const;

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
    const lists = await Promise.all(DECIDABLE.map((status) => listAll(ctx, status)));
    const items = lists.flat().sort((a, b) => a.created_at.localeCompare(b.created_at));
    emit(ctx, { items }, (p) =>
      p.items.length === 0
        ? 'no enrollments are waiting for a decision\n'
        : renderTable(pendingColumns(ctx), p.items) + replacementLines(p.items),
    );
  },
};

export const enrollmentsListCommand: Command = {
  path: ['enrollments', 'list'],
  positionals: [],
  options: { status: { type: 'string' }, cursor: { type: 'string' } },
  synopsis: '[--status STATUS] [--cursor C]',
  summary: 'list enrollments, newest first, 500 a page',
  details: `  --status STATUS   one of: ${ENROLLMENT_STATUSES.join(', ')}
  --cursor C        continue after a previous page (the cursor it printed)`,
  run: async (ctx) => {
    const status = choiceFlag(ctx.values, 'status', ENROLLMENT_STATUSES, enrollmentsListCommand);
    const page = await ctx.admin().get<EnrollmentPage>(LIST_PATH, { status, cursor: stringFlag(ctx.values, 'cursor') || undefined });
    if (page.next_cursor && !ctx.json) ctx.io.err(`more: airlock enrollments list --cursor ${page.next_cursor}\n`);
    emitTable<EnrollmentView>(ctx, page, status ? `no ${status} enrollments` : 'no enrollments', [
      { header: 'id', value: (e) => e.id },
      { header: 'status', value: (e) => e.status },
      { header: 'site', value: (e) => e.site_code },
      { header: 'hostname', value: (e) => e.hostname, max: 40 },
      { header: 'fingerprint', value: (e) => e.fingerprint },
      { header: 'source ip', value: (e) => e.source_ip },
      { header: 'created', value: (e) => timeOf(ctx, e.created_at) },
      { header: 'method', value: (e) => e.method },
      { header: 'version', value: (e) => e.agent_version },
    ]);
  },
};

const decisionPath = (id: string, action: 'approve' | 'reject') =>
  `${LIST_PATH}/${encodeURIComponent(id)}/${action}`;

export const approveCommand: Command = {
  path: ['approve'],
  positionals: ['id'],
  options: { notes: { type: 'string' } },
  synopsis: 'ID [--notes TEXT]',
  summary: 'approve an enrollment (the agent then collects its key)',
  details: '  --notes TEXT   recorded in the audit log',
  run: async (ctx) => {
    const id = positional(ctx, 0);
    const notes = stringFlag(ctx.values, 'notes');
    const result = await ctx.admin().post<{ id: string; status: string }>(decisionPath(id, 'approve'), notes === undefined ? {} : { notes });
    emit(ctx, result, (r) => `approved enrollment ${r.id}\n`);
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
    const id = positional(ctx, 0);
    const reason = requiredFlag(ctx.values, 'reason', rejectCommand);
    const result = await ctx.admin().post<{ id: string; status: string }>(decisionPath(id, 'reject'), { reason });
    emit(ctx, result, (r) => `rejected enrollment ${r.id}\n`);
  },
};
