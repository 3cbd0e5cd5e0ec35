import { describe, expect, it } from 'vitest';
import { DEFAULT_TIMEOUT_MS, UsageError, parseEnrollArgs, parseDuration, parsePin, type EnrollCommand } from './args.ts';

const base = ['--server', 'https://edge.example.com', '--site', 'acme-phx'];
const enroll = (...extra: string[]): EnrollCommand => {
  const command = parseEnrollArgs([...base, ...extra], {});
  if (command.kind !== 'enroll') throw new Error(`expected enroll, got ${command.kind}`);
  return command;
};
const usage = (argv: string[], env: NodeJS.ProcessEnv = {}): string => {
  try {
    parseEnrollArgs(argv, env);
  } catch (error) {
    expect(error).toBeInstanceOf(UsageError);
    return (error as Error).message;
  }
  throw new Error('expected a UsageError');
};
const PIN_HEX = 'ab'.repeat(32);

describe('parseEnrollArgs', () => {
  it('normalises a pairing code typed with spaces and lower case', () => {
    const command = enroll('--code', 'ax7k pj3f th2q');
    expect(command.credential).toEqual({ method: 'pairing_code', pairingCode: 'AX7KPJ3FTH2Q' });
    expect(command.site).toBe('ACME-PHX');
    expect(command.server.origin).toBe('https://edge.example.com');
    expect(command.timeoutMs).toBe(DEFAULT_TIMEOUT_MS);
    expect(command.force).toBe(false);
  });

  it('reads I, L and O in a pairing code as 1, 1 and 0', () => {
    expect(enroll('--code', 'iL0o-1111-2222').credential).toEqual({ method: 'pairing_code', pairingCode: '11001111' + '2222' });
  });

  it('catches a pairing code with the wrong length at once, saying how many symbols it has', () => {
    expect(usage([...base, '--code', 'AX7K-PJ3F-TH2'])).toMatch(/has 11 symbols, expected 12/);
  });

  it('catches a pairing code with a letter outside the alphabet', () => {
    expect(usage([...base, '--code', 'AX7K-PJ3F-TH2U'])).toMatch(/'U'/);
  });

  it('takes an enrollment key and an explicit machine uid for zero-touch', () => {
    const key = `cek_${'a'.repeat(43)}`;
    expect(enroll('--enrollment-key', key, '--machine-uid', 'vm-0001:abc').credential).toEqual({
      method: 'enrollment_key',
      enrollmentKey: key,
      machineUid: 'vm-0001:abc',
    });
  });

  it('reads the enrollment key from AIRLOCK_ENROLLMENT_KEY so it stays out of ps', () => {
    const key = `cek_${'b'.repeat(43)}`;
    const command = parseEnrollArgs(base, { AIRLOCK_ENROLLMENT_KEY: key });
    expect(command.kind === 'enroll' && command.credential).toEqual({ method: 'enrollment_key', enrollmentKey: key });
  });

  it('refuses both a code and a key, and neither', () => {
    expect(usage([...base, '--code', 'AX7K-PJ3F-TH2Q', '--enrollment-key', `cek_${'a'.repeat(43)}`])).toMatch(/not both/);
    expect(usage(base)).toMatch(/--code/);
  });

  it('refuses something that is not an enrollment key', () => {
    expect(usage([...base, '--enrollment-key', 'cak_abcdefghijklmnopqrstuvwxyz'])).toMatch(/cek_/);
  });

  it('refuses a bad machine uid and a machine uid with a pairing code', () => {
    expect(usage([...base, '--enrollment-key', `cek_${'a'.repeat(43)}`, '--machine-uid', 'short'])).toMatch(/8-128/);
    expect(usage([...base, '--code', 'AX7K-PJ3F-TH2Q', '--machine-uid', 'abcdefgh'])).toMatch(/only used with --enrollment-key/);
  });

  it('requires --server and --site', () => {
    expect(usage(['--site', 'acme', '--code', 'AX7K-PJ3F-TH2Q'])).toMatch(/--server is required/);
    expect(usage(['--server', 'https://x.example', '--code', 'AX7K-PJ3F-TH2Q'])).toMatch(/--site is required/);
  });

  it('refuses a malformed site code', () => {
    expect(usage(['--server', 'https://x.example', '--site', '-acme', '--code', 'AX7K-PJ3F-TH2Q'])).toMatch(/--site/);
    expect(usage(['--server', 'https://x.example', '--site', 'a', '--code', 'AX7K-PJ3F-TH2Q'])).toMatch(/--site/);
    // Upper-cases to ACME-PHIX, but is not what the operator typed into the console.
    expect(usage(['--server', 'https://x.example', '--site', 'acme-phıx', '--code', 'AX7K-PJ3F-TH2Q'])).toMatch(/--site/);
  });

  it('refuses plain http:// unless --insecure', () => {
    const http = ['--server', 'http://edge.example.com', '--site', 'acme', '--code', 'AX7K-PJ3F-TH2Q'];
    expect(usage(http)).toMatch(/refusing plain http/);
    const command = parseEnrollArgs([...http, '--insecure'], {});
    expect(command.kind === 'enroll' && command.tls.insecure).toBe(true);
  });

  it('refuses --pin or --ca-file with an http:// server, where they would silently do nothing', () => {
    const http = ['--server', 'http://edge.example.com', '--site', 'acme', '--code', 'AX7K-PJ3F-TH2Q', '--insecure'];
    expect(usage([...http, '--pin', `sha256:${PIN_HEX}`])).toMatch(/https:\/\/ servers only/);
    expect(usage([...http, '--ca-file', '/etc/ca.pem'])).toMatch(/https:\/\/ servers only/);
  });

  it('refuses a server URL with a path, query or credentials', () => {
    for (const server of ['https://x.example/api', 'https://x.example/?a=1', 'https://u:p@x.example', 'ftp://x.example', 'not a url']) {
      expect(usage(['--server', server, '--site', 'acme', '--code', 'AX7K-PJ3F-TH2Q'])).toMatch(/--server/);
    }
  });

  it('keeps a port and an IPv6 host', () => {
    expect(enroll('--code', 'AX7K-PJ3F-TH2Q').server.port).toBe('');
    const command = parseEnrollArgs(['--server', 'https://[::1]:8443/', '--site', 'acme', '--code', 'AX7K-PJ3F-TH2Q'], {});
    expect(command.kind === 'enroll' && command.server.host).toBe('[::1]:8443');
  });

  it('refuses an unknown flag with a pointer to help', () => {
    expect(usage([...base, '--cod', 'x'])).toMatch(/--cod.*--help/);
  });

  it('validates --name as an RFC 1123 host name', () => {
    expect(enroll('--code', 'AX7K-PJ3F-TH2Q', '--name', 'vma-01.lab').name).toBe('vma-01.lab');
    expect(usage([...base, '--code', 'AX7K-PJ3F-TH2Q', '--name', 'bad_name'])).toMatch(/--name/);
    expect(usage([...base, '--code', 'AX7K-PJ3F-TH2Q', '--name', '-bad'])).toMatch(/--name/);
  });

  it('parses repeated labels and refuses a malformed one', () => {
    expect(enroll('--code', 'AX7K-PJ3F-TH2Q', '--label', 'role=migration', '--label', 'rack=b4').labels).toEqual({
      role: 'migration',
      rack: 'b4',
    });
    expect(usage([...base, '--code', 'AX7K-PJ3F-TH2Q', '--label', 'Role=x'])).toMatch(/--label/);
    expect(usage([...base, '--code', 'AX7K-PJ3F-TH2Q', '--label', 'novalue'])).toMatch(/--label/);
  });

  it('parses --resume alone, with an optional state dir, timeout and TLS overrides', () => {
    const command = parseEnrollArgs(['--resume', '--state-dir', '/tmp/x', '--timeout', '5m', '--pin', `sha256:${PIN_HEX}`], {});
    expect(command).toMatchObject({ kind: 'resume', stateDir: '/tmp/x', timeoutMs: 300_000 });
    expect(command.kind === 'resume' && command.tls.pin?.toString('hex')).toBe(PIN_HEX);
  });

  it('refuses --resume combined with new-enrollment flags', () => {
    expect(usage(['--resume', '--code', 'AX7K-PJ3F-TH2Q'])).toMatch(/--resume.*--code/);
  });

});

describe('parsePin', () => {
  const expected = Buffer.from(PIN_HEX, 'hex');
  const colons = PIN_HEX.match(/../g)?.join(':') ?? '';

  it('accepts sha256:HEX with or without colons, in any case', () => {
    expect(parsePin(`sha256:${PIN_HEX}`)).toEqual(expected);
    expect(parsePin(`SHA256:${PIN_HEX.toUpperCase()}`)).toEqual(expected);
    expect(parsePin(`sha256:${colons}`)).toEqual(expected);
    expect(parsePin(`sha256:${colons.toUpperCase()}`)).toEqual(expected);
    expect(parsePin(PIN_HEX)).toEqual(expected);
  });

  it('accepts the line openssl x509 -fingerprint -sha256 prints', () => {
    expect(parsePin(`sha256 Fingerprint=${colons.toUpperCase()}`)).toEqual(expected);
    expect(parsePin(`SHA256 Fingerprint=${colons.toUpperCase()}`)).toEqual(expected);
  });

  it('refuses a truncated, overlong or non-hex pin', () => {
    for (const bad of [`sha256:${PIN_HEX.slice(2)}`, `sha256:${PIN_HEX}00`, `sha256:${'zz'.repeat(32)}`, 'sha1:abcd', '']) {
      expect(() => parsePin(bad)).toThrow(UsageError);
    }
  });
});

describe('parseDuration', () => {
  it('reads seconds, minutes and hours', () => {
    expect(parseDuration('90')).toBe(90_000);
    expect(parseDuration('90s')).toBe(90_000);
    expect(parseDuration('30m')).toBe(1_800_000);
    expect(parseDuration('2h')).toBe(7_200_000);
  });

  it('refuses zero, negatives and words', () => {
    for (const bad of ['0', '-5', 'soon', '5d']) expect(() => parseDuration(bad)).toThrow(UsageError);
  });
});
