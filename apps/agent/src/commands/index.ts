import { enrollCommand } from './enroll.ts';
import { recoverCommand } from './recover.ts';
import { renewCommand } from './renew.ts';
import { statusCommand } from './status.ts';
import type { AgentCommand } from './types.ts';

export type { AgentCommand } from './types.ts';

/**
 * Every `airlock-agent <command>`, in the order `--help` lists them. A new
 * command is one module in this folder plus one line here.
 */
export const COMMANDS: readonly AgentCommand[] = [
  enrollCommand,
  renewCommand,
  recoverCommand,
  statusCommand,
  // tunnel: `airlock-agent tunnel` (commands/tunnel.ts, written on the tunnel
  // branch) goes here, e.g. { name: 'tunnel', summary, help: () => TUNNEL_HELP,
  // run: (argv, ctx) => runTunnelCommand(argv, { err: ctx.err, env: ctx.env, signal: ctx.signal }) }.
];

export const findCommand = (name: string): AgentCommand | undefined => COMMANDS.find((c) => c.name === name);
