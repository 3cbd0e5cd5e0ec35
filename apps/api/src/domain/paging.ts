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

/** A list ordered by a row sequence number (audit, webhook deliveries): the cursor is opaque to clients; inside it is the last row's `seq`. */
export const encodeSeqCursor = (seq: number) => Buffer.from(`s:${seq}`).toString('base64url');
export const decodeSeqCursor = (cursor: string): number => {
  const m = /^s:(\d{1,15})$/.exec(Buffer.from(cursor, 'base64url').toString('utf8'));
  if (!m?.[1] || cursor.length > 40) throw badCursor();
  return Number(m[1]);
};
