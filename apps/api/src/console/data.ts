/**
 * What the console's pages show, read through the same domain functions the
 * admin API's GET routes use.
 */
import { agentView } from '../domain/agents.ts';
import type { Deps } from '../domain/deps.ts';
import { listPendingOrAll } from '../domain/enrollment-list.ts';
import { listActiveLockouts } from '../domain/lockouts.ts';
import { listCodes } from '../domain/pairing-codes.ts';
import { listWebhookDeliveries, listWebhooks } from '../domain/webhooks.ts';
import type { Actor } from '../domain/deps.ts';
import { describeEnrollmentKey, latestRevocations, listAllSites } from '../domain/sites.ts';
import { ApiError } from '../errors.ts';
import { machineAgents } from '../store/agents.ts';
import type { Scope } from '../store/scope.ts';
import type { CollidesWith, PendingItem } from './views/pending.tsx';
import type { LockoutState } from './views/lockouts.tsx';
import type { SiteItem } from './views/sites.tsx';
import type { WebhookItem } from './views/webhooks.tsx';

const WAITING = new Set(['awaiting_approval', 'pending_confirmation']);

/** One page of the Pending page: what it lists, and the cursor to the next page of waiting enrollments. */
export interface PendingView {
  items: PendingItem[];
  collisions: Map<string, CollidesWith>;
  nextCursor: string | null;
}

/**
 * Collisions first (they need the most care; the first page of them), then
 * one page of enrollments awaiting approval, newest first. The agent each
 * collision is with is read by the enrollment's own machine_uid, one indexed
 * probe per held row, never a scan of the fleet.
 */
export const loadPending = async (deps: Deps, scope: Scope, q: { cursor?: string; tenantCode?: string } = {}): Promise<PendingView> => {
  const [held, waiting] = await Promise.all([
    q.cursor ? { items: [] } : listPendingOrAll(deps, scope, { status: 'pending_confirmation', tenantCode: q.tenantCode }),
    listPendingOrAll(deps, scope, { status: 'awaiting_approval', tenantCode: q.tenantCode, cursor: q.cursor }),
  ]);
  const items = [...held.items, ...waiting.items].filter((e) => WAITING.has(e.status));
  const machines = items.flatMap((e) => (e.status === 'pending_confirmation' && e.machine_uid ? [{ siteCode: e.site_code, machineUid: e.machine_uid }] : []));
  const collisions = new Map<string, CollidesWith>();
  for (const holders of (await machineAgents(deps.db, machines)).values()) for (const a of holders) collisions.set(a.id, agentView(a));
  return { items, collisions, nextCursor: waiting.next_cursor };
};

/** The site codes for a form's select (the first 500 in scope, by code). */
export const siteCodes = async (deps: Deps, scope: Scope): Promise<string[]> => (await listAllSites(deps, scope, { limit: 500 })).items.map((s) => s.site_code);

export const loadSites = async (deps: Deps, scope: Scope, q: { cursor?: string; tenantCode?: string } = {}): Promise<{ items: SiteItem[]; nextCursor: string | null }> => {
  const page = await listAllSites(deps, scope, { limit: 100, cursor: q.cursor, tenantCode: q.tenantCode });
  const sites = page.items;
  const revocations = await latestRevocations(deps, sites.map((s) => s.site_code));
  const items = await Promise.all(
    sites.map(async (s) => {
      const key = await describeEnrollmentKey(deps, s.site_code, scope).catch((err: unknown) => {
        if (err instanceof ApiError && err.code === 'not_found') return null;
        throw err;
      });
      const revoked = revocations.get(s.site_code);
      // Only a revocation after the key was made can have leaked it.
      const revokedSinceKey = key && revoked && revoked.getTime() > new Date(key.created_at).getTime() ? revoked.toISOString() : null;
      return { ...s, key, revoked_since_key: revokedSinceKey };
    }),
  );
  return { items, nextCursor: page.next_cursor };
};

export const loadActiveCodes = async (deps: Deps, scope: Scope, cursor?: string) => listCodes(deps, scope, { status: 'active', cursor });

export const loadLockouts = async (deps: Deps): Promise<LockoutState> => {
  try {
    return { kind: 'ok', items: (await listActiveLockouts(deps)).items };
  } catch (err) {
    if (err instanceof ApiError && err.code === 'service_unavailable') {
      return {
        kind: 'unavailable',
        message: deps.lockouts
          ? 'Redis does not answer right now; try again in a moment.'
          : 'The api has no REDIS_URL. Lockouts then live in the edge process memory and end when it restarts; set REDIS_URL on the edge and the api to see and lift them here.',
      };
    }
    throw err;
  }
};

/** The webhooks the operator may see, each with its latest deliveries. */
export const loadWebhooks = async (deps: Deps, actor: Actor): Promise<WebhookItem[]> => {
  const { items } = await listWebhooks(deps, actor);
  return Promise.all(items.map(async (w) => ({ ...w, deliveries: (await listWebhookDeliveries(deps, w.id, { limit: 5 }, actor)).items })));
};
