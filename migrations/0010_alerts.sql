-- Issue 20: signed webhooks from a transactional outbox.
-- webhooks: the endpoints; their whsec_ secrets only encrypted (AES-256-GCM under
-- a key derived from the server secret, apps/api/src/webhooks/secrets.ts).
-- webhook_events: the outbox, one row per event that at least one endpoint wants.
-- webhook_deliveries: one row per (event, endpoint), the worker's queue.
CREATE TABLE "webhooks" (
  "id" uuid PRIMARY KEY NOT NULL,
  "url" text NOT NULL,
  "events" text[] NOT NULL,
  "site_code" text REFERENCES "sites"("code"),
  -- null: a global operator's, for every tenant's events; else only events of
  -- that tenant's sites (a scoped operator's webhooks, issue 22).
  "tenant_code" text REFERENCES "tenants"("code"),
  "format" text DEFAULT 'standard' NOT NULL,
  "description" text,
  "secret_ciphertext" text NOT NULL,
  "previous_secret_ciphertext" text,
  "previous_secret_expires_at" timestamp with time zone,
  "created_by" text NOT NULL,
  "created_at" timestamp with time zone DEFAULT now() NOT NULL,
  "disabled_at" timestamp with time zone,
  "failing_since" timestamp with time zone,
  CONSTRAINT "webhooks_format_values" CHECK ("format" in ('standard', 'slack')),
  CONSTRAINT "webhooks_events_nonempty" CHECK (cardinality("events") > 0)
);
--> statement-breakpoint
CREATE TABLE "webhook_events" (
  "id" uuid PRIMARY KEY DEFAULT gen_random_uuid() NOT NULL,
  "event_type" text NOT NULL,
  "occurred_at" timestamp with time zone NOT NULL,
  "site_code" text,
  -- The audit row it was derived from (null for webhook.test).
  "audit_seq" bigint,
  "data" jsonb DEFAULT '{}'::jsonb NOT NULL,
  "created_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
CREATE TABLE "webhook_deliveries" (
  "seq" bigint PRIMARY KEY GENERATED ALWAYS AS IDENTITY NOT NULL,
  "event_id" uuid NOT NULL REFERENCES "webhook_events"("id") ON DELETE CASCADE,
  "webhook_id" uuid NOT NULL REFERENCES "webhooks"("id") ON DELETE CASCADE,
  "state" text DEFAULT 'retrying' NOT NULL,
  "attempt" integer DEFAULT 0 NOT NULL,
  "next_attempt_at" timestamp with time zone DEFAULT now() NOT NULL,
  -- A worker's claim: another replica skips the row until the lease ends (a crashed replica's claims come back).
  "lease_until" timestamp with time zone,
  "lease_token" uuid,
  "status_code" integer,
  "error" text,
  "duration_ms" integer,
  "attempted_at" timestamp with time zone,
  "created_at" timestamp with time zone DEFAULT now() NOT NULL,
  CONSTRAINT "webhook_deliveries_state_values" CHECK ("state" in ('retrying', 'delivered', 'failed'))
);
--> statement-breakpoint
CREATE UNIQUE INDEX "webhook_deliveries_event_webhook_idx" ON "webhook_deliveries" USING btree ("event_id","webhook_id");
--> statement-breakpoint
CREATE INDEX "webhook_deliveries_due_idx" ON "webhook_deliveries" USING btree ("next_attempt_at") WHERE "state" = 'retrying';
--> statement-breakpoint
CREATE INDEX "webhook_deliveries_webhook_idx" ON "webhook_deliveries" USING btree ("webhook_id","seq");
--> statement-breakpoint
-- Webhook events from audit rows, in the transaction that writes the audit
-- row (so the same one as the change): a rolled-back change sends nothing,
-- a committed one is in the outbox. The trigger's WHEN keeps every other
-- audit row (refusals included) from calling the function at all.
CREATE OR REPLACE FUNCTION airlock_webhook_events_from_audit() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
  types text[];
  t text;
  ev uuid;
  base jsonb;
  extra jsonb;
  -- The event's tenant: its site's (null for an event of no site, which only global webhooks get).
  site_tenant text := (SELECT s.tenant_code FROM sites s WHERE s.code = NEW.site_code);
BEGIN
  types := CASE NEW.event_type
    WHEN 'verify.ok' THEN CASE NEW.details->>'status'
      WHEN 'pending_confirmation' THEN ARRAY['enrollment.pending', 'enrollment.identity_collision']
      WHEN 'awaiting_approval' THEN ARRAY['enrollment.pending']
      ELSE ARRAY[]::text[] END
    WHEN 'enrollment.approved' THEN ARRAY['enrollment.approved']
    WHEN 'enrollment.rejected' THEN ARRAY['enrollment.rejected']
    WHEN 'enroll.site_conflict' THEN ARRAY['enrollment.site_conflict']
    WHEN 'enrollment.approve_conflict' THEN ARRAY['enrollment.site_conflict']
    WHEN 'agent.revoked' THEN ARRAY['agent.revoked']
    WHEN 'site.enrollment_key_rotated' THEN ARRAY['site.enrollment_key_rotated']
    WHEN 'security.lockout' THEN ARRAY['security.lockout']
    WHEN 'tunnel.connected' THEN ARRAY['tunnel.connected']
    WHEN 'tunnel.disconnected' THEN ARRAY['tunnel.disconnected']
    ELSE ARRAY[]::text[] END;
  FOREACH t IN ARRAY types LOOP
    -- Nothing subscribes: no outbox row at all (the common case costs one index-less scan of a small table).
    CONTINUE WHEN NOT EXISTS (
      SELECT 1 FROM webhooks w
      WHERE w.disabled_at IS NULL AND (w.events @> ARRAY[t] OR w.events @> ARRAY['*'])
        AND (w.site_code IS NULL OR w.site_code = NEW.site_code)
        AND (w.tenant_code IS NULL OR w.tenant_code = site_tenant));
    IF base IS NULL THEN
      base := jsonb_strip_nulls(jsonb_build_object(
        'site_code', NEW.site_code, 'enrollment_id', NEW.enrollment_id, 'agent_id', NEW.agent_id,
        'source_ip', NEW.source_ip, 'actor', NEW.actor, 'audit_id', NEW.id));
      IF NEW.enrollment_id IS NOT NULL THEN
        SELECT jsonb_strip_nulls(jsonb_build_object('hostname', e.hostname, 'fingerprint', e.fingerprint,
                 'method', e.method, 'machine_uid', e.machine_uid, 'enrollment_source_ip', e.source_ip))
          INTO extra FROM enrollments e WHERE e.id = NEW.enrollment_id;
        base := base || coalesce(extra, '{}'::jsonb);
      ELSIF NEW.agent_id IS NOT NULL THEN
        SELECT jsonb_strip_nulls(jsonb_build_object('hostname', a.hostname, 'fingerprint', a.fingerprint, 'machine_uid', a.machine_uid))
          INTO extra FROM agents a WHERE a.id = NEW.agent_id;
        base := base || coalesce(extra, '{}'::jsonb);
      END IF;
      -- request_id is the api's log correlation, not the receiver's business.
      base := base || jsonb_build_object('details', NEW.details - 'request_id');
    END IF;
    INSERT INTO webhook_events (event_type, occurred_at, site_code, audit_seq, data)
      VALUES (t, NEW.occurred_at, NEW.site_code, NEW.seq,
        base || CASE
          WHEN t = 'enrollment.pending' THEN jsonb_build_object('status', NEW.details->>'status', 'reason', NEW.details->>'reason')
          -- The site policy approving (actor system) is the contract's approved_by "policy".
          WHEN t = 'enrollment.approved' THEN jsonb_build_object('approved_by', CASE WHEN NEW.actor = 'system' THEN 'policy' ELSE NEW.actor END)
          WHEN t = 'enrollment.rejected' THEN jsonb_build_object('rejected_by', NEW.actor, 'reason', NEW.details->>'reason')
          WHEN t = 'agent.revoked' THEN jsonb_build_object('revoked_by', NEW.actor)
          -- The locked-out client, not the reporting edge (the audit row's source_ip).
          WHEN t = 'security.lockout' THEN jsonb_strip_nulls(jsonb_build_object('until', NEW.details->>'until', 'kind', NEW.details->>'kind',
            'source_ip', NEW.details->>'source_ip', 'reported_by', NEW.actor))
          ELSE '{}'::jsonb END)
      RETURNING id INTO ev;
    INSERT INTO webhook_deliveries (event_id, webhook_id)
      SELECT ev, w.id FROM webhooks w
      WHERE w.disabled_at IS NULL AND (w.events @> ARRAY[t] OR w.events @> ARRAY['*'])
        AND (w.site_code IS NULL OR w.site_code = NEW.site_code)
        AND (w.tenant_code IS NULL OR w.tenant_code = site_tenant);
    -- Wakes the delivery workers at COMMIT (never sent on a rollback); they poll as well.
    PERFORM pg_notify('airlock_webhooks', '');
  END LOOP;
  RETURN NULL;
END;
$$;
--> statement-breakpoint
CREATE TRIGGER audit_events_webhooks
  AFTER INSERT ON "audit_events"
  FOR EACH ROW
  WHEN (NEW.event_type IN ('verify.ok', 'enrollment.approved', 'enrollment.rejected', 'enroll.site_conflict',
    'enrollment.approve_conflict', 'agent.revoked', 'site.enrollment_key_rotated', 'security.lockout',
    'tunnel.connected', 'tunnel.disconnected'))
  EXECUTE FUNCTION airlock_webhook_events_from_audit();
