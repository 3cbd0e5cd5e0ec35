/** Enrolled agents and their revocation. */
import type { Agent as AgentView, RevokedAgent } from '@airlock/client';
import { AGENT_STATUSES } from '@airlock/schema';
import { choiceFlag, stringFlag } from '../args.ts';
import { emit, emitTable, positional, timeOf, type Command, type Page } from '../context.ts';
import { resolveIdPrefix } from '../id-prefix.ts';

export const agentsListCommand: Command = {
  path: ['agents', 'list'],
  positionals: [],
  options: { status: { type: 'string' }, tunnel: { type: 'string' } },
  synopsis: '[--status active|revoked|pending_confirmation] [--tunnel connected|disconnected]',
  summary: 'list enrolled agents',
  details: `  --status STATUS   one of: ${AGENT_STATUSES.join(', ')}\n  --tunnel STATE    connected (an SSH session on any tunnel endpoint now) or disconnected`,
  run: async (ctx) => {
    const status = choiceFlag(ctx.values, 'status', AGENT_STATUSES, agentsListCommand);
    const tunnel = choiceFlag(ctx.values, 'tunnel', ['connected', 'disconnected'] as const, agentsListCommand);
    const page = await ctx.admin().get<Page<AgentView>>('/api/v1/admin/agents', { status, tunnel });
    emitTable<AgentView>(ctx, page, status ? `no ${status} agents` : 'no agents', [
      { header: 'id', value: (a) => a.id },
      { header: 'site', value: (a) => a.site_code },
      { header: 'hostname', value: (a) => a.hostname, max: 40 },
      { header: 'status', value: (a) => a.status },
      { header: 'tunnel', value: (a) => tunnelText(ctx, a.tunnel) },
      { header: 'fingerprint', value: (a) => a.fingerprint },
      { header: 'created', value: (a) => timeOf(ctx, a.created_at) },
      { header: 'last seen', value: (a) => timeOf(ctx, a.last_seen_at) ?? 'never' },
    ]);
  },
};

/** Issue 21: `connected since … from …, port N`, or `disconnected` with the same details of the last session. */
const tunnelText = (ctx: Parameters<typeof timeOf>[0], t: AgentView['tunnel']): string =>
  [
    t.connected ? 'connected' : 'disconnected',
    t.since ? `since ${timeOf(ctx, t.since)}` : 'never',
    t.source_ip ? `from ${t.source_ip}` : null,
    t.remote_port !== null ? `port ${t.remote_port}` : null,
  ]
    .filter(Boolean)
    .join(' ');

/**
 * Issue 18: on an `auto` site the revoked machine may have carried the site's
 * enrollment key, which enrolls new machines with no operator; say so, with the command.
 */
const revokedText = (a: RevokedAgent): string =>
  `revoked agent ${a.id} (${a.hostname}, site ${a.site_code})\n` +
  (a.rotate_site_key_advised
    ? `site ${a.site_code} approves enrollment-key enrollments automatically (policy auto). If this machine held the site's\n` +
      `enrollment key (an installer, a config file), rotate it now; enrolled agents keep working:\n` +
      `  airlock sites key rotate ${a.site_code}\n`
    : '');

export const revokeAgentCommand: Command = {
  path: ['revoke'],
  positionals: ['agent_id'],
  options: { reason: { type: 'string' } },
  synopsis: 'AGENT_ID [--reason TEXT]',
  summary: "revoke an agent: its agent keys stop verifying at once",
  details: '  --reason TEXT   recorded in the audit log',
  run: async (ctx) => {
    const reason = stringFlag(ctx.values, 'reason');
    const id = await resolveIdPrefix(positional(ctx, 0), 'agent', async () => (await ctx.admin().listAgents()).items);
    const agent = await ctx.admin().revokeAgent(id, reason === undefined ? {} : { reason });
    emit(ctx, agent, revokedText);
  },
};
