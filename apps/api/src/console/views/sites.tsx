/** @jsxImportSource hono/jsx */
import type { EnrollmentKeyDescription, Site } from '@airlock/schema';
import { Badge, CsrfField, DataTable, Empty, Layout, Time, type PageFrame, Pager } from './layout.tsx';

/** A site with its active enrollment key described (the wire's types), as the Sites page shows it. */
export type SiteItem = Site & {
  key: EnrollmentKeyDescription | null;
  /** Issue 18: the latest revocation of an agent of this site, when it came after the key was made. */
  revoked_since_key: string | null;
};

/** A key with a fifth or less of its uses left is close to refusing new machines. */
const usesRunningOut = (k: { uses_left: number | null; max_uses: number | null }) =>
  k.uses_left !== null && k.max_uses !== null && k.uses_left * 5 <= k.max_uses;

export interface RotatedKey {
  site_code: string;
  key: string;
  fingerprint: string;
}

const RotatedKeyCard = ({ rotated }: { rotated: RotatedKey }) => (
  <section class="card secret-card" aria-labelledby="new-key-title">
    <h2 id="new-key-title">
      New enrollment key for {rotated.site_code}, <span class="fp">{rotated.fingerprint}</span>
    </h2>
    <p class="secret secret-long" id="new-key">
      {rotated.key}
    </p>
    <div class="secret-meta">
      <span>The previous key stopped working. Shown only now.</span>
      <button type="button" class="btn" data-copy="new-key">
        Copy
      </button>
    </div>
  </section>
);

export const SitesPage = (
  props: Omit<PageFrame, 'children' | 'title' | 'active'> & {
    items: SiteItem[];
    canAct: boolean;
    rotated: RotatedKey | null;
    paging: { nextCursor: string | null; paged: boolean; filter: { tenant?: string } };
  },
) => (
  <Layout title="Sites" session={props.session} csrf={props.csrf} active="sites" notice={props.notice} tenant={props.tenant}>
    {props.rotated ? <RotatedKeyCard rotated={props.rotated} /> : null}
    {props.canAct ? (
      <form method="post" action="/console/sites" class="card form-grid">
        <h2>Create a site</h2>
        <CsrfField token={props.csrf} />
        <div class="field">
          <label for="site-code">Site code</label>
          <input id="site-code" name="site_code" type="text" required maxlength={32} pattern="[A-Za-z0-9][A-Za-z0-9\-]{1,31}" placeholder="ACME-PHX" />
        </div>
        <div class="field field-wide">
          <label for="site-name">Name</label>
          <input id="site-name" name="name" type="text" required maxlength={100} placeholder="Phoenix DC" />
        </div>
        <div class="field">
          <label for="site-policy">Policy</label>
          <select id="site-policy" name="policy">
            <option value="manual">manual: an operator approves</option>
            <option value="auto">auto: enrollment keys approve</option>
          </select>
        </div>
        <div class="field field-submit">
          <button type="submit" class="btn btn-primary">
            Create site
          </button>
        </div>
      </form>
    ) : null}
    {props.items.length === 0 ? (
      <Empty title="No sites yet." hint={props.canAct ? 'Create the first one above.' : 'An admin creates sites.'} />
    ) : (
      <DataTable columns={['Site', 'Policy', 'Enrollment key', 'Key usage']} actions={props.canAct}>
        {props.items.map((s) => (
          <tr data-site={s.site_code} id={`site-${s.site_code}`} class={s.revoked_since_key && s.policy === 'auto' ? 'row-warn' : undefined}>
            <td data-label="Site">
              <strong>{s.site_code}</strong>
              <div class="muted small">{s.name}</div>
              <div class="muted small">
                by {s.created_by} · <Time iso={s.created_at} />
              </div>
            </td>
            <td data-label="Policy">
              <Badge value={s.policy} />
            </td>
            <td data-label="Enrollment key">
              {s.key ? <code class="fp">{s.key.fingerprint}</code> : <span class="muted">none</span>}
              {s.key && s.revoked_since_key && s.policy === 'auto' ? (
                <div class="collision rotate-hint">
                  An agent of this site was revoked (<Time iso={s.revoked_since_key} />) after this key was made. If that machine held the key, rotate
                  it: it enrolls new machines with no operator.
                </div>
              ) : null}
            </td>
            <td data-label="Key usage">
              {s.key ? (
                <>
                  {s.key.use_count} use{s.key.use_count === 1 ? '' : 's'}
                  {s.key.max_uses !== null ? ` of ${s.key.max_uses}` : ''}
                  <div class={usesRunningOut(s.key) ? 'collision uses-left' : 'muted small uses-left'}>
                    {s.key.uses_left === null ? 'no use limit' : `${s.key.uses_left} use${s.key.uses_left === 1 ? '' : 's'} left`}
                  </div>
                  <div class="muted small">
                    last used <Time iso={s.key.last_used_at} />
                  </div>
                  {s.key.expires_at ? (
                    <div class="muted small">
                      expires <Time iso={s.key.expires_at} />
                    </div>
                  ) : null}
                </>
              ) : (
                <span class="muted">n/a</span>
              )}
            </td>
            {props.canAct ? (
              <td data-label="Actions">
                <form method="post" action={`/console/sites/${s.site_code}/rotate-key`} class="inline">
                  <CsrfField token={props.csrf} />
                  <button type="submit" class="btn btn-small">
                    {s.key ? 'Rotate enrollment key' : 'Create enrollment key'}
                  </button>
                </form>
              </td>
            ) : null}
          </tr>
        ))}
      </DataTable>
    )}
    <Pager path="/console/sites" filter={props.paging.filter} nextCursor={props.paging.nextCursor} paged={props.paging.paged} label="Site pages" />
  </Layout>
);
