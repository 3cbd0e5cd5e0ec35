/**
 * The real CLI, as a child process, against a real api on a fresh Postgres
 * database: bootstrap through the database, then every admin step through
 * HTTP with AIRLOCK_TOKEN, as an operator would run it.
 */
import { execFile } from 'node:child_process';
import { createHash, randomBytes, sign, type KeyObject } from 'node:crypto';
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import postgres from 'postgres';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadApiConfig, startApi, type RunningApi } from '@airlock/api/testing';
import { nodeEd25519KeyPair } from '@airlock/crypto/test-support';
import { REDIS_URL, REPO_ROOT, TSX } from '@airlock/testing';

const MAIN = path.join(REPO_ROOT, 'apps/cli/src/main.ts');
const ADMIN_URL = 'postgres://postgres@127.0.0.1:5432/postgres';
const PAIRING_CODE = /^[0-9A-HJKMNP-TV-Z]{4}-[0-9A-HJKMNP-TV-Z]{4}-[0-9A-HJKMNP-TV-Z]{4}$/;

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs `airlock ARGS` with only the environment given (plus PATH), never the test's own. */
const airlock = (args: readonly string[], env: Record<string, string> = {}): Promise<Run> =>
  new Promise((resolve) => {
    execFile(
      TSX,
      [MAIN, ...args],
      { cwd: REPO_ROOT, env: { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: process.env.HOME ?? '/tmp', ...env }, timeout: 60_000 },
      (err, stdout, stderr) => {
        const code = err ? (typeof err.code === 'number' ? err.code : -1) : 0;
        resolve({ code, stdout, stderr });
      },
    );
  });

/** redis-cli, to plant a lockout the way the edge writes one. */
const redisCli = (args: readonly string[]): Promise<string> =>
  new Promise((resolve, reject) => {
    execFile('redis-cli', ['-u', REDIS_URL, ...args], { timeout: 10_000 }, (err, stdout) => (err ? reject(err) : resolve(stdout.trim())));
  });

const lastLine = (text: string): string => text.trimEnd().split('\n').at(-1) ?? '';

/** An Ed25519 key in OpenSSH one-line form, and its `ssh-keygen -lf` fingerprint. */
const sshKey = (): { privateKey: KeyObject; publicLine: string; fingerprint: string } => {
  const { privateKey, raw } = nodeEd25519KeyPair();
  const str = (b: Buffer) => Buffer.concat([Buffer.from([0, 0, 0, b.length]), b]);
  const blob = Buffer.concat([str(Buffer.from('ssh-ed25519')), str(raw)]);
  const fingerprint = `SHA256:${createHash('sha256').update(blob).digest('base64').replace(/=+$/, '')}`;
  return { privateKey, publicLine: `ssh-ed25519 ${blob.toString('base64')} vma-01`, fingerprint };
};

// Each step starts a fresh tsx process (a second or two each on a loaded machine).
describe('airlock CLI against a real api', { timeout: 120_000 }, () => {
  const dbName = `airlock_cli_${randomBytes(6).toString('hex')}`;
  const databaseUrl = `postgres://postgres@127.0.0.1:5432/${dbName}`;
  const admin = postgres(ADMIN_URL, { max: 1, onnotice: () => {} });
  const dataDir = mkdtempSync(path.join(tmpdir(), 'airlock-cli-e2e-'));
  // A prefix of our own, so lockouts of other tests sharing this Redis never show up here.
  const redisPrefix = `airlock:clitest${randomBytes(4).toString('hex')}:`;
  let api: RunningApi | undefined;
  let apiEnv: Record<string, string> = {};
  // Secrets the CLI printed once; nothing else it prints may contain them.
  const secrets: string[] = [];
  let codeId = '';
  let pairingCode = '';
  let enrollmentId = '';
  let agentFingerprint = '';

  beforeAll(async () => {
    await admin.unsafe(`create database "${dbName}"`);
  });

  afterAll(async () => {
    await api?.close();
    await admin.unsafe(`drop database if exists "${dbName}" with (force)`);
    await admin.end();
    rmSync(dataDir, { recursive: true, force: true });
  });

  const run = async (args: readonly string[], extra: Record<string, string> = {}): Promise<Run> => {
    const r = await airlock(args, { ...apiEnv, ...extra });
    if (!args.includes('--json')) {
      for (const s of secrets) {
        // The one-time outputs are checked where they are made; everywhere else a secret is a leak.
        expect(r.stdout + r.stderr).not.toContain(s);
      }
    }
    return r;
  };

  it('migrates a fresh database, and does nothing the second time', async () => {
    const first = await run(['migrate'], { DATABASE_URL: databaseUrl });
    expect(first.stderr).toBe('');
    expect(first.code).toBe(0);
    expect(first.stdout).toMatch(new RegExp(`^postgres://postgres@127\\.0\\.0\\.1:5432/${dbName}: applied \\d+ migrations? \\(\\d+ of \\d+ now applied\\)\\n$`));
    const again = await run(['migrate'], { DATABASE_URL: databaseUrl });
    expect(again.code).toBe(0);
    expect(again.stdout).toContain('already up to date');
  });

  it('refuses to migrate without DATABASE_URL, because the embedded database is the api process’s', async () => {
    const r = await run(['migrate'], { AIRLOCK_DATA_DIR: dataDir });
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('DATABASE_URL is not set');
    expect(r.stderr).toContain('migrates it at startup');
  });

  it('creates the first admin in the database and prints its token alone on the last line', async () => {
    const r = await run(['operators', 'create', '--name', 'root', '--role', 'admin'], { DATABASE_URL: databaseUrl });
    expect(r.code).toBe(0);
    const lines = r.stdout.trimEnd().split('\n');
    expect(lines).toHaveLength(2);
    expect(lines[0]).toMatch(/^created admin operator root \(id [0-9a-f-]{36}\) in the database; its token is shown only now:$/);
    const token = lastLine(r.stdout);
    expect(token).toMatch(/^aop_[A-Za-z0-9_-]{43}$/);
    secrets.push(token);

    api = await startApi(
      loadApiConfig({
        DATABASE_URL: databaseUrl,
        AIRLOCK_SECRET: 'x'.repeat(32),
        API_PORT: '0',
        AIRLOCK_DATA_DIR: dataDir,
        AIRLOCK_LOG_LEVEL: 'error',
        REDIS_URL: REDIS_URL,
        EDGE_REDIS_PREFIX: redisPrefix,
      }),
    );
    apiEnv = { AIRLOCK_API_URL: api.url, AIRLOCK_TOKEN: token, AIRLOCK_DATA_DIR: dataDir };
  });

  it('refuses a second operator with the same name, exit 1 with the domain message', async () => {
    const r = await run(['operators', 'create', '--name', 'root', '--role', 'auditor'], { DATABASE_URL: databaseUrl });
    expect(r.code).toBe(1);
    expect(r.stderr).toBe('error: conflict: Operator root already exists\n');
    expect(r.stdout).toBe('');
  });

  it('disables an operator through the api, after which its token is refused', async () => {
    const created = await run(['operators', 'create', '--name', 'temp', '--role', 'auditor']);
    expect(created.code).toBe(0);
    const tempToken = lastLine(created.stdout);
    secrets.push(tempToken);
    const r = await run(['operators', 'disable', 'temp']);
    expect(r.code).toBe(0);
    expect(r.stdout).toBe('disabled operator temp; its tokens no longer work\n');
    const refused = await run(['sites', 'list'], { AIRLOCK_TOKEN: tempToken });
    expect(refused.code).toBe(1);
    expect(refused.stderr).toContain('unauthorized');
  });

  it('creates a site and lists it in a table', async () => {
    const created = await run(['sites', 'create', '--code', 'acme-phx', '--name', 'Acme Phoenix', '--policy', 'manual']);
    expect(created).toEqual({ code: 0, stdout: 'created site ACME-PHX (Acme Phoenix) in tenant default, policy manual, enroll from any source\n', stderr: '' });
    const list = await run(['sites', 'list']);
    expect(list.code).toBe(0);
    const [header, row, ...rest] = list.stdout.trimEnd().split('\n');
    expect(header).toMatch(/^SITE\s+TENANT\s+NAME\s+POLICY\s+SOURCES\s+CREATED\s+BY$/);
    expect(row).toMatch(/^ACME-PHX\s+default\s+Acme Phoenix\s+manual\s+any source\s+\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ \((just now|\d+s ago)\)\s+root$/);
    expect(rest).toEqual([]);
  });

  it('makes a pairing code, shown once as XXXX-XXXX-XXXX with its expiry', async () => {
    const r = await run(['codes', 'create', '--site', 'acme-phx', '--ttl', '900', '--note', 'rack 4']);
    expect(r.code).toBe(0);
    pairingCode = lastLine(r.stdout);
    expect(pairingCode).toMatch(PAIRING_CODE);
    expect(r.stdout).toMatch(/^pairing code for ACME-PHX \(id [0-9a-f-]{36}\), single use\n/);
    expect(r.stdout).toMatch(/\nexpires: \d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ \(in 1[45]m\)\n/);
    expect(r.stdout).toContain('shown only now');
    codeId = /\(id ([0-9a-f-]{36})\)/.exec(r.stdout)?.[1] ?? '';
    secrets.push(pairingCode, pairingCode.replaceAll('-', ''));
  });

  it('lists pairing codes without the code itself', async () => {
    const r = await run(['codes', 'list', '--status', 'active']);
    expect(r.code).toBe(0);
    const [header, row] = r.stdout.trimEnd().split('\n');
    expect(header).toMatch(/^ID\s+SITE\s+STATUS\s+EXPIRES\s+AUTO\s+BY\s+NOTE$/);
    expect(row).toMatch(new RegExp(`^${codeId}\\s+ACME-PHX\\s+active\\s+\\S+ \\(in 1[45]m\\)\\s+no\\s+root\\s+rack 4$`));
    // run() has already checked that neither form of the code appears.
    const none = await run(['codes', 'list', '--status', 'used']);
    expect(none.stdout).toBe('no used pairing codes\n');
  });

  it('rotates the site key: the key once with its fingerprint and a warning, then only the fingerprint', async () => {
    const r = await run(['sites', 'key', 'rotate', 'acme-phx', '--max-uses', '3', '--expires-in', 'none']);
    expect(r.code).toBe(0);
    const key = lastLine(r.stdout);
    expect(key).toMatch(/^cek_[A-Za-z0-9_-]{43}$/);
    const fingerprint = /: (v1 \([0-9A-F]{4}\))\n/.exec(r.stdout)?.[1];
    expect(fingerprint).toBeDefined();
    expect(r.stdout).toContain('expires: never; max uses: 3');
    expect(r.stdout).toContain('WARNING: the key is shown only now');
    secrets.push(key);

    const show = await run(['sites', 'key', 'show', 'ACME-PHX']);
    expect(show.code).toBe(0);
    expect(show.stdout).toContain(`fingerprint:  ${fingerprint}`);
    expect(show.stdout).toMatch(/uses:\s+0\n/);
    expect(show.stdout).toMatch(/max uses:\s+3\n/);
  });

  it('shows an enrollment made by an agent in `pending`, with fingerprint, host, site, source IP and age', async () => {
    if (!api) throw new Error('api not started');
    const { privateKey, publicLine, fingerprint } = sshKey();
    agentFingerprint = fingerprint;
    const post = async (p: string, body: unknown) => {
      const res = await fetch(`${api?.url}${p}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
      return { status: res.status, json: (await res.json()) as Record<string, string> };
    };
    const enroll = await post('/api/v1/enroll', { site_code: 'ACME-PHX', pairing_code: pairingCode, public_key: publicLine, hostname: 'vma-01' });
    expect(enroll.status).toBe(201);
    enrollmentId = enroll.json.enrollment_id ?? '';
    const message = Buffer.from(`airlock-enroll-v1\n${enrollmentId}\n${enroll.json.challenge}`, 'utf8');
    const verify = await post('/api/v1/enroll/verify', { enrollment_id: enrollmentId, signature: sign(null, message, privateKey).toString('base64') });
    expect(verify.status).toBe(200);
    expect(verify.json.status).toBe('awaiting_approval');

    const r = await run(['pending']);
    expect(r.code).toBe(0);
    const [header, row, ...rest] = r.stdout.trimEnd().split('\n');
    expect(header).toMatch(/^ID\s+STATUS\s+SITE\s+HOSTNAME\s+FINGERPRINT\s+SOURCE IP\s+AGE\s+METHOD$/);
    const cells = row?.split(/\s{2,}/);
    expect(cells).toEqual([enrollmentId, 'awaiting_approval', 'ACME-PHX', 'vma-01', fingerprint, expect.stringContaining('127.0.0.1'), expect.stringMatching(/^(just now|\d+s)$/), 'pairing_code']);
    expect(rest).toEqual([]);
  });

  it('approves the enrollment and lists the new agent', async () => {
    const unknown = await run(['approve', 'ffff0000', '--notes', 'x']);
    expect(unknown).toEqual({ code: 1, stdout: '', stderr: 'error: no enrollment has an id starting with ffff0000\n' });
    // The audit table prints 8 characters of an id; that prefix is enough.
    const r = await run(['approve', enrollmentId.slice(0, 8), '--notes', 'checked fingerprint on the console']);
    expect(r).toEqual({ code: 0, stdout: `approved enrollment ${enrollmentId}\n`, stderr: '' });
    expect((await run(['pending'])).stdout).toBe('no enrollments are waiting for a decision\n');
    const agents = await run(['agents', 'list', '--status', 'active']);
    expect(agents.code).toBe(0);
    const [, agentRow] = agents.stdout.trimEnd().split('\n');
    expect(agentRow?.split(/\s{2,}/)).toEqual([
      expect.stringMatching(/^[0-9a-f-]{36}$/),
      'ACME-PHX',
      'vma-01',
      'active',
      '-',
      // Issue 21: the tunnel column (no endpoint has seen it yet, no reverse port configured).
      'disconnected never',
      agentFingerprint,
      expect.stringMatching(/Z \((just now|\d+s ago)\)$/),
      // Approval counts as the agent's first sighting.
      expect.stringMatching(/Z \((just now|\d+s ago)\)$/),
    ]);
    expect((await run(['agents', 'list', '--tunnel', 'connected'])).stdout).toBe('no agents\n');
    expect((await run(['agents', 'list', '--tunnel', 'maybe'])).code).toBe(2);
    const again = await run(['approve', enrollmentId]);
    expect(again.code).toBe(1);
    expect(again.stderr).toBe('error: invalid_state: Cannot approve an enrollment that is approved\n');
  });

  it('prints the audit log as raw JSON, newest first, without any secret', async () => {
    const r = await run(['audit', '--json']);
    expect(r.code).toBe(0);
    const page = JSON.parse(r.stdout) as { items: { event_type: string; occurred_at: string; actor: string }[]; next_cursor: string | null };
    const types = page.items.map((e) => e.event_type);
    for (const t of ['operator.created', 'site.created', 'pairing_code.created', 'site.enrollment_key_rotated', 'enrollment.approved']) {
      expect(types).toContain(t);
    }
    expect(types.indexOf('enrollment.approved')).toBeLessThan(types.indexOf('site.created'));
    const times = page.items.map((e) => e.occurred_at);
    expect([...times].sort().reverse()).toEqual(times);
    // Newest first: `temp` was made by root through the api, `root` itself by the CLI in the database.
    const created = page.items.filter((e) => e.event_type === 'operator.created').map((e) => e.actor);
    expect(created).toEqual(['root', 'cli']);
    for (const s of secrets) expect(r.stdout).not.toContain(s);
  });

  it('pages the audit log with the cursor it prints', async () => {
    const first = await run(['audit', '--limit', '2']);
    expect(first.code).toBe(0);
    const cursor = /next cursor: (\S+) /.exec(first.stdout)?.[1];
    expect(cursor).toBeDefined();
    const second = await run(['audit', '--limit', '2', '--cursor', cursor ?? '', '--json']);
    const firstJson = JSON.parse((await run(['audit', '--limit', '2', '--json'])).stdout) as { items: { id: string }[] };
    const secondJson = JSON.parse(second.stdout) as { items: { id: string }[] };
    expect(secondJson.items).toHaveLength(2);
    expect(secondJson.items.map((e) => e.id)).not.toContain(firstJson.items[0]?.id);
    const all = JSON.parse((await run(['audit', '--all', '--limit', '3', '--json'])).stdout) as { items: unknown[]; next_cursor: null };
    expect(all.next_cursor).toBeNull();
    expect(all.items.length).toBeGreaterThanOrEqual(6);
  });

  it('exits 1 with the envelope and its field problems when the api refuses', async () => {
    const dup = await run(['sites', 'create', '--code', 'ACME-PHX', '--name', 'again']);
    expect(dup).toEqual({ code: 1, stdout: '', stderr: 'error: conflict: Site ACME-PHX already exists\n' });
    const bad = await run(['sites', 'create', '--code', 'x', '--name', 'too short']);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toBe('error: invalid_request: Invalid request\n  site_code: must be 2-32 characters of A-Z 0-9 -, starting with a letter or digit\n');
    const denied = await run(['sites', 'list'], { AIRLOCK_TOKEN: `aop_${'Z'.repeat(43)}` });
    expect(denied.code).toBe(1);
    expect(denied.stderr).toMatch(/^error: unauthorized: A valid operator token is required\nhint: /);
  });

  it('exits 2 with the usage text for a usage error, and 3 when the api cannot be reached', async () => {
    const usage = await run(['codes', 'create', '--site', 'acme-phx', '--ttl', '10m']);
    expect(usage.code).toBe(2);
    expect(usage.stderr).toMatch(/^error: --ttl must be a whole number\n\nusage: airlock codes create --site SITE /);
    const help = await run(['codes', 'create', '--help']);
    expect(help.code).toBe(0);
    expect(help.stdout).toMatch(/^usage: airlock codes create/);
    // `help` is a command too, alone or before another command.
    expect(await run(['help', 'codes', 'create'])).toEqual(help);
    const overview = await run(['help']);
    expect(overview.code).toBe(0);
    expect(overview.stdout).toMatch(/^usage: airlock COMMAND/);
    // A port that was just free: nothing listens there, so the connection is refused.
    const port = await new Promise<number>((resolve) => {
      const server = createServer().listen(0, '127.0.0.1', () => {
        const { port: p } = server.address() as AddressInfo;
        server.close(() => resolve(p));
      });
    });
    const down = await run(['--api', `http://127.0.0.1:${port}`, 'sites', 'list']);
    expect(down).toEqual({
      code: 3,
      stdout: '',
      stderr:
        `error: cannot reach the api at http://127.0.0.1:${port} (ECONNREFUSED)\n` +
        'hint: check that the api is running (`pnpm start`, or `systemctl status airlock-api`) and that --api or AIRLOCK_API_URL points at it\n',
    });
  });

  it('manages tenants, scoped operators, site allowlists and labelled lists (issue 22)', async () => {
    expect((await run(['tenants', 'create', '--code', 'cli-co', '--name', 'CLI Co'])).stdout).toBe('created tenant cli-co (CLI Co)\n');
    const site = await run(['sites', 'create', '--code', 'cli-site', '--name', 'CLI', '--tenant', 'cli-co', '--allow', '198.51.100.0/24,2001:db8::/32']);
    expect(site.stdout).toBe('created site CLI-SITE (CLI) in tenant cli-co, policy manual, enroll from 198.51.100.0/24,2001:db8::/32\n');
    const updated = await run(['sites', 'update', 'CLI-SITE', '--allow', '']);
    expect(updated.stdout).toBe('updated site CLI-SITE (CLI), policy manual, enroll from any source\n');
    const op = await run(['operators', 'create', '--name', 'cli-scoped', '--role', 'auditor', '--tenant', 'cli-co']);
    expect(op.stdout).toMatch(/^created auditor operator cli-scoped \(id [0-9a-f-]{36}, tenant cli-co\) through the api/);
    const scopedToken = lastLine(op.stdout);
    const sites = await run(['sites', 'list', '--json'], { AIRLOCK_TOKEN: scopedToken });
    expect((JSON.parse(sites.stdout) as { items: Array<{ site_code: string }> }).items.map((x) => x.site_code)).toEqual(['CLI-SITE']);
    expect((await run(['tenants', 'create', '--code', 'nope', '--name', 'n'], { AIRLOCK_TOKEN: scopedToken })).code).toBe(1);
    const none = await run(['agents', 'list', '--label', 'company:nobody', '--label', 'tags:x']);
    expect(none).toEqual({ code: 0, stdout: 'no agents\n', stderr: '' });
    const paged = await run(['audit', '--limit', '1', '--json']);
    const page = JSON.parse(paged.stdout) as { items: unknown[]; next_cursor: string | null };
    expect(page.items).toHaveLength(1);
    expect(page.next_cursor).not.toBeNull();
    expect((await run(['agents', 'list', '--label', 'nocolon'])).code).toBe(2);
  });

  it('lists an edge lockout and lifts it', async () => {
    const key = `${redisPrefix}lockout:ACME-PHX:203.0.113.7`;
    expect(await redisCli(['SET', key, '1', 'EX', '900'])).toBe('OK');
    try {
      const list = await run(['lockouts']);
      expect(list.code).toBe(0);
      const [header, row, ...rest] = list.stdout.trimEnd().split('\n');
      expect(header).toMatch(/^KIND\s+SITE\s+IP\s+RETRY AFTER\s+KEY$/);
      expect(row?.split(/\s{2,}/)).toEqual(['lockout', 'ACME-PHX', '203.0.113.7', expect.stringMatching(/^1[45]m\d+s$/), key]);
      expect(rest).toEqual([]);
      expect(await run(['lockouts', 'clear', key])).toEqual({ code: 0, stdout: `cleared ${key}\n`, stderr: '' });
      expect((await run(['lockouts'])).stdout).toBe('no active lockouts\n');
      expect((await run(['lockouts', 'clear', key])).stdout).toBe(`${key} was not active; nothing to clear\n`);
    } finally {
      await redisCli(['DEL', key]);
    }
  });

  it('reads the token from a 0600 admin-token file and refuses the file once others can read it', async () => {
    const fileDir = mkdtempSync(path.join(tmpdir(), 'airlock-cli-tokenfile-'));
    try {
      const file = path.join(fileDir, 'admin-token');
      writeFileSync(file, `${apiEnv.AIRLOCK_TOKEN}\n`, { mode: 0o600 });
      chmodSync(file, 0o600);
      const env = { AIRLOCK_TOKEN: '', AIRLOCK_DATA_DIR: fileDir };
      const ok = await run(['sites', 'list'], env);
      expect(ok.code).toBe(0);
      expect(ok.stdout).toContain('ACME-PHX');
      chmodSync(file, 0o644);
      const refused = await run(['sites', 'list'], env);
      expect(refused.code).toBe(1);
      expect(refused.stderr).toBe(`error: ${file} is accessible by other users (mode 0644); run: chmod 600 ${file}\n`);
    } finally {
      rmSync(fileDir, { recursive: true, force: true });
    }
  });
});
