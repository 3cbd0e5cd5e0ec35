import { describe, expect, it } from 'vitest';
import { assess, installRequested, installSteps, ready, redactUrl, report, shellLine, type Facts } from './core.ts';
import { TOOLS } from './requirements.ts';

const ALL = new Set(TOOLS.map((t) => t.name));
const without = (...names: string[]) => new Set([...ALL].filter((n) => !names.includes(n)));

const PG = 'postgres://postgres@127.0.0.1:5432/postgres';
const REDIS = 'redis://127.0.0.1:6379';

/** A Debian machine with everything the tests need. */
const complete = (): Facts => ({
  root: true,
  aptGet: true,
  present: ALL,
  accounts: { airlock: 'ok', 'airlock-keys': 'ok' },
  services: { postgres: { url: PG, problem: null }, redis: { url: REDIS, problem: null } },
  postgresVersions: ['15'],
});

describe('the preflight on a machine with everything', () => {
  it('is ready, says nothing and plans nothing', () => {
    const f = assess(complete());
    expect(ready(f)).toBe(true);
    expect(report(f)).toBeNull();
    expect(installSteps(f)).toEqual([]);
  });
});

describe('the preflight on a fresh Debian without chromium and sshd', () => {
  const f = assess({ ...complete(), present: without('/usr/bin/chromium', '/usr/sbin/sshd') });

  it('names each missing tool with its package and the one apt-get line, and offers the unattended install', () => {
    expect(ready(f)).toBe(false);
    expect(report(f)).toBe(
      [
        'pnpm test: this machine lacks what the tests drive for real; no test has run.',
        '',
        'Missing tools (tool, Debian package, what needs it):',
        '  /usr/sbin/sshd      openssh-server   the SSH tunnel tests run a real sshd',
        "  /usr/bin/chromium   chromium         the console's browser tests (playwright-core; no browser is downloaded)",
        'Install them, as root:',
        '  apt-get update && apt-get install -y openssh-server chromium',
        '',
        'Or, as root with apt-get: AIRLOCK_TEST_INSTALL=1 pnpm test installs the packages and creates the accounts itself (not the services).',
        '',
      ].join('\n'),
    );
  });

  it('plans apt-get update, then one install of exactly those packages', () => {
    expect(installSteps(f)).toEqual([
      ['apt-get', 'update', '-qq'],
      ['apt-get', 'install', '-y', '-qq', 'openssh-server', 'chromium'],
    ]);
  });

  it('lists a package once when it provides several missing tools', () => {
    const g = assess({ ...complete(), present: without('ssh', 'ssh-keygen', 'initdb', 'pg_ctl') });
    expect(g.packages).toEqual(['openssh-client', 'postgresql']);
    expect(report(g)).toContain('  apt-get update && apt-get install -y openssh-client postgresql\n');
  });

  it('says when the install could not run, or ran and left something missing', () => {
    expect(report(f, 'cannot')).toContain('AIRLOCK_TEST_INSTALL=1 installs only as root with apt-get; do the above by hand.');
    expect(report(f, 'done')).toContain('AIRLOCK_TEST_INSTALL=1 ran the install; what is listed above is still missing.');
  });
});

describe('the preflight without the tunnel accounts', () => {
  const f = assess({ ...complete(), accounts: {} });

  it('gives the exact useradd and usermod lines for each', () => {
    expect(report(f)).toBe(
      [
        'pnpm test: this machine lacks what the tests drive for real; no test has run.',
        '',
        'Unix accounts the SSH tunnel endpoint needs (as root):',
        '  airlock does not exist: agents log in as it through the tunnel (TUNNEL_USER)',
        '    useradd --create-home --shell /usr/sbin/nologin airlock',
        "    usermod -p '*' airlock",
        '  airlock-keys does not exist: sshd runs the keys helper as it (TUNNEL_KEYS_USER)',
        '    useradd --system --no-create-home --shell /usr/sbin/nologin airlock-keys',
        '',
        'Or, as root with apt-get: AIRLOCK_TEST_INSTALL=1 pnpm test installs the packages and creates the accounts itself (not the services).',
        '',
      ].join('\n'),
    );
  });

  it('plans to create them, and unlocks airlock after useradd locked it', () => {
    expect(installSteps(f)).toEqual([
      ['useradd', '--create-home', '--shell', '/usr/sbin/nologin', 'airlock'],
      ['usermod', '-p', '*', 'airlock'],
      ['useradd', '--system', '--no-create-home', '--shell', '/usr/sbin/nologin', 'airlock-keys'],
    ]);
  });
});

describe('the preflight with a locked airlock account', () => {
  const f = assess({ ...complete(), accounts: { airlock: 'locked', 'airlock-keys': 'ok' } });

  it('says why a locked account fails and how to unlock it', () => {
    const text = report(f) ?? '';
    expect(text).toContain(
      "  airlock is locked ('!' in /etc/shadow): sshd (UsePAM no) refuses a locked account before it looks at keys\n    usermod -p '*' airlock\n",
    );
    expect(text).not.toContain('useradd');
    expect(installSteps(f)).toEqual([['usermod', '-p', '*', 'airlock']]);
  });

  it('does not mind a locked airlock-keys: nobody logs in as it', () => {
    expect(ready(assess({ ...complete(), accounts: { airlock: 'ok', 'airlock-keys': 'locked' } }))).toBe(true);
  });
});

describe('the preflight when the services do not answer, or not as root', () => {
  it('says how to start Postgres and Redis, with the cluster version, and never prints a password', () => {
    const f = assess({
      ...complete(),
      services: {
        postgres: { url: 'postgres://airlock:s3cret@127.0.0.1:5432/postgres', problem: 'connect ECONNREFUSED 127.0.0.1:5432' },
        redis: { url: REDIS, problem: 'connect ECONNREFUSED 127.0.0.1:6379' },
      },
    });
    const text = report(f) ?? '';
    expect(text).toContain('  Postgres does not answer at postgres://airlock:***@127.0.0.1:5432/postgres (connect ECONNREFUSED 127.0.0.1:5432).\n');
    expect(text).toContain('    Start it: pg_ctlcluster 15 main start (or: service postgresql start).\n');
    expect(text).toContain('first in /etc/postgresql/15/main/pg_hba.conf');
    expect(text).toContain('  Redis does not answer at redis://127.0.0.1:6379 (connect ECONNREFUSED 127.0.0.1:6379).\n');
    expect(text).toContain('    Start it: redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save "" --appendonly no\n');
    expect(text).not.toContain('s3cret');
    // Nothing an install could fix: no install hint.
    expect(text).not.toContain('AIRLOCK_TEST_INSTALL');
    expect(installSteps(f)).toEqual([]);
  });

  it('with no cluster yet, says to install postgresql first', () => {
    const f = assess({ ...complete(), postgresVersions: [], services: { postgres: { url: PG, problem: 'ECONNREFUSED' }, redis: { url: REDIS, problem: null } } });
    expect(report(f)).toContain('Install it (postgresql, above), then start it');
  });

  it('skips the services when asked to check tools only', () => {
    expect(ready(assess({ ...complete(), services: null }))).toBe(true);
  });

  it('asks for root, and reads an unknown lock state (no /etc/shadow access) as nothing to fix', () => {
    const f = assess({ ...complete(), root: false, accounts: { airlock: 'unknown', 'airlock-keys': 'ok' } });
    expect(f.accounts).toEqual([]);
    expect(report(f)).toContain('Run the tests as root: the tunnel tests run a real sshd');
  });
});

describe('small pieces', () => {
  it('quotes for a shell only what needs it', () => {
    expect(shellLine(['usermod', '-p', '*', 'airlock'])).toBe("usermod -p '*' airlock");
    expect(shellLine(['echo', "it's"])).toBe("echo 'it'\\''s'");
  });

  it('hides passwords in URLs and never prints a malformed one', () => {
    expect(redactUrl('redis://:pw@10.0.0.1:6379/2')).toBe('redis://:***@10.0.0.1:6379/2');
    expect(redactUrl('not a url with secret')).toBe('(not a URL)');
  });

  it('takes AIRLOCK_TEST_INSTALL as 1 or unset and refuses anything else', () => {
    expect(installRequested(undefined)).toBe(false);
    expect(installRequested('0')).toBe(false);
    expect(installRequested('1')).toBe(true);
    expect(installRequested('yes')).toEqual({ problem: 'AIRLOCK_TEST_INSTALL must be 1 (install what is missing) or unset, not "yes"' });
  });
});
