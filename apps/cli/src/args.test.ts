import { describe, expect, it } from 'vitest';
import { choiceFlag, integerFlag, overviewHelp, parseCommandLine, redactSecrets, UsageError } from './args.ts';
import { COMMANDS } from './commands/index.ts';

const parse = (...argv: string[]) => parseCommandLine(argv, COMMANDS);
const usageError = (fn: () => unknown): UsageError => {
  try {
    fn();
  } catch (err) {
    if (err instanceof UsageError) return err;
    throw err;
  }
  throw new Error('expected a UsageError');
};

describe('parseCommandLine', () => {
  it('finds a multi-word command and its positional argument', () => {
    const p = parse('sites', 'key', 'rotate', 'acme-phx', '--max-uses', '5');
    expect(p.command?.path).toEqual(['sites', 'key', 'rotate']);
    expect(p.positionals).toEqual(['acme-phx']);
    expect(p.values['max-uses']).toBe('5');
  });

  it('accepts global flags before, between and after the command words', () => {
    const p = parse('--json', 'sites', '--api', 'http://10.0.0.1:8082', 'list');
    expect(p.command?.path).toEqual(['sites', 'list']);
    expect(p.globals).toEqual({ api: 'http://10.0.0.1:8082', json: true, help: false });
  });

  it('tells `lockouts` from `lockouts clear KEY`', () => {
    expect(parse('lockouts').command?.path).toEqual(['lockouts']);
    const clear = parse('lockouts', 'clear', 'airlock:edge:block:203.0.113.7');
    expect(clear.command?.path).toEqual(['lockouts', 'clear']);
    expect(clear.positionals).toEqual(['airlock:edge:block:203.0.113.7']);
  });

  it('keeps a positional that happens to be a command word as a positional', () => {
    const p = parse('lockouts', 'clear', 'clear');
    expect(p.positionals).toEqual(['clear']);
  });

  it('returns no command for a bare invocation or a group help', () => {
    expect(parse().command).toBeNull();
    const group = parse('sites', '--help');
    expect(group.command).toBeNull();
    expect(group.group).toEqual(['sites']);
    expect(group.globals.help).toBe(true);
  });

  it('lets --help through even when required arguments are missing', () => {
    const p = parse('reject', '--help');
    expect(p.command?.path).toEqual(['reject']);
    expect(p.globals.help).toBe(true);
  });

  it('refuses an unknown flag, naming it', () => {
    const err = usageError(() => parse('sites', 'list', '--colour'));
    expect(err.message).toContain('--colour');
    expect(err.command?.path).toEqual(['sites', 'list']);
  });

  it('refuses a missing and a surplus positional', () => {
    expect(usageError(() => parse('approve')).message).toBe('missing id');
    expect(usageError(() => parse('approve', 'a', 'b')).message).toBe('unexpected argument "b"');
  });

  it('refuses an incomplete or unknown command', () => {
    expect(usageError(() => parse('sites')).message).toBe('"sites" needs a sub-command');
    expect(usageError(() => parse('sites', 'frob')).message).toBe('unknown command "sites frob"');
    expect(usageError(() => parse('frob')).message).toBe('unknown command "frob"');
  });

  it('refuses --token in any form and does not repeat the secret', () => {
    for (const argv of [['sites', 'list', '--token', 'aop_secretsecretsecretsecret'], ['--token=aop_secretsecretsecretsecret', 'pending']]) {
      const err = usageError(() => parse(...argv));
      expect(err.message).toContain('--token is not accepted');
      expect(err.message).not.toContain('aop_secret');
    }
  });

  it('redacts a secret pasted where a positional belongs', () => {
    const err = usageError(() => parse('approve', 'x', 'cek_abcdefghijklmnop'));
    expect(err.message).toBe('unexpected argument "cek_<redacted>"');
  });
});

describe('flag helpers', () => {
  const cmd = COMMANDS.find((c) => c.path.join(' ') === 'codes create');
  if (!cmd) throw new Error('codes create is missing');

  it('parses whole numbers within bounds', () => {
    expect(integerFlag({ ttl: '900' }, 'ttl', cmd, { min: 60, max: 86400 })).toBe(900);
    expect(integerFlag({}, 'ttl', cmd, { min: 60, max: 86400 })).toBeUndefined();
  });

  it('refuses units, signs, fractions and out-of-range numbers', () => {
    for (const raw of ['10m', '-5', '1.5', '', ' 90']) {
      expect(() => integerFlag({ ttl: raw }, 'ttl', cmd, { min: 60, max: 86400 })).toThrow('--ttl must be a whole number');
    }
    expect(() => integerFlag({ ttl: '59' }, 'ttl', cmd, { min: 60, max: 86400 })).toThrow('between 60 and 86400');
  });

  it('accepts only the listed choices', () => {
    expect(choiceFlag({ status: 'used' }, 'status', ['active', 'used'] as const, cmd)).toBe('used');
    expect(() => choiceFlag({ status: 'USED' }, 'status', ['active', 'used'] as const, cmd)).toThrow('one of: active, used');
  });
});

describe('help', () => {
  it('lists every command in the overview and only the group when asked', () => {
    const all = overviewHelp(COMMANDS);
    for (const c of COMMANDS) expect(all).toContain(`airlock ${c.path.join(' ')}`);
    const codes = overviewHelp(COMMANDS, ['codes']);
    expect(codes).toContain('airlock codes revoke ID');
    expect(codes).not.toContain('airlock sites list');
  });

  it('redacts every kind of Airlock secret', () => {
    expect(redactSecrets('a aop_x1 b cek_Y-2 c cak_z_3')).toBe('a aop_<redacted> b cek_<redacted> c cak_<redacted>');
  });
});
