/** Enrolled agents and their revocation. */
import type { Agent as AgentView, RevokedAgent } from '@airlock/client';
import { AGENT_STATUSES } from '@airlock/schema';
import { choiceFlag, stringFlag, UsageError } from '../args.ts';
import { emit, positional, timeOf, type Command } from '../context.ts';
import { resolveIdPrefix } from '../id-prefix.ts';
import { PAGING_OPTIONS, PAGING_SYNOPSIS, pagingDetails, pagingFlags, streamPages } from '../paging.ts';

/** `k=v,k=v`: an agent's labels in one cell. */
const labelsCell = (labels: Record<string, string>) =>
  Object.entries(labels)
    .map(([k, v]) => `${k}=${v}`)
    .join(',');

/** Repeated `--label key:value` flags (all must match). */
const labelFlags = (values: Record<string, unknown>): string[] => {
  const raw = values['label'];
  const list = Array.isArray(raw) ? raw : raw === undefined ? [] : [raw];
  return list.map((l) => {
    if (typeof l !== 'string' || !/^[a-z0-9_.-]{1,32}:/.test(l)) throw new UsageError('--label must be key:value', agentsListCommand);
    return l;
  });
};

export const agentsListCommand: Command = {
  path: ['agents', 'list'],
  positionals: [],
  options: {
    status: { type: 'string' },
    site: { type: 'string' },
    tenant: { type: 'string' },
    label: { type: 'string', multiple: true },
    q: { type: 'string' },
    tunnel: { type: 'string' },
    ...PAGING_OPTIONS,
  },
  synopsis: `[--status S] [--site S] [--tenant T] [--label key:value]... [--q PREFIX|SHA256:…] [--tunnel connected|disconnected] ${PAGING_SYNOPSIS}`,
  summary: 'list enrolled agents, newest first',
  details: `  --status STATUS   one of: ${AGENT_STATUSES.join(', ')}
  --site S          only this site's agents
  --tenant T        only this tenant's agents (a global operator's choice)
  --label key:value only agents with this label; repeat it: all must match
  --q TEXT          a hostname prefix, or an exact key fingerprint (SHA256:…)
  --tunnel STATE    connected (an SSH session on any tunnel endpoint now) or disconnected
${pagingDetails(500, 100)}`,
  run: async (ctx) => {
    const query = {
      status: choiceFlag(ctx.values, 'status', AGENT_STATUSES, agentsListCommand),
      site_code: stringFlag(ctx.values, 'site'),
      tenant_code: stringFlag(ctx.values, 'tenant'),
      label: labelFlags(ctx.values),
      q: stringFlag(ctx.values, 'q'),
      tunnel: choiceFlag(ctx.values, 'tunnel', ['connected', 'disconnected'] as const, agentsListCommand),
    };
    const req = pagingFlags(ctx, agentsListCommand, 500, 100);
    const client = ctx.admin();
    await streamPages<AgentView>(ctx, req, (cursor, limit) => client.listAgents({ ...query, cursor, limit: String(limit) }), {
      empty: query.status ? `no ${query.status} agents` : 'no agents',
      more: (c) => `more: airlock agents list --cursor ${c} (or --all)\n`,
      columns: [
        { header: 'id', value: (a) => a.id },
        { header: 'site', value: (a) => a.site_code },
        { header: 'hostname', value: (a) => a.hostname, max: 40 },
        { header: 'status', value: (a) => a.status },
        { header: 'labels', value: (a) => labelsCell(a.labels), max: 60 },
        { header: 'tunnel', value: (a) => tunnelText(ctx, a.tunnel) },
        { header: 'fingerprint', value: (a) => a.fingerprint },
        { header: 'created', value: (a) => timeOf(ctx, a.created_at) },
        { header: 'last seen', value: (a) => timeOf(ctx, a.last_seen_at) ?? 'never' },
      ],
    });
  },
};

export const agentsLabelCommand: Command = {
  path: ['agents', 'label'],
  positionals: ['agent_id'],
  options: { label: { type: 'string', multiple: true } },
  synopsis: 'AGENT_ID [--label key:value]...',
  summary: "replace an agent's labels (none given: clear them)",
  details: '  --label key:value   one label; repeat for several (up to 16). Audited as agent.labels_changed.',
  run: async (ctx) => {
    const labels = Object.fromEntries(
      labelFlags(ctx.values).map((l) => {
        const at = l.indexOf(':');
        return [l.slice(0, at), l.slice(at + 1)];
      }),
    );
    const id = await resolveIdPrefix(positional(ctx, 0), 'agent', async () => (await ctx.admin().listAgents({ limit: '500' })).items);
    const agent = await ctx.admin().updateAgent(id, { labels });
    emit(ctx, agent, (a) => `labels of agent ${a.id} (${a.hostname}): ${labelsCell(a.labels) || 'none'}\n`);
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
    const id = await resolveIdPrefix(positional(ctx, 0), 'agent', async () => (await ctx.admin().listAgents({ limit: '500' })).items);
    const agent = await ctx.admin().revokeAgent(id, reason === undefined ? {} : { reason });
    emit(ctx, agent, revokedText);
  },
};
