/** @jsxImportSource hono/jsx */
import type { Agent, Enrollment } from '@airlock/schema';
import { Badge, CsrfField, Empty, Fingerprint, Layout, listHref, Pager, Time, type PageFrame } from './layout.tsx';

/** An enrollment as the admin API lists it (the wire's `Enrollment`). */
export type PendingItem = Enrollment;

/** The agent a held enrollment collides with. */
export type CollidesWith = Pick<Agent, 'id' | 'hostname' | 'fingerprint' | 'site_code' | 'status'>;

const Labels = ({ labels }: { labels: Record<string, string> }) => {
  const entries = Object.entries(labels);
  if (entries.length === 0) return null;
  return (
    <ul class="labels">
      {entries.map(([k, v]) => (
        <li>
          <span class="label-key">{k}</span>=<span class="label-value">{v}</span>
        </li>
      ))}
    </ul>
  );
};

const Row = ({ e, csrf, canAct, collides }: { e: PendingItem; csrf: string; canAct: boolean; collides: CollidesWith | null }) => (
  <tr data-id={e.id} class={e.status === 'pending_confirmation' || e.revoked_key_agent_id ? 'row-warn' : undefined}>
    <td data-label="Hostname">
      <strong class="hostname">{e.hostname}</strong>
      <div class="muted small">
        {e.method === 'pairing_code' ? 'pairing code' : 'enrollment key'}
        {e.agent_version ? ` · agent ${e.agent_version}` : ''}
      </div>
      <Labels labels={e.labels} />
    </td>
    <td data-label="Fingerprint">
      <Fingerprint value={e.fingerprint} />
      {e.machine_uid ? <div class="muted small">machine {e.machine_uid}</div> : null}
    </td>
    <td data-label="Site">{e.site_code}</td>
    <td data-label="Source IP">
      <code>{e.source_ip}</code>
    </td>
    <td data-label="Status">
      <Badge value={e.status} />
      {e.status === 'pending_confirmation' ? (
        <div class="collision">
          <strong>Identity collision:</strong> this machine is already enrolled with a different key
          {collides ? (
            <>
              {' '}as <strong>{collides.hostname}</strong> at {collides.site_code} ({collides.status}), key <Fingerprint value={collides.fingerprint} />.
            </>
          ) : (
            '.'
          )}{' '}
          The same machine with a new key: replace that agent's key. A clone (a VM made from the same template): approve it as a separate agent; the
          existing one keeps its key.
        </div>
      ) : null}
      {e.replaces_agent_id && e.replaces_fingerprint ? (
        <div class="replaces">
          Replaces agent <code>{e.replaces_agent_id}</code>: <Fingerprint value={e.replaces_fingerprint} /> → <Fingerprint value={e.fingerprint} />
          {e.rekey_signed ? ' (signed by the current key)' : ' (not signed by the current key)'}
        </div>
      ) : null}
      {e.revoked_key_agent_id ? (
        <div class="collision revoked-key">
          <strong>Revoked key:</strong> this key belonged to agent <code>{e.revoked_key_agent_id}</code>, which was revoked. Approving lets that key back
          in; reject unless you know the revocation was a mistake.
        </div>
      ) : null}
      <div class="muted small">
        <Time iso={e.created_at} />
      </div>
    </td>
    {canAct ? (
      <td data-label="Decision" class="actions">
        <form method="post" action={`/console/pending/${e.id}/approve`} class="stack">
          <CsrfField token={csrf} />
          <label for={`notes-${e.id}`}>Notes</label>
          <input id={`notes-${e.id}`} name="notes" type="text" maxlength={500} placeholder="optional" />
          {e.status === 'pending_confirmation' ? (
            <>
              <button type="submit" name="identity" value="replace" class="btn btn-primary">
                Approve and replace the key
              </button>
              <button type="submit" name="identity" value="separate" class="btn">
                Approve as a separate agent
              </button>
            </>
          ) : (
            <button type="submit" class="btn btn-primary">
              Approve
            </button>
          )}
        </form>
        <form method="post" action={`/console/pending/${e.id}/reject`} class="stack">
          <CsrfField token={csrf} />
          <label for={`reason-${e.id}`}>Reason</label>
          <input id={`reason-${e.id}`} name="reason" type="text" maxlength={500} required />
          <button type="submit" class="btn btn-danger">
            Reject
          </button>
        </form>
      </td>
    ) : null}
  </tr>
);

/** The table body alone: the page script swaps it in when the list changes. */
export const PendingRows = ({ items, csrf, canAct, collisions }: { items: PendingItem[]; csrf: string; canAct: boolean; collisions: Map<string, CollidesWith> }) => (
  <tbody id="pending-rows" data-version={items.map((i) => `${i.id}:${i.status}`).join(',')}>
    {items.length === 0 ? (
      <tr class="empty-row">
        <td colspan={canAct ? 6 : 5}>
          <Empty title="Nothing waits for a decision." hint="New enrollments appear here within seconds, without reloading." />
        </td>
      </tr>
    ) : (
      items.map((e) => <Row e={e} csrf={csrf} canAct={canAct} collides={e.existing_agent_id ? collisions.get(e.existing_agent_id) ?? null : null} />)
    )}
  </tbody>
);

export const PendingPage = (
  props: Omit<PageFrame, 'children' | 'title' | 'active'> & {
    items: PendingItem[];
    canAct: boolean;
    collisions: Map<string, CollidesWith>;
    /** Keyset paging of the enrollments awaiting approval (issue 22): this page's cursor and the next one's. */
    cursor?: string;
    nextCursor: string | null;
    filter: { tenant?: string };
  },
) => (
  <Layout title="Pending" session={props.session} csrf={props.csrf} active="pending" notice={props.notice} tenant={props.tenant}>
    <p class="lede">
      Enrollments whose signature checked out and that wait for an operator. Compare the fingerprint with the one the machine shows (
      <code>airlock-agent status</code>) before approving.
    </p>
    <p class="live-status" id="live-status" role="status" aria-live="polite">
      Live
    </p>
    <div class="table-wrap">
      {/* Only the first page is live: the refresh fetches the first page (of the tenant shown). */}
      <table class="data" data-live={props.cursor === undefined ? listHref('/console/pending/rows', props.filter) : undefined}>
        <caption class="visually-hidden">Enrollments awaiting a decision</caption>
        <thead>
          <tr>
            <th scope="col">Hostname</th>
            <th scope="col">Fingerprint</th>
            <th scope="col">Site</th>
            <th scope="col">Source IP</th>
            <th scope="col">Status</th>
            {props.canAct ? <th scope="col">Decision</th> : null}
          </tr>
        </thead>
        <PendingRows items={props.items} csrf={props.csrf} canAct={props.canAct} collisions={props.collisions} />
      </table>
    </div>
    <Pager path="/console/pending" filter={props.filter} nextCursor={props.nextCursor} paged={props.cursor !== undefined} label="Pending pages" />
  </Layout>
);
