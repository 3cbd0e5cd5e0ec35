/**
 * Looks at the machine for the preflight: which tools exist, the tunnel's
 * accounts and whether `airlock` is locked, whether Postgres and Redis
 * answer. Reads files and opens two connections; changes nothing.
 */
import { execFileSync } from 'node:child_process';
import { accessSync, constants, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import type { AccountState, Facts, ServiceFact } from './core.ts';
import { ACCOUNTS, SERVICES, TOOLS, type Location } from './requirements.ts';

const PG_LIB = '/usr/lib/postgresql';
const SERVICE_TIMEOUT_S = 3;

const executable = (file: string): boolean => {
  try {
    accessSync(file, constants.X_OK);
    return true;
  } catch {
    return false;
  }
};

const onPath = (command: string, envPath: string): boolean =>
  envPath.split(':').some((dir) => dir !== '' && executable(path.join(dir, command)));

const listDir = (dir: string): string[] => {
  try {
    return readdirSync(dir);
  } catch {
    return [];
  }
};

const found = (where: Location, envPath: string): boolean => {
  if ('path' in where) return executable(where.path);
  if ('command' in where) return onPath(where.command, envPath);
  return listDir(PG_LIB).some((v) => executable(path.join(PG_LIB, v, 'bin', where.postgresBin)));
};

const passwdEntry = (name: string): boolean => {
  const local = (() => {
    try {
      return readFileSync('/etc/passwd', 'utf8').split('\n').some((l) => l.startsWith(`${name}:`));
    } catch {
      return false;
    }
  })();
  if (local) return true;
  // Accounts may come from NSS (LDAP, sssd) rather than /etc/passwd.
  try {
    execFileSync('getent', ['passwd', name], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
};

/** The password field of /etc/shadow, or null when it cannot be read (not root) or has no entry. */
const shadowField = (name: string): string | null => {
  try {
    const line = readFileSync('/etc/shadow', 'utf8').split('\n').find((l) => l.startsWith(`${name}:`));
    return line?.split(':')[1] ?? null;
  } catch {
    return null;
  }
};

const accountState = (name: string): AccountState => {
  if (!passwdEntry(name)) return 'absent';
  const field = shadowField(name);
  if (field === null) return 'unknown';
  // OpenSSH treats a password field starting with '!' as a locked account.
  return field.startsWith('!') ? 'locked' : 'ok';
};

const reason = (err: unknown): string => {
  const e = err as { code?: unknown; message?: unknown };
  const message = typeof e.message === 'string' && e.message !== '' ? e.message : String(err);
  return typeof e.code === 'string' && !message.includes(e.code) ? `${e.code}: ${message}` : message;
};

const probePostgres = async (url: string): Promise<ServiceFact> => {
  const { default: postgres } = await import('postgres');
  const sql = postgres(url, { max: 1, connect_timeout: SERVICE_TIMEOUT_S, idle_timeout: 1, onnotice: () => {} });
  try {
    await sql`select 1`;
    return { url, problem: null };
  } catch (err) {
    return { url, problem: reason(err) };
  } finally {
    await sql.end({ timeout: 1 }).catch(() => {});
  }
};

const probeRedis = async (url: string): Promise<ServiceFact> => {
  const { Redis } = await import('ioredis');
  let last: unknown = null;
  const redis = new Redis(url, {
    lazyConnect: true,
    connectTimeout: SERVICE_TIMEOUT_S * 1000,
    maxRetriesPerRequest: 0,
    enableOfflineQueue: false,
    retryStrategy: () => null,
  });
  redis.on('error', (err: unknown) => (last = err));
  try {
    await redis.connect();
    const pong = await redis.ping();
    return { url, problem: pong === 'PONG' ? null : `PING answered ${pong}` };
  } catch (err) {
    return { url, problem: reason(last ?? err) };
  } finally {
    redis.disconnect();
  }
};

export const probe = async (opts: { services: boolean; env?: NodeJS.ProcessEnv }): Promise<Facts> => {
  const env = opts.env ?? process.env;
  const envPath = env['PATH'] ?? '/usr/bin:/bin';
  const present = new Set(TOOLS.filter((t) => found(t.where, envPath)).map((t) => t.name));
  const accounts = Object.fromEntries(ACCOUNTS.map((a) => [a.name, accountState(a.name)]));
  const services = opts.services
    ? await Promise.all([
        probePostgres(env[SERVICES.postgres.env] ?? SERVICES.postgres.fallback),
        probeRedis(env[SERVICES.redis.env] ?? SERVICES.redis.fallback),
      ]).then(([postgres, redis]) => ({ postgres, redis }))
    : null;
  return {
    root: process.getuid?.() === 0,
    aptGet: onPath('apt-get', envPath),
    present,
    accounts,
    services,
    postgresVersions: listDir('/etc/postgresql').sort((a, b) => Number(a) - Number(b)),
  };
};
