/** `airlock doctor`: configuration, database, migrations, Redis, TLS, upstream and clock, one line each. */
import { CliError, type Command } from '../context.ts';
import { formatChecks, runDoctor } from '../doctor.ts';

export const doctorCommand: Command = {
  path: ['doctor'],
  positionals: [],
  options: {},
  synopsis: '',
  summary: 'check configuration, database, migrations, Redis, TLS certificate, edge upstream and clock',
  details: `Reads the same environment as the api and the edge (DATABASE_URL, REDIS_URL,
EDGE_TLS_CERT/EDGE_TLS_KEY, EDGE_UPSTREAM, AIRLOCK_API_URL…). One line per
check: ok, warn, FAIL or skip. Exit 1 when any check fails. No token needed.`,
  run: async (ctx) => {
    const results = await runDoctor(ctx.env, ctx.now);
    ctx.io.out(ctx.json ? `${JSON.stringify(results, null, 2)}\n` : formatChecks(results));
    const failed = results.filter((r) => r.status === 'FAIL');
    if (failed.length) throw new CliError(`${failed.length} check${failed.length === 1 ? '' : 's'} failed: ${failed.map((f) => f.check).join(', ')}`);
  },
};
