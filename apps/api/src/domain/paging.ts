/**
 * Cursor paging shared by every list (audit, counted refusals, enrollments):
 * a list fetches `limit + 1` rows, and the extra row only says whether there
 * is a next page. Each list keeps its own opaque cursor format.
 */
import { ApiError } from '../errors.ts';
import type { TimeId } from '../store/rows.ts';

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

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;


/** The opaque cursor of a (created_at, id) list: the last row's position. */
export const timeIdCursor = {
  encode: (r: TimeId): string => Buffer.from(`${r.createdAt.getTime()}.${r.id}`).toString('base64url'),
  decode: (cursor: string): TimeId => {
    const m = /^(\d{1,15})\.(.+)$/.exec(Buffer.from(cursor, 'base64url').toString('utf8'));
    if (!m?.[1] || !m[2] || !UUID.test(m[2])) throw badCursor();
    return { createdAt: new Date(Number(m[1])), id: m[2] };
  },
};

/** The opaque cursor of a list ordered by a text key (sites by code). */
export const keyCursor = {
  encode: (key: string): string => Buffer.from(`k:${key}`).toString('base64url'),
  decode: (cursor: string): string => {
    const m = /^k:([A-Za-z0-9-]{1,64})$/.exec(Buffer.from(cursor, 'base64url').toString('utf8'));
    if (!m?.[1]) throw badCursor();
    return m[1];
  },
};

/** A list ordered by a row sequence number (audit, webhook deliveries): the cursor is opaque to clients; inside it is the last row's `seq`. */
export const encodeSeqCursor = (seq: number) => Buffer.from(`s:${seq}`).toString('base64url');
export const decodeSeqCursor = (cursor: string): number => {
  const m = /^s:(\d{1,15})$/.exec(Buffer.from(cursor, 'base64url').toString('utf8'));
  if (!m?.[1] || cursor.length > 40) throw badCursor();
  return Number(m[1]);
};
