/**
 * `pnpm start`: the whole stack on embedded defaults, from a fresh clone.
 *
 * - api: embedded Postgres under AIRLOCK_DATA_DIR unless DATABASE_URL is set;
 *   creates the first admin operator and leaves its token in
 *   AIRLOCK_DATA_DIR/admin-token (0600) for `pnpm airlock`.
 * - edge: TLS with a self-signed certificate generated under AIRLOCK_DATA_DIR
 *   (its SHA-256 is printed for agents to pin); in-process counters unless
 *   REDIS_URL is set. Port 8443 unless EDGE_PORT is set, so no root is needed.
 *
 * Both run as child processes with the same entry points as `pnpm start:api`
 * and `pnpm start:edge`; Ctrl-C stops both.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { mkdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { connect } from 'node:tls';
import { fileURLToPath } from 'node:url';
import { adminTokenPath, DEFAULT_DATA_DIR } from '@airlock/api/admin';
import { ensureSelfSignedCert } from '@airlock/crypto';

const root = fileURLToPath(new URL('..', import.meta.url));
// `node --import tsx`, not the tsx CLI: the CLI re-sends a signal its child has
// not acknowledged within 30 ms and then exits 130, which a loaded machine
// turns into a failed Ctrl-C. With the loader in-process, the signal is ours.
const runTs = (script: string): [string, string[]] => [process.execPath, ['--import', 'tsx', script]];
const env = process.env;
const dataDir = path.resolve(env.AIRLOCK_DATA_DIR ?? DEFAULT_DATA_DIR);
mkdirSync(dataDir, { recursive: true, mode: 0o700 });

const apiHost = env.API_HOST ?? '127.0.0.1';
const apiPort = env.API_PORT ?? '8082';
const edgePort = env.EDGE_PORT ?? '8443';
const say = (line = '') => process.stdout.write(`${line}\n`);

/** Where the local edge's connections to the api come from: loopback for a wildcard or loopback bind, else the bound address itself. */
const edgeSourceAddress = (host: string): string => (host === '0.0.0.0' || host === '::' ? '127.0.0.1,::1' : host);

/** The operator's certificate, or a self-signed one for the quickstart, made once and kept. */
const ensureCertificate = async (): Promise<{ cert: string; key: string; pin: string } | null> => {
  const pinOf = (fingerprint256: string) => `sha256:${fingerprint256.replaceAll(':', '').toLowerCase()}`;
  if (env.EDGE_TLS_CERT && env.EDGE_TLS_KEY) {
    const x = new X509Certificate(readFileSync(env.EDGE_TLS_CERT));
    return { cert: env.EDGE_TLS_CERT, key: env.EDGE_TLS_KEY, pin: pinOf(x.fingerprint256) };
  }
  try {
    const made = await ensureSelfSignedCert(dataDir);
    return { cert: made.certPath, key: made.keyPath, pin: pinOf(made.fingerprint256) };
  } catch (err) {
    const why = err instanceof Error ? err.message.split('\n')[0] : String(err);
    say(`warning: could not make a self-signed certificate with openssl (${why}); the edge will serve plain HTTP (agents then need --insecure)`);
    return null;
  }
};

const children: ChildProcess[] = [];
const run = (name: string, script: string, extraEnv: Record<string, string>) => {
  const [command, args] = runTs(script);
  const child = spawn(command, args, { cwd: root, env: { ...env, ...extraEnv }, stdio: ['ignore', 'inherit', 'inherit'] });
  child.on('exit', (code, signal) => {
    if (!stopping) {
      say(`${name} exited (${signal ?? code}); stopping the stack`);
      stop(code ?? 1);
    }
  });
  children.push(child);
  return child;
};

let stopping = false;
const stop = (code: number) => {
  stopping = true;
  for (const c of children) if (c.exitCode === null) c.kill('SIGTERM');
  setTimeout(() => process.exit(code), 200).unref();
  Promise.all(children.map((c) => (c.exitCode !== null ? null : new Promise((r) => c.once('exit', r))))).then(() => process.exit(code));
};
process.on('SIGINT', () => stop(0));
process.on('SIGTERM', () => stop(0));

const waitFor = async (probe: () => Promise<boolean>, what: string, ms = 120_000) => {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    if (stopping) return;
    if (await probe().catch(() => false)) return;
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(`${what} did not come up within ${ms / 1000} s`);
};

const main = async () => {
  const tls = await ensureCertificate();
  run('api', 'apps/api/src/main.ts', {
    AIRLOCK_DATA_DIR: dataDir,
    AIRLOCK_BOOTSTRAP_ADMIN: env.AIRLOCK_BOOTSTRAP_ADMIN ?? '1',
    API_HOST: apiHost,
    API_PORT: apiPort,
    // The api trusts no proxy unless told (issue 18): this stack's edge connects from this host, so its
    // X-Forwarded-For is believed from here. Other local processes share that address: the console's
    // per-operator sign-in throttle is what holds against them.
    API_TRUSTED_PROXIES: env.API_TRUSTED_PROXIES ?? edgeSourceAddress(apiHost),
  });
  const apiUrl = `http://${apiHost}:${apiPort}`;
  await waitFor(async () => (await fetch(`${apiUrl}/readyz`)).status === 200, 'the api');

  run('edge', 'apps/edge/src/main.ts', {
    EDGE_PORT: edgePort,
    EDGE_UPSTREAM: env.EDGE_UPSTREAM ?? apiUrl,
    ...(tls ? { EDGE_TLS_CERT: tls.cert, EDGE_TLS_KEY: tls.key } : {}),
  });
  const host = env.EDGE_HOST && env.EDGE_HOST !== '0.0.0.0' ? env.EDGE_HOST : '127.0.0.1';
  await waitFor(
    () =>
      new Promise<boolean>((resolve) => {
        if (!tls) {
          fetch(`http://${host}:${edgePort}/healthz`).then((r) => resolve(r.ok), () => resolve(false));
          return;
        }
        // Only a liveness probe of our own certificate: verification is the agents' business (they pin it).
        const s = connect({ host, port: Number(edgePort), rejectUnauthorized: false }, () => {
          s.end();
          resolve(true);
        });
        s.on('error', () => resolve(false));
      }),
    'the edge',
  );

  const edgeUrl = `${tls ? 'https' : 'http'}://${host}:${edgePort}`;
  say('');
  say('Airlock is running.');
  say(`  edge (agents enroll here): ${edgeUrl}`);
  say(`  api (operators, private):  ${apiUrl}`);
  if (tls) say(`  edge certificate pin:      ${tls.pin}`);
  say(`  operator console:          ${apiUrl}/console (private, like the api)`);
  say(`  admin token:               ${adminTokenPath(dataDir)} (read by pnpm airlock)`);
  say(`  database:                  ${env.DATABASE_URL ? 'DATABASE_URL' : `embedded, under ${dataDir}`}`);
  say(`  counters:                  ${env.REDIS_URL ? 'REDIS_URL' : 'in-process (one edge only)'}`);
  say('Console sign-in: set a password first (read from standard input, not echoed):');
  say('  pnpm airlock operators set-password admin');
  say(`  then sign in at ${apiUrl}/console as "admin"`);
  say('Next: pnpm airlock sites create --code ACME-PHX --name "Phoenix DC"   (see README quickstart)');
  say('');
};

main().catch((err: unknown) => {
  say(`airlock start: ${err instanceof Error ? err.message : String(err)}`);
  stop(1);
});
