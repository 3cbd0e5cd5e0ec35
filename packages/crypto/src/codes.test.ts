import { describe, expect, it } from 'vitest';
import {
  PAIRING_ALPHABET,
  describePairingCodeProblem,
  formatPairingCode,
  generatePairingCode,
  normalizePairingCode,
} from './codes.ts';

describe('PAIRING_ALPHABET', () => {
  it('is the 32 Crockford symbols, without I, L, O and U', () => {
    expect(PAIRING_ALPHABET).toBe('0123456789ABCDEFGHJKMNPQRSTVWXYZ');
    expect(new Set(PAIRING_ALPHABET).size).toBe(32);
    for (const letter of 'ILOU') expect(PAIRING_ALPHABET).not.toContain(letter);
  });
});

describe('generatePairingCode', () => {
  it('shows 12 alphabet symbols in three hyphenated groups of four', () => {
    for (let i = 0; i < 200; i++) {
      expect(generatePairingCode()).toMatch(/^[0-9A-HJKMNP-TV-Z]{4}-[0-9A-HJKMNP-TV-Z]{4}-[0-9A-HJKMNP-TV-Z]{4}$/);
    }
  });

  it('makes codes that always normalise and format back to themselves', () => {
    for (let i = 0; i < 500; i++) {
      const code = generatePairingCode();
      const canonical = normalizePairingCode(code);
      expect(canonical).toBe(code.replaceAll('-', ''));
      expect(formatPairingCode(canonical ?? '')).toBe(code);
      expect(describePairingCodeProblem(code)).toBeNull();
    }
  });

  it('uses every symbol at every position roughly equally often', () => {
    const samples = 6400;
    const counts = Array.from({ length: 12 }, () => new Map<string, number>());
    for (let i = 0; i < samples; i++) {
      const canonical = generatePairingCode().replaceAll('-', '');
      [...canonical].forEach((symbol, position) => {
        const map = counts[position];
        if (map) map.set(symbol, (map.get(symbol) ?? 0) + 1);
      });
    }
    // Expected 200 per cell; a biased generator (say, modulo over 36) would
    // show cells near 0 or near 400. Bounds are ~7 sigma, so no flakes.
    for (const map of counts) {
      expect(map.size).toBe(32);
      for (const count of map.values()) {
        expect(count).toBeGreaterThan(100);
        expect(count).toBeLessThan(300);
      }
    }
  });

  it('does not repeat itself', () => {
    const seen = new Set(Array.from({ length: 2000 }, () => generatePairingCode()));
    expect(seen.size).toBe(2000);
  });
});

describe('normalizePairingCode', () => {
  it('upper-cases and drops spaces, as typed from a screen', () => {
    expect(normalizePairingCode('ax7k pj3f th2q')).toBe('AX7KPJ3FTH2Q');
  });

  it('accepts the hyphenated display form and stray hyphens and spaces', () => {
    expect(normalizePairingCode('AX7K-PJ3F-TH2Q')).toBe('AX7KPJ3FTH2Q');
    expect(normalizePairingCode(' -AX7K--PJ3F  TH2Q- ')).toBe('AX7KPJ3FTH2Q');
  });

  it('reads I and L as 1 and O as 0, in either case', () => {
    expect(normalizePairingCode('IiLl-OoAB-CDEF')).toBe('111100ABCDEF');
  });

  it('refuses a code with too few or too many symbols', () => {
    expect(normalizePairingCode('AX7K-PJ3F-TH2')).toBeNull();
    expect(normalizePairingCode('AX7K-PJ3F-TH2QQ')).toBeNull();
    expect(normalizePairingCode('')).toBeNull();
    expect(normalizePairingCode('---- ----')).toBeNull();
  });

  it('refuses U, which Crockford keeps out so codes cannot spell words', () => {
    expect(normalizePairingCode('AX7K-PJ3F-TH2U')).toBeNull();
    expect(normalizePairingCode('ax7k-pj3f-th2u')).toBeNull();
  });

  it('refuses punctuation and ASCII look-alike separators', () => {
    for (const input of ['AX7K_PJ3F_TH2Q', 'AX7K.PJ3F.TH2Q', 'AX7K/PJ3F/TH2Q', 'AX7K*PJ3F-TH2Q']) {
      expect(normalizePairingCode(input)).toBeNull();
    }
  });

  it('refuses Unicode look-alikes instead of folding them onto ASCII', () => {
    // Fullwidth A, Cyrillic A, Greek capital Alpha, dotless i and long s (the
    // last two upper-case to ASCII I and S with String#toUpperCase).
    for (const lookAlike of ['\uFF21', '\u0410', '\u0391', '\u0131', '\u017F', '\u2010', '\u00A0']) {
      expect(normalizePairingCode(`${lookAlike}X7K-PJ3F-TH2Q`)).toBeNull();
      expect(normalizePairingCode(`X7K-PJ3F-TH2Q${lookAlike}`)).toBeNull();
    }
    expect(normalizePairingCode('\uFF21\uFF38\uFF17\uFF2B\uFF30\uFF2A\uFF13\uFF26\uFF34\uFF28\uFF12\uFF31')).toBeNull();
  });

  it('refuses control characters, NUL included', () => {
    for (const control of ['\0', '\t', '\n', '\r', '\u007F', '\u001B']) {
      expect(normalizePairingCode(`AX7K-PJ3F${control}TH2Q`)).toBeNull();
    }
  });

  it('refuses lone surrogates and astral characters', () => {
    expect(normalizePairingCode('AX7K-PJ3F-TH2\uD800')).toBeNull();
    expect(normalizePairingCode('AX7K-PJ3F-TH2\u{1D400}')).toBeNull();
  });

  it('refuses over-long input before scanning it', () => {
    expect(normalizePairingCode(`AX7K-PJ3F-TH2Q${' '.repeat(51)}`)).toBeNull();
    expect(normalizePairingCode(`AX7K-PJ3F-TH2Q${' '.repeat(50)}`)).toBe('AX7KPJ3FTH2Q');
    expect(normalizePairingCode('A'.repeat(1_000_000))).toBeNull();
  });
});

describe('formatPairingCode', () => {
  it('inserts hyphens every four symbols', () => {
    expect(formatPairingCode('AX7KPJ3FTH2Q')).toBe('AX7K-PJ3F-TH2Q');
  });

  it('is idempotent on the display form', () => {
    expect(formatPairingCode('AX7K-PJ3F-TH2Q')).toBe('AX7K-PJ3F-TH2Q');
  });

  it('throws on something that is not a pairing code', () => {
    expect(() => formatPairingCode('AX7KPJ3FTH2')).toThrow(TypeError);
  });
});

describe('describePairingCodeProblem', () => {
  it('says nothing about a valid code', () => {
    expect(describePairingCodeProblem('ax7k pj3f th2q')).toBeNull();
  });

  it('counts the symbols of a code that is too short or too long', () => {
    expect(describePairingCodeProblem('AX7K-PJ3F-TH2')).toBe('has 11 symbols, expected 12');
    expect(describePairingCodeProblem('AX7K-PJ3F-TH2QR')).toBe('has 13 symbols, expected 12');
    expect(describePairingCodeProblem('A')).toBe('has 1 symbol, expected 12');
  });

  it('names an ASCII character that is not used in pairing codes', () => {
    expect(describePairingCodeProblem('AX7K-PJ3F-TH2U')).toBe("contains 'U', which is not used in pairing codes");
    expect(describePairingCodeProblem('ax7k-pj3f-th2u')).toBe("contains 'u', which is not used in pairing codes");
  });

  it('names a non-ASCII look-alike by code point', () => {
    expect(describePairingCodeProblem('\u0410X7K-PJ3F-TH2Q')).toBe(
      'contains the non-ASCII character U+0410, which may look like a code symbol but is not one',
    );
  });

  it('names a control character by code point without printing it', () => {
    expect(describePairingCodeProblem('AX7K\0PJ3F-TH2Q')).toBe('contains a control character (U+0000)');
  });

  it('says when the input is far too long', () => {
    expect(describePairingCodeProblem('A'.repeat(65))).toBe(
      'is 65 characters long; a pairing code has 12 symbols like XXXX-XXXX-XXXX',
    );
  });

  it('agrees with normalizePairingCode on every input it judges', () => {
    const inputs = ['', 'AX7K-PJ3F-TH2Q', 'ioL0-0000-0000', 'U', 'AX7K PJ3F TH2Q \n', '\uFF21'.repeat(12)];
    for (const input of inputs) {
      expect(describePairingCodeProblem(input) === null).toBe(normalizePairingCode(input) !== null);
    }
  });
});
