CREATE TABLE "agent_keys" (
	"id" uuid PRIMARY KEY DEFAULT gen_random_uuid() NOT NULL,
	"agent_id" uuid NOT NULL,
	"digest" text NOT NULL,
	"start" text NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"revoked_at" timestamp with time zone,
	"last_used_at" timestamp with time zone
);
--> statement-breakpoint
CREATE TABLE "agents" (
	"id" uuid PRIMARY KEY DEFAULT gen_random_uuid() NOT NULL,
	"site_code" text NOT NULL,
	"enrollment_id" uuid NOT NULL,
	"public_key" text NOT NULL,
	"fingerprint" text NOT NULL,
	"hostname" text NOT NULL,
	"machine_uid" text,
	"status" text NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"created_by" text NOT NULL,
	"revoked_at" timestamp with time zone,
	"revoked_by" text,
	"revoke_reason" text,
	"last_seen_at" timestamp with time zone
);
--> statement-breakpoint
CREATE TABLE "audit_events" (
	"seq" bigint PRIMARY KEY GENERATED ALWAYS AS IDENTITY (sequence name "audit_events_seq_seq" INCREMENT BY 1 MINVALUE 1 MAXVALUE 9223372036854775807 START WITH 1 CACHE 1),
	"id" uuid DEFAULT gen_random_uuid() NOT NULL,
	"occurred_at" timestamp with time zone DEFAULT now() NOT NULL,
	"event_type" text NOT NULL,
	"actor" text NOT NULL,
	"site_code" text,
	"enrollment_id" uuid,
	"agent_id" uuid,
	"source_ip" text,
	"user_agent" text,
	"details" jsonb DEFAULT '{}'::jsonb NOT NULL
);
--> statement-breakpoint
CREATE TABLE "enrollments" (
	"id" uuid PRIMARY KEY DEFAULT gen_random_uuid() NOT NULL,
	"site_code" text NOT NULL,
	"method" text NOT NULL,
	"pairing_code_id" uuid,
	"enrollment_key_id" uuid,
	"auto_approve" boolean DEFAULT false NOT NULL,
	"public_key" text NOT NULL,
	"fingerprint" text NOT NULL,
	"hostname" text NOT NULL,
	"agent_version" text,
	"machine_uid" text,
	"labels" jsonb DEFAULT '{}'::jsonb NOT NULL,
	"source_ip" text NOT NULL,
	"user_agent" text,
	"challenge" text NOT NULL,
	"challenge_expires_at" timestamp with time zone NOT NULL,
	"verify_attempts" integer DEFAULT 0 NOT NULL,
	"status" text NOT NULL,
	"poll_token_digest" text,
	"poll_interval" integer NOT NULL,
	"last_poll_at" timestamp with time zone,
	"approval_expires_at" timestamp with time zone,
	"reuse_agent_id" uuid,
	"agent_id" uuid,
	"decided_by" text,
	"decided_at" timestamp with time zone,
	"notes" text,
	"reject_reason" text,
	"credentials_issued_at" timestamp with time zone,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
CREATE TABLE "operator_tokens" (
	"id" uuid PRIMARY KEY DEFAULT gen_random_uuid() NOT NULL,
	"operator_id" uuid NOT NULL,
	"digest" text NOT NULL,
	"start" text NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"revoked_at" timestamp with time zone,
	"last_used_at" timestamp with time zone
);
--> statement-breakpoint
CREATE TABLE "operators" (
	"id" uuid PRIMARY KEY DEFAULT gen_random_uuid() NOT NULL,
	"name" text NOT NULL,
	"role" text NOT NULL,
	"password_hash" text,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"disabled_at" timestamp with time zone
);
--> statement-breakpoint
CREATE TABLE "pairing_codes" (
	"id" uuid PRIMARY KEY DEFAULT gen_random_uuid() NOT NULL,
	"digest" text NOT NULL,
	"site_code" text NOT NULL,
	"created_by" text NOT NULL,
	"note" text,
	"auto_approve" boolean DEFAULT false NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"expires_at" timestamp with time zone NOT NULL,
	"used_at" timestamp with time zone,
	"used_by_enrollment" uuid,
	"revoked_at" timestamp with time zone,
	"revoked_by" text
);
--> statement-breakpoint
CREATE TABLE "site_enrollment_keys" (
	"id" uuid PRIMARY KEY DEFAULT gen_random_uuid() NOT NULL,
	"site_code" text NOT NULL,
	"version" integer NOT NULL,
	"digest" text NOT NULL,
	"fingerprint" text NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"created_by" text NOT NULL,
	"expires_at" timestamp with time zone,
	"max_uses" integer,
	"use_count" integer DEFAULT 0 NOT NULL,
	"last_used_at" timestamp with time zone,
	"revoked_at" timestamp with time zone
);
--> statement-breakpoint
CREATE TABLE "sites" (
	"code" text PRIMARY KEY NOT NULL,
	"name" text NOT NULL,
	"policy" text DEFAULT 'manual' NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"created_by" text NOT NULL,
	CONSTRAINT "sites_code_format" CHECK ("sites"."code" ~ '^[A-Z0-9][A-Z0-9-]{1,31}$'),
	CONSTRAINT "sites_policy_values" CHECK ("sites"."policy" in ('manual', 'auto'))
);
--> statement-breakpoint
ALTER TABLE "agent_keys" ADD CONSTRAINT "agent_keys_agent_id_agents_id_fk" FOREIGN KEY ("agent_id") REFERENCES "public"."agents"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "agents" ADD CONSTRAINT "agents_site_code_sites_code_fk" FOREIGN KEY ("site_code") REFERENCES "public"."sites"("code") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "enrollments" ADD CONSTRAINT "enrollments_site_code_sites_code_fk" FOREIGN KEY ("site_code") REFERENCES "public"."sites"("code") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "enrollments" ADD CONSTRAINT "enrollments_pairing_code_id_pairing_codes_id_fk" FOREIGN KEY ("pairing_code_id") REFERENCES "public"."pairing_codes"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "enrollments" ADD CONSTRAINT "enrollments_enrollment_key_id_site_enrollment_keys_id_fk" FOREIGN KEY ("enrollment_key_id") REFERENCES "public"."site_enrollment_keys"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "operator_tokens" ADD CONSTRAINT "operator_tokens_operator_id_operators_id_fk" FOREIGN KEY ("operator_id") REFERENCES "public"."operators"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "pairing_codes" ADD CONSTRAINT "pairing_codes_site_code_sites_code_fk" FOREIGN KEY ("site_code") REFERENCES "public"."sites"("code") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "site_enrollment_keys" ADD CONSTRAINT "site_enrollment_keys_site_code_sites_code_fk" FOREIGN KEY ("site_code") REFERENCES "public"."sites"("code") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
CREATE UNIQUE INDEX "agent_keys_digest_idx" ON "agent_keys" USING btree ("digest");--> statement-breakpoint
CREATE INDEX "agent_keys_agent_idx" ON "agent_keys" USING btree ("agent_id");--> statement-breakpoint
CREATE UNIQUE INDEX "agents_machine_uid_idx" ON "agents" USING btree ("machine_uid");--> statement-breakpoint
CREATE INDEX "agents_site_idx" ON "agents" USING btree ("site_code");--> statement-breakpoint
CREATE INDEX "audit_events_type_idx" ON "audit_events" USING btree ("event_type","seq");--> statement-breakpoint
CREATE INDEX "audit_events_site_idx" ON "audit_events" USING btree ("site_code","seq");--> statement-breakpoint
CREATE INDEX "audit_events_agent_idx" ON "audit_events" USING btree ("agent_id","seq");--> statement-breakpoint
CREATE UNIQUE INDEX "enrollments_poll_token_idx" ON "enrollments" USING btree ("poll_token_digest");--> statement-breakpoint
CREATE INDEX "enrollments_status_idx" ON "enrollments" USING btree ("status","created_at");--> statement-breakpoint
CREATE INDEX "enrollments_site_idx" ON "enrollments" USING btree ("site_code");--> statement-breakpoint
CREATE UNIQUE INDEX "operator_tokens_digest_idx" ON "operator_tokens" USING btree ("digest");--> statement-breakpoint
CREATE UNIQUE INDEX "operators_name_idx" ON "operators" USING btree ("name");--> statement-breakpoint
CREATE UNIQUE INDEX "pairing_codes_digest_idx" ON "pairing_codes" USING btree ("digest");--> statement-breakpoint
CREATE INDEX "pairing_codes_site_idx" ON "pairing_codes" USING btree ("site_code");--> statement-breakpoint
CREATE UNIQUE INDEX "site_enrollment_keys_digest_idx" ON "site_enrollment_keys" USING btree ("digest");--> statement-breakpoint
CREATE UNIQUE INDEX "site_enrollment_keys_site_version_idx" ON "site_enrollment_keys" USING btree ("site_code","version");--> statement-breakpoint
CREATE UNIQUE INDEX "site_enrollment_keys_one_active_idx" ON "site_enrollment_keys" USING btree ("site_code") WHERE "site_enrollment_keys"."revoked_at" is null;