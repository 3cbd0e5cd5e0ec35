/**
 * Per-site installers (issue 23): the api builds and signs them, this writes
 * the files. `sites installer` and `installers allowed-signers|rotate-signing-key`.
 */
import { readFileSync } from 'node:fs';
import { mkdir, rename, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { ResponseOf } from '@airlock/client';
import { booleanFlag, choiceFlag, requiredFlag, stringFlag, UsageError } from '../args.ts';
import { CliError, emit, positional, type Command } from '../context.ts';
import { buildDeb } from '../deb.ts';

type Built = ResponseOf<'buildInstaller'>;
type Signers = ResponseOf<'installerSigners'>;

const readText = (file: string, what: string): string => {
  try {
    return readFileSync(file, 'utf8');
  } catch (err) {
    throw new CliError(`cannot read ${what} ${file}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`);
  }
};

/** Written under a temporary name, then renamed: a half-written installer never carries the final name. */
const writeAtomically = async (file: string, data: string | Buffer, mode: number): Promise<void> => {
  const tmp = `${file}.${process.pid}.tmp`;
  await writeFile(tmp, data, { mode });
  await rename(tmp, file);
};

export const sitesInstallerCommand: Command = {
  path: ['sites', 'installer'],
  positionals: ['site'],
  options: {
    server: { type: 'string' },
    pin: { type: 'string' },
    'ca-file': { type: 'string' },
    out: { type: 'string' },
    rotate: { type: 'boolean' },
    'key-file': { type: 'string' },
    format: { type: 'string' },
  },
  synopsis: '--server URL (--pin sha256:HEX | --ca-file PEM) --out DIR (--rotate | --key-file FILE) [--format run|deb]',
  summary: "build a site's signed installer (.run, .run.sha256, .run.sig; --format deb adds a .deb)",
  details: `  --server URL        what appliances dial: https://HOST[:PORT]
  --pin sha256:HEX    the server certificate's SHA-256, or
  --ca-file PEM       the CA that signs the server's certificate
  --out DIR           where the files go (created if needed)
  --rotate            mint the site's next enrollment key and embed it (older installers
                      stop enrolling); the key is also printed once, alone on the last line
  --key-file FILE     embed a key you saved (cek_…); refused unless it is the site's current key
  --format deb        also build airlock-agent-SITE_VERSION_all.deb (needs dpkg-deb)

Writes DIR/airlock-agent-SITE-vN-XXXX.run (+ .sha256, + .sig). Verify a download with
  sha256sum -c FILE.run.sha256
  airlock installers allowed-signers > allowed_signers
  ssh-keygen -Y verify -f allowed_signers -I airlock -n airlock-installer -s FILE.run.sig < FILE.run`,
  run: async (ctx) => {
    const cmd = sitesInstallerCommand;
    const site = positional(ctx, 0).toUpperCase();
    const server = requiredFlag(ctx.values, 'server', cmd);
    const out = requiredFlag(ctx.values, 'out', cmd);
    const pin = stringFlag(ctx.values, 'pin');
    const caFile = stringFlag(ctx.values, 'ca-file');
    const keyFile = stringFlag(ctx.values, 'key-file');
    const rotate = booleanFlag(ctx.values, 'rotate');
    const format = choiceFlag(ctx.values, 'format', ['run', 'deb'] as const, cmd) ?? 'run';
    if ((pin === undefined) === (caFile === undefined)) throw new UsageError('give exactly one of --pin or --ca-file', cmd);
    if (rotate === (keyFile !== undefined)) throw new UsageError('give exactly one of --rotate or --key-file', cmd);
    // The key is checked against the site's current version by the api before any file is written here.
    const body = {
      server,
      ...(pin !== undefined ? { pin } : { ca_pem: readText(caFile ?? '', 'the CA file') }),
      ...(rotate ? { rotate: true } : { enrollment_key: readText(keyFile ?? '', 'the key file').trim() }),
    };
    const built = await ctx.admin().post<Built>(`/api/v1/admin/sites/${encodeURIComponent(site)}/installer`, body);
    await mkdir(out, { recursive: true });
    const runPath = path.join(out, built.file_name);
    const run = Buffer.from(built.installer_base64, 'base64');
    // The .run carries the site's enrollment key: readable by its owner only.
    await writeAtomically(runPath, run, 0o600);
    await writeAtomically(`${runPath}.sha256`, `${built.sha256}  ${built.file_name}\n`, 0o644);
    await writeAtomically(`${runPath}.sig`, built.signature, 0o644);
    const files = [runPath, `${runPath}.sha256`, `${runPath}.sig`];
    if (format === 'deb') files.push(await buildDeb({ run, fileName: built.file_name, site: built.site_code, keyVersion: built.key_version, outDir: out }));
    emit(ctx, { ...built, installer_base64: undefined, files }, () =>
      [
        `built the installer of ${built.site_code} with enrollment key ${built.key_fingerprint}, signed by ${built.signer_fingerprint}:`,
        ...files.map((f) => `  ${f}`),
        ...(built.enrollment_key !== undefined
          ? ['WARNING: the new enrollment key is shown only now (older installers stop enrolling); it is also inside the installer.', built.enrollment_key]
          : []),
        '',
      ].join('\n'),
    );
  },
};

export const installersAllowedSignersCommand: Command = {
  path: ['installers', 'allowed-signers'],
  positionals: [],
  options: {},
  synopsis: '',
  summary: 'print the allowed_signers lines that let ssh-keygen -Y verify check any installer',
  details: `  airlock installers allowed-signers > allowed_signers
  ssh-keygen -Y verify -f allowed_signers -I airlock -n airlock-installer -s FILE.run.sig < FILE.run
During a signing-key overlap both keys are listed, the current one first.`,
  run: async (ctx) => {
    const signers = await ctx.admin().get<Signers>('/api/v1/admin/installers/allowed-signers');
    emit(ctx, signers, (s) => s.allowed_signers);
  },
};

export const installersRotateSigningKeyCommand: Command = {
  path: ['installers', 'rotate-signing-key'],
  positionals: [],
  options: {},
  synopsis: '',
  summary: 'make a new installer signing key (the previous one stays in allowed-signers until the next rotation)',
  details: '',
  run: async (ctx) => {
    const signers = await ctx.admin().post<Signers>('/api/v1/admin/installers/signing-key');
    emit(ctx, signers, (s) => s.keys.map((k) => `${k.current ? 'current ' : 'previous'} ${k.fingerprint}\n`).join(''));
  },
};
