import type { ApiError } from '../errors.ts';

/**
 * A refusal found inside a transaction whose other writes must still commit
 * (a bad signature counted, a poll recorded): returned from the transaction,
 * thrown after it.
 */
export type Outcome<T> = { ok: true; value: T } | { ok: false; error: ApiError };

export const unwrap = <T>(o: Outcome<T>): T => {
  if (!o.ok) throw o.error;
  return o.value;
};
