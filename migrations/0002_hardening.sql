-- Issue #8 hardening: counted refusals, re-key provenance, audit retention.
CREATE TABLE "audit_refusal_counts" (
	"source_ip" text NOT NULL,
	"kind" text NOT NULL,
	"minute" timestamp with time zone NOT NULL,
	"count" integer DEFAULT 0 NOT NULL,
	"last_at" timestamp with time zone NOT NULL,
	CONSTRAINT "audit_refusal_counts_source_ip_kind_minute_pk" PRIMARY KEY("source_ip","kind","minute")
);
--> statement-breakpoint
CREATE INDEX "audit_refusal_counts_minute_idx" ON "audit_refusal_counts" USING btree ("minute");
--> statement-breakpoint
CREATE INDEX "audit_events_occurred_idx" ON "audit_events" USING btree ("occurred_at");
--> statement-breakpoint
ALTER TABLE "enrollments" ADD COLUMN "replaces_fingerprint" text;
--> statement-breakpoint
ALTER TABLE "enrollments" ADD COLUMN "rekey_signed" boolean DEFAULT false NOT NULL;
--> statement-breakpoint
CREATE INDEX "enrollments_created_idx" ON "enrollments" USING btree ("created_at","id");
--> statement-breakpoint
-- The append-only trigger now lets exactly one thing through: a DELETE made
-- inside airlock_prune_audit(), which sets a transaction-local cutoff. Even
-- then it only removes rows older than that cutoff and never an audit.pruned
-- row. UPDATE and TRUNCATE stay refused for everyone.
CREATE OR REPLACE FUNCTION airlock_audit_append_only() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
  cutoff text := current_setting('airlock.audit_prune_before', true);
BEGIN
  IF TG_OP = 'DELETE' AND cutoff IS NOT NULL AND cutoff <> ''
     AND OLD.occurred_at < cutoff::timestamptz AND OLD.event_type <> 'audit.pruned' THEN
    RETURN OLD;
  END IF;
  RAISE EXCEPTION 'audit_events is append-only (% refused)', TG_OP
    USING ERRCODE = 'insufficient_privilege';
END;
$$;
--> statement-breakpoint
-- The only way audit rows leave. SECURITY DEFINER so a deployment can revoke
-- DELETE on audit_events from the application role and grant it EXECUTE on
-- this function alone. Deletes, resets the cutoff and writes its own
-- audit.pruned row in the caller's transaction: all or nothing.
CREATE OR REPLACE FUNCTION airlock_prune_audit(before timestamptz, actor text, at timestamptz, source_ip text, user_agent text, details jsonb)
RETURNS TABLE (events bigint, refusal_counts bigint)
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
DECLARE
  n_events bigint;
  n_counts bigint;
BEGIN
  PERFORM set_config('airlock.audit_prune_before', before::text, true);
  DELETE FROM audit_events WHERE occurred_at < before AND event_type <> 'audit.pruned';
  GET DIAGNOSTICS n_events = ROW_COUNT;
  PERFORM set_config('airlock.audit_prune_before', '', true);
  DELETE FROM audit_refusal_counts WHERE minute < before;
  GET DIAGNOSTICS n_counts = ROW_COUNT;
  INSERT INTO audit_events (occurred_at, event_type, actor, source_ip, user_agent, details)
    VALUES (at, 'audit.pruned', actor, source_ip, user_agent,
            details || jsonb_build_object('before', before, 'events_deleted', n_events, 'refusal_counts_deleted', n_counts));
  RETURN QUERY SELECT n_events, n_counts;
END;
$$;
