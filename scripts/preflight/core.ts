/**
 * The preflight's decisions, without touching the machine: given what is
 * present (facts gathered by probe.ts), what is missing, what to say about
 * it, and which commands would fix what a package manager and useradd can
 * fix. Kept pure so every message is unit-tested (core.test.ts).
 */
import { ACCOUNTS, TOOLS, type Account, type Tool } from './requirements.ts';

export type AccountState = 'ok' | 'absent' | 'locked' | 'unknown';

export interface ServiceFact {
  /** The URL as configured; shown with any password hidden. */
  url: string;
  /** null: it answered. Otherwise why not, as the driver said. */
  problem: string | null;
}

export interface Facts {
  root: boolean;
  aptGet: boolean;
  /** Names (Tool.name) of the tools found. */
  present: ReadonlySet<string>;
  accounts: Readonly<Record<string, AccountState>>;
  /** null: not checked (`--tools-only`). */
  services: { postgres: ServiceFact; redis: ServiceFact } | null;
  /** Postgres clusters Debian knows (/etc/postgresql/<version>), for the start hint. */
  postgresVersions: readonly string[];
}

export interface AccountProblem {
  account: Account;
  state: Exclude<AccountState, 'ok'>;
}

export interface Findings {
  notRoot: boolean;
  tools: Tool[];
  /** Debian packages for the missing tools, each once, in table order. */
  packages: string[];
  accounts: AccountProblem[];
  postgres: ServiceFact | null;
  redis: ServiceFact | null;
  postgresVersions: readonly string[];
}

export const assess = (facts: Facts): Findings => {
  const tools = TOOLS.filter((t) => !facts.present.has(t.name));
  const accounts: AccountProblem[] = [];
  for (const account of ACCOUNTS) {
    const state = facts.accounts[account.name] ?? 'absent';
    // A lock only matters for an account sshd logs in to; 'unknown' (no root to read /etc/shadow) is reported as not root.
    if (state === 'absent' || (state === 'locked' && account.unlock)) accounts.push({ account, state });
  }
  const failed = (s: ServiceFact | undefined) => (s && s.problem !== null ? s : null);
  return {
    notRoot: !facts.root,
    tools,
    packages: [...new Set(tools.map((t) => t.pkg))],
    accounts,
    postgres: failed(facts.services?.postgres),
    redis: failed(facts.services?.redis),
    postgresVersions: facts.postgresVersions,
  };
};

export const ready = (f: Findings): boolean =>
  !f.notRoot && f.tools.length === 0 && f.accounts.length === 0 && f.postgres === null && f.redis === null;

/** One argv as a line a person can paste into a shell. */
export const shellLine = (argv: readonly string[]): string =>
  argv.map((a) => (/^[A-Za-z0-9_@%+=:,./-]+$/.test(a) ? a : `'${a.replace(/'/g, `'\\''`)}'`)).join(' ');

/** A URL fit to print: its password, if any, replaced. */
export const redactUrl = (url: string): string => {
  try {
    const u = new URL(url);
    if (u.password) u.password = '***';
    return u.toString();
  } catch {
    return '(not a URL)';
  }
};

/** What AIRLOCK_TEST_INSTALL asks for; anything but unset, '' , '0' or '1' is refused rather than guessed. */
export const installRequested = (value: string | undefined): boolean | { problem: string } => {
  if (value === undefined || value === '' || value === '0') return false;
  if (value === '1') return true;
  return { problem: `AIRLOCK_TEST_INSTALL must be 1 (install what is missing) or unset, not ${JSON.stringify(value)}` };
};

/** The commands that fix what can be fixed unattended: packages, then accounts (in order: create before unlock). */
export const installSteps = (f: Findings): string[][] => {
  const steps: string[][] = [];
  if (f.packages.length > 0) steps.push(['apt-get', 'update', '-qq'], ['apt-get', 'install', '-y', '-qq', ...f.packages]);
  for (const { account, state } of f.accounts) {
    if (state === 'absent') steps.push([...account.create]);
    if (account.unlock) steps.push([...account.unlock]);
  }
  return steps;
};

const column = (rows: string[][]): string[] => {
  const widths = rows[0]?.map((_, i) => Math.max(...rows.map((r) => (r[i] ?? '').length))) ?? [];
  return rows.map((r) => r.map((c, i) => (i < r.length - 1 ? c.padEnd(widths[i] ?? 0) : c)).join('   ').trimEnd());
};

const postgresHint = (versions: readonly string[]): string[] => {
  const v = versions.at(-1);
  if (!v) return ['    Install it (postgresql, above), then start it: pg_ctlcluster <version> main start (or: service postgresql start).'];
  return [
    `    Start it: pg_ctlcluster ${v} main start (or: service postgresql start).`,
    `    The tests connect as postgres without a password: put "host all all 127.0.0.1/32 trust" first in /etc/postgresql/${v}/main/pg_hba.conf and reload,`,
    '    or point TEST_DATABASE_URL at a server where the tests may create databases.',
  ];
};

/** Whether an unattended install was asked for, could not run, or ran. */
export type InstallOutcome = 'not-asked' | 'cannot' | 'done';

/**
 * The one message for a machine that is not ready: each missing tool with
 * its Debian package, the exact install line, the account commands, how to
 * start the services. null when the machine is ready.
 */
export const report = (f: Findings, install: InstallOutcome = 'not-asked'): string | null => {
  if (ready(f)) return null;
  const out: string[] = ['pnpm test: this machine lacks what the tests drive for real; no test has run.', ''];
  if (f.notRoot) {
    out.push(
      'Run the tests as root: the tunnel tests run a real sshd, create Unix accounts and a root-owned',
      'helper directory under /run, and switch users with runuser (CI runs as root).',
      '',
    );
  }
  if (f.tools.length > 0) {
    out.push('Missing tools (tool, Debian package, what needs it):');
    out.push(...column(f.tools.map((t) => [t.name, t.pkg, t.usedBy])).map((l) => `  ${l}`));
    out.push('Install them, as root:', `  apt-get update && apt-get install -y ${f.packages.join(' ')}`, '');
  }
  if (f.accounts.length > 0) {
    out.push('Unix accounts the SSH tunnel endpoint needs (as root):');
    for (const { account, state } of f.accounts) {
      if (state === 'absent') {
        out.push(`  ${account.name} does not exist: ${account.role}`, `    ${shellLine(account.create)}`);
        if (account.unlock) out.push(`    ${shellLine(account.unlock)}`);
      } else {
        out.push(
          `  ${account.name} is locked ('!' in /etc/shadow): sshd (UsePAM no) refuses a locked account before it looks at keys`,
          `    ${shellLine(account.unlock ?? [])}`,
        );
      }
    }
    out.push('');
  }
  if (f.postgres || f.redis) {
    out.push('Services the tests need:');
    if (f.postgres) {
      out.push(`  Postgres does not answer at ${redactUrl(f.postgres.url)} (${f.postgres.problem}).`, ...postgresHint(f.postgresVersions));
    }
    if (f.redis) {
      out.push(
        `  Redis does not answer at ${redactUrl(f.redis.url)} (${f.redis.problem}).`,
        '    Start it: redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save "" --appendonly no',
        '    or point TEST_REDIS_URL at a Redis the tests may use.',
      );
    }
    out.push('');
  }
  if (f.tools.length > 0 || f.accounts.length > 0) {
    out.push(
      {
        'not-asked': 'Or, as root with apt-get: AIRLOCK_TEST_INSTALL=1 pnpm test installs the packages and creates the accounts itself (not the services).',
        cannot: 'AIRLOCK_TEST_INSTALL=1 installs only as root with apt-get; do the above by hand.',
        done: 'AIRLOCK_TEST_INSTALL=1 ran the install; what is listed above is still missing.',
      }[install],
    );
  }
  return out.join('\n').trimEnd() + '\n';
};
