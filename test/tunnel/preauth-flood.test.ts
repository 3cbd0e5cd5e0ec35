/**
 * Issue 18 #2, the attack as found, all real: the api, the edge with TLS and
 * the SSH demux on one port (default limits), the tunnel endpoint with its
 * own sshd, Redis, and the OpenSSH client. 120 idle pre-auth SSH connections
 * from 12 loopback addresses, each address inside the per-IP connection cap
 * (10) and the SSH rate limit (30 a minute), while an enrolled agent logs in
 * again and again. Before the fix sshd, seeing only the edge's address, went
 * past MaxStartups and refused the agent at random.
 */
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import * as net from 'node:net';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TUNNEL_MAX_STARTUPS } from '@airlock/edge/config';
import { freePort, metricValue, REDIS_URL, sleep } from '@airlock/testing';
import { createSite, opensslPin, removeTempDirs, rotateEnrollmentKey, runAgent, tempStateDir } from '../agent/support.ts';
import { startStack, type Stack } from '../helpers/stack.ts';
import { cleanupTunnelDirs, createTunnelOperator, ensureAccounts, runSsh, startEcho, startTunnel, type TunnelEndpoint } from './support.ts';

const FLOOD_ADDRESSES = Array.from({ length: 12 }, (_, i) => `127.0.0.${20 + i}`);
const PER_ADDRESS = 10;
/** New connections per address in any 60 s: under EDGE_LIMIT_SSH_PER_MIN (30) whatever the window's alignment. */
const PER_MINUTE = 29;
const AGENT_ADDRESS = '127.0.0.100';
const LOGINS = 8;

let stack: Stack;
let tunnel: TunnelEndpoint;
let echo: Awaited<ReturnType<typeof startEcho>>;
let edgePort: number;
let agent: { key: string; knownHosts: string };

beforeAll(async () => {
  ensureAccounts();
  echo = await startEcho();
  edgePort = await freePort();
  const tunnelPort = await freePort();
  stack = await startStack({
    tls: true,
    edgePort,
    apiEnv: { AIRLOCK_SSH_ENDPOINT: `127.0.0.1:${edgePort}`, AIRLOCK_SSH_PERMIT_OPEN: `127.0.0.1:${echo.port}`, AIRLOCK_POLL_INTERVAL_SECONDS: '1' },
    // Every edge limit at its default: the flood stays inside each.
    edgeEnv: { EDGE_SSH_UPSTREAM: `127.0.0.1:${tunnelPort}` },
  });
  tunnel = await startTunnel({ apiUrl: stack.apiUrl, token: await createTunnelOperator(stack.admin), port: tunnelPort, redisUrl: REDIS_URL, redisPrefix: stack.redisPrefix });
  const site = await createSite(stack, 'auto');
  const enrollmentKey = await rotateEnrollmentKey(stack, site);
  const dir = await tempStateDir();
  const run = runAgent(
    ['enroll', '--server', stack.edgeUrl, '--site', site, '--state-dir', dir, '--pin', opensslPin(stack.certSha256 ?? ''), '--name', 'vma-flood', '--machine-uid', `vm-${randomBytes(6).toString('hex')}`],
    { AIRLOCK_ENROLLMENT_KEY: enrollmentKey },
  );
  expect(await run.exit).toBe(0);
  const credentials = JSON.parse(readFileSync(path.join(dir, 'credentials.json'), 'utf8')) as { ssh: { known_hosts: string } };
  const knownHosts = path.join(dir, 'test_known_hosts');
  writeFileSync(knownHosts, credentials.ssh.known_hosts);
  agent = { key: path.join(dir, 'id_ed25519'), knownHosts };
}, 180_000);

afterAll(async () => {
  await tunnel?.stop();
  if (tunnel) cleanupTunnelDirs(tunnel);
  await stack?.stop();
  echo?.close();
  await removeTempDirs();
});

/**
 * The attacker: per address, keeps up to 10 connections open, each sending
 * only its identification string and then nothing, and opens a new one when
 * one closes, never more than 29 in any minute.
 */
const startFlood = () => {
  const sockets = new Set<net.Socket>();
  const opened = new Map<string, number[]>(FLOOD_ADDRESSES.map((a) => [a, []]));
  const held = new Map<string, number>(FLOOD_ADDRESSES.map((a) => [a, 0]));
  let total = 0;
  let stopped = false;
  const open = (from: string) => {
    const s = net.connect({ port: edgePort, host: '127.0.0.1', localAddress: from });
    sockets.add(s);
    total += 1;
    held.set(from, (held.get(from) ?? 0) + 1);
    opened.get(from)?.push(Date.now());
    s.on('error', () => {});
    s.on('connect', () => s.write('SSH-2.0-OpenSSH_9.2p1 flood\r\n'));
    // Read and drop the server's answer; never send anything more.
    s.resume();
    s.once('close', () => {
      sockets.delete(s);
      held.set(from, (held.get(from) ?? 1) - 1);
    });
  };
  const tick = () => {
    if (stopped) return;
    const now = Date.now();
    for (const from of FLOOD_ADDRESSES) {
      const times = (opened.get(from) ?? []).filter((t) => now - t < 60_000);
      opened.set(from, times);
      let budget = PER_MINUTE - times.length;
      while (budget > 0 && (held.get(from) ?? 0) < PER_ADDRESS) {
        open(from);
        budget -= 1;
      }
    }
  };
  tick();
  // Paced: at most one new connection per address every 2.1 s after the first burst, so the minute's budget lasts.
  const timer = setInterval(() => {
    if (stopped) return;
    const now = Date.now();
    for (const from of FLOOD_ADDRESSES) {
      const times = (opened.get(from) ?? []).filter((t) => now - t < 60_000);
      opened.set(from, times);
      const last = times[times.length - 1] ?? 0;
      if (times.length < PER_MINUTE && (held.get(from) ?? 0) < PER_ADDRESS && now - last >= 2_100) open(from);
    }
  }, 100);
  return {
    total: () => total,
    held: () => sockets.size,
    stop: () => {
      stopped = true;
      clearInterval(timer);
      for (const s of sockets) s.destroy();
    },
  };
};

/**
 * sshd's own count of unauthenticated connections, the number MaxStartups is
 * compared with: its listener shows it in its process title
 * ("sshd: … -f <config> [listener] N of B-F startups").
 */
const sshdStartups = (): number => {
  const config = path.join(tunnel.dataDir, 'tunnel', 'sshd_config');
  for (const pid of readdirSync('/proc').filter((d) => /^\d+$/.test(d))) {
    let title = '';
    try {
      title = readFileSync(`/proc/${pid}/cmdline`, 'utf8').replace(/\0/g, ' ');
    } catch {
      continue;
    }
    if (!title.includes(`-f ${config}`)) continue;
    const m = /\[listener\] (\d+) of \d+-\d+ startups/.exec(title);
    if (m?.[1] !== undefined) return Number(m[1]);
  }
  return -1;
};

const login = async (): Promise<'authenticated' | string> => {
  const ssh = runSsh({ port: edgePort, key: agent.key, knownHosts: agent.knownHosts, bind: AGENT_ADDRESS, args: ['-N', '-v', '127.0.0.1'] });
  try {
    await ssh.waitFor(/Authenticated to/, 30_000);
    return 'authenticated';
  } catch {
    return ssh.output().split('\n').filter((l) => !l.startsWith('debug1:')).join(' | ').slice(-300) || 'failed';
  } finally {
    ssh.child.kill();
    await ssh.exit;
  }
};

describe('issue 18 #2: sshd MaxStartups exhaustion through the demux', () => {
  it('generates an sshd_config whose MaxStartups starts above any pre-auth cap the edge accepts', () => {
    const text = readFileSync(path.join(tunnel.dataDir, 'tunnel', 'sshd_config'), 'utf8');
    const begin = Number(/^MaxStartups (\d+)/m.exec(text)?.[1]);
    expect(begin).toBeGreaterThanOrEqual(TUNNEL_MAX_STARTUPS);
    expect(/^LoginGraceTime (\d+)/m.exec(text)?.[1]).toBe('20');
  });

  it("keeps an agent's logins succeeding through 120 idle pre-auth connections from 12 addresses", async () => {
    const flood = startFlood();
    const samples: Array<{ sshd: number; edge: number | null }> = [];
    let sampling = true;
    const sampler = (async () => {
      while (sampling) {
        samples.push({ sshd: sshdStartups(), edge: await metricValue(Number(new URL(stack.edgeMetricsUrl).port), 'edge_ssh_preauth_open').catch(() => null) });
        await sleep(250);
      }
    })();
    try {
      // The first burst: 120 connections at once.
      await sleep(2_000);
      expect(flood.total()).toBeGreaterThanOrEqual(FLOOD_ADDRESSES.length * PER_ADDRESS);
      const results: string[] = [];
      for (let i = 0; i < LOGINS; i += 1) results.push(await login());
      expect(results).toEqual(Array<string>(LOGINS).fill('authenticated'));
    } finally {
      sampling = false;
      await sampler;
      flood.stop();
    }
    // The flood was real: the demux held about its cap of 48 pre-auth connections meanwhile ...
    const edgeMax = Math.max(...samples.map((s) => s.edge ?? 0));
    expect(edgeMax).toBeGreaterThanOrEqual(40);
    expect(stack.edge.output()).toContain('ssh connection refused: pre-auth cap');
    // ... and sshd, by its own count, never had as many unauthenticated connections as its MaxStartups begins with.
    const sshdMax = Math.max(...samples.map((s) => s.sshd));
    expect(sshdMax).toBeGreaterThanOrEqual(40);
    expect(sshdMax).toBeLessThan(TUNNEL_MAX_STARTUPS);
  }, 180_000);
});
