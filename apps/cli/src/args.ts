/**
 * Argument handling for `pnpm airlock`: finds the command named by the
 * leading words (`sites key rotate`), then parses its flags with
 * `node:util` parseArgs in strict mode, so a typo is an error, not a no-op.
 */
import { parseArgs, type ParseArgsConfig } from 'node:util';

/** A mistake in how the command was called: exit 2 with the usage text. */
export class UsageError extends Error {
  override readonly name = 'UsageError';
  constructor(
    message: string,
    /** The command whose usage to print; undefined prints the overview. */
    readonly command?: CommandSpecBase,
    /** Without a command: the words given, to list only that group's commands. */
    readonly group: readonly string[] = [],
  ) {
    super(message);
  }
}

export type OptionSpecs = NonNullable<ParseArgsConfig['options']>;
export type OptionValue = string | boolean | (string | boolean)[] | undefined;
export type OptionValues = Record<string, OptionValue>;

/** What the dispatcher needs to know about a command, whatever it does. */
export interface CommandSpecBase {
  /** The words that name it, e.g. ['sites', 'key', 'rotate']. */
  path: readonly string[];
  /** Positional argument names, shown upper-case in the usage line. */
  positionals: readonly string[];
  options: OptionSpecs;
  /** Usage synopsis after the command words, e.g. 'SITE [--max-uses N]'. */
  synopsis: string;
  summary: string;
  /** Longer help: one line per flag, and anything worth knowing. */
  details: string;
}

/** Flags every command accepts. `--token` is deliberately absent (see parseCommandLine). */
const GLOBAL_OPTIONS = {
  api: { type: 'string' },
  json: { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
} as const satisfies OptionSpecs;

export interface GlobalFlags {
  api: string | undefined;
  json: boolean;
  help: boolean;
}

export interface ParsedCommandLine<C extends CommandSpecBase> {
  /** null: no complete command (bare `airlock`, `airlock --help`, `airlock sites --help`). */
  command: C | null;
  /** The command words given; for a null command, the group to list (empty: all). */
  group: string[];
  globals: GlobalFlags;
  values: OptionValues;
  positionals: string[];
}

// Secrets look like this; error messages must never repeat one typed by mistake.
const SECRET_PATTERN = /\b(aop|cek|cak|whsec)_[A-Za-z0-9_+/=-]+/g;

/** Replaces anything shaped like an Airlock secret with a marker. */
export const redactSecrets = (text: string): string => text.replace(SECRET_PATTERN, '$1_<redacted>');

const startsWith = (path: readonly string[], prefix: readonly string[]) =>
  prefix.length <= path.length && prefix.every((w, i) => path[i] === w);

/**
 * Splits argv into the command words and everything else. Command words are
 * the leading non-flag words that keep matching some command; flags may come
 * before, between or after them (`airlock --json sites list` works).
 */
const splitCommandWords = (argv: readonly string[], paths: readonly (readonly string[])[]) => {
  const words: string[] = [];
  const rest: string[] = [];
  let matching = true;
  for (let i = 0; i < argv.length; i++) {
    const tok = argv[i] ?? '';
    if (tok === '--') {
      rest.push(...argv.slice(i));
      break;
    }
    if (tok.startsWith('-')) {
      rest.push(tok);
      // The one global flag with a separate value: keep its value out of the command words.
      if (tok === '--api' && i + 1 < argv.length) rest.push(argv[++i] ?? '');
      continue;
    }
    if (matching && paths.some((p) => startsWith(p, [...words, tok]))) {
      words.push(tok);
    } else {
      matching = false;
      rest.push(tok);
    }
  }
  return { words, rest };
};

const readGlobals = (values: OptionValues): GlobalFlags => ({
  api: typeof values.api === 'string' ? values.api : undefined,
  json: values.json === true,
  help: values.help === true,
});

/** Resolves the command and parses its flags; throws UsageError on any mistake. */
export const parseCommandLine = <C extends CommandSpecBase>(
  argv: readonly string[],
  commands: readonly C[],
): ParsedCommandLine<C> => {
  // Secrets on the command line end up in `ps`, shell history and CI logs.
  const tokenFlag = argv.find((a) => a === '--token' || a.startsWith('--token='));
  if (tokenFlag !== undefined) {
    throw new UsageError(
      '--token is not accepted: a secret on the command line is visible to other users (ps) and in shell history. ' +
        'Set AIRLOCK_TOKEN, or put the token in $AIRLOCK_DATA_DIR/admin-token (mode 0600).',
    );
  }
  const { words, rest } = splitCommandWords(argv, commands.map((c) => c.path));
  const command = commands.find((c) => c.path.length === words.length && startsWith(c.path, words)) ?? null;

  if (!command) {
    // Parse only the globals, so `airlock --help` and `airlock sites --help` work.
    const globals = parseStrict(rest, GLOBAL_OPTIONS, undefined);
    const flags = readGlobals(globals.values);
    const next = globals.positionals[0];
    if (next !== undefined) {
      throw new UsageError(`unknown command "${[...words, redactSecrets(next)].join(' ')}"`, undefined, words);
    }
    if (words.length > 0 && !flags.help) throw new UsageError(`"${words.join(' ')}" needs a sub-command`, undefined, words);
    return { command: null, group: words, globals: flags, values: globals.values, positionals: [] };
  }

  const parsed = parseStrict(rest, { ...GLOBAL_OPTIONS, ...command.options }, command);
  const globals = readGlobals(parsed.values);
  if (!globals.help) {
    if (parsed.positionals.length < command.positionals.length) {
      const missing = command.positionals.slice(parsed.positionals.length).join(' ');
      throw new UsageError(`missing ${missing}`, command);
    }
    if (parsed.positionals.length > command.positionals.length) {
      const extra = parsed.positionals[command.positionals.length] ?? '';
      throw new UsageError(`unexpected argument "${redactSecrets(extra)}"`, command);
    }
  }
  return { command, group: [...command.path], globals, values: parsed.values, positionals: parsed.positionals };
};

const parseStrict = (args: string[], options: OptionSpecs, command: CommandSpecBase | undefined) => {
  try {
    const { values, positionals } = parseArgs({ args, options, strict: true, allowPositionals: true });
    return { values: values as OptionValues, positionals };
  } catch (err) {
    // parseArgs messages name the option; strip its advice about '--' which does not apply here.
    const message = err instanceof Error ? err.message.replace(/\. To specify a positional argument.*$/s, '') : String(err);
    throw new UsageError(redactSecrets(message), command);
  }
};

/** A string flag's value, or undefined when absent. */
export const stringFlag = (values: OptionValues, name: string): string | undefined => {
  const value = values[name];
  return typeof value === 'string' ? value : undefined;
};

/** A string flag that the command cannot do without. */
export const requiredFlag = (values: OptionValues, name: string, command: CommandSpecBase): string => {
  const value = stringFlag(values, name);
  if (value === undefined || value === '') throw new UsageError(`--${name} is required`, command);
  return value;
};

export const booleanFlag = (values: OptionValues, name: string): boolean => values[name] === true;

/**
 * A whole-number flag within bounds. Checked here rather than by the api so
 * that `--ttl 10m` is a usage error with the usage text, not a 400.
 */
export const integerFlag = (
  values: OptionValues,
  name: string,
  command: CommandSpecBase,
  bounds: { min: number; max: number },
): number | undefined => {
  const raw = stringFlag(values, name);
  if (raw === undefined) return undefined;
  if (!/^\d{1,10}$/.test(raw)) throw new UsageError(`--${name} must be a whole number`, command);
  const n = Number(raw);
  if (n < bounds.min || n > bounds.max) {
    throw new UsageError(`--${name} must be between ${bounds.min} and ${bounds.max}`, command);
  }
  return n;
};

/** A flag limited to a fixed set of words. */
export const choiceFlag = <T extends string>(
  values: OptionValues,
  name: string,
  choices: readonly T[],
  command: CommandSpecBase,
): T | undefined => {
  const raw = stringFlag(values, name);
  if (raw === undefined) return undefined;
  const found = choices.find((c) => c === raw);
  if (found === undefined) throw new UsageError(`--${name} must be one of: ${choices.join(', ')}`, command);
  return found;
};

/** `airlock sites key rotate SITE [--expires-in SECONDS] …` */
const usageLine = (command: CommandSpecBase): string =>
  `airlock ${command.path.join(' ')}${command.synopsis ? ` ${command.synopsis}` : ''}`;

const GLOBAL_HELP = `global flags:
  --api URL     admin API base URL (default: $AIRLOCK_API_URL, else http://127.0.0.1:8082)
  --json        print the API's JSON response instead of a table
  -h, --help    show help for a command

The operator token comes from $AIRLOCK_TOKEN, else from $AIRLOCK_DATA_DIR/admin-token
(default data dir ./.airlock; the file must be mode 0600). It is never taken as a flag.
For an https:// api: $AIRLOCK_API_CA (PEM file of CA certificates to trust) and/or
$AIRLOCK_API_PIN (sha256:<hex> of the api certificate).`;

/** Full help for one command. */
export const commandHelp = (command: CommandSpecBase): string =>
  `usage: ${usageLine(command)}\n\n${command.summary}\n${command.details ? `\n${command.details}\n` : ''}\n${GLOBAL_HELP}\n`;

/** The overview printed by bare `airlock`, `airlock --help` and unknown commands. */
export const overviewHelp = (all: readonly CommandSpecBase[], group: readonly string[] = []): string => {
  const matching = all.filter((c) => startsWith(c.path, group));
  const commands = matching.length > 0 ? matching : all;
  // Positionals only: the full flag synopsis of some commands would wrap the table.
  const lines = commands.map(
    (c) => [['airlock', ...c.path, ...c.positionals.map((p) => p.toUpperCase())].join(' '), c.summary] as const,
  );
  const width = Math.max(...lines.map(([u]) => u.length));
  return (
    'usage: airlock COMMAND [flags]\n\ncommands:\n' +
    lines.map(([u, s]) => `  ${u.padEnd(width)}  ${s}`).join('\n') +
    `\n\n${GLOBAL_HELP}\n\nexit codes: 0 ok, 1 refused by the api or failed, 2 usage error, 3 api or database unreachable\n`
  );
};
