import * as fs from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { runCli } from '../cli.ts';
import { statePaths, type StatePaths } from '../state.ts';

let paths: StatePaths;
beforeEach(async () => {
  paths = statePaths(await fs.mkdtemp(path.join(os.tmpdir(), 'airlock-status-')));
  await fs.chmod(paths.dir, 0o700);
});
afterEach(async () => {
  await fs.rm(paths.dir, { recursive: true, force: true });
});

const status = async (...extra: string[]) => {
  let out = '';
  let err = '';
  const code = await runCli(['status', '--state-dir', paths.dir, ...extra], {
    out: { write: (t: string) => (out += t) },
    err: { write: (t: string) => (err += t) },
    env: {},
    signal: new AbortController().signal,
  });
  return { code, out, err };
};

describe('airlock-agent status: the tunnel', () => {
  it('is "not running" without a tunnel-state.json, in text and in clean JSON', async () => {
    expect((await status()).out).toMatch(/Tunnel: +not running/);
    const json = await status('--json');
    expect(json.code).toBe(10);
    expect(JSON.parse(json.out)).toMatchObject({ enrolled: false, tunnel: { state: 'not running', pid: null } });
    expect(json.out.trim().split('\n')).toHaveLength(1);
    expect(json.err).toBe('');
  });

  it('shows the state the tunnel command wrote, with its control characters removed', async () => {
    await fs.writeFile(
      paths.tunnelState,
      JSON.stringify({ state: 'up', since: '2026-11-29T10:00:00Z', detail: 'connected to oma\u001b[2K\u001b]0;x\u0007 ok', pid: process.pid }),
    );
    const text = await status();
    expect(text.out).toContain(`Tunnel:       up since 2026-11-29T10:00:00Z (pid ${process.pid}): connected to oma ok`);
    expect(text.out).not.toContain('\u001b');
    expect(JSON.parse((await status('--json')).out).tunnel).toEqual({ state: 'up', since: '2026-11-29T10:00:00Z', detail: 'connected to oma ok', pid: process.pid });
  });

  it('says "not running" when the process that wrote "up" is gone, and refuses a malformed file', async () => {
    await fs.writeFile(paths.tunnelState, JSON.stringify({ state: 'up', since: '2026-11-29T10:00:00Z', detail: null, pid: 2 ** 22 + 1 }));
    expect(JSON.parse((await status('--json')).out).tunnel).toMatchObject({ state: 'not running', detail: `last state up; process ${2 ** 22 + 1} is gone` });
    await fs.writeFile(paths.tunnelState, JSON.stringify({ state: 'up\u001b[31m', since: 'yesterday' }));
    expect(JSON.parse((await status('--json')).out).tunnel).toMatchObject({ state: 'not running', detail: expect.stringMatching(/not in the expected format/) });
  });
});
