import { UsageError } from './args.ts';
import { COMMANDS, findCommand } from './commands/index.ts';
import { InterruptedError, stateDirFlag, type CommandContext } from './context.ts';
import { ExitCode } from './exit-codes.ts';
import { helpText } from './help.ts';
import { TransportError } from './http.ts';
import type { Explanation } from './messages.ts';
import { Progress, type Sink } from './progress.ts';
import { ProtocolError } from './protocol.ts';
import { StateError, type StatePaths } from './state.ts';
import { AGENT_VERSION } from './version.ts';

export interface CliIo {
  out: Sink & { isTTY?: boolean };
  err: Sink;
  env: NodeJS.ProcessEnv;
  /** Aborted on the first Ctrl-C / SIGTERM. */
  signal: AbortSignal;
  /** Reads one line from the person at the keyboard; only given when stdin is a terminal. */
  prompt?: (question: string) => Promise<string | null>;
  /** The clock; tests move it to see renewal fall due. */
  now?: () => number;
}

const isHelp = (arg: string | undefined): boolean => arg === '--help' || arg === '-h' || arg === 'help';

/**
 * The whole command line, minus process wiring, so tests can drive it
 * in-process for everything that never touches the network. Finds the
 * command in the registry (commands/index.ts) and maps every failure to its
 * message and exit code.
 */
export const runCli = async (argv: readonly string[], io: CliIo): Promise<ExitCode> => {
  const tty = io.out.isTTY === true && io.env.TERM !== 'dumb';
  const progress = new Progress({ out: io.out, err: io.err, tty, color: tty && io.env.NO_COLOR === undefined });
  const [first, ...rest] = argv;
  try {
    if (first === undefined || isHelp(first)) {
      const topic = rest[0] === undefined ? undefined : findCommand(rest[0]);
      io.out.write(topic ? topic.help() : helpText(COMMANDS));
      return ExitCode.Ok;
    }
    if (first === 'version' || first === '--version' || first === '-V') {
      io.out.write(`airlock-agent ${AGENT_VERSION}\n`);
      return ExitCode.Ok;
    }
    const command = findCommand(first);
    if (command === undefined) {
      const names = COMMANDS.map((c) => `"${c.name}"`).join(', ');
      throw new UsageError(`unknown command "${first}"; expected one of ${names} (see airlock-agent --help)`);
    }
    if (rest.some((arg) => arg === '--help' || arg === '-h')) {
      io.out.write(command.help());
      return ExitCode.Ok;
    }
    const ctx: CommandContext = {
      progress,
      out: io.out,
      err: io.err,
      signal: io.signal,
      env: io.env,
      ...(io.prompt ? { prompt: io.prompt } : {}),
      ...(io.now ? { now: io.now } : {}),
    };
    return await command.run(rest, ctx);
  } catch (error) {
    progress.stopWaiting();
    if (error instanceof UsageError) {
      // Terse, like any CLI's usage error: the one-line fix is in the message.
      io.err.write(`airlock-agent: ${error.message}\nRun airlock-agent --help for usage.\n`);
      return ExitCode.Usage;
    }
    const explanation = explainFailure(error);
    progress.fail(explanation);
    return explanation.exitCode;
  }
};
const resumeHint = (paths: StatePaths): string => `airlock-agent enroll --resume${stateDirFlag(paths)}`;

/** Maps every other thrown failure to what happened, what to do and the exit code. */
const explainFailure = (error: unknown): Explanation => {
  if (error instanceof InterruptedError) {
    return error.resumable
      ? {
          exitCode: ExitCode.Interrupted,
          title: 'Interrupted. The enrollment is saved; nothing was lost.',
          detail: `State: ${error.paths.enrollment}`,
          action: `Resume with: ${resumeHint(error.paths)}`,
        }
      : {
          exitCode: ExitCode.Interrupted,
          title: 'Interrupted before the server accepted the enrollment.',
          action: 'Run the same airlock-agent enroll command again.',
        };
  }
  if (error instanceof TransportError) return explainTransport(error);
  if (error instanceof StateError) {
    return { exitCode: ExitCode.Internal, title: `The state directory cannot be used: ${error.message}.`, action: 'Fix it, or pass --state-dir DIR.' };
  }
  if (error instanceof ProtocolError) {
    return {
      exitCode: ExitCode.Internal,
      title: `Unexpected answer: ${error.message}.`,
      action: `Check --server, and report this with the agent version (${AGENT_VERSION}).`,
    };
  }
  const code = typeof error === 'object' && error !== null && 'code' in error ? String(error.code) : '';
  if (code === 'EACCES' || code === 'EPERM' || code === 'EROFS') {
    return {
      exitCode: ExitCode.Internal,
      title: `Cannot write the state directory: ${(error as Error).message}.`,
      action: 'Run as root (the default directory is /var/lib/airlock-agent for root) or pass --state-dir DIR.',
    };
  }
  return {
    exitCode: ExitCode.Internal,
    title: `Unexpected error: ${error instanceof Error ? error.message : String(error)}`,
    action: `Report this with the agent version (${AGENT_VERSION}).`,
  };
};

const explainTransport = (error: TransportError): Explanation => {
  switch (error.kind) {
    case 'pin':
      return {
        exitCode: ExitCode.Network,
        title: 'The server certificate does not match --pin; nothing was sent.',
        detail: `${error.message}. Someone may be intercepting the connection, or the certificate was replaced.`,
        action: 'Confirm the fingerprint with your administrator (the edge prints it at start-up). Do not switch to --insecure.',
      };
    case 'tls':
      return {
        exitCode: ExitCode.Network,
        title: 'Could not establish a trusted TLS connection; nothing was sent.',
        detail: error.message,
        action:
          'If the server uses a private CA, pass --ca-file FILE; for a self-signed certificate pass --pin sha256:HEX as given by your administrator. Check the clock too (expired/not-yet-valid certificates).',
      };
    case 'timeout':
      return {
        exitCode: ExitCode.Network,
        title: `The server did not answer in time: ${error.message}.`,
        action: 'Check the network path to the server (firewall, proxy) and try again.',
      };
    case 'protocol':
      return { exitCode: ExitCode.Network, title: `Bad answer from the server: ${error.message}.`, action: 'Check --server.' };
    case 'aborted':
      return { exitCode: ExitCode.Interrupted, title: 'Interrupted.', action: 'Run the command again.' };
    case 'network':
      return {
        exitCode: ExitCode.Network,
        title: `Cannot reach the server: ${error.message}.`,
        action: 'Check --server (host and port), DNS, and that outbound HTTPS to it is allowed.',
      };
  }
};

