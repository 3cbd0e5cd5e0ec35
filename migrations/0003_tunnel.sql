CREATE INDEX IF NOT EXISTS "agents_fingerprint_idx" ON "agents" USING btree ("fingerprint");--> statement-breakpoint
CREATE TABLE "tunnel_host_keys" (
	"public_key" text PRIMARY KEY NOT NULL,
	"registered_by" text NOT NULL,
	"registered_at" timestamp with time zone DEFAULT now() NOT NULL,
	"last_seen_at" timestamp with time zone DEFAULT now() NOT NULL
);
