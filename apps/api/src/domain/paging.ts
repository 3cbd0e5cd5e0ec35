/**
 * Cursor paging shared by every list (audit, counted refusals, enrollments):
 * a list fetches `limit + 1` rows, and the extra row only says whether there
 * is a next page. Each list keeps its own opaque cursor format.
 */
import { ApiError } from '../errors.ts';

/** A cursor this API did not make: one refusal, whichever list was asked. */
export const badCursor = (): ApiError =>
  new ApiError('invalid_request', 'Invalid query', { fields: { cursor: 'is not a cursor from this API' } });

/**
 * @example
 *   const { page, nextCursor } = pageOf(rows, 50, (r) => encodeCursor(r.seq));
 */
export const pageOf = <R>(rows: readonly R[], limit: number, cursorOf: (last: R) => string): { page: R[]; nextCursor: string | null } => {
  const page = rows.slice(0, limit);
  const last = page.at(-1);
  return { page, nextCursor: rows.length > limit && last !== undefined ? cursorOf(last) : null };
};
