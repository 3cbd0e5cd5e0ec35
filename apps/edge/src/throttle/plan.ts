/**
 * The throttle rules as data: for one request, which blocks to check and which
 * budgets to spend (an AdmitPlan), and for the api's answer, which failure
 * counts to move (an OutcomePlan). The Redis script and the in-memory store
 * both execute these plans, so the rules live in exactly one place.
 */
import type { EdgeKeys } from '@airlock/lockouts';
import type { EdgeConfig } from '../env.ts';

export type ThrottledRoute = 'enroll' | 'verify' | 'status' | 'agent_challenge' | 'agent_credentials';

/** How an enroll request is throttled, read from its bounded JSON body. */
export interface EnrollFacts {
  /** Upper-case site_code, or the fixed invalid bucket. */
  site: string;
  /** The body carries an `enrollment_key` shaped like a `cek_` key. */
  keyShaped: boolean;
}

/** A key whose presence refuses the request until it expires. */
export interface Gate {
  key: string;
  rule: 'ip_failures' | 'consecutive_failures' | 'poll_failures' | 'agent_failures';
  kind: 'lockout' | 'block';
}

/** A fixed-window budget. `consume: false` only checks it (it is spent by outcomes). */
export interface Budget {
  key: string;
  rule: string;
  limit: number;
  windowMs: number;
  consume: boolean;
}

export interface AdmitPlan {
  gates: Gate[];
  /** The first budget is the one announced in RateLimit headers. */
  budgets: Budget[];
  /**
   * A failure streak whose existence the store reports with its verdict, so a
   * success resets it only when there is one: a forwarded request then costs
   * one Redis round trip, not two.
   */
  watch: string | null;
}

/** One failure count; reaching `threshold` (when > 0) sets `gate` for `gateMs`. */
export interface Tally {
  key: string;
  windowMs: number;
  threshold: number;
  gate: Gate | null;
  gateMs: number;
}

export interface OutcomePlan {
  /** Counters a success resets. */
  clear: string[];
  tallies: Tally[];
}

export interface Rules {
  admit: (route: ThrottledRoute, ids: readonly string[], enroll: EnrollFacts | null) => AdmitPlan;
  /** null when the answer moves no counter (the common case: a success without a streak to reset). */
  /** `streak`: the admit verdict saw the plan's watched failure streak. */
  outcome: (route: ThrottledRoute, ids: readonly string[], enroll: EnrollFacts | null, status: number, streak: boolean) => OutcomePlan | null;
  /** A new SSH connection through the demux: `perMin` per identity, the wider IPv6 ones scaled as for HTTP. */
  ssh: (ids: readonly string[], perMin: number) => AdmitPlan;
}

const MINUTE = 60_000;
const HOUR = 3_600_000;

/**
 * @example
 *   const rules = createRules(config.limits, edgeKeys(config.redisPrefix));
 *   rules.admit('status', ['198.51.100.7'], null);
 *   // { gates: [pollblock:198.51.100.7], budgets: [rl:status:198.51.100.7 1200/min] }
 */
export const createRules = (l: EdgeConfig['limits'], keys: EdgeKeys): Rules => {
  const ns = keys.ns;
  // IPv6 identities come as /64, /56, /48: the wider ones get a multiple of the budget.
  const factors = [1, l.ipv6Factor56, l.ipv6Factor48];
  const factor = (i: number): number => factors[i] ?? 1;

  const perIp = (out: Budget[], ids: readonly string[], space: string, rule: string, limit: number, windowMs: number, consume: boolean) => {
    for (let i = 0; i < ids.length; i += 1) {
      out.push({ key: `${space}:${ids[i]}`, rule, limit: limit * factor(i), windowMs, consume });
    }
  };
  const blocks = (ids: readonly string[]): Gate[] => {
    const out: Gate[] = [];
    for (const id of ids) out.push({ key: keys.block(id), rule: 'ip_failures', kind: 'block' });
    return out;
  };
  const pollBlocks = (out: Gate[], ids: readonly string[]) => {
    for (const id of ids) out.push({ key: keys.pollBlock(id), rule: 'poll_failures', kind: 'block' });
  };
  const agentBlocks = (out: Gate[], ids: readonly string[]) => {
    for (const id of ids) out.push({ key: keys.agentBlock(id), rule: 'agent_failures', kind: 'block' });
  };

  const admit: Rules['admit'] = (route, ids, enroll) => {
    const gates: Gate[] = [];
    const budgets: Budget[] = [];
    const ip = ids[0] ?? '';
    let watch: string | null = null;
    // Each route family answers to its own blocks (issue 18 #5): the 24 h
    // enroll block and the enroll lockouts guard enroll only, so a NAT
    // neighbour guessing keys cannot stop the agents behind that address
    // from renewing (agent routes) or a started enrollment from finishing
    // (verify, status).
    switch (route) {
      case 'enroll': {
        gates.push(...blocks(ids));
        const site = enroll?.site ?? '_invalid_';
        if (enroll?.keyShaped === true) {
          // Only a cek_-shaped value earns the generous per-(site, IP) bucket;
          // anything else is counted per IP, so junk site codes mint nothing.
          budgets.push({ key: `${ns.enrollKey}:${keys.siteIp(site, ip)}`, rule: 'enroll_key', limit: l.enrollKeyPerMin, windowMs: MINUTE, consume: true });
        } else {
          perIp(budgets, ids, ns.enrollPairing, 'enroll_pairing', l.enrollPairingPerHour, HOUR, true);
        }
        perIp(budgets, ids, ns.enrollIp, 'enroll_ip', l.enrollPerMin, MINUTE, true);
        perIp(budgets, ids, ns.rejected, 'rejected', l.rejectedPerHour, HOUR, false);
        gates.push({ key: keys.lockout(site, ip), rule: 'consecutive_failures', kind: 'lockout' });
        watch = keys.failSite(site, ip);
        break;
      }
      // Verify is an enrollment step, but the enroll block does not cover it:
      // the secrets are checked at enroll, so a verify guesses nothing (it
      // proves the key the client chose), and a machine behind a blocked NAT
      // whose enroll passed before the block still finishes. Its failures have
      // their own budget and short block, as status's do.
      case 'verify':
        perIp(budgets, ids, ns.verify, 'verify', l.verifyPerHour, HOUR, true);
        pollBlocks(gates, ids);
        break;
      case 'status':
        perIp(budgets, ids, ns.status, 'status', l.statusPerMin, MINUTE, true);
        pollBlocks(gates, ids);
        break;
      case 'agent_challenge':
        perIp(budgets, ids, ns.agentChallenge, 'agent_challenge', l.agentPerHour, HOUR, true);
        perIp(budgets, ids, ns.agentRejected, 'agent_rejected', l.rejectedPerHour, HOUR, false);
        agentBlocks(gates, ids);
        break;
      case 'agent_credentials':
        perIp(budgets, ids, ns.agentCredentials, 'agent_credentials', l.agentPerHour, HOUR, true);
        perIp(budgets, ids, ns.agentRejected, 'agent_rejected', l.rejectedPerHour, HOUR, false);
        agentBlocks(gates, ids);
        break;
    }
    return { gates, budgets, watch };
  };

  /** Per identity: the failure count toward `gate(id)`, with the block settings (thresholds scaled per /56, /48). */
  const blockTallies = (out: Tally[], ids: readonly string[], fail: (id: string) => string, gate: (id: string) => Gate) => {
    for (let i = 0; i < ids.length; i += 1) {
      const id = ids[i] ?? '';
      out.push({
        key: fail(id),
        windowMs: l.blockWindowSeconds * 1000,
        threshold: l.blockFailures * factor(i),
        gate: gate(id),
        gateMs: l.blockSeconds * 1000,
      });
    }
  };
  const enrollBlock = (id: string): Gate => ({ key: keys.block(id), rule: 'ip_failures', kind: 'block' });
  const agentBlock = (id: string): Gate => ({ key: keys.agentBlock(id), rule: 'agent_failures', kind: 'block' });

  const outcome: Rules['outcome'] = (route, ids, enroll, status, streak) => {
    const ip = ids[0] ?? '';
    if (status >= 200 && status < 300) {
      return route === 'enroll' && enroll !== null && streak ? { clear: [keys.failSite(enroll.site, ip)], tallies: [] } : null;
    }
    // 429 (slow_down) is the api pacing an honest poller; 5xx is ours to fix.
    if (status < 400 || status >= 500 || status === 429) return null;
    const tallies: Tally[] = [];
    if (route === 'verify' || route === 'status') {
      // Poll failures have their own budget and a short block, so a NAT
      // neighbour guessing tokens cannot shut an address out of enrollment.
      if (status === 400 || status === 401 || status === 404) {
        for (let i = 0; i < ids.length; i += 1) {
          const id = ids[i] ?? '';
          tallies.push({
            key: keys.failPoll(id),
            windowMs: l.pollFailureWindowSeconds * 1000,
            threshold: l.pollFailures * factor(i),
            gate: { key: keys.pollBlock(id), rule: 'poll_failures', kind: 'block' },
            gateMs: l.pollBlockSeconds * 1000,
          });
        }
      }
      return tallies.length > 0 ? { clear: [], tallies } : null;
    }
    // Enroll and agent routes: every 4xx spends that family's per-IP
    // rejection budget (each one may cost the api an audit row).
    const agent = route === 'agent_challenge' || route === 'agent_credentials';
    const rejected = agent ? ns.agentRejected : ns.rejected;
    for (const id of ids) tallies.push({ key: `${rejected}:${id}`, windowMs: HOUR, threshold: 0, gate: null, gateMs: 0 });
    if (status === 401) {
      if (route === 'enroll' && enroll !== null) {
        tallies.push({
          key: keys.failSite(enroll.site, ip),
          windowMs: l.lockoutFailureWindowSeconds * 1000,
          threshold: l.lockoutFailures,
          gate: { key: keys.lockout(enroll.site, ip), rule: 'consecutive_failures', kind: 'lockout' },
          gateMs: l.lockoutSeconds * 1000,
        });
      }
      // Guessing codes, keys or agent proofs is the same abuse: the long
      // enroll block (#10). Agent-route 401s also count toward the agent
      // routes' own block; enroll 401s never do (issue 18 #5).
      blockTallies(tallies, ids, keys.failIp, enrollBlock);
      if (agent) blockTallies(tallies, ids, keys.failAgent, agentBlock);
    }
    return { clear: [], tallies };
  };

  const ssh: Rules['ssh'] = (ids, perMin) => {
    const budgets: Budget[] = [];
    perIp(budgets, ids, ns.ssh, 'ssh', perMin, MINUTE, true);
    return { gates: [], budgets, watch: null };
  };

  return { admit, outcome, ssh };
};
