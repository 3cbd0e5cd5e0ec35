import { hmacSha256Hex } from '@airlock/crypto';
import { describe, expect, it } from 'vitest';
import { pairingCodeCredential } from './pairing-code.ts';

const SECRET = 'server-secret-'.padEnd(40, 'x');

describe('pairing code credential', () => {
  it('looks a code up by an HMAC of its canonical form under the server secret', () => {
    const decided = pairingCodeCredential('AX7K-PJ3F-TH2Q', SECRET);
    expect(decided).toEqual({ ok: true, credential: { kind: 'pairing_code', digest: hmacSha256Hex(SECRET, 'pairing-code:AX7KPJ3FTH2Q') } });
  });

  it('gives the same digest for the same code typed loosely (case, spaces, no dashes)', () => {
    const strict = pairingCodeCredential('AX7K-PJ3F-TH2Q', SECRET);
    expect(pairingCodeCredential('ax7k pj3f th2q', SECRET)).toEqual(strict);
    expect(pairingCodeCredential('ax7kpj3fth2q', SECRET)).toEqual(strict);
  });

  it('gives another digest under another server secret, so a stolen table answers nothing elsewhere', () => {
    const a = pairingCodeCredential('AX7K-PJ3F-TH2Q', SECRET);
    const b = pairingCodeCredential('AX7K-PJ3F-TH2Q', 'another-secret-'.padEnd(40, 'y'));
    expect(a.ok && b.ok && a.credential.digest !== b.credential.digest).toBe(true);
  });

  it('refuses what is not a pairing code as a field problem, before any lookup', () => {
    for (const code of ['', 'AX7K-PJ3F', 'AX7K-PJ3F-TH2Q-ZZZZ', 'not a code at all']) {
      expect(pairingCodeCredential(code, SECRET), code).toEqual({
        ok: false,
        field: 'pairing_code',
        problem: 'is not a pairing code (12 symbols, XXXX-XXXX-XXXX)',
      });
    }
  });
});
