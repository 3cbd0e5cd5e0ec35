/**
 * Issue 21: time from `ssh` start to forward ready, through the edge's
 * port-443 demux versus straight to the endpoint's sshd. One real stack (api,
 * edge with TLS and the SSH demux, the tunnel endpoint supervising sshd, an
 * echo server as the permitted destination), one agent enrolled with
 * airlock-agent; then `ssh -N -o ExitOnForwardFailure=yes -L` is started N
 * times each way, interleaved (which goes first alternates), and timed from
 * spawn until a few bytes round-trip through the forward. Reported, not
 * asserted. Needs root and the tunnel's accounts, as test/tunnel does.
 *
 * It lives in the root package because it drives the same helpers as the
 * tunnel tests (test/helpers/stack.ts, test/tunnel/support.ts), which build
 * on app entries a package may not import.
 */
import { writeFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { freePort, REDIS_URL } from '@airlock/testing';
import { startStack, type Stack } from '../test/helpers/stack.ts';
import { createSite, opensslPin, removeTempDirs, rotateEnrollmentKey } from '../test/agent/support.ts';
import {
  cleanupTunnelDirs,
  createTunnelOperator,
  echoThrough,
  enrollTunnelAgent,
  ensureAccounts,
  runSsh,
  startEcho,
  startTunnel,
  type Enrolled,
  type TunnelEndpoint,
} from '../test/tunnel/support.ts';

const percentile = (sorted: number[], p: number) => sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? 0;

interface Way {
  p50_ms: number;
  p99_ms: number;
  min_ms: number;
  max_ms: number;
}
export interface ForwardReadyBench {
  runs: number;
  demux: Way;
  direct: Way;
  /** demux ÷ direct. */
  ratio: { p50: number; p99: number };
  load_average: number[];
  at: string;
}

const summary = (samples: number[]): Way => {
  const s = [...samples].sort((a, b) => a - b);
  return { p50_ms: percentile(s, 50), p99_ms: percentile(s, 99), min_ms: s[0] ?? 0, max_ms: s[s.length - 1] ?? 0 };
};

/** Spawn `ssh -N -L` against `port`; milliseconds until a round trip through the forward comes back intact. */
const forwardReady = async (way: string, port: number, knownHosts: string, agent: Enrolled, echoPort: number): Promise<number> => {
  const local = await freePort();
  const started = performance.now();
  const ssh = runSsh({ port, key: agent.key, knownHosts, args: ['-N', '-o', 'ExitOnForwardFailure=yes', '-L', `127.0.0.1:${local}:127.0.0.1:${echoPort}`, '127.0.0.1'] });
  try {
    for (;;) {
      if (ssh.child.exitCode !== null) throw new Error(`${way}: ssh exited ${ssh.child.exitCode} before the forward was ready:\n${ssh.output()}`);
      if (performance.now() - started > 30_000) throw new Error(`${way}: no forward within 30 s:\n${ssh.output()}`);
      // Refused at once until ssh listens; then the echo answers only once the channel is open at sshd.
      const e = await echoThrough(local);
      if (e.got === e.sent) return performance.now() - started;
      await new Promise((r) => setTimeout(r, 2));
    }
  } finally {
    ssh.child.kill();
    await ssh.exit;
  }
};

export const runForwardReadyBench = async (opts: { runs?: number; outFile?: string } = {}): Promise<ForwardReadyBench> => {
  const runs = opts.runs ?? 30;
  ensureAccounts();
  const echo = await startEcho();
  const edgePort = await freePort();
  const tunnelPort = await freePort();
  let stack: Stack | undefined;
  let tunnel: TunnelEndpoint | undefined;
  try {
    stack = await startStack({
      tls: true,
      edgePort,
      apiEnv: { AIRLOCK_SSH_ENDPOINT: `127.0.0.1:${edgePort}`, AIRLOCK_SSH_PERMIT_OPEN: `127.0.0.1:${echo.port}` },
      // Every run comes from 127.0.0.1: the per-IP SSH rate limit (30 a minute by default) would refuse most.
      edgeEnv: { EDGE_SSH_UPSTREAM: `127.0.0.1:${tunnelPort}`, EDGE_LIMIT_SSH_PER_MIN: '1000000' },
    });
    tunnel = await startTunnel({ apiUrl: stack.apiUrl, token: await createTunnelOperator(stack.admin), port: tunnelPort, redisUrl: REDIS_URL, redisPrefix: stack.redisPrefix });
    const site = await createSite(stack, 'auto');
    const agent = await enrollTunnelAgent({ edgeUrl: stack.edgeUrl, site, enrollmentKey: await rotateEnrollmentKey(stack, site), pin: opensslPin(stack.certSha256 ?? '') }, 'vm-bench');
    // The issued known_hosts names the edge's port; straight to sshd, the same host key under its own port.
    const directHosts = `${agent.knownHosts}.direct`;
    writeFileSync(directHosts, agent.credentials.ssh.known_hosts.replaceAll(`[127.0.0.1]:${edgePort} `, `[127.0.0.1]:${tunnelPort} `));
    const ways = { demux: () => forwardReady('demux', edgePort, agent.knownHosts, agent, echo.port), direct: () => forwardReady('direct', tunnelPort, directHosts, agent, echo.port) };
    // One untimed round each way: first-use costs (page cache, the api's pools) are not the path's.
    await ways.demux();
    await ways.direct();
    const samples = { demux: [] as number[], direct: [] as number[] };
    for (let i = 0; i < runs; i++) {
      const order = i % 2 === 0 ? (['demux', 'direct'] as const) : (['direct', 'demux'] as const);
      for (const w of order) samples[w].push(await ways[w]());
    }
    const demux = summary(samples.demux);
    const direct = summary(samples.direct);
    const result: ForwardReadyBench = {
      runs,
      demux,
      direct,
      ratio: { p50: demux.p50_ms / direct.p50_ms, p99: demux.p99_ms / direct.p99_ms },
      load_average: loadavg().map((x) => Math.round(x * 100) / 100),
      at: new Date().toISOString(),
    };
    if (opts.outFile) writeFileSync(opts.outFile, JSON.stringify(result, null, 2));
    return result;
  } finally {
    await tunnel?.stop();
    if (tunnel) cleanupTunnelDirs(tunnel);
    await stack?.stop();
    echo.close();
    await removeTempDirs();
  }
};

export const printForwardReadyBench = (r: ForwardReadyBench): void => {
  const line = (name: string, w: Way) =>
    `  ${name.padEnd(22)} p50 ${w.p50_ms.toFixed(1)} ms, p99 ${w.p99_ms.toFixed(1)} ms (min ${w.min_ms.toFixed(1)}, max ${w.max_ms.toFixed(1)})\n`;
  process.stdout.write(line('through the edge demux', r.demux));
  process.stdout.write(line('straight to sshd', r.direct));
  process.stdout.write(
    `  demux ÷ direct: p50 ${r.ratio.p50.toFixed(2)}x, p99 ${r.ratio.p99.toFixed(2)}x (${r.runs} runs each way, load average ${r.load_average.join(' ')})\n`,
  );
};
