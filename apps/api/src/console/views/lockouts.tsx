/** @jsxImportSource hono/jsx */
import type { Lockout } from '@airlock/schema';
import { Badge, CsrfField, DataTable, Empty, Layout, type PageFrame } from './layout.tsx';

export type LockoutItem = Lockout;

export type LockoutState = { kind: 'ok'; items: LockoutItem[] } | { kind: 'unavailable'; message: string };

export const LockoutsPage = (props: Omit<PageFrame, 'children' | 'title' | 'active'> & { state: LockoutState; canAct: boolean }) => (
  <Layout title="Lockouts" session={props.session} csrf={props.csrf} active="lockouts" notice={props.notice}>
    <p class="lede">The edge locks out a (site, address) after repeated failed enrollments, and blocks an address across all sites after many.</p>
    {props.state.kind === 'unavailable' ? (
      <div class="empty empty-warn" role="status">
        <p class="empty-title">Lockouts are not available here.</p>
        <p class="muted">{props.state.message}</p>
      </div>
    ) : props.state.items.length === 0 ? (
      <Empty title="No active lockouts." />
    ) : (
      <DataTable columns={['Kind', 'Site', 'Address', 'Ends in']} actions={props.canAct}>
        {props.state.items.map((l) => (
          <tr>
            <td data-label="Kind">
              <Badge value={l.kind} />
            </td>
            <td data-label="Site">{l.site_code ?? <span class="muted">all sites</span>}</td>
            <td data-label="Address">
              <code>{l.ip}</code>
            </td>
            <td data-label="Ends in">{`${Math.ceil(l.retry_after_seconds / 60)} min`}</td>
            {props.canAct ? (
              <td data-label="Actions">
                <form method="post" action="/console/lockouts/lift" class="inline">
                  <CsrfField token={props.csrf} />
                  <input type="hidden" name="key" value={l.key} />
                  <button type="submit" class="btn btn-small">
                    Lift
                  </button>
                </form>
              </td>
            ) : null}
          </tr>
        ))}
      </DataTable>
    )}
  </Layout>
);
