/** @jsxImportSource hono/jsx */
import type { CreatedPairingCode, PairingCode } from '@airlock/schema';
import { Badge, CsrfField, DataTable, Empty, Layout, Time, type PageFrame, Pager } from './layout.tsx';

/** A pairing code as listed, and as shown once when made (the wire's types). */
export type CodeItem = PairingCode;
export type NewCode = CreatedPairingCode;

const TTL_CHOICES: readonly { seconds: number; label: string }[] = [
  { seconds: 600, label: '10 minutes' },
  { seconds: 1800, label: '30 minutes' },
  { seconds: 3600, label: '1 hour' },
  { seconds: 4 * 3600, label: '4 hours' },
  { seconds: 86400, label: '24 hours' },
];

/** Shown once, in the answer to the POST that made it; never in a URL, never stored in clear. */
const NewCodeCard = ({ created }: { created: NewCode }) => (
  <section class="card secret-card" aria-labelledby="new-code-title">
    <h2 id="new-code-title">New pairing code for {created.site_code}</h2>
    <p class="secret" id="new-code" data-copy-source="">
      {created.code}
    </p>
    <div class="secret-meta">
      <span>
        Expires in{' '}
        <strong data-countdown={created.expires_at} id="new-code-countdown">
          …
        </strong>
      </span>
      <button type="button" class="btn" data-copy="new-code">
        Copy
      </button>
    </div>
    <p class="muted small">
      Shown only now. {created.auto_approve ? 'The enrollment is approved automatically. ' : 'The enrollment will wait on Pending. '}
      {created.note ? `Note: ${created.note}` : ''}
    </p>
  </section>
);

export const CodesPage = (
  props: Omit<PageFrame, 'children' | 'title' | 'active'> & {
    items: CodeItem[];
    sites: string[];
    canAct: boolean;
    created: NewCode | null;
    selectedSite?: string;
    paging?: { nextCursor: string | null; paged: boolean; filter: { tenant?: string } };
  },
) => (
  <Layout title="Pairing codes" session={props.session} csrf={props.csrf} active="codes" notice={props.notice} tenant={props.tenant}>
    {props.created ? <NewCodeCard created={props.created} /> : null}
    {props.canAct ? (
      props.sites.length === 0 ? (
        <Empty title="No sites yet." hint="Create a site on the Sites page first." />
      ) : (
        <form method="post" action="/console/pairing-codes" class="card form-grid">
          <h2>Create a pairing code</h2>
          <CsrfField token={props.csrf} />
          <div class="field">
            <label for="code-site">Site</label>
            <select id="code-site" name="site_code" required>
              {props.sites.map((s) => (
                <option value={s} selected={s === props.selectedSite}>
                  {s}
                </option>
              ))}
            </select>
          </div>
          <div class="field">
            <label for="code-ttl">Valid for</label>
            <select id="code-ttl" name="ttl_seconds">
              {TTL_CHOICES.map((t) => (
                <option value={String(t.seconds)}>{t.label}</option>
              ))}
            </select>
          </div>
          <div class="field field-wide">
            <label for="code-note">Note</label>
            <input id="code-note" name="note" type="text" maxlength={200} placeholder="e.g. rack 4, ticket 1234" />
          </div>
          <div class="field field-check">
            <input id="code-auto" name="auto_approve" type="checkbox" value="1" />
            <label for="code-auto">Approve the enrollment automatically</label>
          </div>
          <div class="field field-submit">
            <button type="submit" class="btn btn-primary">
              Create pairing code
            </button>
          </div>
        </form>
      )
    ) : null}
    <h2>Active codes</h2>
    {props.items.length === 0 ? (
      <Empty title="No active pairing codes." hint="Codes are single use and expire on their own." />
    ) : (
      <DataTable columns={['Site', 'Note', 'Approval', 'Created', 'Expires in']} actions={props.canAct}>
        {props.items.map((c) => (
          <tr data-id={c.id}>
            <td data-label="Site">{c.site_code}</td>
            <td data-label="Note">{c.note ?? <span class="muted">none</span>}</td>
            <td data-label="Approval">{c.auto_approve ? <Badge value="auto" /> : <Badge value="manual" />}</td>
            <td data-label="Created">
              {c.created_by} · <Time iso={c.created_at} />
            </td>
            <td data-label="Expires in">
              <span data-countdown={c.expires_at}>
                <Time iso={c.expires_at} />
              </span>
            </td>
            {props.canAct ? (
              <td data-label="Actions">
                <form method="post" action={`/console/pairing-codes/${c.id}/revoke`} class="inline">
                  <CsrfField token={props.csrf} />
                  <button type="submit" class="btn btn-danger btn-small">
                    Revoke
                  </button>
                </form>
              </td>
            ) : null}
          </tr>
        ))}
      </DataTable>
    )}
    {props.paging ? (
      <Pager path="/console/pairing-codes" filter={props.paging.filter} nextCursor={props.paging.nextCursor} paged={props.paging.paged} label="Pairing code pages" />
    ) : null}
  </Layout>
);
