/**
 * What the test suite drives for real on the machine, and where Debian has
 * it: the one list of system packages and Unix accounts. The preflight
 * checks it before `pnpm test` runs anything, and installs from it when
 * asked (`AIRLOCK_TEST_INSTALL=1`, which `.ci/run` sets), so neither the
 * README nor `.ci/run` keeps a second copy.
 */

/** Where a tool is looked for: a fixed path, a command on PATH, or a Postgres server binary under /usr/lib/postgresql/<version>/bin. */
export type Location = { path: string } | { command: string } | { postgresBin: string };

export interface Tool {
  /** How the message names it. */
  name: string;
  where: Location;
  /** The Debian package that provides it. */
  pkg: string;
  /** Which tests need it, so a reader can judge the install. */
  usedBy: string;
}

export const TOOLS: readonly Tool[] = [
  { name: '/usr/sbin/sshd', where: { path: '/usr/sbin/sshd' }, pkg: 'openssh-server', usedBy: 'the SSH tunnel tests run a real sshd' },
  { name: 'ssh', where: { command: 'ssh' }, pkg: 'openssh-client', usedBy: 'the tunnel tests connect through it' },
  { name: 'ssh-keygen', where: { command: 'ssh-keygen' }, pkg: 'openssh-client', usedBy: 'keys and SSHSIG signatures (crypto, agent, curl quickstart)' },
  { name: 'openssl', where: { command: 'openssl' }, pkg: 'openssl', usedBy: 'certificates, CSRs and TLS checks' },
  { name: 'curl', where: { command: 'curl' }, pkg: 'curl', usedBy: 'the shell client and the curl quickstart' },
  { name: '/usr/bin/chromium', where: { path: '/usr/bin/chromium' }, pkg: 'chromium', usedBy: "the console's browser tests (playwright-core; no browser is downloaded)" },
  { name: 'redis-server', where: { command: 'redis-server' }, pkg: 'redis-server', usedBy: 'the Redis outage tests start and kill their own' },
  { name: 'redis-cli', where: { command: 'redis-cli' }, pkg: 'redis-tools', usedBy: 'the CLI lockout test plants a lockout with it' },
  { name: 'redis-sentinel', where: { command: 'redis-sentinel' }, pkg: 'redis-sentinel', usedBy: "the chaos suite's Sentinel failover" },
  { name: 'initdb', where: { postgresBin: 'initdb' }, pkg: 'postgresql', usedBy: 'the chaos suite runs its own Postgres cluster' },
  { name: 'pg_ctl', where: { postgresBin: 'pg_ctl' }, pkg: 'postgresql', usedBy: 'the chaos suite stops and starts that cluster' },
  { name: 'pg_dump', where: { command: 'pg_dump' }, pkg: 'postgresql-client', usedBy: 'the backup and restore test' },
  { name: 'pg_restore', where: { command: 'pg_restore' }, pkg: 'postgresql-client', usedBy: 'the backup and restore test' },
  { name: 'mawk', where: { command: 'mawk' }, pkg: 'mawk', usedBy: "the shell client's minimal-Debian test" },
  { name: 'script', where: { command: 'script' }, pkg: 'bsdutils', usedBy: 'the console password prompt test and the agent setup wizard test (a terminal)' },
  { name: 'dpkg-deb', where: { command: 'dpkg-deb' }, pkg: 'dpkg', usedBy: 'the installers\' --format deb and its dpkg -i / dpkg -r test' },
  { name: 'setpriv', where: { command: 'setpriv' }, pkg: 'util-linux', usedBy: 'the installer refuses a non-root install (test runs it as nobody)' },
  { name: 'runuser', where: { command: 'runuser' }, pkg: 'util-linux', usedBy: 'the keys helper test and the chaos Postgres run as other users' },
  { name: '/usr/bin/perl', where: { path: '/usr/bin/perl' }, pkg: 'perl-base', usedBy: "the tunnel's keys helper is Perl (Essential on Debian; checked all the same)" },
  { name: 'ssh-audit', where: { command: 'ssh-audit' }, pkg: 'ssh-audit', usedBy: 'the tunnel algorithm test audits the generated sshd_config (issue 18, finding 13)' },
  { name: '/usr/bin/time', where: { path: '/usr/bin/time' }, pkg: 'time', usedBy: "pnpm bench measures the keys helper's CPU and memory per call with GNU time" },
];

export interface Account {
  name: string;
  /** Why the tunnel needs it. */
  role: string;
  /** argv of the command that creates it. */
  create: readonly string[];
  /**
   * argv that makes it usable for sshd, when creating leaves it locked:
   * useradd writes '!' as the password, and with `UsePAM no` sshd refuses a
   * locked account before it looks at any key.
   */
  unlock?: readonly string[];
}

export const ACCOUNTS: readonly Account[] = [
  {
    name: 'airlock',
    role: 'agents log in as it through the tunnel (TUNNEL_USER)',
    create: ['useradd', '--create-home', '--shell', '/usr/sbin/nologin', 'airlock'],
    unlock: ['usermod', '-p', '*', 'airlock'],
  },
  {
    name: 'airlock-keys',
    role: 'sshd runs the keys helper as it (TUNNEL_KEYS_USER)',
    create: ['useradd', '--system', '--no-create-home', '--shell', '/usr/sbin/nologin', 'airlock-keys'],
  },
];

/** The services every test file talks to, with the same defaults as @airlock/testing (db.ts, redis.ts). */
export const SERVICES = {
  postgres: { env: 'TEST_DATABASE_URL', fallback: 'postgres://postgres@127.0.0.1:5432/postgres' },
  redis: { env: 'TEST_REDIS_URL', fallback: 'redis://127.0.0.1:6379' },
} as const;
