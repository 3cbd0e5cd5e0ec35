/** Webhooks (alerts): add, list, remove, test, read deliveries, rotate the signing secret. */
import type { ResponseOf } from '@airlock/client';
import { WEBHOOK_EVENT_TYPES, WEBHOOK_FORMATS } from '@airlock/schema';
import { choiceFlag, integerFlag, requiredFlag, stringFlag } from '../args.ts';
import { emit, emitTable, positional, timeOf, type Command, type CommandContext } from '../context.ts';
import { resolveIdPrefix } from '../id-prefix.ts';

type WebhookView = ResponseOf<'listWebhooks'>['items'][number];
type DeliveryView = ResponseOf<'listWebhookDeliveries'>['items'][number];

const webhookId = (ctx: CommandContext) =>
  resolveIdPrefix(positional(ctx, 0), 'webhook', async () => (await ctx.admin().call('listWebhooks')).items);

export const webhooksAddCommand: Command = {
  path: ['webhooks', 'add'],
  positionals: [],
  options: { url: { type: 'string' }, events: { type: 'string' }, site: { type: 'string' }, format: { type: 'string' }, description: { type: 'string' } },
  synopsis: '--url URL [--events T,T|*] [--site SITE] [--format standard|slack] [--description TEXT]',
  summary: 'add a webhook; its signing secret is printed once',
  details: `  --url URL          the receiver (http or https; link-local and metadata addresses are refused)
  --events LIST      comma-separated event types, or * for all (default *):
                     ${WEBHOOK_EVENT_TYPES.join(', ')}
  --site SITE        only events of this site
  --format FORMAT    standard (Standard Webhooks JSON, default) or slack ({"text"})
  --description TXT  a note shown in the list

The whsec_ secret is printed once, alone on the last line; verify each
delivery's webhook-signature with it (docs/alerts.md).`,
  run: async (ctx) => {
    const cmd = webhooksAddCommand;
    const events = (stringFlag(ctx.values, 'events') ?? '*').split(',').map((s) => s.trim()).filter(Boolean);
    const site = stringFlag(ctx.values, 'site');
    const format = choiceFlag(ctx.values, 'format', WEBHOOK_FORMATS, cmd);
    const description = stringFlag(ctx.values, 'description');
    const body = {
      url: requiredFlag(ctx.values, 'url', cmd),
      events,
      ...(site !== undefined ? { site_code: site } : {}),
      ...(format !== undefined ? { format } : {}),
      ...(description !== undefined ? { description } : {}),
    };
    const created = await ctx.admin().call('createWebhook', { body });
    emit(ctx, created, (w) =>
      [
        `webhook ${w.id} → ${w.url}`,
        `events: ${w.events.join(', ')}${w.site_code ? ` (site ${w.site_code})` : ''}, format ${w.format}`,
        'signing secret, shown only now:',
        w.secret,
        '',
      ].join('\n'),
    );
  },
};

export const webhooksListCommand: Command = {
  path: ['webhooks', 'list'],
  positionals: [],
  options: {},
  synopsis: '',
  summary: 'list webhooks (never their secrets)',
  details: '',
  run: async (ctx) => {
    const page = await ctx.admin().call('listWebhooks');
    emitTable<WebhookView>(ctx, page, 'no webhooks', [
      { header: 'id', value: (w) => w.id },
      { header: 'url', value: (w) => w.url, max: 50 },
      { header: 'events', value: (w) => w.events.join(','), max: 40 },
      { header: 'site', value: (w) => w.site_code },
      { header: 'format', value: (w) => w.format },
      { header: 'state', value: (w) => (w.disabled_at ? 'disabled' : w.failing_since ? `failing since ${timeOf(ctx, w.failing_since)}` : 'ok') },
      { header: 'description', value: (w) => w.description, max: 30 },
    ]);
  },
};

export const webhooksRemoveCommand: Command = {
  path: ['webhooks', 'rm'],
  positionals: ['id'],
  options: {},
  synopsis: 'ID',
  summary: 'delete a webhook and its pending deliveries',
  details: '',
  run: async (ctx) => {
    const id = await webhookId(ctx);
    await ctx.admin().call('deleteWebhook', { params: { id } });
    emit(ctx, { id, deleted: true }, () => `deleted webhook ${id}\n`);
  },
};

export const webhooksTestCommand: Command = {
  path: ['webhooks', 'test'],
  positionals: ['id'],
  options: {},
  synopsis: 'ID',
  summary: 'send a webhook.test event to one webhook',
  details: "Queued at once; `airlock webhooks deliveries ID` shows the receiver's answer.",
  run: async (ctx) => {
    const id = await webhookId(ctx);
    const sent = await ctx.admin().call('testWebhook', { params: { id } });
    emit(ctx, sent, (s) => `queued webhook.test ${s.event_id} for webhook ${id}\n`);
  },
};

export const webhooksDeliveriesCommand: Command = {
  path: ['webhooks', 'deliveries'],
  positionals: ['id'],
  options: { limit: { type: 'string' }, cursor: { type: 'string' } },
  synopsis: 'ID [--limit N] [--cursor C]',
  summary: "a webhook's deliveries, newest first",
  details: `  --limit N    deliveries per page, 1-200 (default 50)
  --cursor C   continue after a previous page`,
  run: async (ctx) => {
    const id = await webhookId(ctx);
    const limit = integerFlag(ctx.values, 'limit', webhooksDeliveriesCommand, { min: 1, max: 200 });
    const cursor = stringFlag(ctx.values, 'cursor');
    const page = await ctx.admin().call('listWebhookDeliveries', {
      params: { id },
      query: { ...(limit !== undefined ? { limit: String(limit) } : {}), ...(cursor ? { cursor } : {}) },
    });
    emitTable<DeliveryView>(ctx, page, 'no deliveries', [
      { header: 'event', value: (d) => d.event_id },
      { header: 'type', value: (d) => d.event_type },
      { header: 'state', value: (d) => d.state },
      { header: 'attempts', value: (d) => String(d.attempt) },
      { header: 'status', value: (d) => (d.status_code === null ? null : String(d.status_code)) },
      { header: 'error', value: (d) => d.error, max: 40 },
      { header: 'last try', value: (d) => timeOf(ctx, d.attempted_at) },
      { header: 'next try', value: (d) => timeOf(ctx, d.next_attempt_at) },
    ]);
    if (!ctx.json && page.next_cursor) ctx.io.out(`more: --cursor ${page.next_cursor}\n`);
  },
};

export const webhooksRotateSecretCommand: Command = {
  path: ['webhooks', 'rotate-secret'],
  positionals: ['id'],
  options: {},
  synopsis: 'ID',
  summary: 'a new signing secret, printed once; the old one keeps signing for 24 h',
  details: 'During the 24 h both secrets sign each delivery (two signatures in webhook-signature).',
  run: async (ctx) => {
    const id = await webhookId(ctx);
    const rotated = await ctx.admin().call('rotateWebhookSecret', { params: { id } });
    emit(ctx, rotated, (r) => [`new signing secret for webhook ${id}, shown only now (the old one signs for 24 h more):`, r.secret, ''].join('\n'));
  },
};
