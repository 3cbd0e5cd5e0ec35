import type { CommandContext } from '../context.ts';
import type { ExitCode } from '../exit-codes.ts';

/**
 * One `airlock-agent <name>` command: it parses its own flags (throwing
 * UsageError for exit 2) and does its job over the shared state store and
 * client. Registered in commands/index.ts.
 */
export interface AgentCommand {
  name: string;
  /** One line for the top-level `--help`. */
  summary: string;
  /** `airlock-agent <name> --help`. */
  help: () => string;
  run: (argv: readonly string[], ctx: CommandContext) => Promise<ExitCode>;
}
