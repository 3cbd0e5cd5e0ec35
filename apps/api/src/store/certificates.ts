import { agents, issuedCertificates } from '@airlock/schema/db';
import { and, eq, isNull, sql } from 'drizzle-orm';
import type { Executor } from '../db/client.ts';

export const insertIssuedCertificate = async (db: Executor, row: typeof issuedCertificates.$inferInsert): Promise<void> => {
  await db.insert(issuedCertificates).values(row);
};

/** An issued certificate by serial, with its own standing and its agent's current standing and key. */
export const findIssuedCertificate = async (db: Executor, serial: string) =>
  (
    await db
      .select({
        serial: issuedCertificates.serial,
        fingerprint: issuedCertificates.fingerprint,
        keyFingerprint: issuedCertificates.keyFingerprint,
        revokedAt: issuedCertificates.revokedAt,
        agentId: issuedCertificates.agentId,
        siteCode: agents.siteCode,
        agentStatus: agents.status,
        agentKeyFingerprint: agents.fingerprint,
      })
      .from(issuedCertificates)
      .innerJoin(agents, eq(agents.id, issuedCertificates.agentId))
      .where(eq(issuedCertificates.serial, serial))
  )[0] ?? null;

/** Why a certificate stopped being valid before its time. */
export type CertificateRevocation = 'agent_revoked' | 'key_replaced';

/**
 * Marks every certificate of the agent that is still valid as revoked, or
 * with `keptKey`, every one but those issued for that key (a re-key keeps the
 * certificates of the key that stays). Certificates that recorded no key
 * (issued before migration 0007) count as another key. Never un-revokes.
 */
export const revokeAgentCertificates = async (
  db: Executor,
  agentId: string,
  reason: CertificateRevocation,
  now: Date,
  keptKey: string | null = null,
): Promise<number> =>
  (
    await db
      .update(issuedCertificates)
      .set({ revokedAt: now, revokeReason: reason })
      .where(
        and(
          eq(issuedCertificates.agentId, agentId),
          isNull(issuedCertificates.revokedAt),
          keptKey === null ? undefined : sql`${issuedCertificates.keyFingerprint} is distinct from ${keptKey}`,
        ),
      )
      .returning({ serial: issuedCertificates.serial })
  ).length;
