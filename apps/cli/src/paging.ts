/**
 * Keyset paging for every list command (issue 22): one page by default,
 * `--limit N` at most N rows (following cursors as needed), `--all` every row
 * (then `--limit` is the page size). Output streams as pages arrive and
 * nothing is kept: `--json` writes the api's `{items, next_cursor}` shape one
 * item at a time, tables print page by page, and each page waits for stdout
 * to drain, so a ten-million-row export runs in constant memory.
 */
import { UsageError, booleanFlag, integerFlag, stringFlag } from './args.ts';
import type { Command, CommandContext } from './context.ts';
import { renderTable, type Column } from './format.ts';

export interface PageOf<R> {
  items: R[];
  next_cursor: string | null;
}

/** The paging flags every list command takes. */
export const PAGING_OPTIONS = { limit: { type: 'string' }, all: { type: 'boolean' }, cursor: { type: 'string' } } as const;
export const PAGING_SYNOPSIS = '[--limit N | --all] [--cursor C]';
export const pagingDetails = (max: number, fallback: number) => `  --limit N         at most N rows, following pages (default: one page of ${fallback});
                    with --all, the page size (1-${max})
  --all             every row, page by page, streamed as it arrives
  --cursor C        continue after a previous page (the cursor it printed)`;

export interface PagingRequest {
  /** Rows per request. */
  pageSize: number;
  /** Stop after this many rows; null: until the last page. */
  total: number | null;
  cursor: string | undefined;
}

/** Reads --limit/--all/--cursor. `max` is the api's page maximum, `fallback` its default page. */
export const pagingFlags = (ctx: CommandContext, command: Command, max: number, fallback: number): PagingRequest => {
  const all = booleanFlag(ctx.values, 'all');
  const limit = integerFlag(ctx.values, 'limit', command, { min: 1, max: all ? max : 1_000_000_000 });
  const cursor = stringFlag(ctx.values, 'cursor');
  if (cursor === '') throw new UsageError('--cursor must not be empty', command);
  if (all) return { pageSize: limit ?? max, total: null, cursor };
  const total = limit ?? fallback;
  return { pageSize: Math.min(total, max), total, cursor };
};

/**
 * Fetches and prints pages until the request is met. Returns the cursor to
 * continue from (null when the list ended), which text output names on stderr.
 */
export const streamPages = async <R>(
  ctx: CommandContext,
  req: PagingRequest,
  fetchPage: (cursor: string | undefined, limit: number) => Promise<PageOf<R>>,
  /** `more` names the next cursor after a partial list: on stderr, or (audit, as it always did) on stdout. */
  text: { columns: readonly Column<R>[]; empty: string; more: (cursor: string) => string; moreOnStdout?: boolean },
): Promise<string | null> => {
  let cursor = req.cursor;
  let printed = 0;
  let next: string | null = null;
  if (ctx.json) ctx.io.out('{"items":[');
  for (;;) {
    const want = req.total === null ? req.pageSize : Math.min(req.pageSize, req.total - printed);
    const page = await fetchPage(cursor, want);
    const items = page.items.slice(0, want);
    if (ctx.json) {
      ctx.io.out(items.map((item, i) => `${printed + i === 0 ? '\n' : ',\n'}${JSON.stringify(item)}`).join(''));
    } else if (items.length > 0) {
      const table = renderTable(text.columns, items);
      // The header once, on the first page that has rows.
      ctx.io.out(printed === 0 ? table : table.slice(table.indexOf('\n') + 1));
    }
    printed += items.length;
    next = page.next_cursor;
    await ctx.io.drain?.();
    if (!next || next === cursor || (req.total !== null && printed >= req.total)) break;
    cursor = next;
  }
  if (ctx.json) ctx.io.out(`\n],"next_cursor":${JSON.stringify(next)}}\n`);
  else if (printed === 0) ctx.io.out(`${text.empty}\n`);
  if (next && !ctx.json) (text.moreOnStdout ? ctx.io.out : ctx.io.err)(text.more(next));
  return next;
};
