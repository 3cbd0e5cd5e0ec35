/**
 * Issue 21 end to end, all real: the api hands each agent a reverse port,
 * the endpoint's sshd lets that key listen on exactly 127.0.0.1:{port},
 * management software on the endpoint host reaches the appliance's own
 * server through it, and the agent record follows the tunnel (connect,
 * disconnect, an endpoint killed hard). sshd straight (no edge demux here;
 * tunnel-e2e covers the demux).
 */
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import * as net from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort, waitFor } from '@airlock/testing';
import { startStack, type Stack } from '../helpers/stack.ts';
import { createSite, opensslPin, removeTempDirs, rotateEnrollmentKey, runAgent, runShellClient } from '../agent/support.ts';
import { cleanupTunnelDirs, createTunnelOperator, echoThrough, enrollTunnelAgent, ensureAccounts, runSsh, startEcho, startTunnel, type Enrolled, type TunnelEndpoint } from './support.ts';

let stack: Stack;
let tunnel: TunnelEndpoint;
/** The appliance's own API, as the agent's side sees it (the -R target). */
let appliance: Awaited<ReturnType<typeof startEcho>>;
/** The management service the agent's -L reaches (permit_open). */
let mgmt: Awaited<ReturnType<typeof startEcho>>;
let a: Enrolled;
let b: Enrolled;
let tunnelPort: number;
let tunnelToken: string;
let site: string;
let enrollmentKey: string;
let pin: string;
const extra: TunnelEndpoint[] = [];
// Three ports: two agents, a third, then exhaustion. Chosen away from the usual ephemeral range.
const FIRST = 30000 + Math.floor(Math.random() * 9000);
const LAST = FIRST + 2;
const LEASE = { TUNNEL_LEASE_SECONDS: '5', TUNNEL_METRICS_PORT: '0' };
let metricsPort: number;

/** One Prometheus scrape: `name{labels}` → value. */
const scrape = async (url: string): Promise<Map<string, number>> => {
  const text = await (await fetch(url)).text();
  const out = new Map<string, number>();
  for (const line of text.split('\n')) {
    const m = /^([a-z_]+(?:\{[^}]*\})?) ([0-9.e+-]+)$/.exec(line);
    if (m?.[1] && m[2]) out.set(m[1], Number(m[2]));
  }
  return out;
};
const tunnelMetrics = () => scrape(`http://127.0.0.1:${metricsPort}/metrics`);

const enrollAgent = (name: string): Promise<Enrolled> => enrollTunnelAgent({ edgeUrl: stack.edgeUrl, site, enrollmentKey, pin }, name);
const forwardsOf = (a: Enrolled) => (a.credentials.ssh as unknown as { remote_forwards: Array<{ listen: string; to: string }> }).remote_forwards;
const portOf = (a: Enrolled) => Number(forwardsOf(a)[0]?.listen.split(':')[1]);
const agentRecord = async (id: string) =>
  ((await stack.admin('GET', '/api/v1/admin/agents')).body.items as Array<{ id: string; tunnel: { connected: boolean; since: string | null; source_ip: string | null; remote_port: number | null } }>).find((x) => x.id === id);
const auditOf = async (agentId: string, type: string) =>
  (await stack.admin('GET', `/api/v1/admin/audit?agent_id=${agentId}&event_type=${type}`)).body.items as Array<{ details: Record<string, unknown> }>;

/** `ssh -N -R spec`, failing on a refused forward as the agent does. */
const reverse = (a: Enrolled, spec: string) =>
  runSsh({ port: tunnelPort, key: a.key, knownHosts: a.knownHosts, args: ['-N', '-o', 'ExitOnForwardFailure=yes', '-R', spec, '127.0.0.1'] });

/** True when something accepts a TCP connection on 127.0.0.1:port. */
const listening = (port: number) =>
  new Promise<boolean>((resolve) => {
    const s = net.connect({ port, host: '127.0.0.1' });
    s.once('connect', () => {
      s.destroy();
      resolve(true);
    });
    s.once('error', () => resolve(false));
  });

beforeAll(async () => {
  ensureAccounts();
  appliance = await startEcho();
  mgmt = await startEcho();
  tunnelPort = await freePort();
  stack = await startStack({
    tls: true,
    apiEnv: {
      AIRLOCK_SSH_ENDPOINT: `127.0.0.1:${tunnelPort}`,
      AIRLOCK_SSH_PERMIT_OPEN: `127.0.0.1:${mgmt.port}`,
      AIRLOCK_SSH_REMOTE_TARGET: `127.0.0.1:${appliance.port}`,
      AIRLOCK_SSH_REMOTE_PORTS: `${FIRST}-${LAST}`,
      AIRLOCK_POLL_INTERVAL_SECONDS: '1',
    },
  });
  pin = opensslPin(stack.certSha256 ?? '');
  tunnelToken = await createTunnelOperator(stack.admin);
  metricsPort = await freePort();
  tunnel = await startTunnel({ apiUrl: stack.apiUrl, token: tunnelToken, port: tunnelPort, extraEnv: { ...LEASE, TUNNEL_METRICS_PORT: String(metricsPort) } });
  site = await createSite(stack, 'auto');
  enrollmentKey = await rotateEnrollmentKey(stack, site);
}, 120_000);

afterAll(async () => {
  for (const t of extra) {
    await t.stop();
    cleanupTunnelDirs(t);
  }
  await tunnel?.stop();
  if (tunnel) cleanupTunnelDirs(tunnel);
  await stack?.stop();
  appliance?.close();
  mgmt?.close();
  await removeTempDirs();
});

describe('one reverse port per agent', () => {
  it("lets management software on the endpoint host reach the appliance's server through 127.0.0.1:{port}", async () => {
    a = await enrollAgent('vma-rev-a');
    b = await enrollAgent('vma-rev-b');
    expect(forwardsOf(a)).toEqual([{ listen: `127.0.0.1:${portOf(a)}`, to: `127.0.0.1:${appliance.port}` }]);
    // Two agents, two ports, both in the range.
    expect(portOf(a)).not.toBe(portOf(b));
    for (const p of [portOf(a), portOf(b)]) expect(p >= FIRST && p <= LAST).toBe(true);

    const ssh = reverse(a, `127.0.0.1:${portOf(a)}:127.0.0.1:${appliance.port}`);
    const other = reverse(b, `127.0.0.1:${portOf(b)}:127.0.0.1:${appliance.port}`);
    try {
      await waitFor(async () => (await echoThrough(portOf(a))).got !== null, "the management side to reach A's appliance");
      await waitFor(async () => (await echoThrough(portOf(b))).got !== null, "the management side to reach B's appliance");
      const text = `mgmt-${randomBytes(4).toString('hex')}`;
      expect((await echoThrough(portOf(a), text)).got).toBe(text);
      // The record follows: connected, since when, from where, which port.
      const rec = await waitFor(async () => ((await agentRecord(a.agentId))?.tunnel.connected ? agentRecord(a.agentId) : null), 'A to show connected');
      expect(rec?.tunnel).toMatchObject({ connected: true, source_ip: '127.0.0.1', remote_port: portOf(a) });
      expect(new Date(rec?.tunnel.since ?? '').getTime()).not.toBeNaN();
      expect(await auditOf(a.agentId, 'tunnel.connected')).toHaveLength(1);
      // Metrics follow too: the endpoint's live sessions and lookups, the api's connected agents per site.
      await waitFor(async () => (await agentRecord(b.agentId))?.tunnel.connected === true, 'B to show connected');
      const m = await tunnelMetrics();
      expect(m.get('tunnel_sessions_live')).toBe(2);
      expect(m.get('tunnel_sessions_opened_total')).toBe(2);
      expect(m.get('tunnel_key_lookup_duration_seconds_count')).toBeGreaterThanOrEqual(2);
      expect(m.get('tunnel_key_lookup_errors_total')).toBe(0);
      expect((await scrape(stack.apiMetricsUrl)).get(`api_tunnel_connected_agents{site_code="${site}"}`)).toBe(2);
    } finally {
      ssh.child.kill();
      other.child.kill();
      await Promise.all([ssh.exit, other.exit]);
    }
    await waitFor(async () => (await agentRecord(a.agentId))?.tunnel.connected === false, 'A to show disconnected');
    expect(await auditOf(a.agentId, 'tunnel.disconnected')).toHaveLength(1);
    const m = await tunnelMetrics();
    expect(m.get('tunnel_sessions_live')).toBe(0);
    expect(m.get('tunnel_sessions_closed_total{reason="disconnected"}')).toBe(2);
    await waitFor(async () => !(await scrape(stack.apiMetricsUrl)).has(`api_tunnel_connected_agents{site_code="${site}"}`), 'the api to count no connected agent');
  });

  it("refuses another port, another address, 0.0.0.0, a neighbour's port and a port the server picks", async () => {
    const outside = await freePort();
    const target = `127.0.0.1:${appliance.port}`;
    for (const spec of [`127.0.0.1:${outside}:${target}`, `127.0.0.1:${portOf(b)}:${target}`, `0.0.0.0:${portOf(a)}:${target}`, `${portOf(a)}:${target}`, `localhost:${portOf(a)}:${target}`, `127.0.0.2:${portOf(a)}:${target}`, `0:${target}`]) {
      const r = reverse(a, spec);
      expect(await r.exit, spec).toBe(255);
      expect(r.output(), spec).toMatch(/remote port forwarding failed/);
    }
    expect(await listening(outside)).toBe(false);
  });

  it('keeps the port across a credentials refresh', async () => {
    const before = portOf(a);
    const run = runAgent(['renew', '--state-dir', a.dir, '--force']);
    expect(await run.exit).toBe(0);
    const creds = JSON.parse(readFileSync(`${a.dir}/credentials.json`, 'utf8')) as { ssh: { remote_forwards: Array<{ listen: string }> } };
    expect(creds.ssh.remote_forwards[0]?.listen).toBe(`127.0.0.1:${before}`);
  });

  it('cuts a live -R session within 10 s of revocation and frees the port', async () => {
    const ssh = reverse(a, `127.0.0.1:${portOf(a)}:127.0.0.1:${appliance.port}`);
    await waitFor(async () => (await echoThrough(portOf(a))).got !== null, 'the reverse forward to carry data');
    // Counted open (the record says so) before it is revoked, so its end is a close, not a refusal.
    await waitFor(async () => (await agentRecord(a.agentId))?.tunnel.connected === true, 'A to show connected');
    expect((await stack.admin('POST', `/api/v1/admin/agents/${a.agentId}/revoke`, { reason: 'test' })).status).toBe(200);
    const started = Date.now();
    const code = await Promise.race([ssh.exit, new Promise<'still up'>((r) => setTimeout(() => r('still up'), 10_000))]);
    expect(code).not.toBe('still up');
    expect(Date.now() - started).toBeLessThan(10_000);
    await waitFor(async () => !(await listening(portOf(a))), 'the listener on its port to go');
    expect((await agentRecord(a.agentId))?.tunnel.remote_port).toBeNull();
    // Counted once the cut has finished (the client may exit before the endpoint has waited out its processes).
    await waitFor(async () => (await tunnelMetrics()).get('tunnel_sessions_closed_total{reason="revoked"}') === 1, 'the cut to be counted');
    // Its key is refused from now on, and counted so.
    const again = reverse(a, `127.0.0.1:${portOf(a)}:127.0.0.1:${appliance.port}`);
    expect(await again.exit).toBe(255);
    expect((await tunnelMetrics()).get('tunnel_sessions_denied_total{reason="inactive_agent"}')).toBeGreaterThanOrEqual(1);
  });

  it('approves without a reverse forward once the range is exhausted; that key may listen nowhere', { timeout: 90_000 }, async () => {
    // A's port is free again: C and D take the two free ports, E finds none.
    const c = await enrollAgent('vma-rev-c');
    const d = await enrollAgent('vma-rev-d');
    const e = await enrollAgent('vma-rev-e');
    expect(new Set([portOf(b), portOf(c), portOf(d)]).size).toBe(3);
    expect(forwardsOf(e)).toEqual([]);
    expect(await auditOf(e.agentId, 'tunnel.remote_ports_exhausted')).toHaveLength(1);
    // Its tunnel still works for -L; every -R is refused, in the range or not.
    for (const spec of [`127.0.0.1:${portOf(c)}:127.0.0.1:${appliance.port}`, `127.0.0.1:${await freePort()}:127.0.0.1:${appliance.port}`, `localhost:1:127.0.0.1:${appliance.port}`]) {
      const r = reverse(e, spec);
      expect(await r.exit, spec).toBe(255);
      expect(r.output(), spec).toMatch(/remote port forwarding failed/);
    }
  });
});

describe('airlock-agent tunnel', () => {
  it('asks for its -L and its -R, reports them in status --json, and reconnects when a forward stops answering', { timeout: 120_000 }, async () => {
    const lp = await freePort();
    const agent = runAgent(['tunnel', '--state-dir', b.dir, '--forward', `${lp}=127.0.0.1:${mgmt.port}`, '--max-backoff', '2', '--keepalive', '5', '--health-interval', '1']);
    try {
      await agent.waitFor(/airlock-agent tunnel: up/);
      // Both directions: the appliance reaches management, management reaches the appliance.
      // Roomier than waitFor's 15 s: on a loaded 2-core CI machine the first login's key lookups (sshd → keys
      // service → api) and the first health checks can take that long; alone it is about a second.
      await waitFor(async () => (await echoThrough(lp)).got !== null, 'the -L forward', 45_000);
      await waitFor(async () => (await echoThrough(portOf(b))).got !== null, 'the -R forward', 45_000);
      const status = async () => {
        const run = runAgent(['status', '--state-dir', b.dir, '--json']);
        expect(await run.exit).toBe(0);
        return JSON.parse(run.stdout()) as { tunnel: { state: string; forwards: { local: string[]; remote: string[] }; health: { ok: boolean | null; failures: number } } };
      };
      const up = await waitFor(async () => {
        const s = await status();
        return s.tunnel.health?.ok === true ? s : null;
      }, 'a passing health check');
      expect(up.tunnel.state).toBe('up');
      expect(up.tunnel.forwards).toEqual({ local: [`127.0.0.1:${lp}:127.0.0.1:${mgmt.port}`], remote: [`127.0.0.1:${portOf(b)} -> 127.0.0.1:${appliance.port}`] });

      // The management service stops answering: three failed checks, then a new connection.
      mgmt.close();
      await agent.waitFor(/did not answer 3 health checks in a row; reconnecting/);
      expect(agent.stderr()).toContain('health check failed (3/3)');
      const downCount = (agent.stderr().match(/airlock-agent tunnel: up/g) ?? []).length;
      await waitFor(() => (agent.stderr().match(/airlock-agent tunnel: up/g) ?? []).length > downCount, 'the agent to reconnect', 60_000);
    } finally {
      agent.child.kill('SIGTERM');
      expect(await agent.exit).toBe(0);
    }
  });
});

describe('airlock-agent enroll starts the tunnel itself', () => {
  /** A stand-in systemctl on PATH (no systemd runs here): answers as told and logs every call. */
  const standIn = (o: { running: string; execStart: (dir: string) => string }) => {
    const dir = mkdtempSync(path.join(tmpdir(), 'airlock-systemctl-'));
    const log = path.join(dir, 'calls.log');
    writeFileSync(
      path.join(dir, 'systemctl'),
      `#!/bin/sh
echo "$*" >> ${log}
case "$1" in
  is-system-running) echo ${o.running}; [ ${o.running} = running ] ;;
  show) echo "${o.execStart('$STATE_DIR')}" ;;
  enable) exit 0 ;;
  *) exit 1 ;;
esac
`,
      { mode: 0o755 },
    );
    return { bin: dir, calls: () => (existsSync(log) ? readFileSync(log, 'utf8').trim().split('\n') : []) };
  };
  const enroll = async (bin: string, client: 'agent' | 'shell' = 'agent') => {
    const dir = mkdtempSync(path.join(tmpdir(), 'airlock-agent-unit-'));
    const start = client === 'agent' ? (args: string[], env: Record<string, string>) => runAgent(['enroll', ...args], env) : runShellClient;
    const run = start(
      ['--server', stack.edgeUrl, '--site', site, '--state-dir', dir, '--pin', pin, '--name', `vma-unit-${randomBytes(3).toString('hex')}`, '--machine-uid', `vm-${randomBytes(6).toString('hex')}`],
      { AIRLOCK_ENROLLMENT_KEY: enrollmentKey, PATH: `${bin}:${process.env.PATH ?? ''}`, STATE_DIR: dir },
    );
    expect(await run.exit).toBe(0);
    return { dir, out: run.stdout() + run.stderr() };
  };

  it.each(['agent', 'shell'] as const)('%s: enables and starts airlock-agent-tunnel.service as root under systemd, when the unit runs this state directory', async (client) => {
    const s = standIn({ running: 'running', execStart: (d) => `{ path=/usr/local/bin/airlock-agent ; argv[]=/usr/local/bin/airlock-agent tunnel --state-dir ${d} ; ignore_errors=no }` });
    const { out } = await enroll(s.bin, client);
    expect(s.calls()).toEqual(['is-system-running', 'show -p ExecStart --value airlock-agent-tunnel.service', 'enable --now airlock-agent-tunnel.service']);
    expect(out).toContain('Tunnel service airlock-agent-tunnel.service enabled and started');
  });

  it('prints the exact command instead when not under systemd, or when the unit serves another state directory', async () => {
    const offline = standIn({ running: 'offline', execStart: () => '' });
    const first = await enroll(offline.bin);
    expect(offline.calls()).toEqual(['is-system-running']);
    expect(first.out).toContain(`Start the tunnel with: airlock-agent tunnel --state-dir ${first.dir}`);
    const elsewhere = standIn({ running: 'running', execStart: () => '{ argv[]=/usr/local/bin/airlock-agent tunnel --state-dir /var/lib/airlock-agent ; }' });
    const second = await enroll(elsewhere.bin);
    expect(elsewhere.calls()).not.toContain('enable --now airlock-agent-tunnel.service');
    expect(second.out).toContain(`airlock-agent-tunnel.service is not installed for ${second.dir}`);
    expect(second.out).toContain(`or start the tunnel with: airlock-agent tunnel --state-dir ${second.dir}`);
  });
});

describe('endpoint metrics', () => {
  it('count sshd restarts', async () => {
    const sshdPid = Number([...tunnel.lines()].reverse().find((l) => l.msg === 'sshd started')?.pid);
    process.kill(sshdPid, 'SIGKILL');
    await waitFor(async () => (await tunnelMetrics()).get('tunnel_sshd_restarts_total') === 1, 'the restart to be counted');
    await waitFor(() => tunnel.lines().filter((l) => l.msg === 'sshd listening').length >= 2, 'sshd to listen again');
  });
});

describe('an endpoint killed hard', () => {
  it('shows its agents disconnected once its lease has run out', { timeout: 90_000 }, async () => {
    const victim = await startTunnel({ apiUrl: stack.apiUrl, token: tunnelToken, port: await freePort(), extraEnv: LEASE });
    extra.push(victim);
    const f = await enrollAgent('vma-rev-kill');
    // The agent's credentials name the main endpoint; plain ssh goes to the victim instead (same api, same keys).
    const hostKey = readFileSync(path.join(victim.dataDir, 'tunnel', 'ssh_host_ed25519_key.pub'), 'utf8').trim().split(' ').slice(0, 2).join(' ');
    const knownHosts = path.join(f.dir, 'victim_known_hosts');
    writeFileSync(knownHosts, `[127.0.0.1]:${victim.port} ${hostKey}\n`);
    const ssh = runSsh({ port: victim.port, key: f.key, knownHosts, args: ['-N', '127.0.0.1'] });
    const sshdPid = Number(victim.lines().find((l) => l.msg === 'sshd started')?.pid);
    try {
      await waitFor(async () => (await agentRecord(f.agentId))?.tunnel.connected === true, 'the agent to show connected');
      const tsxPid = victim.proc.child.pid ?? 0;
      for (const pid of readFileSync(`/proc/${tsxPid}/task/${tsxPid}/children`, 'utf8').trim().split(/\s+/).map(Number)) process.kill(pid, 'SIGKILL');
      await victim.proc.stop('SIGKILL');
      // The lease is 5 s here, the api's reaper runs every 5 s: disconnected well within 30 s.
      await waitFor(async () => (await agentRecord(f.agentId))?.tunnel.connected === false, 'the agent to show disconnected', 30_000);
      const rows = await auditOf(f.agentId, 'tunnel.disconnected');
      expect(rows[0]?.details.endpoint).toBe('lease_expired');
    } finally {
      ssh.child.kill();
      await ssh.exit;
      // The killed endpoint's sshd outlived it (as after an OOM kill); a new start would end it, this test does.
      try {
        process.kill(sshdPid, 'SIGTERM');
      } catch {
        // already gone
      }
    }
  });
});
