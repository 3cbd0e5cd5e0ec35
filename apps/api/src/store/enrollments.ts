import { enrollments, type EnrollmentStatus } from '@airlock/schema';
import { and, desc, eq, gt, inArray, isNull, lt, lte, or, type SQL } from 'drizzle-orm';
import type { Executor } from '../db/client.ts';

export type EnrollmentRow = typeof enrollments.$inferSelect;

export const insertEnrollment = async (db: Executor, row: typeof enrollments.$inferInsert): Promise<EnrollmentRow> => {
  const rows = await db.insert(enrollments).values(row).returning();
  const inserted = rows[0];
  if (!inserted) throw new Error('insert returned no row');
  return inserted;
};

/** Reads and row-locks an enrollment: every state change starts here. */
export const lockEnrollment = async (db: Executor, id: string): Promise<EnrollmentRow | null> =>
  (await db.select().from(enrollments).where(eq(enrollments.id, id)).for('update'))[0] ?? null;

export const lockEnrollmentByPollToken = async (db: Executor, digest: string): Promise<EnrollmentRow | null> =>
  (await db.select().from(enrollments).where(eq(enrollments.pollTokenDigest, digest)).for('update'))[0] ?? null;

export const updateEnrollment = async (
  db: Executor,
  id: string,
  patch: Partial<typeof enrollments.$inferInsert>,
): Promise<void> => {
  await db.update(enrollments).set(patch).where(eq(enrollments.id, id));
};

const WAITING: EnrollmentStatus[] = ['awaiting_approval', 'pending_confirmation'];
const pastDeadline = (now: Date) => and(inArray(enrollments.status, WAITING), lte(enrollments.approvalExpiresAt, now));

/**
 * Lists by effective status: an enrollment still marked waiting whose
 * decision deadline has passed is expired (it is marked so when next touched),
 * so operators never see it as pending.
 */
export const listEnrollments = (
  db: Executor,
  status: EnrollmentStatus | undefined,
  now: Date,
  page: { limit: number; after?: { createdAt: Date; id: string } } = { limit: 500 },
) => {
  let where: SQL | undefined;
  if (status === 'expired') where = or(eq(enrollments.status, 'expired'), pastDeadline(now));
  else if (status && WAITING.includes(status)) {
    where = and(eq(enrollments.status, status), or(isNull(enrollments.approvalExpiresAt), gt(enrollments.approvalExpiresAt, now)));
  } else if (status) where = eq(enrollments.status, status);
  // Keyset paging, newest first: (created_at, id) strictly before the cursor's row.
  const after = page.after
    ? or(lt(enrollments.createdAt, page.after.createdAt), and(eq(enrollments.createdAt, page.after.createdAt), lt(enrollments.id, page.after.id)))
    : undefined;
  return db
    .select()
    .from(enrollments)
    .where(and(where, after))
    .orderBy(desc(enrollments.createdAt), desc(enrollments.id))
    .limit(page.limit);
};

export const effectiveStatus = (e: EnrollmentRow, now: Date): EnrollmentStatus =>
  WAITING.includes(e.status) && e.approvalExpiresAt && e.approvalExpiresAt <= now ? 'expired' : e.status;
