-- v1.1 credentials: the CSR an agent sent at enroll, one-time agent
-- challenges, and every certificate Airlock's CA issued.
ALTER TABLE "enrollments" ADD COLUMN "csr" text;
--> statement-breakpoint
CREATE TABLE "agent_challenges" (
	"id" uuid PRIMARY KEY NOT NULL,
	"fingerprint" text NOT NULL,
	"challenge" text NOT NULL,
	"expires_at" timestamp with time zone NOT NULL,
	"used_at" timestamp with time zone,
	"source_ip" text,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
CREATE INDEX "agent_challenges_expires_idx" ON "agent_challenges" USING btree ("expires_at");
--> statement-breakpoint
CREATE TABLE "issued_certificates" (
	"serial" text PRIMARY KEY NOT NULL,
	"agent_id" uuid NOT NULL,
	"site_code" text NOT NULL,
	"enrollment_id" uuid,
	"fingerprint" text NOT NULL,
	"issuer_fingerprint" text NOT NULL,
	"not_before" timestamp with time zone NOT NULL,
	"not_after" timestamp with time zone NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
ALTER TABLE "issued_certificates" ADD CONSTRAINT "issued_certificates_agent_id_agents_id_fk" FOREIGN KEY ("agent_id") REFERENCES "public"."agents"("id") ON DELETE no action ON UPDATE no action;
--> statement-breakpoint
CREATE UNIQUE INDEX "issued_certificates_fingerprint_idx" ON "issued_certificates" USING btree ("fingerprint");
--> statement-breakpoint
CREATE INDEX "issued_certificates_agent_idx" ON "issued_certificates" USING btree ("agent_id","not_after");
