/**
 * sshd in the foreground, kept running. Its `-e` log is passed on for
 * operators as opaque, escaped text and drives nothing: a client can write
 * newlines into it (issue 18, finding 1). "sshd listens" is read from the
 * kernel's TCP table (a LISTEN socket on our port held by our sshd).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import type { TunnelConfig } from './env.ts';
import type { LogFn } from './events.ts';
import { isOurLocal, socketInodes, tcpSockets, TCP_LISTEN } from './procfs.ts';

const RESTART_MIN_MS = 500;
const RESTART_MAX_MS = 30_000;
const LISTEN_PROBE_MS = 100;

/**
 * A client-shaped log line made safe to show: control characters (C0, DEL,
 * C1) as \xNN, bounded. Still untrusted text: never parse it.
 */
export const escapeLogText = (line: string, max = 300): string =>
  // eslint-disable-next-line no-control-regex
  line.slice(0, max).replace(/[\x00-\x1f\x7f-\x9f]/g, (ch) => `\\x${ch.charCodeAt(0).toString(16).padStart(2, '0')}`);

export interface SshdProcess {
  /** Resolves once sshd listens on our port (the first time). */
  listening: Promise<void>;
  /** SIGHUP: sshd re-executes itself with the same absolute paths and re-reads its config; sessions stay. */
  reload(): void;
  stop(): Promise<void>;
}

/** The inode of the LISTEN socket on our address and port that `pid` holds, or null. */
const listenerOf = async (pid: number, host: string, port: number): Promise<string | null> => {
  const listeners = new Set((await tcpSockets()).filter((s) => s.state === TCP_LISTEN && isOurLocal(s, host, port)).map((s) => s.inode));
  if (listeners.size === 0) return null;
  for (const inode of await socketInodes(pid)) if (listeners.has(inode)) return inode;
  return null;
};

export const startSshd = (config: Pick<TunnelConfig, 'sshd' | 'host' | 'port'>, sshdConfigPath: string, log: LogFn, onRestart: () => void = () => {}): SshdProcess => {
  let child: ChildProcess | null = null;
  let stopping = false;
  let restartDelay = RESTART_MIN_MS;
  let restartTimer: NodeJS.Timeout | null = null;
  let markListening: () => void = () => {};
  const listening = new Promise<void>((r) => (markListening = r));

  // Polls /proc until this sshd holds a listening socket (other than `before`, the one a reload closes); logs it each time.
  let probe: NodeJS.Timeout | null = null;
  let current: string | null = null;
  const watchListen = (proc: ChildProcess, before: string | null = null) => {
    if (probe) clearInterval(probe);
    let busy = false;
    probe = setInterval(() => {
      if (busy || proc.pid === undefined) return;
      busy = true;
      listenerOf(proc.pid, config.host, config.port)
        .then((inode) => {
          if (inode === null || inode === before || child !== proc) return;
          current = inode;
          if (probe) clearInterval(probe);
          probe = null;
          log('info', 'sshd listening', { pid: proc.pid ?? null, port: config.port });
          markListening();
        })
        .catch(() => {})
        .finally(() => (busy = false));
    }, LISTEN_PROBE_MS);
  };

  const start = () => {
    const started = Date.now();
    const proc = spawn(config.sshd, ['-D', '-e', '-f', sshdConfigPath], { stdio: ['ignore', 'pipe', 'pipe'] });
    child = proc;
    log('info', 'sshd started', { pid: proc.pid ?? null });
    for (const stream of [proc.stdout, proc.stderr]) {
      if (!stream) continue;
      // sshd's text, some of it a stranger's: passed on for operators, escaped, never acted on.
      createInterface({ input: stream }).on('line', (line) => log('info', 'sshd', { line: escapeLogText(line) }));
    }
    proc.once('error', (err) => log('error', 'sshd could not be started', { reason: err.message }));
    watchListen(proc);
    proc.once('exit', (code, signal) => {
      if (child === proc) child = null;
      if (stopping) return;
      // A crash loop backs off; a long healthy run starts the backoff over.
      if (Date.now() - started > 60_000) restartDelay = RESTART_MIN_MS;
      log('error', 'sshd exited; restarting', { code, signal, in_ms: restartDelay });
      onRestart();
      restartTimer = setTimeout(start, restartDelay);
      restartDelay = Math.min(restartDelay * 2, RESTART_MAX_MS);
    });
  };
  start();

  return {
    listening,
    reload: () => {
      if (child && child.exitCode === null) {
        log('info', 'sshd reload requested');
        child.kill('SIGHUP');
        // sshd closes its listener, re-executes in place and opens a new one.
        watchListen(child, current);
      }
    },
    stop: async () => {
      stopping = true;
      if (restartTimer) clearTimeout(restartTimer);
      if (probe) clearInterval(probe);
      const proc = child;
      if (proc && proc.exitCode === null && proc.signalCode === null) {
        const exited = new Promise((r) => proc.once('exit', r));
        proc.kill('SIGTERM');
        await exited;
      }
    },
  };
};
