import { execFile } from 'node:child_process';
import path from 'node:path';
import { promisify } from 'node:util';
import * as v from 'valibot';
import { describe, expect, it } from 'vitest';
import { ConfigError, defineEnv, loadAll } from './define-env.ts';
import { bool, int, pin } from './fields.ts';

const Demo = defineEnv(
  'demo',
  {
    DEMO_PORT: int(8080, 1, 65_535),
    DEMO_WORKERS: int(2, 1, 8),
    DEMO_MAX: int(4, 1, 8),
    DEMO_VERBOSE: bool('0'),
    DEMO_PIN: v.optional(pin()),
    DEMO_NAME: v.optional(v.string()),
  },
  (rule) => [
    rule(['DEMO_WORKERS', 'DEMO_MAX'], (o) => o.DEMO_WORKERS > o.DEMO_MAX && 'DEMO_WORKERS must not exceed DEMO_MAX'),
    rule(['DEMO_NAME'], (o) => (o.DEMO_NAME === 'x' ? ['DEMO_NAME: one', 'DEMO_NAME: two'] : null)),
  ],
);

const problemsOf = (env: Record<string, string>): string[] => {
  try {
    Demo.parse(env);
  } catch (err) {
    if (err instanceof ConfigError) return err.problems;
    throw err;
  }
  return [];
};

describe('defineEnv', () => {
  it('applies defaults and types the result', () => {
    const e = Demo.parse({});
    expect(e).toEqual({ DEMO_PORT: 8080, DEMO_WORKERS: 2, DEMO_MAX: 4, DEMO_VERBOSE: false });
    expect(Demo.parse({ DEMO_VERBOSE: 'true', DEMO_PORT: ' 443 ' })).toMatchObject({ DEMO_VERBOSE: true, DEMO_PORT: 443 });
  });

  it('treats an empty value as unset, and ignores variables it does not define', () => {
    expect(Demo.parse({ DEMO_PORT: '', OTHER: 'zzz' }).DEMO_PORT).toBe(8080);
  });

  it('lists every problem, each as NAME: problem, in table order, then the rules', () => {
    expect(problemsOf({ DEMO_VERBOSE: 'maybe', DEMO_PORT: '0', DEMO_WORKERS: '9', DEMO_NAME: 'x' })).toEqual([
      'DEMO_PORT: must be at least 1',
      'DEMO_WORKERS: must be at most 8',
      'DEMO_VERBOSE: must be 1 or 0 (true or false)',
      'DEMO_NAME: one',
      'DEMO_NAME: two',
    ]);
  });

  it('runs a rule only when the fields it needs parsed, even if others failed', () => {
    expect(problemsOf({ DEMO_WORKERS: '6', DEMO_MAX: '5', DEMO_PORT: 'http' })).toEqual([
      'DEMO_PORT: must be a whole number',
      'DEMO_WORKERS must not exceed DEMO_MAX',
    ]);
    // DEMO_MAX did not parse: the comparison would be meaningless and is skipped.
    expect(problemsOf({ DEMO_WORKERS: '6', DEMO_MAX: 'five' })).toEqual(['DEMO_MAX: must be a whole number']);
  });

  it('lets a message name the variable itself with {name}', () => {
    expect(problemsOf({ DEMO_PIN: 'sha256:nothex' })).toEqual(['DEMO_PIN must be sha256:<64 hex digits> (the SHA-256 of the certificate)']);
  });

  it('reads as one message, names the app, and knows its names and written defaults', () => {
    const err = new ConfigError(['A: bad', 'B: worse'], 'demo');
    expect(err.message).toBe('invalid demo configuration:\n  - A: bad\n  - B: worse');
    expect(Demo.names).toEqual(['DEMO_PORT', 'DEMO_WORKERS', 'DEMO_MAX', 'DEMO_VERBOSE', 'DEMO_PIN', 'DEMO_NAME']);
    expect(Demo.defaults()).toEqual({ DEMO_PORT: '8080', DEMO_WORKERS: '2', DEMO_MAX: '4', DEMO_VERBOSE: '0', DEMO_PIN: undefined, DEMO_NAME: undefined });
  });

  it('merges the problems of several loaders of one app', () => {
    const Other = defineEnv('demo', { OTHER_LIMIT: int(1, 1, 2) });
    expect(() => loadAll('demo', { a: () => Demo.parse({ DEMO_PORT: 'x' }), b: () => Other.parse({ OTHER_LIMIT: '3' }) })).toThrow(
      new ConfigError(['DEMO_PORT: must be a whole number', 'OTHER_LIMIT: must be at most 2'], 'demo'),
    );
    expect(loadAll('demo', { a: () => Other.parse({}), b: () => null })).toEqual({ a: { OTHER_LIMIT: 1 }, b: null });
  });
});

describe('exitOnConfigError', () => {
  const run = promisify(execFile);
  const script = path.join(import.meta.dirname, 'testing', 'exit-demo.ts');

  it('prints every problem under the program name and exits 2, before anything else runs', async () => {
    const err = await run(process.execPath, ['--import', 'tsx', script], { env: { ...process.env, DEMO_PORT: 'x', DEMO_MAX: '99' } }).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 2, stdout: '' });
    expect((err as { stderr: string }).stderr).toBe(
      'demo-program: invalid demo configuration:\n  - DEMO_PORT: must be a whole number\n  - DEMO_MAX: must be at most 8\n',
    );
  });

  it('returns the configuration when it is valid', async () => {
    const { stdout } = await run(process.execPath, ['--import', 'tsx', script], { env: { ...process.env, DEMO_PORT: '81' } });
    expect(stdout).toBe('port 81\n');
  });
});
