import { enrollCommand } from './enroll.ts';
import { machineIdCommand } from './machine-id.ts';
import { recoverCommand } from './recover.ts';
import { renewCommand } from './renew.ts';
import { rotateKeyCommand } from './rotate-key.ts';
import { statusCommand } from './status.ts';
import { tunnelCommand } from './tunnel.ts';
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
  rotateKeyCommand,
  statusCommand,
  tunnelCommand,
  machineIdCommand,
];

export const findCommand = (name: string): AgentCommand | undefined => COMMANDS.find((c) => c.name === name);
