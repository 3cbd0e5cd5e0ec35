/**
 * `airlock-agent setup` driven through a real pseudo-terminal (util-linux
 * `script`), as a person at an appliance's console: a typo is refused as it
 * is typed, a mistyped pairing code refused by the server is asked for
 * again, and the machine ends up enrolled. Every wait is on the output.
 */
import { spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { REPO_ROOT, TSX } from '@airlock/testing';
import { startStack, type Stack } from '../helpers/stack.ts';
import { createPairingCode, createSite } from '../agent/support.ts';
import { standIn } from './support.ts';

let stack: Stack;
let work: string;

beforeAll(async () => {
  work = await mkdtemp(path.join(tmpdir(), 'airlock-setup-'));
  stack = await startStack({ tls: true });
}, 180_000);
afterAll(async () => {
  await stack?.stop();
  await rm(work, { recursive: true, force: true });
});

/** The wizard on a pty (a console's size: with none, every character wraps); `expect` waits for a pattern in what the terminal shows since the last match, then types. */
const console_ = (args: string, env: Record<string, string>) => {
  const child = spawn('script', ['-q', '-e', '-c', `stty cols 120 rows 40; ${TSX} apps/agent/src/main.ts ${args}`, '/dev/null'], {
    cwd: REPO_ROOT,
    env: { ...process.env, TERM: 'xterm-256color', NO_COLOR: '1', HTTPS_PROXY: '', https_proxy: '', ...env },
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  let screen = '';
  let seen = 0;
  const waiters = new Set<() => void>();
  child.stdout.on('data', (d: Buffer) => {
    screen += d.toString();
    waiters.forEach((w) => w());
  });
  const exit = new Promise<number | null>((resolve) => child.once('close', (code) => resolve(code)));
  // Cursor movement and colour codes between the words: matched against the plain text.
  const plain = () => screen.replace(/\x1b\[[0-9;?]*[A-Za-z]/g, '');
  return {
    exit,
    screen: plain,
    expect: (pattern: RegExp) =>
      new Promise<void>((resolve, reject) => {
        const check = () => {
          const m = pattern.exec(plain().slice(seen));
          if (!m) return;
          waiters.delete(check);
          // Past this match: the next expect looks at what comes after it.
          seen += m.index + m[0].length;
          resolve();
        };
        waiters.add(check);
        check();
        void exit.then(() => {
          if (waiters.delete(check)) reject(new Error(`exited before ${pattern}:\n${plain().slice(seen)}`));
        });
      }),
    type: (text: string) => child.stdin.write(text),
  };
};

describe('airlock-agent setup on a terminal', { timeout: 300_000 }, () => {
  it('validates as it goes, asks again after a mistyped code, and enrolls', async () => {
    const site = await createSite(stack);
    const good = (await stack.admin('POST', '/api/v1/admin/pairing-codes', { site_code: site, auto_approve: true })).body.code as string;
    // Issued for this site but never given out: well-formed, so only the server can refuse it.
    const other = await createPairingCode(stack, await createSite(stack));
    const otherCode = other.code;
    const log = path.join(work, 'systemctl.log');
    const bin = await standIn(work, 'systemctl', log, { 'is-system-running': 'offline' });
    const state = path.join(work, 'state');
    const t = console_(`setup --state-dir ${state}`, { PATH: `${bin}:${process.env.PATH ?? ''}` });

    await t.expect(/Airlock server address/);
    t.type('http://nope\r');
    await t.expect(/Type https:\/\/HOST/);
    t.type('\x7f'.repeat(11) + `${stack.edgeUrl}\r`);
    await t.expect(/How does this machine trust the server\?/);
    t.type('\r');
    await t.expect(/Server certificate pin/);
    t.type(`sha256:${stack.certSha256}\r`);
    await t.expect(/How do you enroll\?/);
    t.type('\r');
    await t.expect(/Site code/);
    t.type(`${site}\r`);
    await t.expect(/Pairing code/);
    t.type('AX7K-PJ3F\r');
    await t.expect(/the pairing code/);
    t.type('\x7f'.repeat(9) + `${otherCode}\r`);
    await t.expect(/Start the tunnel once enrolled\?/);
    t.type('\r');
    await t.expect(/refused that pairing code/);
    await t.expect(/Pairing code/);
    t.type(`${good}\r`);
    await t.expect(/Enrolled\. State:/);
    expect(await t.exit).toBe(0);
    expect(t.screen()).toMatch(/systemd is not running here; start the tunnel with: airlock-agent tunnel --state-dir/);
    const agents = await stack.admin('GET', '/api/v1/admin/agents');
    expect(agents.status).toBe(200);
    expect((agents.body.items as { site_code: string }[]).filter((a) => a.site_code === site)).toHaveLength(1);
  });

  it('refuses to run without a terminal', async () => {
    const child = spawn(TSX, ['apps/agent/src/main.ts', 'setup'], { cwd: REPO_ROOT, stdio: ['pipe', 'pipe', 'pipe'] });
    let err = '';
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    const code = await new Promise<number | null>((resolve) => child.once('close', resolve));
    expect(code).toBe(2);
    expect(err).toMatch(/needs a terminal/);
  });
});
