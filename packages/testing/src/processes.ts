/** Child processes for tests: started with their output kept, stopped for sure. */
import { spawn, type ChildProcess } from 'node:child_process';
import { REPO_ROOT, TSX } from './paths.ts';

export interface ManagedProcess {
  child: ChildProcess;
  output: () => string;
  stop(signal?: NodeJS.Signals): Promise<number | null>;
}

/** A `.js` entry (the build, apps/<app>/dist) runs on plain node; TypeScript through tsx. */
export const spawnManaged = (args: string[], env: Record<string, string>): ManagedProcess => {
  const command = args[0]?.endsWith('.js') ? process.execPath : TSX;
  const child = spawn(command, args, { cwd: REPO_ROOT, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout?.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr?.on('data', (d: Buffer) => (out += d.toString()));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  return {
    child,
    output: () => out,
    stop: async (signal = 'SIGTERM') => {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
      const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
      const code = await exited;
      clearTimeout(timer);
      return code;
    },
  };
};

/** Polls a URL until it answers 200, or fails with the process output. */
export const waitForHttp = async (url: string, proc: ManagedProcess, opts: { timeoutMs?: number } = {}) => {
  const deadline = Date.now() + (opts.timeoutMs ?? 60_000);
  while (Date.now() < deadline) {
    if (proc.child.exitCode !== null) throw new Error(`process exited early:\n${proc.output()}`);
    try {
      const res = await fetch(url);
      if (res.status === 200) return;
    } catch {
      // not listening yet
    }
    await new Promise((r) => setTimeout(r, 150));
  }
  throw new Error(`timed out waiting for ${url}:\n${proc.output()}`);
};

export const stopProcess = async (p: { child: ChildProcess; exited: Promise<number | null> }): Promise<void> => {
  if (p.child.exitCode === null && p.child.signalCode === null) {
    p.child.kill('SIGKILL');
    await p.exited;
  }
};

