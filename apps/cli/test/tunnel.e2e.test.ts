/**
 * The CLI's tunnel commands (issue 18, finding 6), as a child process
 * against a real api: make the endpoint's `tunnel` operator, list its host
 * keys, retire one.
 */
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestApi, type TestApi } from '@airlock/api/testing';
import { REPO_ROOT, TSX } from '@airlock/testing';

const MAIN = path.join(REPO_ROOT, 'apps/cli/src/main.ts');
const HOST_KEY = 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOXh07AQsQFRTln033avixUw4184I0GIiLTdsfdLtth2';
const FINGERPRINT = `SHA256:${createHash('sha256').update(Buffer.from(HOST_KEY.split(' ')[1] ?? '', 'base64')).digest('base64').replace(/=+$/, '')}`;

let t: TestApi;
const airlock = (args: readonly string[], token = t.adminToken): Promise<{ code: number; stdout: string; stderr: string }> =>
  new Promise((resolve) => {
    execFile(
      TSX,
      [MAIN, ...args],
      { cwd: REPO_ROOT, env: { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: '/tmp', AIRLOCK_API_URL: t.api.url, AIRLOCK_TOKEN: token }, timeout: 60_000 },
      (err, stdout, stderr) => resolve({ code: err ? (typeof err.code === 'number' ? err.code : -1) : 0, stdout, stderr }),
    );
  });

beforeAll(async () => {
  t = await startTestApi();
});
afterAll(async () => t.close());

describe('airlock tunnel commands', { timeout: 120_000 }, () => {
  it('creates a tunnel operator whose token reaches the tunnel routes only', async () => {
    const r = await airlock(['operators', 'create', '--name', 'tunnel', '--role', 'tunnel']);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^created tunnel operator tunnel \(id [0-9a-f-]{36}\) through the api/);
    const token = r.stdout.trimEnd().split('\n').at(-1) ?? '';
    const post = (p: string, body: unknown) =>
      fetch(`${t.api.url}${p}`, { method: 'POST', headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' }, body: JSON.stringify(body) });
    expect((await post('/api/v1/internal/tunnel/host-keys', { keys: [HOST_KEY] })).status).toBe(204);
    expect((await post('/api/v1/internal/agent-keys/verify', { agent_key: `cak_${'A'.repeat(43)}` })).status).toBe(403);
    // And it cannot drive the CLI's admin commands.
    const denied = await airlock(['tunnel', 'host-keys'], token);
    expect(denied.code).toBe(1);
    expect(denied.stderr).toContain('forbidden');
  });

  it('lists host keys and retires one by fingerprint', async () => {
    const list = await airlock(['tunnel', 'host-keys']);
    expect(list.code).toBe(0);
    expect(list.stdout).toContain(FINGERPRINT);
    expect(list.stdout).toMatch(/^FINGERPRINT +TYPE +REGISTERED BY +REGISTERED +LAST SEEN +RETIRED\n/);
    expect(list.stdout.split('\n').find((l) => l.startsWith(FINGERPRINT))).toMatch(/ ssh-ed25519 +tunnel .* -$/);
    const retired = await airlock(['tunnel', 'retire-host-key', FINGERPRINT]);
    expect(retired.code).toBe(0);
    expect(retired.stdout).toBe(`retired host key ${FINGERPRINT}; agents drop it from known_hosts at their next credentials answer\n`);
    const json = JSON.parse((await airlock(['tunnel', 'host-keys', '--json'])).stdout) as { items: Array<{ fingerprint: string; retired_by: string | null }> };
    expect(json.items.find((k) => k.fingerprint === FINGERPRINT)?.retired_by).toBe('alice');
    const again = await airlock(['tunnel', 'retire-host-key', FINGERPRINT]);
    expect(again.code).toBe(1);
    expect(again.stderr).toContain('invalid_state');
    const bad = await airlock(['tunnel', 'retire-host-key', 'SHA256:$(reboot)']);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('FINGERPRINT must be SHA256:');
  });
});
