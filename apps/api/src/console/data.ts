/**
 * What the console's pages show, read through the same domain functions the
 * admin API's GET routes use.
 */
import { listAllAgents } from '../domain/agents.ts';
import type { Deps } from '../domain/deps.ts';
import { listPendingOrAll } from '../domain/enrollment-list.ts';
import { listActiveLockouts } from '../domain/lockouts.ts';
import { listCodes } from '../domain/pairing-codes.ts';
import { listWebhookDeliveries, listWebhooks } from '../domain/webhooks.ts';
import type { Actor } from '../domain/deps.ts';
import { describeEnrollmentKey, latestRevocations, listAllSites } from '../domain/sites.ts';
import { ApiError } from '../errors.ts';
import type { CollidesWith, PendingItem } from './views/pending.tsx';
import type { LockoutState } from './views/lockouts.tsx';
import type { SiteItem } from './views/sites.tsx';
import type { WebhookItem } from './views/webhooks.tsx';

const WAITING = new Set(['awaiting_approval', 'pending_confirmation']);

/** Collisions first (they need the most care), then the newest. */
export const loadPending = async (deps: Deps): Promise<{ items: PendingItem[]; collisions: Map<string, CollidesWith> }> => {
  const [held, waiting] = await Promise.all([listPendingOrAll(deps, 'pending_confirmation'), listPendingOrAll(deps, 'awaiting_approval')]);
  const items = [...held.items, ...waiting.items]
    .filter((e) => WAITING.has(e.status))
    .sort((a, b) => (a.status === b.status ? b.created_at.localeCompare(a.created_at) : a.status === 'pending_confirmation' ? -1 : 1));
  const collisions = new Map<string, CollidesWith>();
  if (items.some((e) => e.status === 'pending_confirmation' && e.existing_agent_id)) {
    for (const a of (await listAllAgents(deps, undefined)).items) collisions.set(a.id, a);
  }
  return { items, collisions };
};

export const siteCodes = async (deps: Deps): Promise<string[]> => (await listAllSites(deps)).items.map((s) => s.site_code);

export const loadSites = async (deps: Deps): Promise<SiteItem[]> => {
  const [sites, revocations] = await Promise.all([listAllSites(deps).then((r) => r.items), latestRevocations(deps)]);
  return Promise.all(
    sites.map(async (s) => {
      const key = await describeEnrollmentKey(deps, s.site_code).catch((err: unknown) => {
        if (err instanceof ApiError && err.code === 'not_found') return null;
        throw err;
      });
      const revoked = revocations.get(s.site_code);
      // Only a revocation after the key was made can have leaked it.
      const revokedSinceKey = key && revoked && revoked.getTime() > new Date(key.created_at).getTime() ? revoked.toISOString() : null;
      return { ...s, key, revoked_since_key: revokedSinceKey };
    }),
  );
};

export const loadActiveCodes = async (deps: Deps) => (await listCodes(deps, 'active')).items;

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
