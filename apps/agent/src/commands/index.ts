import { enrollCommand } from './enroll.ts';
import { statusCommand } from './status.ts';
import type { AgentCommand } from './types.ts';

export type { AgentCommand } from './types.ts';

/**
 * Every `airlock-agent <command>`, in the order `--help` lists them. A new
 * command is one module in this folder plus one line here.
 */
export const COMMANDS: readonly AgentCommand[] = [
  enrollCommand,
  statusCommand,
  // tunnel: `airlock-agent tunnel` (commands/tunnel.ts) goes here.
];

export const findCommand = (name: string): AgentCommand | undefined => COMMANDS.find((c) => c.name === name);
