/**
 * `airlock doctor`: the checks an operator runs before asking anyone else.
 * Each check reads only what is configured (the same environment the api and
 * the edge take), answers ok, warn, FAIL or skip with one line of detail, and
 * never prints a secret (URLs lose their passwords).
 */
import { createPrivateKey, X509Certificate } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { Redis } from 'ioredis';
import {
  checkCaNameConstraints,
  ConfigError,
  describeDatabaseUrl,
  expectedMigrationCount,
  loadApiConfig,
  withAdminDatabase,
  type ApiConfig,
} from '@airlock/api/admin';
import { parseCertificates, readNameConstraints } from '@airlock/crypto';
import { ConfigError as EdgeConfigError, loadConfig as loadEdgeConfig } from '@airlock/edge/config';

export type CheckStatus = 'ok' | 'warn' | 'FAIL' | 'skip';
export interface CheckResult {
  check: string;
  status: CheckStatus;
  detail: string;
}

/** Certificates expiring sooner than this are a warning. */
const EXPIRY_WARNING_DAYS = 21;
/** Clock skew (vs the database, else the api) that is a warning, and a failure. */
const SKEW_WARN_MS = 1_000;
const SKEW_FAIL_MS = 5_000;

const reason = (err: unknown): string => {
  const code = (err as { code?: unknown }).code;
  if (typeof code === 'string') return code;
  // fetch wraps the socket error: its cause carries the code.
  const cause = (err as { cause?: { code?: unknown; message?: unknown } }).cause;
  if (typeof cause?.code === 'string') return cause.code;
  if (typeof cause?.message === 'string') return cause.message;
  return err instanceof Error ? err.message.split('\n')[0]?.slice(0, 160) ?? err.name : String(err);
};

const skewResult = (skewMs: number, against: string): CheckResult => {
  const abs = Math.abs(skewMs);
  const detail = `${(skewMs / 1000).toFixed(2)} s vs ${against} (this host ${skewMs >= 0 ? 'behind' : 'ahead'})`;
  return { check: 'clock', status: abs > SKEW_FAIL_MS ? 'FAIL' : abs > SKEW_WARN_MS ? 'warn' : 'ok', detail };
};

const apiUrlOf = (env: NodeJS.ProcessEnv, config: ApiConfig | null): string => {
  if (env.AIRLOCK_API_URL) return env.AIRLOCK_API_URL.replace(/\/$/, '');
  const host = config?.host ?? '127.0.0.1';
  return `http://${host.includes(':') ? `[${host}]` : host}:${config?.port ?? 8082}`;
};

/** GET {base}/readyz: status, and the server's Date header for a skew estimate. */
const probeReady = async (base: string): Promise<{ status: number; date: number | null }> => {
  const res = await fetch(`${base}/readyz`, { signal: AbortSignal.timeout(5_000), redirect: 'manual' });
  await res.text().catch(() => '');
  const date = res.headers.get('date');
  return { status: res.status, date: date ? Date.parse(date) : null };
};

/** Splits a PEM file into its certificates, leaf first as servers send them. */
const certificatesIn = (pem: string): X509Certificate[] =>
  (pem.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g) ?? []).map((block) => new X509Certificate(block));

export const checkCertificate = (certPath: string, keyPath: string | undefined, now: Date): CheckResult => {
  const check = 'tls';
  let chain: X509Certificate[];
  try {
    chain = certificatesIn(readFileSync(certPath, 'utf8'));
  } catch (err) {
    return { check, status: 'FAIL', detail: `cannot read ${certPath}: ${reason(err)}` };
  }
  const leaf = chain[0];
  if (!leaf) return { check, status: 'FAIL', detail: `${certPath} holds no PEM certificate` };
  for (let i = 0; i + 1 < chain.length; i++) {
    const [cert, issuer] = [chain[i], chain[i + 1]];
    if (!cert || !issuer || !cert.checkIssued(issuer) || !cert.verify(issuer.publicKey)) {
      return { check, status: 'FAIL', detail: `chain broken: certificate ${i + 1} is not signed by certificate ${i + 2} (order: leaf first, then its issuers)` };
    }
  }
  if (keyPath) {
    try {
      if (!leaf.checkPrivateKey(createPrivateKey(readFileSync(keyPath)))) {
        return { check, status: 'FAIL', detail: `${keyPath} is not the key of ${certPath}` };
      }
    } catch (err) {
      return { check, status: 'FAIL', detail: `cannot read the key ${keyPath}: ${reason(err)}` };
    }
  }
  const notAfter = new Date(leaf.validTo);
  const notBefore = new Date(leaf.validFrom);
  const days = Math.floor((notAfter.getTime() - now.getTime()) / 86_400_000);
  const selfSigned = chain.length === 1 && leaf.checkIssued(leaf);
  const what = `${selfSigned ? 'self-signed (agents must pin it)' : `chain of ${chain.length}`}, expires ${notAfter.toISOString().slice(0, 10)}`;
  if (notAfter <= now) return { check, status: 'FAIL', detail: `certificate expired on ${notAfter.toISOString()}` };
  if (notBefore > now) return { check, status: 'FAIL', detail: `certificate not valid before ${notBefore.toISOString()}` };
  if (days < EXPIRY_WARNING_DAYS) return { check, status: 'warn', detail: `${what}: ${days} days left` };
  return { check, status: 'ok', detail: `${what} (${days} days left)` };
};

/**
 * The CA the api loads (AIRLOCK_CA_CERT, else the one under the data dir):
 * does it carry name constraints, and do they admit the configured names?
 * A CA made before issue 18 has none: a warning, with what to do.
 */
const checkCaConstraints = (config: ApiConfig): CheckResult => {
  const check = 'ca';
  const file = config.caCertPath ?? path.join(config.dataDir, 'ca', 'ca.crt');
  let pem: string;
  try {
    pem = readFileSync(file, 'utf8');
  } catch (err) {
    if (!config.caCertPath && (err as NodeJS.ErrnoException).code === 'ENOENT') {
      return { check, status: 'skip', detail: `no CA yet under ${path.dirname(file)} (the api makes one, with name constraints, at first start)` };
    }
    return { check, status: 'FAIL', detail: `cannot read ${file}: ${reason(err)}` };
  }
  let constraints;
  try {
    const [cert] = parseCertificates(pem);
    if (!cert) throw new Error('no certificate');
    constraints = readNameConstraints(cert);
  } catch (err) {
    return { check, status: 'FAIL', detail: `${file}: ${reason(err)}` };
  }
  const verdict = checkCaNameConstraints(constraints, config.certNames, config.trustDomain);
  if (verdict.problems.length > 0) return { check, status: 'FAIL', detail: verdict.problems.join('; ') };
  if (verdict.warning) return { check, status: 'warn', detail: verdict.warning };
  const permitted = [...(constraints?.permittedDns.map((d) => `DNS ${d}`) ?? []), ...(constraints?.permittedUriHosts.map((u) => `URI ${u}`) ?? [])];
  return { check, status: 'ok', detail: `name constraints admit the configured names (permitted: ${permitted.join(', ') || 'any'}${constraints?.excludeAllDns ? '; no DNS names' : ''})` };
};

/** What the edge's upstream answered; a 421 (issue 18's Host allowlist) says which setting to change. */
export const upstreamDetail = (upstream: string, status: number): string =>
  `${upstream}/readyz answers ${status}` +
  (status === 421 ? `: the api does not answer to the name ${new URL(upstream).hostname}; add it to the api's API_ALLOWED_HOSTS` : '');

export const runDoctor = async (env: NodeJS.ProcessEnv, now: () => Date): Promise<CheckResult[]> => {
  const results: CheckResult[] = [];

  // 1. configuration (api always; edge when any EDGE_ variable is set)
  let config: ApiConfig | null = null;
  try {
    config = loadApiConfig(env);
    results.push({ check: 'config', status: 'ok', detail: `api configuration valid (data dir ${config.dataDir})` });
  } catch (err) {
    const problems = err instanceof ConfigError ? err.problems.join('; ') : reason(err);
    results.push({ check: 'config', status: 'FAIL', detail: `api: ${problems}` });
  }
  const edgeConfigured = Object.keys(env).some((k) => k.startsWith('EDGE_') && k !== 'EDGE_REDIS_PREFIX');
  let edgeUpstream: string | null = null;
  if (edgeConfigured) {
    try {
      const edge = loadEdgeConfig(env);
      edgeUpstream = edge.upstream.origin;
      results.push({ check: 'config', status: 'ok', detail: `edge configuration valid (listens ${edge.host}:${edge.port})` });
    } catch (err) {
      results.push({ check: 'config', status: 'FAIL', detail: `edge: ${err instanceof EdgeConfigError ? err.message.replace(/\s*\n\s*/g, '; ') : reason(err)}` });
    }
  }

  // 2. the api, and through it the embedded database
  const apiUrl = apiUrlOf(env, config);
  let apiDate: number | null = null;
  let apiReady = false;
  try {
    const r = await probeReady(apiUrl);
    apiDate = r.date;
    apiReady = r.status === 200;
    results.push(
      apiReady
        ? { check: 'api', status: 'ok', detail: `${apiUrl}/readyz answers ready` }
        : { check: 'api', status: 'FAIL', detail: `${apiUrl}/readyz answers ${r.status}: database unreachable or not migrated` },
    );
  } catch (err) {
    results.push({ check: 'api', status: 'FAIL', detail: `cannot reach ${apiUrl} (${reason(err)}): is the api running?` });
  }

  // 3. database reachability, migration level, clock skew against it
  const dbUrl = config?.databaseUrl;
  if (dbUrl) {
    const shipped = expectedMigrationCount();
    try {
      const local = now().getTime();
      const { applied, nowMs: dbNow } = await withAdminDatabase(dbUrl, (db) => db.probe());
      const roundTrip = now().getTime() - local;
      results.push(
        { check: 'database', status: 'ok', detail: `${describeDatabaseUrl(dbUrl)} reachable` },
        applied === shipped
          ? { check: 'migrations', status: 'ok', detail: `${applied} of ${shipped} applied` }
          : applied < shipped
            ? { check: 'migrations', status: 'FAIL', detail: `${applied} of ${shipped} applied: run \`pnpm airlock migrate\` (the api also migrates at start)` }
            : { check: 'migrations', status: 'FAIL', detail: `${applied} applied but this build ships ${shipped}: the database was migrated by a newer version` },
        // The database's clock was read somewhere inside the round trip: compare with its middle.
        skewResult(dbNow - (local + roundTrip / 2), 'the database'),
      );
    } catch (err) {
      results.push({ check: 'database', status: 'FAIL', detail: `${describeDatabaseUrl(dbUrl)}: ${reason(err)}` });
      results.push({ check: 'migrations', status: 'skip', detail: 'database unreachable' });
    }
  } else {
    results.push(
      apiReady
        ? { check: 'database', status: 'ok', detail: 'embedded (PGlite, owned by the api): reachable and migrated, per /readyz' }
        : { check: 'database', status: 'FAIL', detail: 'embedded (PGlite, owned by the api): only reachable through a running api, which is not ready' },
    );
    if (apiDate !== null) {
      // The HTTP Date header has one-second resolution: allow for it.
      const skew = apiDate - now().getTime();
      results.push(Math.abs(skew) <= 1_000 ? { check: 'clock', status: 'ok', detail: 'within 1 s of the api (Date header)' } : skewResult(skew, 'the api'));
    }
  }

  // 4. Redis (the edge's counters; the api's lockout commands)
  const redisUrl = env.REDIS_URL;
  if (redisUrl) {
    const redis = new Redis(redisUrl, { lazyConnect: true, maxRetriesPerRequest: 0, enableOfflineQueue: false, connectTimeout: 2_000, retryStrategy: () => null });
    redis.on('error', () => {});
    try {
      await redis.connect();
      const pong = await redis.ping();
      results.push({ check: 'redis', status: pong === 'PONG' ? 'ok' : 'FAIL', detail: `${describeRedisUrl(redisUrl)} answers ${pong}` });
    } catch (err) {
      results.push({ check: 'redis', status: 'FAIL', detail: `${describeRedisUrl(redisUrl)}: ${reason(err)}` });
    } finally {
      redis.disconnect();
    }
  } else {
    results.push({ check: 'redis', status: 'skip', detail: 'REDIS_URL unset (edge counters in process, lockout commands unavailable)' });
  }

  // 5. the edge's TLS certificate: configured, else the one `pnpm start` made
  const dataDir = config?.dataDir ?? path.resolve(env.AIRLOCK_DATA_DIR ?? '.airlock');
  const quickstartCert = path.join(dataDir, 'edge-tls', 'edge.crt');
  if (env.EDGE_TLS_CERT) results.push(checkCertificate(env.EDGE_TLS_CERT, env.EDGE_TLS_KEY, now()));
  else if (existsSync(quickstartCert)) results.push(checkCertificate(quickstartCert, path.join(dataDir, 'edge-tls', 'edge.key'), now()));
  else results.push({ check: 'tls', status: 'skip', detail: 'EDGE_TLS_CERT unset and no quickstart certificate' });

  // 5b. Airlock's CA: its name constraints against the certificate names configured (issue 18)
  results.push(config ? checkCaConstraints(config) : { check: 'ca', status: 'skip', detail: 'api configuration invalid' });

  // 6. the edge's upstream, as the edge would reach it
  if (edgeUpstream) {
    try {
      const r = await probeReady(edgeUpstream);
      results.push({ check: 'edge upstream', status: r.status === 200 ? 'ok' : 'FAIL', detail: upstreamDetail(edgeUpstream, r.status) });
    } catch (err) {
      results.push({ check: 'edge upstream', status: 'FAIL', detail: `cannot reach ${edgeUpstream} (${reason(err)})` });
    }
  } else {
    results.push({ check: 'edge upstream', status: 'skip', detail: 'no EDGE_ configuration on this host' });
  }
  return results;
};

/** redis://user:pass@host:port/db without the password. */
const describeRedisUrl = (raw: string): string => {
  try {
    const u = new URL(raw);
    return `${u.protocol}//${u.host}${u.pathname === '/' ? '' : u.pathname}`;
  } catch {
    return '(unparseable REDIS_URL)';
  }
};

export const formatChecks = (results: readonly CheckResult[]): string =>
  results.map((r) => `${r.status.padEnd(5)} ${r.check.padEnd(14)} ${r.detail}`).join('\n') + '\n';
