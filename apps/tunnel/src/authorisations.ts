/**
 * Which agents the keys service authorised for which sshd monitor process
 * (the per-connection root process that runs the keys helper and, after
 * authentication, stays the session's privileged half). Filled only by the
 * keys service, from the api's answer; read by the session poll. Nothing a
 * client sends over the network is a key here: only a PID and its start
 * time, checked in /proc.
 */
import type { ProcRef } from './procfs.ts';

export interface Authorisation {
  /** Active agents holding the offered key when it was authorised (usually one). */
  agentIds: string[];
  fingerprint: string;
}

export interface MonitorRecord {
  /** In the order sshd asked; the last one before authentication is the key that authenticated. */
  authorisations: Authorisation[];
  /** More authorisations than any real client needs: the session is treated as unidentified. */
  overflow: boolean;
}

/** sshd's MaxAuthTries 3 allows a handful of offers; past this, something is off. */
const MAX_PER_MONITOR = 16;
/** Pre-auth connections are capped by MaxStartups (128 here); sessions by real agents. */
const MAX_MONITORS = 20_000;

const keyOf = (m: ProcRef) => `${m.pid}:${m.start}`;

export class AuthorisationBook {
  readonly #records = new Map<string, MonitorRecord>();

  record(monitor: ProcRef, a: Authorisation): void {
    const key = keyOf(monitor);
    let r = this.#records.get(key);
    if (!r) {
      // Bounded: the oldest record goes first (its monitor is the likeliest to be gone).
      if (this.#records.size >= MAX_MONITORS) this.#records.delete(this.#records.keys().next().value ?? '');
      r = { authorisations: [], overflow: false };
      this.#records.set(key, r);
    }
    if (r.authorisations.length >= MAX_PER_MONITOR) r.overflow = true;
    else r.authorisations.push({ agentIds: [...a.agentIds], fingerprint: a.fingerprint });
  }

  get(monitor: ProcRef): MonitorRecord | null {
    return this.#records.get(keyOf(monitor)) ?? null;
  }

  /** Drops the records of monitors that are gone. */
  async prune(isAlive: (m: ProcRef) => Promise<boolean>): Promise<void> {
    for (const key of [...this.#records.keys()]) {
      const [pid = '0', start = ''] = key.split(':');
      if (!(await isAlive({ pid: Number(pid), start }))) this.#records.delete(key);
    }
  }

  get size(): number {
    return this.#records.size;
  }
}

/** Every agent a monitor was authorised for: the session is all of them. */
export const agentsOf = (r: MonitorRecord): string[] => [...new Set(r.authorisations.flatMap((a) => a.agentIds))];

/** The key that authenticated: the last one authorised before the session began. */
export const authenticatedBy = (r: MonitorRecord): Authorisation | null => r.authorisations.at(-1) ?? null;
