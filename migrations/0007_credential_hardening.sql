-- Issue 18 (api): certificates bound to the key they were issued for and
-- revocable one by one; enrollments held because their key belongs to a
-- revoked agent; site-key use alerts computed on the key row; a per-operator
-- console sign-in throttle that an admin can clear.
ALTER TABLE "issued_certificates" ADD COLUMN "key_fingerprint" text;
--> statement-breakpoint
ALTER TABLE "issued_certificates" ADD COLUMN "revoked_at" timestamp with time zone;
--> statement-breakpoint
ALTER TABLE "issued_certificates" ADD COLUMN "revoke_reason" text;
--> statement-breakpoint
-- Certificates issued before this migration recorded no key: revoke them with
-- their agent if it is already revoked, so none of them verifies again when
-- the machine comes back (the verify route compares the presented key too).
UPDATE "issued_certificates" c SET "revoked_at" = a."revoked_at", "revoke_reason" = 'agent_revoked'
FROM "agents" a WHERE a."id" = c."agent_id" AND a."status" = 'revoked' AND c."revoked_at" IS NULL;
--> statement-breakpoint
ALTER TABLE "enrollments" ADD COLUMN "revoked_key_agent_id" uuid;
--> statement-breakpoint
ALTER TABLE "site_enrollment_keys" ADD COLUMN "burst_bucket" bigint;
--> statement-breakpoint
ALTER TABLE "site_enrollment_keys" ADD COLUMN "burst_bucket_uses" integer DEFAULT 0 NOT NULL;
--> statement-breakpoint
ALTER TABLE "site_enrollment_keys" ADD COLUMN "burst_baseline" double precision DEFAULT 0 NOT NULL;
--> statement-breakpoint
ALTER TABLE "operators" ADD COLUMN "sign_in_cleared_at" timestamp with time zone;
--> statement-breakpoint
CREATE INDEX "audit_events_login_failed_operator_idx" ON "audit_events" USING btree (("details"->>'operator'),"occurred_at") WHERE "audit_events"."event_type" = 'operator.login_failed';
