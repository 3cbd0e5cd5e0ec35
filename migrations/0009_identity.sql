-- Issue 22: clones may coexist. An operator confirming an identity collision
-- may enroll the machine as a separate agent (template-cloned VMs sharing a
-- hardware UUID): each agent of one machine_uid gets its own instance number,
-- 0 for the first (every existing agent), and the uniqueness moves to the pair.
-- Per tenant since 0008: UNIQUE (tenant_code, machine_uid, machine_instance).
ALTER TABLE "agents" ADD COLUMN "machine_instance" integer DEFAULT 0 NOT NULL;
--> statement-breakpoint
DROP INDEX IF EXISTS "agents_machine_uid_idx";
--> statement-breakpoint
CREATE UNIQUE INDEX "agents_machine_uid_idx" ON "agents" USING btree ("tenant_code", "machine_uid", "machine_instance");
