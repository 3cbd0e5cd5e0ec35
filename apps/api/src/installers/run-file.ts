/**
 * The `.run` file: infra/agent/installer.sh with the site's configuration in
 * its EMBEDDED block, the payload after the __AIRLOCK_PAYLOAD__ line (gzipped
 * tar, base64), and on line 2 the SHA-256 of the file without line 2, which
 * the script checks before it runs anything else.
 */
import { createHash } from 'node:crypto';

export interface EmbeddedConfig {
  site: string;
  server: string;
  /** 64 lower-case hex digits, or null when a CA is embedded instead. */
  pin: string | null;
  caPem: string | null;
  key: string;
  keyVersion: number;
  keyFingerprint: string;
}

const CONFIG_MARK = '# @@AIRLOCK_EMBEDDED_CONFIG@@';
const SUM_PLACEHOLDER = '# airlock-self-sha256 -';
const PAYLOAD_MARK = '__AIRLOCK_PAYLOAD__';

// Every embedded value goes between single quotes in shell; each is checked to
// hold nothing that could end the quotes (the request schemas already
// guarantee it, this keeps the file safe whatever the caller).
const SAFE = /^[A-Za-z0-9_.:/[\]()+= -]*$/;
const quoted = (name: string, value: string): string => {
  if (!SAFE.test(value)) throw new RangeError(`installer: ${name} holds characters that cannot be embedded`);
  return `${name}='${value}'`;
};

const configLines = (c: EmbeddedConfig): string[] => [
  'AIRLOCK_EMBEDDED=1',
  quoted('AIRLOCK_SITE', c.site),
  quoted('AIRLOCK_SERVER', c.server),
  quoted('AIRLOCK_PIN', c.pin === null ? '' : `sha256:${c.pin}`),
  quoted('AIRLOCK_CA_B64', c.caPem === null ? '' : Buffer.from(c.caPem, 'utf8').toString('base64')),
  quoted('AIRLOCK_KEY', c.key),
  quoted('AIRLOCK_KEY_VERSION', String(c.keyVersion)),
  quoted('AIRLOCK_KEY_FINGERPRINT', c.keyFingerprint),
];

/** `airlock-agent-ACME-PHX-v3-9F2A.run` from site `ACME-PHX` and fingerprint `v3 (9F2A)`. */
export const installerFileName = (site: string, keyFingerprint: string): string => {
  const m = /^v(\d+) \(([0-9A-F]{4})\)$/.exec(keyFingerprint);
  if (!m) throw new RangeError(`unexpected key fingerprint ${keyFingerprint}`);
  return `airlock-agent-${site}-v${m[1]}-${m[2]}.run`;
};

export const buildRunFile = (script: string, config: EmbeddedConfig, payloadTgz: Buffer): Buffer => {
  const lines = script.split('\n');
  if (lines[1] !== SUM_PLACEHOLDER) throw new Error('installer.sh: line 2 must be the checksum placeholder');
  const at = lines.indexOf(CONFIG_MARK);
  if (at < 0) throw new Error('installer.sh: the embedded configuration mark is missing');
  lines.splice(at, 1, ...configLines(config));
  const body = lines.join('\n').replace(/\n*$/, '\n');
  const payload = payloadTgz.toString('base64').replace(/.{1,76}/g, '$&\n');
  const [first, , ...rest] = `${body}${PAYLOAD_MARK}\n${payload}`.split('\n');
  const withoutSum = [first, ...rest].join('\n');
  const sum = createHash('sha256').update(withoutSum).digest('hex');
  return Buffer.from([first, `# airlock-self-sha256 ${sum}`, ...rest].join('\n'), 'utf8');
};
