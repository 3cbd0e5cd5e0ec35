/** Operator control over the edge's lockouts: list them, lift one (audited with the operator's name). */
import { ApiError } from '../errors.ts';
import { recordAudit } from './audit.ts';
import type { Actor, Client, Deps } from './deps.ts';

const store = (deps: Deps) => {
  if (!deps.lockouts) {
    throw new ApiError(
      'service_unavailable',
      'REDIS_URL is not set for the api: lockouts then live in the edge process memory and end when it restarts',
    );
  }
  return deps.lockouts;
};

const unavailable = () => new ApiError('service_unavailable', 'Redis is unreachable; try again');

export const listActiveLockouts = async (deps: Deps) => {
  const s = store(deps);
  try {
    return { items: await s.list() };
  } catch {
    throw unavailable();
  }
};

export const liftLockout = async (deps: Deps, key: string, actor: Actor, client: Client) => {
  const s = store(deps);
  let wasActive: boolean;
  try {
    wasActive = await s.clear(key);
  } catch (err) {
    if (err instanceof Error && err.message === 'not a lockout or block key') {
      throw new ApiError('invalid_request', 'Invalid request', { fields: { key: 'is not a lockout or block key' } });
    }
    throw unavailable();
  }
  await recordAudit(deps.db, deps, client, {
    eventType: 'lockout.cleared',
    actor: actor.name,
    details: { key, was_active: wasActive },
  });
  return { key, cleared: wasActive };
};
