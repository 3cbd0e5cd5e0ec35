/** @jsxImportSource hono/jsx */
/**
 * The console's page frame and small shared pieces. Everything here goes
 * through hono/jsx, which escapes every text and attribute value; raw() is
 * never used, so operator- or agent-supplied text always renders as text.
 */
import type { Child } from 'hono/jsx';
import type { ConsoleSession } from '../../domain/console-sessions.ts';

const ASSET_VERSION = '3';
const css = `/console/assets/console.css?v=${ASSET_VERSION}`;
const js = `/console/assets/console.js?v=${ASSET_VERSION}`;

export type NavKey = 'pending' | 'agents' | 'sites' | 'codes' | 'audit' | 'lockouts' | 'webhooks';

const NAV: readonly { key: NavKey; href: string; label: string; adminOnly?: true }[] = [
  { key: 'pending', href: '/console/pending', label: 'Pending' },
  { key: 'codes', href: '/console/pairing-codes', label: 'Pairing codes' },
  { key: 'agents', href: '/console/agents', label: 'Agents' },
  { key: 'sites', href: '/console/sites', label: 'Sites' },
  { key: 'audit', href: '/console/audit', label: 'Audit' },
  { key: 'lockouts', href: '/console/lockouts', label: 'Lockouts' },
  // Issue 20: admins only (the page answers 403 to anyone else).
  { key: 'webhooks', href: '/console/webhooks', label: 'Webhooks', adminOnly: true },
];

/**
 * Issue 22: the tenant a page shows. A global operator picks one (or every
 * tenant) with the switcher, carried in the URL as `?tenant=`; a scoped
 * operator's is fixed and shown, never offered.
 */
export interface TenantChoice {
  /** The tenants a global operator may pick; null for a scoped operator. */
  options: string[] | null;
  current: string | null;
}

export interface PageFrame {
  title: string;
  session: ConsoleSession;
  csrf: string;
  active: NavKey;
  notice?: { kind: 'ok' | 'error' | 'info'; text: string } | null;
  tenant?: TenantChoice;
  children?: Child;
}

/** The topbar's tenant: a GET form (no script needed) for global operators, a label for scoped ones. */
const TenantSwitcher = ({ tenant, active }: { tenant: TenantChoice; active: NavKey }) =>
  tenant.options === null ? (
    <span class="tenant" data-tenant={tenant.current ?? ''}>
      tenant {tenant.current}
    </span>
  ) : (
    <form method="get" action={NAV.find((n) => n.key === active)?.href ?? '/console/pending'} class="inline tenant-switcher">
      <label for="tenant-switch" class="visually-hidden">
        Tenant
      </label>
      <select id="tenant-switch" name="tenant">
        <option value="">All tenants</option>
        {tenant.options.map((t) => (
          <option value={t} selected={t === tenant.current}>
            {t}
          </option>
        ))}
      </select>
      <button type="submit" class="btn btn-quiet">
        Show
      </button>
    </form>
  );

/** A list page's URL with its filters (empty ones dropped) and, when given, the cursor of the page to show. */
export const listHref = (path: string, filter: Readonly<Record<string, string | readonly string[] | undefined>>, cursor?: string) => {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(filter)) {
    if (typeof v === 'string') {
      if (v) q.set(k, v);
    } else for (const one of v ?? []) q.append(k, one);
  }
  if (cursor) q.set('cursor', cursor);
  const s = q.toString();
  return s ? `${path}?${s}` : path;
};

/** Keyset paging links: back to the first page, on to the next one (the lists never count or skip). */
export const Pager = (props: { path: string; filter: Readonly<Record<string, string | readonly string[] | undefined>>; nextCursor: string | null; paged: boolean; label: string }) => (
  <nav class="pager" aria-label={props.label}>
    {props.paged ? <a href={listHref(props.path, props.filter)}>First page</a> : null}
    {props.nextCursor ? (
      <a href={listHref(props.path, props.filter, props.nextCursor)} rel="next">
        Next page
      </a>
    ) : null}
  </nav>
);

const Head = ({ title }: { title: string }) => (
  <head>
    <meta charset="utf-8" />
    <meta name="viewport" content="width=device-width, initial-scale=1" />
    <meta name="referrer" content="no-referrer" />
    <title>{`${title} · Airlock console`}</title>
    <link rel="stylesheet" href={css} />
    <script src={js} defer></script>
  </head>
);

const Brand = () => (
  <a class="brand" href="/console/pending">
    <span class="brand-mark" aria-hidden="true">◆</span> Airlock
  </a>
);

export const Layout = ({ title, session, csrf, active, notice, tenant, children }: PageFrame) => (
  <html lang="en">
    <Head title={title} />
    <body>
      <header class="topbar">
        <Brand />
        <nav aria-label="Console">
          <ul>
            {NAV.filter((n) => !n.adminOnly || session.operator.role === 'admin').map((n) => (
              <li>
                <a href={n.href} aria-current={n.key === active ? 'page' : undefined}>
                  {n.label}
                </a>
              </li>
            ))}
          </ul>
        </nav>
        <div class="who">
          {tenant ? <TenantSwitcher tenant={tenant} active={active} /> : null}
          <span class="who-name">{session.operator.name}</span>
          <span class={`role role-${session.operator.role}`}>{session.operator.role}</span>
          <form method="post" action="/console/sign-out" class="inline">
            <CsrfField token={csrf} />
            <button type="submit" class="btn btn-quiet">Sign out</button>
          </form>
        </div>
      </header>
      <main id="main">
        <h1>{title}</h1>
        {notice ? <Notice kind={notice.kind} text={notice.text} /> : null}
        {children}
      </main>
    </body>
  </html>
);

/** A page without a session: sign-in and errors before sign-in. */
export const BarePage = ({ title, children }: { title: string; children?: Child }) => (
  <html lang="en">
    <Head title={title} />
    <body class="bare">
      <main class="bare-main">
        <div class="bare-brand">
          <Brand />
          <span class="muted">operator console</span>
        </div>
        {children}
      </main>
    </body>
  </html>
);

export const CsrfField = ({ token }: { token: string }) => <input type="hidden" name="_csrf" value={token} />;

export const Notice = ({ kind, text }: { kind: 'ok' | 'error' | 'info'; text: string }) => (
  <p class={`notice notice-${kind}`} role={kind === 'error' ? 'alert' : 'status'}>
    {text}
  </p>
);

export const Empty = ({ title, hint }: { title: string; hint?: string }) => (
  <div class="empty">
    <p class="empty-title">{title}</p>
    {hint ? <p class="muted">{hint}</p> : null}
  </div>
);

/**
 * A listing table: the column headers, plus an "Actions" column when the
 * signed-in role may act (an auditor's pages have none). Rows are children.
 */
export const DataTable = ({ columns, actions, children }: { columns: readonly string[]; actions?: boolean; children?: Child }) => (
  <div class="table-wrap">
    <table class="data">
      <thead>
        <tr>
          {columns.map((c) => (
            <th scope="col">{c}</th>
          ))}
          {actions ? <th scope="col">Actions</th> : null}
        </tr>
      </thead>
      <tbody>{children}</tbody>
    </table>
  </div>
);

/** A UTC timestamp; the script adds "5 min ago" beside it. */
export const Time = ({ iso }: { iso: string | null }) =>
  iso ? (
    <time datetime={iso} data-relative="">
      {iso.replace('T', ' ').replace(/\.\d+Z$/, 'Z').replace('Z', ' UTC')}
    </time>
  ) : (
    <span class="muted">never</span>
  );

export const Badge = ({ value }: { value: string }) => <span class={`badge badge-${value.replaceAll('_', '-')}`}>{value.replaceAll('_', ' ')}</span>;

/** Fingerprints are shown in full, never truncated: they are what operators compare. */
export const Fingerprint = ({ value }: { value: string }) => <code class="fp">{value}</code>;
