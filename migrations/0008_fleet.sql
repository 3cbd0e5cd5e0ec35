-- Issue 22, fleet: tenants and scoped operators, per-site source allowlists,
-- labels and approval provenance on agents, machine_uid unique per tenant,
-- and an index under every list's order and filter (keyset paging, never OFFSET).
CREATE TABLE "tenants" (
	"code" text PRIMARY KEY NOT NULL,
	"name" text NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"created_by" text NOT NULL,
	CONSTRAINT "tenants_code_format" CHECK ("tenants"."code" ~ '^[a-z0-9][a-z0-9-]{1,31}$')
);
--> statement-breakpoint
INSERT INTO "tenants" ("code", "name", "created_by") VALUES ('default', 'Default', 'system') ON CONFLICT DO NOTHING;
--> statement-breakpoint
-- `default` always exists: every upgraded site and operator lives there.
CREATE OR REPLACE FUNCTION airlock_keep_default_tenant() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  IF OLD.code = 'default' THEN
    RAISE EXCEPTION 'the default tenant cannot be removed or renamed' USING ERRCODE = 'integrity_constraint_violation';
  END IF;
  RETURN CASE WHEN TG_OP = 'DELETE' THEN OLD ELSE NEW END;
END;
$$;
--> statement-breakpoint
CREATE TRIGGER tenants_keep_default BEFORE DELETE OR UPDATE OF "code" ON "tenants"
  FOR EACH ROW EXECUTE FUNCTION airlock_keep_default_tenant();
--> statement-breakpoint
ALTER TABLE "sites" ADD COLUMN "tenant_code" text DEFAULT 'default' NOT NULL REFERENCES "tenants"("code");
--> statement-breakpoint
ALTER TABLE "sites" ADD COLUMN "allowed_cidrs" text[] DEFAULT '{}' NOT NULL;
--> statement-breakpoint
-- Lets agents carry (site_code, tenant_code) as one foreign key: an agent's tenant is its site's.
CREATE UNIQUE INDEX "sites_tenant_code_idx" ON "sites" USING btree ("tenant_code", "code");
--> statement-breakpoint
-- null: a global operator; otherwise it sees and acts on this tenant only.
ALTER TABLE "operators" ADD COLUMN "tenant_code" text REFERENCES "tenants"("code");
--> statement-breakpoint
ALTER TABLE "agents" ADD COLUMN "tenant_code" text DEFAULT 'default' NOT NULL;
--> statement-breakpoint
ALTER TABLE "agents" ADD COLUMN "labels" jsonb DEFAULT '{}'::jsonb NOT NULL;
--> statement-breakpoint
ALTER TABLE "agents" ADD COLUMN "approved_by" text;
--> statement-breakpoint
ALTER TABLE "agents" ADD COLUMN "approved_at" timestamp with time zone;
--> statement-breakpoint
-- Backfill from what the database already knows: the site's tenant, the
-- labels sent at enroll, and who approved the enrollment that made the agent
-- (`system` was the site policy: `policy` on the wire).
UPDATE "agents" a SET "tenant_code" = s."tenant_code" FROM "sites" s WHERE s."code" = a."site_code";
--> statement-breakpoint
UPDATE "agents" a SET
  "labels" = e."labels",
  "approved_by" = CASE WHEN e."decided_by" = 'system' THEN 'policy' ELSE e."decided_by" END,
  "approved_at" = e."decided_at"
FROM "enrollments" e WHERE e."id" = a."enrollment_id" AND e."status" = 'approved';
--> statement-breakpoint
ALTER TABLE "agents" ADD CONSTRAINT "agents_site_tenant_fk" FOREIGN KEY ("tenant_code", "site_code") REFERENCES "sites"("tenant_code", "code");
--> statement-breakpoint
-- One machine is one agent per tenant (the zero-touch dedup key (tenant, machine_uid)).
DROP INDEX IF EXISTS "agents_machine_uid_idx";
--> statement-breakpoint
CREATE UNIQUE INDEX "agents_machine_uid_idx" ON "agents" USING btree ("tenant_code", "machine_uid");
--> statement-breakpoint
-- Agent list: newest first by (created_at, id), alone or after one equality filter.
DROP INDEX IF EXISTS "agents_site_idx";
--> statement-breakpoint
CREATE INDEX "agents_created_idx" ON "agents" USING btree ("created_at", "id");
--> statement-breakpoint
CREATE INDEX "agents_status_created_idx" ON "agents" USING btree ("status", "created_at", "id");
--> statement-breakpoint
CREATE INDEX "agents_site_created_idx" ON "agents" USING btree ("site_code", "created_at", "id");
--> statement-breakpoint
CREATE INDEX "agents_tenant_created_idx" ON "agents" USING btree ("tenant_code", "created_at", "id");
--> statement-breakpoint
CREATE INDEX "agents_hostname_prefix_idx" ON "agents" USING btree ("hostname" text_pattern_ops);
--> statement-breakpoint
CREATE INDEX "agents_labels_idx" ON "agents" USING gin ("labels" jsonb_path_ops);
--> statement-breakpoint
-- The console's sites page: each site's latest revocation, read from the index alone.
CREATE INDEX "agents_site_revoked_idx" ON "agents" USING btree ("site_code", "revoked_at") WHERE "revoked_at" IS NOT NULL;
--> statement-breakpoint
-- Enrollment list: by status or site, newest first; stale waiting ones found by deadline for the sweeper.
DROP INDEX IF EXISTS "enrollments_status_idx";
--> statement-breakpoint
CREATE INDEX "enrollments_status_idx" ON "enrollments" USING btree ("status", "created_at", "id");
--> statement-breakpoint
DROP INDEX IF EXISTS "enrollments_site_idx";
--> statement-breakpoint
CREATE INDEX "enrollments_site_idx" ON "enrollments" USING btree ("site_code", "created_at", "id");
--> statement-breakpoint
CREATE INDEX "enrollments_waiting_deadline_idx" ON "enrollments" USING btree ("approval_expires_at")
  WHERE "status" IN ('awaiting_approval', 'pending_confirmation');
--> statement-breakpoint
CREATE INDEX "pairing_codes_created_idx" ON "pairing_codes" USING btree ("created_at", "id");
--> statement-breakpoint
DROP INDEX IF EXISTS "pairing_codes_site_idx";
--> statement-breakpoint
CREATE INDEX "pairing_codes_site_idx" ON "pairing_codes" USING btree ("site_code", "created_at", "id");
--> statement-breakpoint
-- Audit filtered by site and type: one composite, so a query with no match does not walk the type index.
CREATE INDEX "audit_events_site_type_idx" ON "audit_events" USING btree ("site_code", "event_type", "seq");
