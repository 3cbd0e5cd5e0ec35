import { agents, issuedCertificates } from '@airlock/schema';
import { eq } from 'drizzle-orm';
import type { Executor } from '../db/client.ts';

export const insertIssuedCertificate = async (db: Executor, row: typeof issuedCertificates.$inferInsert): Promise<void> => {
  await db.insert(issuedCertificates).values(row);
};

/** An issued certificate by serial, with its agent's current standing. */
export const findIssuedCertificate = async (db: Executor, serial: string) =>
  (
    await db
      .select({
        serial: issuedCertificates.serial,
        fingerprint: issuedCertificates.fingerprint,
        agentId: issuedCertificates.agentId,
        siteCode: agents.siteCode,
        agentStatus: agents.status,
      })
      .from(issuedCertificates)
      .innerJoin(agents, eq(agents.id, issuedCertificates.agentId))
      .where(eq(issuedCertificates.serial, serial))
  )[0] ?? null;
