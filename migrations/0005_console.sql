-- Operator console: server-side sessions (the cookie carries a random token;
-- only its SHA-256 digest is stored) and an index for the sign-in throttle,
-- which counts `operator.login_failed` audit rows per (operator, source IP).
CREATE TABLE "operator_sessions" (
	"id" uuid PRIMARY KEY DEFAULT gen_random_uuid() NOT NULL,
	"operator_id" uuid NOT NULL,
	"token_digest" text NOT NULL,
	"created_at" timestamp with time zone NOT NULL,
	"last_seen_at" timestamp with time zone NOT NULL,
	"ended_at" timestamp with time zone,
	"end_reason" text
);
--> statement-breakpoint
ALTER TABLE "operator_sessions" ADD CONSTRAINT "operator_sessions_operator_id_operators_id_fk" FOREIGN KEY ("operator_id") REFERENCES "public"."operators"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
CREATE UNIQUE INDEX "operator_sessions_token_digest_idx" ON "operator_sessions" USING btree ("token_digest");--> statement-breakpoint
CREATE INDEX "operator_sessions_live_idx" ON "operator_sessions" USING btree ("operator_id") WHERE "operator_sessions"."ended_at" is null;--> statement-breakpoint
CREATE INDEX "audit_events_login_failed_idx" ON "audit_events" USING btree (("details"->>'operator'),"source_ip","occurred_at") WHERE "audit_events"."event_type" = 'operator.login_failed';
