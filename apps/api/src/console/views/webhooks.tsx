/** @jsxImportSource hono/jsx */
import type { CreatedWebhook, Webhook, WebhookDelivery } from '@airlock/schema';
import { WEBHOOK_EVENT_TYPES } from '@airlock/schema';
import { Badge, CsrfField, DataTable, Empty, Layout, Time, type PageFrame } from './layout.tsx';

/** A webhook as listed (the wire's type) with its latest deliveries. */
export type WebhookItem = Webhook & { deliveries: WebhookDelivery[] };

/** Shown once, in the answer to the POST that made it; never in a URL, never stored in clear. */
const NewSecretCard = ({ created }: { created: CreatedWebhook }) => (
  <section class="card secret-card" aria-labelledby="new-secret-title">
    <h2 id="new-secret-title">Signing secret for {created.url}</h2>
    <p class="secret" id="new-secret" data-copy-source="">
      {created.secret}
    </p>
    <div class="secret-meta">
      <button type="button" class="btn" data-copy="new-secret">
        Copy
      </button>
    </div>
    <p class="muted small">Shown only now. The receiver verifies each delivery's webhook-signature with it (docs/alerts.md).</p>
  </section>
);

const Deliveries = ({ items }: { items: WebhookDelivery[] }) =>
  items.length === 0 ? (
    <p class="muted small">No deliveries yet.</p>
  ) : (
    <DataTable columns={['Event', 'State', 'Attempts', 'Status', 'Error', 'Last try']}>
      {items.map((d) => (
        <tr>
          <td>
            <code>{d.event_type}</code>
          </td>
          <td>
            <Badge value={d.state} />
          </td>
          <td>{String(d.attempt)}</td>
          <td>{d.status_code === null ? '—' : String(d.status_code)}</td>
          <td>{d.error ?? '—'}</td>
          <td>
            <Time iso={d.attempted_at} />
          </td>
        </tr>
      ))}
    </DataTable>
  );

const WebhookCard = ({ w, csrf }: { w: WebhookItem; csrf: string }) => (
  <section class="card" aria-label={`Webhook ${w.url}`}>
    <h2>
      <code>{w.url}</code>
    </h2>
    <p class="muted small">
      {w.events.join(', ')} · {w.format}
      {w.site_code ? ` · site ${w.site_code}` : ''}
      {w.description ? ` · ${w.description}` : ''}
      {w.disabled_at ? ' · disabled after failing for 5 days' : w.failing_since ? ' · failing' : ''}
    </p>
    <div class="actions">
      <form method="post" action={`/console/webhooks/${w.id}/test`} class="inline">
        <CsrfField token={csrf} />
        <button type="submit" class="btn">Send test</button>
      </form>
      <form method="post" action={`/console/webhooks/${w.id}/delete`} class="inline">
        <CsrfField token={csrf} />
        <button type="submit" class="btn btn-danger">Delete</button>
      </form>
    </div>
    <h3>Recent deliveries</h3>
    <Deliveries items={w.deliveries} />
  </section>
);

export const WebhooksPage = (
  props: Omit<PageFrame, 'children' | 'title' | 'active'> & { items: WebhookItem[]; sites: string[]; created: CreatedWebhook | null },
) => (
  <Layout title="Webhooks" session={props.session} csrf={props.csrf} active="webhooks" notice={props.notice}>
    {props.created ? <NewSecretCard created={props.created} /> : null}
    <form method="post" action="/console/webhooks" class="card form-grid">
      <h2>Add a webhook</h2>
      <CsrfField token={props.csrf} />
      <div class="field">
        <label for="hook-url">URL</label>
        <input id="hook-url" name="url" type="url" required maxlength={2000} placeholder="https://hooks.example.internal/airlock" />
      </div>
      <div class="field">
        <label for="hook-events">Events</label>
        <input id="hook-events" name="events" type="text" value="*" title={`* or a comma-separated list of: ${WEBHOOK_EVENT_TYPES.join(', ')}`} />
      </div>
      <div class="field">
        <label for="hook-site">Site</label>
        <select id="hook-site" name="site_code">
          <option value="">every site</option>
          {props.sites.map((s) => (
            <option value={s}>{s}</option>
          ))}
        </select>
      </div>
      <div class="field">
        <label for="hook-format">Format</label>
        <select id="hook-format" name="format">
          <option value="standard">Standard Webhooks (JSON)</option>
          <option value="slack">Slack ({'{"text"}'})</option>
        </select>
      </div>
      <div class="field">
        <label for="hook-description">Description</label>
        <input id="hook-description" name="description" type="text" maxlength={200} />
      </div>
      <div class="field">
        <button type="submit" class="btn btn-primary">Add webhook</button>
      </div>
    </form>
    {props.items.length === 0 ? (
      <Empty title="No webhooks yet." hint="Add one above; every event it subscribes to is sent, signed, with retries for 24 hours." />
    ) : (
      props.items.map((w) => <WebhookCard w={w} csrf={props.csrf} />)
    )}
  </Layout>
);
