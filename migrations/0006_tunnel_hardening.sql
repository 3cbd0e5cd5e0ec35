-- Issue 18, tunnel: host keys an admin retired (a stolen or replaced key).
-- A retired key leaves credentials.ssh.known_hosts and may never be
-- registered again; the row stays as the record of who retired it and when.
-- The new `tunnel` operator role needs no change here (operators.role is text).
ALTER TABLE "tunnel_host_keys" ADD COLUMN "retired_at" timestamp with time zone;--> statement-breakpoint
ALTER TABLE "tunnel_host_keys" ADD COLUMN "retired_by" text;
