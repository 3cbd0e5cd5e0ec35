/**
 * Operators. With DATABASE_URL these write to the database directly, which is
 * how the first admin token is made; without it they go through the admin API.
 */
import { ApiError, withAdminDatabase } from '@airlock/api/admin';
import { CreateOperatorRequest, issuesToFields, OperatorName, OperatorPassword, type OperatorRole } from '@airlock/schema';
import { Writable } from 'node:stream';
import * as v from 'valibot';
import { requiredFlag, stringFlag, UsageError } from '../args.ts';
import { ApiRequestError } from '../client.ts';
import { CliError, emit, emitTable, positional, timeOf, type Command, type Page } from '../context.ts';
import { readPassword } from '../password-input.ts';
import { databaseUrlFrom, describeMigration } from './database.ts';

interface CreatedOperator {
  id: string;
  name: string;
  role: OperatorRole;
  tenant_code: string | null;
  token: string;
}

interface OperatorView {
  id: string;
  name: string;
  role: OperatorRole;
  tenant_code: string | null;
  created_at: string;
  disabled_at: string | null;
}

// The domain throws ApiError; shown the same way as the api's own refusals.
const asRequestError = (err: unknown): unknown =>
  err instanceof ApiError ? new ApiRequestError(err.status, err.code, err.message, err.extra.fields) : err;

export const operatorsCreateCommand: Command = {
  path: ['operators', 'create'],
  positionals: [],
  options: { name: { type: 'string' }, role: { type: 'string' }, tenant: { type: 'string' } },
  synopsis: '--name NAME --role admin|auditor|service|tunnel|edge [--tenant T]',
  summary: 'create an operator and print its token once',
  details: `  --name NAME    1-64 characters of a-z 0-9 . _ -
  --role ROLE    admin (everything), auditor (read only), service (internal
                 routes: a management server), tunnel (the SSH tunnel
                 endpoint's routes only: TUNNEL_API_TOKEN) or edge (an edge's
                 lockout reports only: EDGE_API_TOKEN)
  --tenant T     scope the operator to one tenant: it sees and acts on that
                 tenant's sites, codes, enrollments, agents, webhooks and audit
                 only (default: a global operator)

With DATABASE_URL set, migrates that database and writes the operator directly
(bootstrap: no token needed). Without it, calls the admin API with your token.
The token is printed once, alone on the last line of output (e.g. | tail -n1).`,
  run: async (ctx) => {
    const cmd = operatorsCreateCommand;
    const tenant = stringFlag(ctx.values, 'tenant');
    const input = { name: requiredFlag(ctx.values, 'name', cmd), role: requiredFlag(ctx.values, 'role', cmd), ...(tenant === undefined ? {} : { tenant_code: tenant }) };
    const parsed = v.safeParse(CreateOperatorRequest, input);
    if (!parsed.success) {
      const problems = Object.entries(issuesToFields(parsed.issues)).map(([k, p]) => `--${k} ${p}`);
      throw new UsageError(problems.join('; '), cmd);
    }
    const url = databaseUrlFrom(ctx.env);
    let created: CreatedOperator;
    let via: string;
    if (url) {
      created = await withAdminDatabase(url, async (db) => {
        const outcome = await db.migrate();
        if (outcome.after !== outcome.before) ctx.io.err(`${describeMigration(outcome)}\n`);
        return db.createOperator(parsed.output, 'cli').catch((err: unknown) => {
          throw asRequestError(err);
        });
      });
      via = 'in the database';
    } else {
      created = await ctx.admin().post<CreatedOperator>('/api/v1/admin/operators', parsed.output);
      via = 'through the api';
    }
    emit(
      ctx,
      created,
      (o) => `created ${o.role} operator ${o.name} (id ${o.id}${o.tenant_code ? `, tenant ${o.tenant_code}` : ''}) ${via}; its token is shown only now:\n${o.token}\n`,
    );
  },
};

export const operatorsListCommand: Command = {
  path: ['operators', 'list'],
  positionals: [],
  options: {},
  synopsis: '',
  summary: 'list operators (never their tokens)',
  details: 'With DATABASE_URL set, reads the database directly; otherwise calls the admin API.',
  run: async (ctx) => {
    const url = databaseUrlFrom(ctx.env);
    const page: Page<OperatorView> = url
      ? await withAdminDatabase(url, (db) => db.listOperators())
      : await ctx.admin().get<Page<OperatorView>>('/api/v1/admin/operators');
    emitTable<OperatorView>(ctx, page, 'no operators', [
      { header: 'id', value: (o) => o.id },
      { header: 'name', value: (o) => o.name },
      { header: 'role', value: (o) => o.role },
      { header: 'tenant', value: (o) => o.tenant_code ?? '(global)' },
      { header: 'created', value: (o) => timeOf(ctx, o.created_at) },
      { header: 'disabled', value: (o) => (o.disabled_at ? timeOf(ctx, o.disabled_at) : '-') },
    ]);
  },
};

export const operatorsDisableCommand: Command = {
  path: ['operators', 'disable'],
  positionals: ['NAME'],
  options: {},
  synopsis: 'NAME',
  summary: 'disable an operator; its tokens stop working at once',
  details: `With DATABASE_URL set, writes the database directly (recovery: e.g. a leaked
admin token when no other admin is at hand). Otherwise calls the admin API; an
operator cannot disable itself.`,
  run: async (ctx) => {
    const name = positional(ctx, 0);
    const url = databaseUrlFrom(ctx.env);
    const result = url
      ? await withAdminDatabase(url, (db) =>
          db.disableOperator(name, 'cli').catch((err: unknown) => {
            throw asRequestError(err);
          }),
        )
      : await ctx.admin().post<{ name: string; disabled_at: string }>(`/api/v1/admin/operators/${encodeURIComponent(name)}/disable`, {});
    emit(ctx, result, (r) => `disabled operator ${r.name}; its tokens no longer work\n`);
  },
};

export const operatorsSetPasswordCommand: Command = {
  path: ['operators', 'set-password'],
  positionals: ['NAME'],
  options: {},
  synopsis: 'NAME',
  summary: 'set the console password of an admin or auditor (read from standard input)',
  details: `Reads the password from standard input: on a terminal it is asked twice and
not echoed; from a pipe or file, exactly one line, no confirmation
(e.g. printf '%s\\n' "$PW" | pnpm airlock operators set-password alice).
12-256 characters. Stored as Argon2id; the operator's open console sessions end.
With DATABASE_URL set, writes the database directly; otherwise calls the admin API.`,
  run: async (ctx) => {
    const cmd = operatorsSetPasswordCommand;
    const name = v.safeParse(OperatorName, positional(ctx, 0));
    if (!name.success) throw new UsageError('NAME must be 1-64 characters of a-z 0-9 . _ -', cmd);
    let password: string;
    try {
      password = await readPassword(ctx.stdin, new Writable({ write: (chunk: Buffer, _enc, cb) => (ctx.io.err(chunk.toString('utf8')), cb()) }));
    } catch (err) {
      throw new CliError(`cannot read the password: ${err instanceof Error ? err.message : String(err)}`);
    }
    const checked = v.safeParse(OperatorPassword, password);
    if (!checked.success) throw new CliError(`the password ${checked.issues[0]?.message ?? 'is not acceptable'}`);
    const url = databaseUrlFrom(ctx.env);
    const result = url
      ? await withAdminDatabase(url, async (db) => {
          const outcome = await db.migrate();
          if (outcome.after !== outcome.before) ctx.io.err(`${describeMigration(outcome)}\n`);
          return db.setOperatorPassword(name.output, password, 'cli').catch((err: unknown) => {
            throw asRequestError(err);
          });
        })
      : await ctx.admin().post<{ name: string; role: string }>(`/api/v1/admin/operators/${encodeURIComponent(name.output)}/password`, { password });
    emit(ctx, result, (r) => `set the console password of ${r.role} operator ${r.name}; its open console sessions were ended\n`);
  },
};

export const operatorsClearSignInCommand: Command = {
  path: ['operators', 'clear-sign-in'],
  positionals: ['NAME'],
  options: {},
  synopsis: 'NAME',
  summary: "lift an operator's console sign-in lockout (failed sign-ins so far stop counting)",
  details: `After 5 failed sign-ins from one address, or 20 from all addresses together,
within 15 minutes, the console refuses that operator name (even with the right
password) until the failures age out. This makes them stop counting now, for
every address. Setting a new password (operators set-password) does the same.
With DATABASE_URL set, writes the database directly; otherwise calls the admin API.`,
  run: async (ctx) => {
    const cmd = operatorsClearSignInCommand;
    const name = v.safeParse(OperatorName, positional(ctx, 0));
    if (!name.success) throw new UsageError('NAME must be 1-64 characters of a-z 0-9 . _ -', cmd);
    const url = databaseUrlFrom(ctx.env);
    const result = url
      ? await withAdminDatabase(url, (db) =>
          db.clearOperatorSignInFailures(name.output, 'cli').catch((err: unknown) => {
            throw asRequestError(err);
          }),
        )
      : await ctx.admin().post<{ name: string; role: string }>(`/api/v1/admin/operators/${encodeURIComponent(name.output)}/clear-sign-in-failures`, {});
    emit(ctx, result, (r) => `cleared the failed console sign-ins of ${r.role} operator ${r.name}; it can sign in again\n`);
  },
};
