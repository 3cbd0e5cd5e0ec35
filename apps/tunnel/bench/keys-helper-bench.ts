/**
 * The keys helper's cost per call (issue 18, finding 8), side by side in one
 * run: the Perl client of the keys service that the tunnel installs now,
 * and the Node helper it replaced (a frozen copy, previous-helper.cjs, which
 * asked the api itself over HTTP). Each runs as sshd runs it: as the keys
 * account, empty environment, the same four arguments. Peers answer at once
 * (a Unix socket for Perl, a loopback HTTP stand-in for Node), so what is
 * measured is the helper process alone.
 *
 * GNU time measures a batch of calls under one `sh` loop: CPU (user + sys,
 * children included) and wall divided by the batch, and the largest max RSS
 * of any one call. Batches alternate, several rounds, medians reported.
 */
import { execFile } from 'node:child_process';
import { chmodSync, chownSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import * as http from 'node:http';
import * as net from 'node:net';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { checkAccounts, installKeysHelper } from '../src/install.ts';
import { keyLine } from '../src/keys-service.ts';

const run = promisify(execFile);
const PREVIOUS = fileURLToPath(new URL('./previous-helper.cjs', import.meta.url));
const KEY = 'AAAAC3NzaC1lZDI1NTE5AAAAIOXh07AQsQFRTln033avixUw4184I0GIiLTdsfdLtth2';
const FINGERPRINT = 'SHA256:4pPAmE1WHjODMFiO0/vBIU3IWyzn7IH+p0iKzXGzkKI';
const AGENT = '11111111-1111-4111-8111-111111111111';
const PERMIT = ['127.0.0.1:10809'];
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? 0;

export interface HelperCost {
  cpu_ms: number;
  wall_ms: number;
  max_rss_mb: number;
}
export interface KeysHelperBench {
  calls_per_batch: { perl: number; node: number };
  rounds: number;
  perl: HelperCost;
  node_previous: HelperCost;
  ratio: { cpu: number; rss: number; wall: number };
}

/** One batch: `calls` runs of `command` as the keys user, under GNU time. */
const batch = async (keysUser: string, command: string, calls: number): Promise<HelperCost> => {
  const loop = `i=0; while [ $i -lt ${calls} ]; do ${command} >/dev/null || exit 1; i=$((i+1)); done`;
  const { stderr } = await run('runuser', ['-u', keysUser, '--', '/usr/bin/time', '-f', 'TIME %e %U %S %M', 'env', '-i', 'PATH=/usr/bin:/bin', 'sh', '-c', loop], {
    timeout: 600_000,
  });
  const m = /TIME ([\d.]+) ([\d.]+) ([\d.]+) (\d+)/.exec(stderr);
  if (!m) throw new Error(`no timing in: ${stderr}`);
  const [wall, user, sys, rssKb] = [Number(m[1]), Number(m[2]), Number(m[3]), Number(m[4])];
  return { cpu_ms: ((user + sys) * 1000) / calls, wall_ms: (wall * 1000) / calls, max_rss_mb: rssKb / 1024 };
};

export const runKeysHelperBench = async (opts: { outFile?: string; rounds?: number; perlCalls?: number; nodeCalls?: number } = {}): Promise<KeysHelperBench> => {
  const rounds = opts.rounds ?? 3;
  const perlCalls = opts.perlCalls ?? 100;
  const nodeCalls = opts.nodeCalls ?? 10;
  const keysUser = 'airlock-keys';
  const accounts = await checkAccounts({ user: 'airlock', keysUser });
  const base = path.join('/run', `airlock-bench-${randomBytes(4).toString('hex')}`);
  mkdirSync(base, { mode: 0o755 });
  const servers: Array<{ close(): void }> = [];
  try {
    // Now: the Perl helper and a keys-service stand-in answering one line for the offered key.
    const perl = await installKeysHelper({ helperDir: path.join(base, 'helper') });
    const sockDir = path.join(base, 'sock');
    mkdirSync(sockDir, { mode: 0o750 });
    chownSync(sockDir, 0, accounts.keys.gid);
    const socket = path.join(sockDir, 'keys.sock');
    const answer = `ok 1\n${keyLine(PERMIT, KEY, AGENT, 20417)}\n`;
    const unix = net.createServer({ allowHalfOpen: true }, (s) => {
      s.on('data', (d: Buffer) => d.includes(10) && s.end(answer));
      s.on('error', () => {});
    });
    await new Promise<void>((r) => unix.listen(socket, r));
    servers.push(unix);
    chownSync(socket, 0, accounts.keys.gid);
    chmodSync(socket, 0o660);

    // Before: the previous Node helper, installed as it was (Node's path on line 1, a JSON config beside it), and an api stand-in.
    const body = JSON.stringify({ keys: [{ agent_id: AGENT, site_code: 'BENCH', public_key: `ssh-ed25519 ${KEY}` }], permit_open: PERMIT });
    const api = http.createServer((req, res) => {
      req.resume();
      req.on('end', () => res.writeHead(200, { 'content-type': 'application/json' }).end(body));
    });
    const apiPort = await new Promise<number>((r) => api.listen(0, '127.0.0.1', () => r((api.address() as net.AddressInfo).port)));
    servers.push(api);
    const nodeDir = path.join(base, 'node');
    mkdirSync(nodeDir, { mode: 0o755 });
    const node = path.join(nodeDir, 'airlock-keys.cjs');
    writeFileSync(node, `#!${process.execPath}\n${readFileSync(PREVIOUS, 'utf8')}`, { mode: 0o755 });
    writeFileSync(path.join(nodeDir, 'airlock-keys.json'), JSON.stringify({ api_url: `http://127.0.0.1:${apiPort}`, token: `aop_${'b'.repeat(43)}`, user: 'airlock', timeout_ms: 5000 }));
    chmodSync(path.join(nodeDir, 'airlock-keys.json'), 0o644);

    // Both must print the one key line, or the bench measures a failure.
    const perlCmd = `${perl} ${socket} 5 airlock ${FINGERPRINT} ssh-ed25519 ${KEY}`;
    const nodeCmd = `${node} airlock ${FINGERPRINT} ssh-ed25519 ${KEY}`;
    for (const cmd of [perlCmd, nodeCmd]) {
      const { stdout } = await run('runuser', ['-u', keysUser, '--', 'env', '-i', 'PATH=/usr/bin:/bin', 'sh', '-c', cmd]);
      if (stdout !== `${keyLine(PERMIT, KEY, AGENT, 20417)}\n`) throw new Error(`helper answered ${JSON.stringify(stdout)}`);
    }

    const perlRuns: HelperCost[] = [];
    const nodeRuns: HelperCost[] = [];
    for (let i = 0; i < rounds; i++) {
      perlRuns.push(await batch(keysUser, perlCmd, perlCalls));
      nodeRuns.push(await batch(keysUser, nodeCmd, nodeCalls));
    }
    const pick = (runs: HelperCost[]): HelperCost => ({
      cpu_ms: median(runs.map((r) => r.cpu_ms)),
      wall_ms: median(runs.map((r) => r.wall_ms)),
      max_rss_mb: median(runs.map((r) => r.max_rss_mb)),
    });
    const p = pick(perlRuns);
    const n = pick(nodeRuns);
    const result: KeysHelperBench = {
      calls_per_batch: { perl: perlCalls, node: nodeCalls },
      rounds,
      perl: p,
      node_previous: n,
      ratio: { cpu: n.cpu_ms / p.cpu_ms, rss: n.max_rss_mb / p.max_rss_mb, wall: n.wall_ms / p.wall_ms },
    };
    if (opts.outFile) writeFileSync(opts.outFile, JSON.stringify({ ...result, at: new Date().toISOString() }, null, 2));
    return result;
  } finally {
    for (const s of servers) s.close();
    rmSync(base, { recursive: true, force: true });
  }
};

export const printKeysHelperBench = (r: KeysHelperBench): void => {
  const row = (name: string, c: HelperCost) =>
    `  ${name.padEnd(26)} CPU ${c.cpu_ms.toFixed(1).padStart(6)} ms   max RSS ${c.max_rss_mb.toFixed(1).padStart(5)} MB   wall ${c.wall_ms.toFixed(1).padStart(6)} ms\n`;
  process.stdout.write(row('Perl client (now)', r.perl));
  process.stdout.write(row('Node helper (before)', r.node_previous));
  process.stdout.write(`  ratio before/now           CPU ${r.ratio.cpu.toFixed(0)}x, RSS ${r.ratio.rss.toFixed(0)}x, wall ${r.ratio.wall.toFixed(0)}x\n`);
};
