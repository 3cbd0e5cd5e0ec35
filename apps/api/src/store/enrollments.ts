import { enrollments, type EnrollmentStatus } from '@airlock/schema';
import { desc, eq } from 'drizzle-orm';
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

export const listEnrollments = (db: Executor, status: EnrollmentStatus | undefined) =>
  db
    .select()
    .from(enrollments)
    .where(status ? eq(enrollments.status, status) : undefined)
    .orderBy(desc(enrollments.createdAt))
    .limit(500);
