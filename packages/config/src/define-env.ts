/**
 * `defineEnv`: an app's settings as one table of valibot fields, parsed once
 * at startup. Every problem is listed (each bad field, then each cross-field
 * rule whose fields parsed), so an operator fixes the unit file in one pass;
 * `exitOnConfigError` turns them into one readable message and exit code 2.
 */
import * as v from 'valibot';

/** A setting: the raw environment text (undefined when unset or empty) to its typed value. */
export type Field = v.GenericSchema<string | undefined, unknown>;
export type Fields = Record<string, Field>;
export type EnvOutput<F extends Fields> = { [K in keyof F]: v.InferOutput<F[K]> };
export type EnvInput = Readonly<Record<string, string | undefined>>;

/** What a rule found: nothing (false, null, undefined, ''), one problem, or several. */
export type Problems = string | readonly string[] | false | null | undefined;

export interface Rule<O> {
  readonly needs: readonly (keyof O)[];
  readonly test: (o: O) => Problems;
}

/** Builds a rule that runs only when every field it needs parsed, and sees only those. */
export type RuleBuilder<O> = <K extends keyof O>(needs: readonly K[], test: (o: Pick<O, K>) => Problems) => Rule<O>;

/** Every problem of one app's configuration. */
export class ConfigError extends Error {
  constructor(
    readonly problems: string[],
    readonly app?: string,
  ) {
    super(`invalid ${app ? `${app} ` : ''}configuration:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
    this.name = 'ConfigError';
  }
}

export interface EnvDefinition<F extends Fields> {
  readonly app: string;
  readonly fields: F;
  /** The variables this app reads, in table order. */
  readonly names: readonly string[];
  /** Parses `env` (empty values count as unset); throws ConfigError listing every problem. */
  parse(env: EnvInput): EnvOutput<F>;
  /** Each setting's default as an operator would write it, or undefined (docs/configuration.md is checked against these). */
  defaults(): Record<string, string | undefined>;
}

/**
 * A field message containing `{name}` is the whole problem with the
 * variable's name put in; any other is prefixed `NAME: `.
 */
const problemOf = (name: string, message: string): string =>
  message.includes('{name}') ? message.replaceAll('{name}', name) : `${name}: ${message}`;

const asList = (p: Problems): string[] => (!p ? [] : typeof p === 'string' ? [p] : [...p]);

/**
 * Defines an app's environment.
 *
 * @example
 *   const Env = defineEnv('edge', { EDGE_PORT: int(443, 0, 65_535), EDGE_ACCESS_LOG: bool('true') },
 *     (rule) => [rule(['EDGE_PORT'], (o) => o.EDGE_PORT === 22 && 'EDGE_PORT: 22 belongs to sshd')]);
 *   const e = Env.parse(process.env); // { EDGE_PORT: number; EDGE_ACCESS_LOG: boolean }
 */
export const defineEnv = <F extends Fields>(
  app: string,
  fields: F,
  rules: (rule: RuleBuilder<EnvOutput<F>>) => Rule<EnvOutput<F>>[] = () => [],
): EnvDefinition<F> => {
  type O = EnvOutput<F>;
  // Pick<O, K> is a supertype of O: a rule sees the whole object, typed down to what it asked for.
  const builder: RuleBuilder<O> = (needs, test) => ({ needs, test });
  const ruleList = rules(builder);
  const names = Object.keys(fields);
  return {
    app,
    fields,
    names,
    parse: (env) => {
      const out: Partial<Record<keyof F, unknown>> = {};
      const parsed = new Set<keyof F>();
      const problems: string[] = [];
      for (const name of names) {
        const raw = env[name];
        const result = v.safeParse(fields[name] as Field, raw === '' ? undefined : raw);
        if (result.success) {
          out[name as keyof F] = result.output;
          parsed.add(name);
        } else {
          problems.push(...result.issues.map((issue) => problemOf(name, issue.message)));
        }
      }
      for (const r of ruleList) {
        if (r.needs.every((n) => parsed.has(n))) problems.push(...asList(r.test(out as O)));
      }
      if (problems.length > 0) throw new ConfigError(problems, app);
      return out as O;
    },
    defaults: () =>
      Object.fromEntries(
        names.map((name) => {
          const d: unknown = v.getDefault(fields[name] as Field);
          return [name, typeof d === 'string' ? d : undefined];
        }),
      ),
  };
};

/**
 * Runs several loaders of one app (the edge's own table and its SSH demux's)
 * and, when any fails, throws one ConfigError with all their problems.
 *
 * @example
 *   const { config, sshDemux } = loadAll('edge', { config: () => loadConfig(env), sshDemux: () => loadSshDemuxConfig(env) });
 */
export const loadAll = <T extends Record<string, () => unknown>>(app: string, loaders: T): { [K in keyof T]: ReturnType<T[K]> } => {
  const problems: string[] = [];
  const out: Partial<Record<keyof T, unknown>> = {};
  for (const key of Object.keys(loaders) as (keyof T)[]) {
    try {
      out[key] = (loaders[key] as () => unknown)();
    } catch (err) {
      if (!(err instanceof ConfigError)) throw err;
      problems.push(...err.problems);
    }
  }
  if (problems.length > 0) throw new ConfigError(problems, app);
  return out as { [K in keyof T]: ReturnType<T[K]> };
};

/**
 * For an app's main.ts: loads the configuration, or prints every problem
 * (`program: invalid … configuration:` and one line each) and exits 2.
 * Anything else that goes wrong is not a configuration problem and is rethrown.
 *
 * @example
 *   const config = exitOnConfigError('airlock api', () => loadApiConfig(process.env));
 */
export const exitOnConfigError = <T>(program: string, load: () => T): T => {
  try {
    return load();
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    process.stderr.write(`${program}: ${err.message}\n`);
    process.exit(2);
  }
};
