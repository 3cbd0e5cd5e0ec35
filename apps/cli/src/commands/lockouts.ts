/** Edge lockouts (per site and IP, or per IP across sites), read and cleared through the api. */
import { ApiRequestError, type AdminClient } from '../client.ts';
import { CliError, emit, emitTable, positional, type Command, type Page } from '../context.ts';

interface LockoutView {
  key: string;
  kind: string;
  site_code: string | null;
  ip: string | null;
  retry_after_seconds: number;
}

const seconds = (s: number): string => (s >= 3600 ? `${Math.floor(s / 3600)}h${Math.floor((s % 3600) / 60)}m` : s >= 60 ? `${Math.floor(s / 60)}m${s % 60}s` : `${s}s`);

/** A bare 404 here means the api predates the lockout routes, not that a lockout is missing. */
const withRouteCheck = async <T>(client: AdminClient, call: () => Promise<T>): Promise<T> => {
  try {
    return await call();
  } catch (err) {
    if (err instanceof ApiRequestError && err.status === 404 && err.message === 'Not found') {
      throw new CliError(`the api at ${client.displayUrl} does not serve the lockout routes (an older version?)`);
    }
    throw err;
  }
};

export const lockoutsListCommand: Command = {
  path: ['lockouts'],
  positionals: [],
  options: {},
  synopsis: '',
  summary: 'list active edge lockouts and blocks',
  details: 'Use the KEY column with `pnpm airlock lockouts clear KEY`.',
  run: async (ctx) => {
    const client = ctx.admin();
    const page = await withRouteCheck(client, () => client.get<Page<LockoutView>>('/api/v1/admin/lockouts'));
    emitTable<LockoutView>(ctx, page, 'no active lockouts', [
      { header: 'kind', value: (l) => l.kind },
      { header: 'site', value: (l) => l.site_code },
      { header: 'ip', value: (l) => l.ip },
      { header: 'retry after', value: (l) => seconds(l.retry_after_seconds) },
      { header: 'key', value: (l) => l.key },
    ]);
  },
};

export const lockoutsClearCommand: Command = {
  path: ['lockouts', 'clear'],
  positionals: ['key'],
  options: {},
  synopsis: 'KEY',
  summary: 'lift one lockout or block (KEY from `airlock lockouts`)',
  details: '',
  run: async (ctx) => {
    const key = positional(ctx, 0);
    const client = ctx.admin();
    const result = await withRouteCheck(client, () => client.post<{ key: string; cleared?: boolean }>('/api/v1/admin/lockouts/clear', { key }));
    // cleared=false: the key was valid but had already expired or been lifted; not an error.
    emit(ctx, result, (r) => (r.cleared === false ? `${key} was not active; nothing to clear\n` : `cleared ${key}\n`));
  },
};
