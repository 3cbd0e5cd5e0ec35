import { describe, expect, it } from 'vitest';
import { ARGON2_PHC_PREFIX, checkPassword, hashPassword } from './passwords.ts';

describe('console passwords', () => {
  it('hashes with Argon2id at m=19 MiB, t=2, p=1, with a fresh salt each time', async () => {
    const a = await hashPassword('a long console password');
    const b = await hashPassword('a long console password');
    expect(a.startsWith(ARGON2_PHC_PREFIX)).toBe(true);
    expect(a).not.toBe(b);
    expect(a).not.toContain('a long console password');
  });

  it('accepts the right password only', async () => {
    const h = await hashPassword('a long console password');
    expect(await checkPassword(h, 'a long console password')).toBe(true);
    expect(await checkPassword(h, 'a long console passwore')).toBe(false);
    expect(await checkPassword(h, '')).toBe(false);
  });

  it('never accepts anything for an operator without a password, nor against a malformed hash', async () => {
    expect(await checkPassword(null, '')).toBe(false);
    expect(await checkPassword(null, 'anything at all')).toBe(false);
    expect(await checkPassword('$argon2id$garbage', 'anything at all')).toBe(false);
    expect(await checkPassword('', '')).toBe(false);
  });
});
