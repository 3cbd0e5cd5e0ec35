/**
 * Operator passwords for the console: Argon2id (RFC 9106) via @node-rs/argon2,
 * at OWASP's minimum profile, m = 19 MiB, t = 2, p = 1. Measured cost on the
 * project's 2-core CI machine is in docs/benchmarks.md ("Console password hashing").
 */
import { randomBytes } from 'node:crypto';
import { hash, verify, type Options } from '@node-rs/argon2';

// The library's default algorithm is Argon2id; passwords.test.ts pins the PHC prefix.
const ARGON2_OPTIONS: Options = { memoryCost: 19_456, timeCost: 2, parallelism: 1, outputLen: 32 };
export const ARGON2_PHC_PREFIX = '$argon2id$v=19$m=19456,t=2,p=1$';

export const hashPassword = (password: string): Promise<string> => hash(password, ARGON2_OPTIONS);

// A hash of nothing anyone knows, verified when the operator does not exist or
// has no password, so that case costs the same Argon2 work as a wrong password.
let dummy: Promise<string> | null = null;
const dummyHash = (): Promise<string> => (dummy ??= hash(randomBytes(32).toString('base64'), ARGON2_OPTIONS));

/** Computes the dummy hash ahead of the first sign-in, so the first unknown name is not slower. */
export const warmPasswordCheck = (): Promise<unknown> => dummyHash();

/**
 * True only when `stored` is a hash of `password`. Always runs one Argon2id
 * verification, whether or not there is a stored hash.
 */
export const checkPassword = async (stored: string | null, password: string): Promise<boolean> => {
  const target = stored ?? (await dummyHash());
  let ok: boolean;
  try {
    ok = await verify(target, password);
  } catch {
    // A malformed stored hash never signs anyone in.
    ok = false;
  }
  return ok && stored !== null;
};
