/**
 * One CLI invocation: parse, run, and map every failure to its exit code.
 * Takes its streams and environment as arguments so tests can run it whole.
 */
import { DatabaseUnreachableError } from '@airlock/api/admin';
import { commandHelp, overviewHelp, parseCommandLine, redactSecrets, UsageError } from './args.ts';
import { AdminClient, ApiRequestError, ApiUnreachableError, ApiUrlError, resolveApiUrl, resolveTlsTrust } from './client.ts';
import { COMMANDS } from './commands/index.ts';
import { CliError, type CommandContext, type Io } from './context.ts';
import type { PasswordInput } from './password-input.ts';
import { loadOperatorToken, TokenError, tokenFilePath } from './token.ts';

const EXIT = { ok: 0, failed: 1, usage: 2, unreachable: 3 } as const;

export interface RunOptions {
  io: Io;
  env: NodeJS.ProcessEnv;
  now?: () => Date;
  stdin?: PasswordInput;
}

const describeApiError = (err: ApiRequestError, env: NodeJS.ProcessEnv): string => {
  const lines = [`error: ${err.code}: ${err.message}`];
  for (const [field, problem] of Object.entries(err.fields)) lines.push(`  ${field}: ${problem}`);
  if (err.status === 401) {
    lines.push(`hint: the operator token (AIRLOCK_TOKEN or ${tokenFilePath(env)}) was not accepted`);
  } else if (err.status === 403) {
    lines.push('hint: this needs an operator with the admin role');
  }
  return lines.join('\n');
};

export const runCli = async (rawArgv: readonly string[], opts: RunOptions): Promise<number> => {
  const { io, env } = opts;
  // `airlock help [COMMAND…]` is `airlock [COMMAND…] --help`.
  const argv = rawArgv[0] === 'help' ? [...rawArgv.slice(1), '--help'] : rawArgv;
  let usageFor: Parameters<typeof commandHelp>[0] | undefined;
  try {
    const parsed = parseCommandLine(argv, COMMANDS);
    if (!parsed.command) {
      if (parsed.globals.help) {
        io.out(overviewHelp(COMMANDS, parsed.group));
        return EXIT.ok;
      }
      io.err(overviewHelp(COMMANDS));
      return EXIT.usage;
    }
    const command = parsed.command;
    usageFor = command;
    if (parsed.globals.help) {
      io.out(commandHelp(command));
      return EXIT.ok;
    }
    let client: AdminClient | undefined;
    const ctx: CommandContext = {
      io,
      env,
      json: parsed.globals.json,
      now: opts.now ?? (() => new Date()),
      values: parsed.values,
      positionals: parsed.positionals,
      stdin: opts.stdin ?? process.stdin,
      admin: () => {
        if (client) return client;
        const baseUrl = resolveApiUrl(parsed.globals.api, env);
        const token = loadOperatorToken(env);
        if (!token) {
          throw new TokenError(
            `no operator token: set AIRLOCK_TOKEN, or put one in ${tokenFilePath(env)} (mode 0600). ` +
              'The first admin token comes from `pnpm airlock operators create` with DATABASE_URL set (or `pnpm start`, which leaves one in the data dir).',
          );
        }
        client = new AdminClient({ baseUrl, token: token.token, trust: resolveTlsTrust({ ca: ['AIRLOCK_API_CA', env.AIRLOCK_API_CA], pin: ['AIRLOCK_API_PIN', env.AIRLOCK_API_PIN] }) });
        return client;
      },
    };
    await command.run(ctx);
    return EXIT.ok;
  } catch (err) {
    if (err instanceof UsageError || err instanceof ApiUrlError) {
      const command = err instanceof UsageError ? err.command ?? usageFor : usageFor;
      const group = err instanceof UsageError ? err.group : [];
      io.err(`error: ${err.message}\n\n${command ? commandHelp(command) : overviewHelp(COMMANDS, group)}`);
      return EXIT.usage;
    }
    if (err instanceof ApiUnreachableError) {
      io.err(
        `error: cannot reach the api at ${err.url} (${err.reason})\n` +
          'hint: check that the api is running (`pnpm start`, or `systemctl status airlock-api`) and that --api or AIRLOCK_API_URL points at it\n',
      );
      return EXIT.unreachable;
    }
    if (err instanceof DatabaseUnreachableError) {
      io.err(`error: ${err.message}\n`);
      return EXIT.unreachable;
    }
    if (err instanceof ApiRequestError) {
      io.err(`${redactSecrets(describeApiError(err, env))}\n`);
      return EXIT.failed;
    }
    if (err instanceof TokenError || err instanceof CliError) {
      io.err(`error: ${err.message}\n`);
      return EXIT.failed;
    }
    // Unexpected: say what, not where (no stack), and never a secret.
    const message = err instanceof Error ? `${err.name}: ${err.message}` : String(err);
    io.err(`error: unexpected failure: ${redactSecrets(message)}\n`);
    return EXIT.failed;
  }
};
