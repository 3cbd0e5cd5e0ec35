-- Issue 21, tunnel: one reverse port per active agent, and live tunnel state.
--
-- agents.remote_port: the agent's port of AIRLOCK_SSH_REMOTE_PORTS on the
-- endpoint's loopback. The partial unique index is what makes allocation
-- race-free: two approvals that pick the same free port cannot both commit.
-- Kept across reconnects, renewals and key rotation; null once revoked.
--
-- agents.tunnel_*: the agent's live state as the endpoints last reported it
-- (connected while any endpoint with a live lease holds a session of it), and
-- since when / from where; kept when it disconnects (the last session).
ALTER TABLE "agents" ADD COLUMN "remote_port" integer;--> statement-breakpoint
ALTER TABLE "agents" ADD COLUMN "tunnel_connected" boolean DEFAULT false NOT NULL;--> statement-breakpoint
ALTER TABLE "agents" ADD COLUMN "tunnel_since" timestamp with time zone;--> statement-breakpoint
ALTER TABLE "agents" ADD COLUMN "tunnel_source_ip" text;--> statement-breakpoint
CREATE UNIQUE INDEX "agents_remote_port_idx" ON "agents" USING btree ("remote_port") WHERE "remote_port" IS NOT NULL;--> statement-breakpoint
CREATE INDEX "agents_tunnel_connected_idx" ON "agents" USING btree ("tunnel_connected") WHERE "tunnel_connected";--> statement-breakpoint
-- One row per running endpoint process: its sessions count only while its lease is live.
CREATE TABLE "tunnel_endpoints" (
	"endpoint" text PRIMARY KEY NOT NULL,
	"lease_expires_at" timestamp with time zone NOT NULL,
	"renewed_at" timestamp with time zone NOT NULL,
	"reported_from" text
);
--> statement-breakpoint
CREATE INDEX "tunnel_endpoints_lease_idx" ON "tunnel_endpoints" USING btree ("lease_expires_at");--> statement-breakpoint
-- The sessions each endpoint holds now (its last report), replaced as a whole at every report.
CREATE TABLE "tunnel_sessions" (
	"endpoint" text NOT NULL REFERENCES "tunnel_endpoints"("endpoint") ON DELETE CASCADE,
	"session" text NOT NULL,
	"agent_id" uuid NOT NULL REFERENCES "agents"("id"),
	"source_ip" text NOT NULL,
	"opened_at" timestamp with time zone NOT NULL,
	CONSTRAINT "tunnel_sessions_pk" PRIMARY KEY ("endpoint", "session", "agent_id")
);
--> statement-breakpoint
CREATE INDEX "tunnel_sessions_agent_idx" ON "tunnel_sessions" USING btree ("agent_id");
