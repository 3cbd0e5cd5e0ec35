/** What every command gets to work with; built once per run by run.ts. */
import type { CommandSpecBase, OptionValues } from './args.ts';
import type { PasswordInput } from './password-input.ts';
import type { AdminClient } from './client.ts';
import { formatTime, renderJson, renderTable, type Column } from './format.ts';

export interface Io {
  out(text: string): void;
  err(text: string): void;
  /** Resolves once stdout has taken what was written (a streamed list waits here between pages). */
  drain?(): Promise<void>;
}

export interface CommandContext {
  io: Io;
  env: NodeJS.ProcessEnv;
  /** `--json`: print the api's response as it came. */
  json: boolean;
  now(): Date;
  values: OptionValues;
  positionals: string[];
  /** Standard input (only `operators set-password` reads it). */
  stdin: PasswordInput;
  /** The admin client; loads the token on first use, so `migrate` never needs one. */
  admin(): AdminClient;
}

export interface Command extends CommandSpecBase {
  run(ctx: CommandContext): Promise<void>;
}

/** A failure that is not the api's: exit 1 with this message. */
export class CliError extends Error {
  override readonly name = 'CliError';
}

/** `--json` prints the value as is; otherwise `render` decides. */
export const emit = <T>(ctx: CommandContext, value: T, render: (value: T) => string): void => {
  ctx.io.out(ctx.json ? renderJson(value) : render(value));
};

/** Positional argument `i`; the dispatcher has already checked the count. */
export const positional = (ctx: CommandContext, i: number): string => ctx.positionals[i] ?? '';

export interface Page<T> {
  items: T[];
}

/** A list response: `--json` as is, else a table, or `empty` when there are no rows. */
export const emitTable = <R>(ctx: CommandContext, page: Page<R>, empty: string, columns: readonly Column<R>[]): void =>
  emit(ctx, page, (p) => (p.items.length === 0 ? `${empty}\n` : renderTable(columns, p.items)));

/** An api timestamp for display, relative to this run's clock. */
export const timeOf = (ctx: CommandContext, iso: string | null | undefined): string | null => formatTime(iso, ctx.now());
