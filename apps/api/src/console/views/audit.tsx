/** @jsxImportSource hono/jsx */
import type { AuditEvent } from '@airlock/client';
import { Empty, Layout, Time, type PageFrame } from './layout.tsx';

/** The admin API's audit event (@airlock/client), as the console lists it. */
export type AuditItem = AuditEvent;

export interface AuditFilter {
  tenant?: string;
  event_type?: string;
  site_code?: string;
  agent_id?: string;
}

const pageLink = (f: AuditFilter, cursor: string) => {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(f)) if (v) q.set(k, v);
  q.set('cursor', cursor);
  return `/console/audit?${q.toString()}`;
};

const firstLink = (f: AuditFilter) => {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(f)) if (v) q.set(k, v);
  const s = q.toString();
  return s ? `/console/audit?${s}` : '/console/audit';
};

export const AuditPage = (
  props: Omit<PageFrame, 'children' | 'title' | 'active'> & { items: AuditItem[]; nextCursor: string | null; filter: AuditFilter; paged: boolean },
) => (
  <Layout title="Audit" session={props.session} csrf={props.csrf} active="audit" notice={props.notice} tenant={props.tenant}>
    <form method="get" action="/console/audit" class="filters">
      <div class="field">
        <label for="audit-event">Event type</label>
        <input id="audit-event" name="event_type" type="text" maxlength={64} value={props.filter.event_type ?? ''} placeholder="enrollment.approved" />
      </div>
      <div class="field">
        <label for="audit-site">Site code</label>
        <input id="audit-site" name="site_code" type="text" maxlength={32} value={props.filter.site_code ?? ''} />
      </div>
      <div class="field field-wide">
        <label for="audit-agent">Agent id</label>
        <input id="audit-agent" name="agent_id" type="text" maxlength={36} value={props.filter.agent_id ?? ''} />
      </div>
      <div class="field field-submit">
        <button type="submit" class="btn">
          Filter
        </button>
      </div>
    </form>
    {props.items.length === 0 ? (
      <Empty title="No audit events match." />
    ) : (
      <div class="table-wrap">
        <table class="data audit">
          <thead>
            <tr>
              <th scope="col">Time</th>
              <th scope="col">Event</th>
              <th scope="col">Actor</th>
              <th scope="col">Site</th>
              <th scope="col">Source IP</th>
              <th scope="col">Details</th>
            </tr>
          </thead>
          <tbody>
            {props.items.map((e) => (
              <tr data-event={e.event_type}>
                <td data-label="Time">
                  <Time iso={e.occurred_at} />
                </td>
                <td data-label="Event">
                  <code class="event">{e.event_type}</code>
                </td>
                <td data-label="Actor">{e.actor}</td>
                <td data-label="Site">{e.site_code ?? <span class="muted">-</span>}</td>
                <td data-label="Source IP">{e.source_ip ? <code>{e.source_ip}</code> : <span class="muted">-</span>}</td>
                <td data-label="Details" class="details">
                  {e.agent_id ? (
                    <div class="small">
                      agent <code>{e.agent_id}</code>
                    </div>
                  ) : null}
                  {e.enrollment_id ? (
                    <div class="small">
                      enrollment <code>{e.enrollment_id}</code>
                    </div>
                  ) : null}
                  <code class="json">{JSON.stringify(e.details)}</code>
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>
    )}
    <nav class="pager" aria-label="Audit pages">
      {props.paged ? <a href={firstLink(props.filter)}>Newest</a> : null}
      {props.nextCursor ? <a href={pageLink(props.filter, props.nextCursor)}>Older</a> : null}
    </nav>
  </Layout>
);
