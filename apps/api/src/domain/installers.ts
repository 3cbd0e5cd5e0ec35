/**
 * Per-site installers (issue 23): built here because the api holds both the
 * installer signing key and the site keys' digests. An installer embeds the
 * site's current enrollment key: minted now (`rotate`), or given back by the
 * operator and checked against the current version before anything is built.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import { secretDigest } from '@airlock/crypto';
import type { BuildInstallerRequest } from '@airlock/schema';
import { ApiError } from '../errors.ts';
import { AgentBundleMissing, readInstallerSources, type InstallerSources } from '../installers/payload.ts';
import { buildRunFile, installerFileName } from '../installers/run-file.ts';
import { allowedSigners, rotateSigningKey, signerKeys, signInstaller, type SignerKey } from '../installers/signing-key.ts';
import { tarGz } from '../installers/tar.ts';
import { getActiveEnrollmentKey, getSite } from '../store/sites.ts';
import { recordAudit } from './audit.ts';
import type { Actor, Client, Deps } from './deps.ts';
import { rotateEnrollmentKey } from './sites.ts';

const signersView = (keys: SignerKey[]) => ({
  allowed_signers: allowedSigners(keys),
  keys: keys.map((k) => ({ fingerprint: k.fingerprint, public_key: k.publicKey, current: k.current })),
});

export const installerSigners = (deps: Deps) => signersView(signerKeys(deps.config.dataDir));

export const rotateInstallerSigningKey = async (deps: Deps, actor: Actor, client: Client) => {
  const keys = rotateSigningKey(deps.config.dataDir);
  await recordAudit(deps.db, deps, client, {
    eventType: 'installer.signing_key_rotated',
    actor: actor.name,
    details: { current: keys[0]?.fingerprint ?? null, previous: keys[1]?.fingerprint ?? null },
  });
  return signersView(keys);
};

const sources = (deps: Deps): InstallerSources => {
  try {
    return readInstallerSources(deps.config.agentBundlePath);
  } catch (err) {
    if (err instanceof AgentBundleMissing) {
      deps.logger.warn('installer build refused: agent bundle missing', { error: err.message });
      throw new ApiError('service_unavailable', 'The agent bundle is not built on the api host; run `pnpm build` there');
    }
    throw err;
  }
};

const sameDigest = (a: string, b: string): boolean => a.length === b.length && timingSafeEqual(Buffer.from(a), Buffer.from(b));

/** A refused saved key is audited (which site, why; never the key). */
const refuse = (siteCode: string, reason: string, message: string) =>
  new ApiError('conflict', message, { audit: { eventType: 'site.installer_refused', siteCode, details: { reason } } });

/** The operator's saved key, if it is the site's current and still usable key; a 409 naming the current version otherwise. */
const checkSavedKey = async (deps: Deps, siteCode: string, key: string) => {
  const current = await getActiveEnrollmentKey(deps.db, siteCode);
  if (!current) throw refuse(siteCode, 'no_key', `Site ${siteCode} has no enrollment key; build with rotate to mint one`);
  if (!sameDigest(secretDigest(key), current.digest)) {
    throw refuse(siteCode, 'not_current', `That key is not the current enrollment key of ${siteCode} (current: ${current.fingerprint}); use the current key or rotate`);
  }
  const now = deps.clock.now();
  if (current.expiresAt !== null && current.expiresAt <= now) {
    throw refuse(siteCode, 'expired', `The enrollment key ${current.fingerprint} of ${siteCode} has expired; rotate`);
  }
  if (current.maxUses !== null && current.useCount >= current.maxUses) {
    throw refuse(siteCode, 'used_up', `The enrollment key ${current.fingerprint} of ${siteCode} has no uses left; rotate`);
  }
  return { key, version: current.version, fingerprint: current.fingerprint };
};

export const buildInstaller = async (deps: Deps, siteCode: string, body: BuildInstallerRequest, actor: Actor, client: Client) => {
  // Another tenant's site is as missing as one that does not exist, whatever else is wrong.
  if (!(await getSite(deps.db, siteCode, actor))) throw new ApiError('not_found', `No site ${siteCode}`);
  // Read first: a missing bundle must not cost the site a rotation.
  const src = sources(deps);
  const minted = body.rotate === true;
  const k = minted
    ? await rotateEnrollmentKey(deps, siteCode, {}, actor, client)
    : await checkSavedKey(deps, siteCode, body.enrollment_key ?? '');
  const now = deps.clock.now();
  const run = buildRunFile(
    src.script,
    {
      site: siteCode,
      server: body.server,
      pin: body.pin ?? null,
      caPem: body.ca_pem ?? null,
      key: k.key,
      keyVersion: k.version,
      keyFingerprint: k.fingerprint,
    },
    tarGz(src.files, Math.floor(now.getTime() / 1000)),
  );
  const { signature, signerFingerprint } = signInstaller(deps.config.dataDir, run);
  const sha256 = createHash('sha256').update(run).digest('hex');
  const fileName = installerFileName(siteCode, k.fingerprint);
  await recordAudit(deps.db, deps, client, {
    eventType: 'site.installer_built',
    actor: actor.name,
    siteCode,
    details: { key_version: k.version, key_fingerprint: k.fingerprint, minted_key: minted, server: body.server, sha256, signer: signerFingerprint },
  });
  return {
    site_code: siteCode,
    file_name: fileName,
    key_version: k.version,
    key_fingerprint: k.fingerprint,
    installer_base64: run.toString('base64'),
    sha256,
    signature,
    signer_fingerprint: signerFingerprint,
    ...(minted ? { enrollment_key: k.key } : {}),
  };
};
