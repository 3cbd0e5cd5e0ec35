/** @jsxImportSource hono/jsx */
import type { Agent } from '@airlock/client';
import { Badge, CsrfField, DataTable, Empty, Fingerprint, Layout, Pager, Time, type PageFrame } from './layout.tsx';

/** The admin API's agent shape (@airlock/client), as the console lists it. */
export type AgentItem = Agent;

export const AGENT_STATUS_FILTERS = ['active', 'pending_confirmation', 'revoked'] as const;
export const TUNNEL_FILTERS = ['connected', 'disconnected'] as const;

/** Issue 21: is the appliance's tunnel up now, since when, from where, and its reverse port on the endpoint. */
const TunnelCell = ({ t }: { t: AgentItem['tunnel'] }) => (
  <>
    <Badge value={t.connected ? 'connected' : 'disconnected'} />
    {t.since ? (
      <div class="muted small">
        since <Time iso={t.since} />
      </div>
    ) : (
      <div class="muted small">never connected</div>
    )}
    {t.source_ip ? <div class="muted small">from {t.source_ip}</div> : null}
    {t.remote_port !== null ? (
      <div class="muted small">
        remote port <code>{t.remote_port}</code>
      </div>
    ) : null}
  </>
);

/**
 * Issue 18: after revoking an agent of an `auto` site. The machine may have
 * carried the site's enrollment key, which enrolls new machines with no
 * operator: rotating it is one click (admins) and leaves enrolled agents alone.
 */
const RotateSiteKeyHint = ({ site, csrf, canAct }: { site: string; csrf: string; canAct: boolean }) => (
  <section class="card hint-card" id="rotate-site-key" aria-labelledby="rotate-site-key-title">
    <h2 id="rotate-site-key-title">Rotate {site}'s enrollment key?</h2>
    <p>
      {site} approves enrollment-key enrollments automatically. If the revoked machine held the site's enrollment key (an installer, a config
      file), whoever has that machine can enroll new ones without an operator. Rotating the key stops the old one at once; enrolled agents keep
      working.
    </p>
    {canAct ? (
      <form method="post" action={`/console/sites/${site}/rotate-key`} class="inline">
        <CsrfField token={csrf} />
        <button type="submit" class="btn btn-primary">
          Rotate {site}'s enrollment key
        </button>
      </form>
    ) : null}{' '}
    <a href={`/console/sites#site-${site}`}>Sites page</a>
  </section>
);

export const AgentsPage = (
  props: Omit<PageFrame, 'children' | 'title' | 'active'> & {
    items: AgentItem[];
    sites: string[];
    /** Issue 22: every filter lives in the URL, so a filtered page can be shared and paged. */
    filter: { tenant?: string; site?: string; status?: string; label?: string; hostname?: string; tunnel?: string };
    paging: { nextCursor: string | null; paged: boolean };
    canAct: boolean;
    /** An auto site whose agent was just revoked. */
    rotateHint?: string | null;
  },
) => (
  <Layout title="Agents" session={props.session} csrf={props.csrf} active="agents" notice={props.notice} tenant={props.tenant}>
    {props.rotateHint ? <RotateSiteKeyHint site={props.rotateHint} csrf={props.csrf} canAct={props.canAct} /> : null}
    <form method="get" action="/console/agents" class="filters">
      {props.filter.tenant ? <input type="hidden" name="tenant" value={props.filter.tenant} /> : null}
      <div class="field">
        <label for="agents-site">Site</label>
        <select id="agents-site" name="site">
          <option value="">All sites</option>
          {props.sites.map((s) => (
            <option value={s} selected={s === props.filter.site}>
              {s}
            </option>
          ))}
        </select>
      </div>
      <div class="field">
        <label for="agents-status">Status</label>
        <select id="agents-status" name="status">
          <option value="">Any status</option>
          {AGENT_STATUS_FILTERS.map((s) => (
            <option value={s} selected={s === props.filter.status}>
              {s.replaceAll('_', ' ')}
            </option>
          ))}
        </select>
      </div>
      <div class="field">
        <label for="agents-label">Label</label>
        <input id="agents-label" name="label" type="text" maxlength={161} placeholder="key:value" value={props.filter.label ?? ''} />
      </div>
      <div class="field">
        <label for="agents-hostname">Hostname</label>
        <input id="agents-hostname" name="hostname" type="text" maxlength={128} placeholder="prefix or SHA256:…" value={props.filter.hostname ?? ''} />
      </div>
      <div class="field">
        <label for="agents-tunnel">Tunnel</label>
        <select id="agents-tunnel" name="tunnel">
          <option value="">Any</option>
          {TUNNEL_FILTERS.map((s) => (
            <option value={s} selected={s === props.filter.tunnel}>
              {s}
            </option>
          ))}
        </select>
      </div>
      <div class="field field-submit">
        <button type="submit" class="btn">
          Filter
        </button>
      </div>
    </form>
    {props.items.length === 0 ? (
      <Empty title="No agents match." hint="Agents appear here once an enrollment is approved." />
    ) : (
      <DataTable columns={['Hostname', 'Site', 'Labels', 'Status', 'Tunnel', 'Fingerprint', 'Enrolled', 'Last seen']} actions={props.canAct}>
        {props.items.map((a) => (
          <tr data-id={a.id}>
            <td data-label="Hostname">
              <strong class="hostname">{a.hostname}</strong>
              <div class="muted small">
                id <code>{a.id}</code>
              </div>
              {a.machine_uid ? <div class="muted small">machine {a.machine_uid}</div> : null}
            </td>
            <td data-label="Site">
              {a.site_code}
              <div class="muted small">{a.tenant_code}</div>
            </td>
            <td data-label="Labels" class="labels">
              {Object.entries(a.labels).map(([k, v]) => (
                <span class="label-chip">
                  {k}={v}
                </span>
              ))}
            </td>
            <td data-label="Status">
              <Badge value={a.status} />
            </td>
            <td data-label="Tunnel">
              <TunnelCell t={a.tunnel} />
            </td>
            <td data-label="Fingerprint">
              <Fingerprint value={a.fingerprint} />
            </td>
            <td data-label="Enrolled">
              <Time iso={a.created_at} />
            </td>
            <td data-label="Last seen">
              <Time iso={a.last_seen_at} />
            </td>
            {props.canAct ? (
              <td data-label="Actions" class="actions">
                {a.status === 'revoked' ? (
                  <span class="muted">revoked</span>
                ) : (
                  <form method="post" action={`/console/agents/${a.id}/revoke`} class="stack">
                    <CsrfField token={props.csrf} />
                    <label for={`revoke-reason-${a.id}`}>Reason</label>
                    <input id={`revoke-reason-${a.id}`} name="reason" type="text" maxlength={500} required />
                    <button type="submit" class="btn btn-danger">
                      Revoke
                    </button>
                  </form>
                )}
              </td>
            ) : null}
          </tr>
        ))}
      </DataTable>
    )}
    <Pager path="/console/agents" filter={props.filter} nextCursor={props.paging.nextCursor} paged={props.paging.paged} label="Agent pages" />
  </Layout>
);
