import type { OperatorRole } from '@airlock/schema';
import type { CaBundle } from '../ca.ts';
import type { Clock } from '../clock.ts';
import type { Database } from '../db/client.ts';
import type { ApiConfig } from '../env.ts';
import type { Logger } from '@airlock/log';
import type { ApiMetrics } from '../metrics.ts';
import type { LockoutStore } from '../store/lockouts.ts';
import type { Scope } from '../store/scope.ts';

/** What every domain function may use. No HTTP in here. */
export interface Deps {
  db: Database;
  clock: Clock;
  config: ApiConfig;
  /** Keys the pairing-code HMAC; see secret.ts. */
  serverSecret: string;
  logger: Logger;
  /** The edge's lockouts in Redis; null when the api has no REDIS_URL. */
  lockouts: LockoutStore | null;
  /** v1.1: Airlock's CA, signing agents' certificates (see ca.ts). */
  ca: CaBundle;
  /** Prometheus counters; absent in tests that build Deps by hand. */
  metrics?: ApiMetrics;
}

/** Who is asking, as the HTTP layer established it. */
export interface Client {
  ip: string;
  userAgent: string | null;
  requestId: string;
}

/**
 * An operator acting through the admin API or the console, with its scope
 * (issue 22): `tenantCode` null is a global operator, otherwise it sees and
 * acts on that tenant only. Domain functions hand the actor, as a Scope, to
 * every store query (store/scope.ts); no route checks a tenant by hand.
 */
export interface Actor extends Scope {
  name: string;
  role: OperatorRole;
}
