/**
 * After approval (issue 21): a tunnel that starts itself. When the
 * credentials carry `ssh` and enroll runs as root under systemd, it enables
 * and starts `airlock-agent-tunnel.service`, provided that unit is installed
 * and runs the tunnel for this very state directory (its ExecStart says
 * `--state-dir DIR`). Otherwise it prints the exact command to run. Never
 * fails the enrollment: the credentials are already saved.
 */
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import type { CommandContext } from './context.ts';
import type { StatePaths } from './state.ts';

const run = promisify(execFile);
const UNIT = 'airlock-agent-tunnel.service';
/** What `systemctl is-system-running` says when systemd manages the machine (anything else: not under systemd). */
const SYSTEMD_UP = new Set(['running', 'degraded', 'starting', 'initializing', 'maintenance']);

const systemctl = async (args: string[], env: NodeJS.ProcessEnv): Promise<{ ok: boolean; out: string }> => {
  try {
    const r = await run('systemctl', args, { env, timeout: 30_000 });
    return { ok: true, out: r.stdout.trim() };
  } catch (err) {
    const e = err as { stdout?: string; stderr?: string; message?: string };
    return { ok: false, out: `${e.stdout ?? ''}${e.stderr ?? ''}`.trim() || (e.message ?? 'failed') };
  }
};

const escapeRe = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

export const startTunnelService = async (paths: StatePaths, ctx: CommandContext, uid = process.getuid?.() ?? -1): Promise<void> => {
  const { progress } = ctx;
  const dir = paths.dir;
  const byHand = `airlock-agent tunnel --state-dir ${dir}`;
  const state = await systemctl(['is-system-running'], ctx.env);
  const underSystemd = SYSTEMD_UP.has(state.out.split('\n')[0] ?? '');
  if (!underSystemd) {
    progress.plain(`Start the tunnel with: ${byHand}`);
    return;
  }
  if (uid !== 0) {
    progress.plain(`Start the tunnel with: sudo systemctl enable --now ${UNIT}  (or: ${byHand})`);
    return;
  }
  const exec = await systemctl(['show', '-p', 'ExecStart', '--value', UNIT], ctx.env);
  if (!new RegExp(`--state-dir\\s+${escapeRe(dir)}(\\s|;|$)`).test(exec.out)) {
    progress.plain(`${UNIT} is not installed for ${dir}: install infra/systemd/${UNIT} (its ExecStart names the state directory), then`);
    progress.plain(`  systemctl enable --now ${UNIT}`);
    progress.plain(`or start the tunnel with: ${byHand}`);
    return;
  }
  const enabled = await systemctl(['enable', '--now', UNIT], ctx.env);
  if (enabled.ok) {
    progress.ok(`Tunnel service ${UNIT} enabled and started`);
    return;
  }
  progress.warn(`Could not enable ${UNIT}: ${enabled.out.replace(/[^\x20-\x7e\n]/g, '?').slice(0, 300)}`);
  progress.plain(`Start it with: systemctl enable --now ${UNIT}  (or: ${byHand})`);
};
