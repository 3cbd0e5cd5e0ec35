import * as path from 'node:path';
import { setTimeout as sleepFor } from 'node:timers/promises';
import type { TlsFlags } from './args.ts';
import type { ExitCode } from './exit-codes.ts';
import { createHttpClient, formatPin, type HttpClient } from './http.ts';
import type { Explanation } from './messages.ts';
import type { Progress, Sink } from './progress.ts';
import { proxyFor } from '@airlock/transport';
import { defaultStateDir, statePaths, type StatePaths } from './state.ts';
import { AGENT_VERSION } from './version.ts';

/** What every command gets from the CLI: output, the Ctrl-C signal and the environment. */
export interface CommandContext {
  progress: Progress;
  /** Raw standard output, for machine-readable answers (`status --json`) that must carry nothing else. */
  out: Sink;
  /** Raw standard error, for prompts' retry hints. */
  err: Sink;
  /** Aborted by Ctrl-C / SIGTERM. Only sleeps listen to it: see checkInterrupted. */
  signal: AbortSignal;
  /** For HTTPS_PROXY / NO_PROXY and AIRLOCK_ENROLLMENT_KEY; process.env in production. */
  env: NodeJS.ProcessEnv;
  /** Reads one line from the person at the keyboard; only given when stdin is a terminal. */
  prompt?: (question: string) => Promise<string | null>;
  now?: () => number;
}

/** Ctrl-C or SIGTERM arrived; the CLI prints how to resume and exits 130. */
export class InterruptedError extends Error {
  override readonly name = 'InterruptedError';
  constructor(
    readonly paths: StatePaths,
    readonly resumable: boolean,
  ) {
    super('interrupted');
  }
}

const USER_AGENT = `airlock-agent/${AGENT_VERSION} (node ${process.versions.node}; ${process.platform})`;

export const resolveStatePaths = (stateDir: string | undefined): StatePaths =>
  statePaths(path.resolve(stateDir ?? defaultStateDir()));

/** `--state-dir DIR` when DIR is not the default, for hints the person can paste. */
export const stateDirFlag = (paths: StatePaths): string => (paths.dir === defaultStateDir() ? '' : ` --state-dir ${paths.dir}`);

/**
 * Requests are never aborted half-way: a status read that the server answered
 * with credentials must not be thrown away, and an enroll that consumed a
 * pairing code must be recorded. So an interrupt is honoured between steps.
 */
export const checkInterrupted = (ctx: CommandContext, paths: StatePaths, resumable: boolean): void => {
  if (ctx.signal.aborted) throw new InterruptedError(paths, resumable);
};

export const sleep = async (ms: number, ctx: CommandContext, paths: StatePaths, resumable: boolean): Promise<void> => {
  try {
    await sleepFor(ms, undefined, { signal: ctx.signal });
  } catch {
    throw new InterruptedError(paths, resumable);
  }
};

export const refuse = (progress: Progress, explanation: Explanation): ExitCode => {
  progress.fail(explanation);
  return explanation.exitCode;
};

/** The one HTTP client every command uses: TLS policy, pin and proxy applied. */
export const connectTo = (server: URL, tls: TlsFlags, env: NodeJS.ProcessEnv): Promise<HttpClient> =>
  createHttpClient({ server, tls, userAgent: USER_AGENT, proxy: proxyFor(server, env) });

export const tlsDescription = (server: URL, tls: TlsFlags): string => {
  if (server.protocol === 'http:') return 'plain HTTP: NOT ENCRYPTED';
  if (tls.pin) return `certificate matches pin ${formatPin(tls.pin).slice(0, 23)}…`;
  if (tls.insecure) return 'certificate NOT VERIFIED';
  return tls.caFile ? `certificate verified against ${tls.caFile}` : 'certificate verified';
};

export const warnInsecure = (progress: Progress, server: URL, tls: TlsFlags): void => {
  if (!tls.insecure) return;
  if (server.protocol === 'http:') {
    progress.warn('WARNING: --insecure with http:// — the pairing code, poll token and agent key cross the network in clear text.');
  } else if (!tls.pin) {
    progress.warn('WARNING: --insecure — the server certificate is NOT verified; anyone on the path can impersonate the server.');
  }
  progress.warn('WARNING: use --insecure only in a lab. Prefer --ca-file FILE or --pin sha256:HEX.');
};
