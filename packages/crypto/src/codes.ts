import { randomBytes } from 'node:crypto';

/**
 * The 32 symbols of a pairing code: Crockford base32, which leaves out
 * I, L, O and U so that a code read aloud or off a screen is unambiguous.
 *
 * @example
 *   PAIRING_ALPHABET.length // => 32
 */
export const PAIRING_ALPHABET = '0123456789ABCDEFGHJKMNPQRSTVWXYZ';

const SYMBOLS = 12;
const GROUP = 4;
// Anything longer than this is not a mistyped code but junk (or an attack on
// our CPU); refuse before looking at it character by character.
const MAX_INPUT_LENGTH = 64;

/** Letters people type for a digit they saw; Crockford's decoding rules. */
const LOOK_ALIKES: Readonly<Record<string, string>> = { I: '1', L: '1', O: '0' };

type Scan =
  | { kind: 'ok'; canonical: string }
  | { kind: 'too_long'; length: number }
  | { kind: 'bad_char'; char: string }
  | { kind: 'wrong_count'; count: number };

/**
 * One pass shared by normalisation and the CLI's error message, so the two can
 * never disagree about what is acceptable.
 */
const scan = (input: string): Scan => {
  if (input.length > MAX_INPUT_LENGTH) return { kind: 'too_long', length: input.length };
  let out = '';
  for (const char of input) {
    if (char === ' ' || char === '-') continue;
    // Upper-case ASCII only: String#toUpperCase maps some non-ASCII letters
    // (dotless i, long s) onto ASCII ones, which would let look-alikes in.
    const code = char.charCodeAt(0);
    const upper = char.length === 1 && code >= 0x61 && code <= 0x7a ? String.fromCharCode(code - 0x20) : char;
    const symbol = LOOK_ALIKES[upper] ?? upper;
    if (symbol.length !== 1 || !PAIRING_ALPHABET.includes(symbol)) return { kind: 'bad_char', char };
    out += symbol;
  }
  return out.length === SYMBOLS ? { kind: 'ok', canonical: out } : { kind: 'wrong_count', count: out.length };
};

/**
 * A fresh pairing code, `XXXX-XXXX-XXXX`, 60 bits from the CSPRNG.
 *
 * Each symbol takes the low 5 bits of its own random byte: 32 divides 256, so
 * every symbol is exactly uniform (no modulo bias).
 *
 * @example
 *   generatePairingCode() // => 'AX7K-PJ3F-TH2Q'
 */
export const generatePairingCode = (): string => {
  const bytes = randomBytes(SYMBOLS);
  let code = '';
  for (const byte of bytes) code += PAIRING_ALPHABET.charAt(byte & 0x1f);
  return formatCanonical(code);
};

/**
 * The canonical form of a typed pairing code (12 symbols, upper case, no
 * hyphens), or null when it cannot be one. Case-insensitive; spaces and
 * hyphens are ignored; `I`/`L` read as `1` and `O` as `0`. Anything else,
 * including `U`, non-ASCII look-alikes and control characters, is refused.
 *
 * @example
 *   normalizePairingCode('ax7k pj3f th2q') // => 'AX7KPJ3FTH2Q'
 *   normalizePairingCode('AX7K-PJ3F-TH2')  // => null
 */
export const normalizePairingCode = (input: string): string | null => {
  if (typeof input !== 'string') return null;
  const result = scan(input);
  return result.kind === 'ok' ? result.canonical : null;
};

const formatCanonical = (canonical: string): string => {
  const groups: string[] = [];
  for (let i = 0; i < canonical.length; i += GROUP) groups.push(canonical.slice(i, i + GROUP));
  return groups.join('-');
};

/**
 * The display form `XXXX-XXXX-XXXX` of a pairing code. Accepts anything
 * {@link normalizePairingCode} accepts (so it is idempotent) and throws a
 * TypeError otherwise, because formatting a non-code is a programming error.
 *
 * @example
 *   formatPairingCode('AX7KPJ3FTH2Q') // => 'AX7K-PJ3F-TH2Q'
 */
export const formatPairingCode = (canonical: string): string => {
  const normalized = normalizePairingCode(canonical);
  if (normalized === null) throw new TypeError('not a pairing code');
  return formatCanonical(normalized);
};

const describeChar = (char: string): string => {
  const code = char.codePointAt(0) ?? 0;
  const hex = `U+${code.toString(16).toUpperCase().padStart(4, '0')}`;
  if (code < 0x20 || code === 0x7f) return `a control character (${hex})`;
  if (code > 0x7e) return `the non-ASCII character ${hex}, which may look like a code symbol but is not one`;
  return `'${char}', which is not used in pairing codes`;
};

/**
 * A sentence for the person typing the code (agent CLI), or null when the
 * input is a valid pairing code. It may quote one offending character of the
 * input, so it is for the local user only, never for an HTTP response.
 *
 * @example
 *   describePairingCodeProblem('AX7K-PJ3F-TH2')  // => 'has 11 symbols, expected 12'
 *   describePairingCodeProblem('AX7K-PJ3F-TH2U') // => "contains 'U', which is not used in pairing codes"
 */
export const describePairingCodeProblem = (input: string): string | null => {
  if (typeof input !== 'string') return 'is not text';
  const result = scan(input);
  switch (result.kind) {
    case 'ok':
      return null;
    case 'too_long':
      return `is ${result.length} characters long; a pairing code has ${SYMBOLS} symbols like XXXX-XXXX-XXXX`;
    case 'bad_char':
      return `contains ${describeChar(result.char)}`;
    case 'wrong_count':
      return `has ${result.count} symbol${result.count === 1 ? '' : 's'}, expected ${SYMBOLS}`;
  }
};
