/**
 * Drizzle table definitions: the one source of truth for the database.
 * `pnpm db:generate` turns changes here into SQL under migrations/.
 *
 * Secrets never appear here in clear: only digests (see packages/crypto).
 * A separate entry point (`@airlock/schema/db`): only the api talks SQL, so
 * the agent and edge bundles, which import the wire, never carry drizzle.
 */
import { sql } from 'drizzle-orm';
import {
  bigint,
  boolean,
  check,
  doublePrecision,
  foreignKey,
  index,
  integer,
  jsonb,
  pgTable,
  primaryKey,
  text,
  timestamp,
  uniqueIndex,
  uuid,
} from 'drizzle-orm/pg-core';
import { AGENT_STATUSES, ENROLLMENT_METHODS, ENROLLMENT_STATUSES, OPERATOR_ROLES, SITE_POLICIES, WEBHOOK_DELIVERY_STATES, WEBHOOK_FORMATS } from '../wire/vocabulary.ts';

const ts = (name: string) => timestamp(name, { withTimezone: true, mode: 'date' });
const createdAt = () => ts('created_at').notNull().defaultNow();

/** Customers (migration 0008). `default` always exists (a trigger refuses removing it). */
export const tenants = pgTable(
  'tenants',
  {
    code: text('code').primaryKey(),
    name: text('name').notNull(),
    createdAt: createdAt(),
    createdBy: text('created_by').notNull(),
  },
  (t) => [check('tenants_code_format', sql`${t.code} ~ '^[a-z0-9][a-z0-9-]{1,31}$'`)],
);

export const sites = pgTable(
  'sites',
  {
    code: text('code').primaryKey(),
    name: text('name').notNull(),
    policy: text('policy', { enum: SITE_POLICIES }).notNull().default('manual'),
    createdAt: createdAt(),
    createdBy: text('created_by').notNull(),
    tenantCode: text('tenant_code')
      .notNull()
      .default('default')
      .references(() => tenants.code),
    /** Enroll accepted only from these CIDRs (IPv4 or IPv6); empty: any source (migration 0008). */
    allowedCidrs: text('allowed_cidrs').array().notNull().default(sql`'{}'`),
  },
  (t) => [
    check('sites_code_format', sql`${t.code} ~ '^[A-Z0-9][A-Z0-9-]{1,31}$'`),
    check('sites_policy_values', sql`${t.policy} in ('manual', 'auto')`),
    uniqueIndex('sites_tenant_code_idx').on(t.tenantCode, t.code),
  ],
);

/** Per-site enrollment keys (`cek_`). Exactly one active (not revoked) key per site. */
export const siteEnrollmentKeys = pgTable(
  'site_enrollment_keys',
  {
    id: uuid('id').primaryKey().defaultRandom(),
    siteCode: text('site_code')
      .notNull()
      .references(() => sites.code),
    version: integer('version').notNull(),
    digest: text('digest').notNull(),
    fingerprint: text('fingerprint').notNull(),
    createdAt: createdAt(),
    createdBy: text('created_by').notNull(),
    expiresAt: ts('expires_at'),
    maxUses: integer('max_uses'),
    useCount: integer('use_count').notNull().default(0),
    lastUsedAt: ts('last_used_at'),
    revokedAt: ts('revoked_at'),
    /**
     * Use-rate alert state (migration 0007), kept on the row so the enroll's
     * own UPDATE computes it: the current 10-minute bucket (epoch seconds / 600),
     * the uses counted in it, and the trailing average of uses per bucket as
     * of that bucket's start (an hourly moving average, see store/enrollments.ts).
     */
    burstBucket: bigint('burst_bucket', { mode: 'number' }),
    burstBucketUses: integer('burst_bucket_uses').notNull().default(0),
    burstBaseline: doublePrecision('burst_baseline').notNull().default(0),
  },
  (t) => [
    uniqueIndex('site_enrollment_keys_digest_idx').on(t.digest),
    uniqueIndex('site_enrollment_keys_site_version_idx').on(t.siteCode, t.version),
    uniqueIndex('site_enrollment_keys_one_active_idx')
      .on(t.siteCode)
      .where(sql`${t.revokedAt} is null`),
  ],
);

export const pairingCodes = pgTable(
  'pairing_codes',
  {
    id: uuid('id').primaryKey().defaultRandom(),
    /** HMAC-SHA-256 of the canonical code under the server secret. */
    digest: text('digest').notNull(),
    siteCode: text('site_code')
      .notNull()
      .references(() => sites.code),
    createdBy: text('created_by').notNull(),
    note: text('note'),
    autoApprove: boolean('auto_approve').notNull().default(false),
    createdAt: createdAt(),
    expiresAt: ts('expires_at').notNull(),
    usedAt: ts('used_at'),
    usedByEnrollment: uuid('used_by_enrollment'),
    revokedAt: ts('revoked_at'),
    revokedBy: text('revoked_by'),
  },
  (t) => [
    uniqueIndex('pairing_codes_digest_idx').on(t.digest),
    index('pairing_codes_created_idx').on(t.createdAt, t.id),
    index('pairing_codes_site_idx').on(t.siteCode, t.createdAt, t.id),
  ],
);

export const enrollments = pgTable(
  'enrollments',
  {
    id: uuid('id').primaryKey().defaultRandom(),
    siteCode: text('site_code')
      .notNull()
      .references(() => sites.code),
    method: text('method', { enum: ENROLLMENT_METHODS }).notNull(),
    pairingCodeId: uuid('pairing_code_id').references(() => pairingCodes.id),
    enrollmentKeyId: uuid('enrollment_key_id').references(() => siteEnrollmentKeys.id),
    autoApprove: boolean('auto_approve').notNull().default(false),
    publicKey: text('public_key').notNull(),
    fingerprint: text('fingerprint').notNull(),
    hostname: text('hostname').notNull(),
    agentVersion: text('agent_version'),
    machineUid: text('machine_uid'),
    labels: jsonb('labels').$type<Record<string, string>>().notNull().default({}),
    sourceIp: text('source_ip').notNull(),
    userAgent: text('user_agent'),
    challenge: text('challenge').notNull(),
    challengeExpiresAt: ts('challenge_expires_at').notNull(),
    verifyAttempts: integer('verify_attempts').notNull().default(0),
    status: text('status', { enum: ENROLLMENT_STATUSES }).notNull(),
    pollTokenDigest: text('poll_token_digest'),
    pollInterval: integer('poll_interval').notNull(),
    lastPollAt: ts('last_poll_at'),
    /** Deadline for an operator decision (set when the challenge is answered). */
    approvalExpiresAt: ts('approval_expires_at'),
    /** Existing agent this enrollment re-enrolls (same machine_uid, same site). */
    reuseAgentId: uuid('reuse_agent_id'),
    /** The reused agent's key fingerprint when this enrollment would replace it with another key (migration 0002). */
    replacesFingerprint: text('replaces_fingerprint'),
    /** The key change was signed by the agent's current key (X-Airlock-Rekey-Signature on verify). */
    rekeySigned: boolean('rekey_signed').notNull().default(false),
    /**
     * Issue 18: the enrollment's key is a revoked agent's (and no active agent's), so it was held
     * for an operator whatever the policy; this names that agent (migration 0007).
     */
    revokedKeyAgentId: uuid('revoked_key_agent_id'),
    agentId: uuid('agent_id'),
    decidedBy: text('decided_by'),
    decidedAt: ts('decided_at'),
    notes: text('notes'),
    rejectReason: text('reject_reason'),
    credentialsIssuedAt: ts('credentials_issued_at'),
    /** v1.1: the agent's PEM PKCS#10 request, checked at enroll, signed when the credentials are collected. */
    csr: text('csr'),
    createdAt: createdAt(),
    updatedAt: ts('updated_at').notNull().defaultNow(),
  },
  (t) => [
    uniqueIndex('enrollments_poll_token_idx').on(t.pollTokenDigest),
    index('enrollments_status_idx').on(t.status, t.createdAt, t.id),
    index('enrollments_site_idx').on(t.siteCode, t.createdAt, t.id),
    index('enrollments_created_idx').on(t.createdAt, t.id),
    // The expiry sweeper's work list (migration 0008): waiting enrollments by deadline.
    index('enrollments_waiting_deadline_idx')
      .on(t.approvalExpiresAt)
      .where(sql`${t.status} in ('awaiting_approval', 'pending_confirmation')`),
  ],
);

export const agents = pgTable(
  'agents',
  {
    id: uuid('id').primaryKey().defaultRandom(),
    siteCode: text('site_code')
      .notNull()
      .references(() => sites.code),
    enrollmentId: uuid('enrollment_id').notNull(),
    publicKey: text('public_key').notNull(),
    fingerprint: text('fingerprint').notNull(),
    hostname: text('hostname').notNull(),
    machineUid: text('machine_uid'),
    /** Issue 22: 0, or the number an operator's `separate` choice gave a clone sharing this machine_uid (migration 0009). */
    machineInstance: integer('machine_instance').notNull().default(0),
    status: text('status', { enum: AGENT_STATUSES }).notNull(),
    createdAt: createdAt(),
    createdBy: text('created_by').notNull(),
    revokedAt: ts('revoked_at'),
    revokedBy: text('revoked_by'),
    revokeReason: text('revoke_reason'),
    lastSeenAt: ts('last_seen_at'),
    /** Its site's tenant, carried for the per-tenant machine_uid key and the list filter (migration 0008). */
    tenantCode: text('tenant_code').notNull().default('default'),
    /** Copied from the enrollment at approval; PATCH replaces them. */
    labels: jsonb('labels').$type<Record<string, string>>().notNull().default({}),
    /** The operator's name, or `policy` for an automatic approval. */
    approvedBy: text('approved_by'),
    approvedAt: ts('approved_at'),
    /** Migration 0011: this agent's port of AIRLOCK_SSH_REMOTE_PORTS (its -R on the endpoint's loopback); null: none. */
    remotePort: integer('remote_port'),
    /** Migration 0011: live tunnel state as the endpoints report it (domain/tunnel-state.ts). */
    tunnelConnected: boolean('tunnel_connected').notNull().default(false),
    tunnelSince: ts('tunnel_since'),
    tunnelSourceIp: text('tunnel_source_ip'),
  },
  (t) => [
    foreignKey({ name: 'agents_site_tenant_fk', columns: [t.tenantCode, t.siteCode], foreignColumns: [sites.tenantCode, sites.code] }),
    // One machine is one agent per tenant: the dedup key of zero-touch
    // enrollment, and what makes concurrent first enrollments converge. Clones an
    // operator enrolled separately (issue 22) are further instances of the uid.
    uniqueIndex('agents_machine_uid_idx').on(t.tenantCode, t.machineUid, t.machineInstance),
    // The agent list: newest first, alone or after one equality filter (keyset on (created_at, id)).
    index('agents_created_idx').on(t.createdAt, t.id),
    index('agents_status_created_idx').on(t.status, t.createdAt, t.id),
    index('agents_site_created_idx').on(t.siteCode, t.createdAt, t.id),
    index('agents_tenant_created_idx').on(t.tenantCode, t.createdAt, t.id),
    index('agents_hostname_prefix_idx').using('btree', sql`${t.hostname} text_pattern_ops`),
    index('agents_labels_idx').using('gin', sql`${t.labels} jsonb_path_ops`),
    index('agents_site_revoked_idx')
      .on(t.siteCode, t.revokedAt)
      .where(sql`${t.revokedAt} is not null`),
    // The tunnel's keys helper looks an offered key up by fingerprint on every SSH login (migration 0003).
    index('agents_fingerprint_idx').on(t.fingerprint),
    // Race-free reverse port allocation: two agents can never commit the same port (migration 0011).
    uniqueIndex('agents_remote_port_idx')
      .on(t.remotePort)
      .where(sql`${t.remotePort} is not null`),
    index('agents_tunnel_connected_idx')
      .on(t.tunnelConnected)
      .where(sql`${t.tunnelConnected}`),
  ],
);

export const agentKeys = pgTable(
  'agent_keys',
  {
    id: uuid('id').primaryKey().defaultRandom(),
    agentId: uuid('agent_id')
      .notNull()
      .references(() => agents.id),
    digest: text('digest').notNull(),
    start: text('start').notNull(),
    createdAt: createdAt(),
    revokedAt: ts('revoked_at'),
    lastUsedAt: ts('last_used_at'),
  },
  (t) => [uniqueIndex('agent_keys_digest_idx').on(t.digest), index('agent_keys_agent_idx').on(t.agentId)],
);

export const operators = pgTable(
  'operators',
  {
    id: uuid('id').primaryKey().defaultRandom(),
    name: text('name').notNull(),
    role: text('role', { enum: OPERATOR_ROLES }).notNull(),
    /** Argon2id hash (PHC string) for the console sign-in; null: the operator cannot sign in. */
    passwordHash: text('password_hash'),
    createdAt: createdAt(),
    disabledAt: ts('disabled_at'),
    /** Sign-in failures before this instant no longer count towards a lockout (an admin cleared it; migration 0007). */
    signInClearedAt: ts('sign_in_cleared_at'),
    /** null: a global operator; otherwise scoped to this tenant (migration 0008). */
    tenantCode: text('tenant_code').references(() => tenants.code),
  },
  (t) => [uniqueIndex('operators_name_idx').on(t.name)],
);

export const operatorTokens = pgTable(
  'operator_tokens',
  {
    id: uuid('id').primaryKey().defaultRandom(),
    operatorId: uuid('operator_id')
      .notNull()
      .references(() => operators.id),
    digest: text('digest').notNull(),
    start: text('start').notNull(),
    createdAt: createdAt(),
    revokedAt: ts('revoked_at'),
    lastUsedAt: ts('last_used_at'),
  },
  (t) => [uniqueIndex('operator_tokens_digest_idx').on(t.digest)],
);

/**
 * Append-only: a trigger (migration 0001) refuses UPDATE, DELETE and TRUNCATE,
 * so no application bug can rewrite history. `seq` orders the cursor.
 */
export const auditEvents = pgTable(
  'audit_events',
  {
    seq: bigint('seq', { mode: 'number' }).primaryKey().generatedAlwaysAsIdentity(),
    id: uuid('id').notNull().defaultRandom(),
    occurredAt: ts('occurred_at').notNull().defaultNow(),
    eventType: text('event_type').notNull(),
    actor: text('actor').notNull(),
    siteCode: text('site_code'),
    enrollmentId: uuid('enrollment_id'),
    agentId: uuid('agent_id'),
    sourceIp: text('source_ip'),
    userAgent: text('user_agent'),
    details: jsonb('details').$type<Record<string, unknown>>().notNull().default({}),
  },
  (t) => [
    index('audit_events_type_idx').on(t.eventType, t.seq),
    index('audit_events_site_idx').on(t.siteCode, t.seq),
    index('audit_events_site_type_idx').on(t.siteCode, t.eventType, t.seq),
    index('audit_events_agent_idx').on(t.agentId, t.seq),
    index('audit_events_occurred_idx').on(t.occurredAt),
    // Console sign-in throttle (migration 0005): failures per (operator, IP) in a window.
    index('audit_events_login_failed_idx')
      .on(sql`(${t.details}->>'operator')`, t.sourceIp, t.occurredAt)
      .where(sql`${t.eventType} = 'operator.login_failed'`),
    // … and per operator whatever the address (migration 0007).
    index('audit_events_login_failed_operator_idx')
      .on(sql`(${t.details}->>'operator')`, t.occurredAt)
      .where(sql`${t.eventType} = 'operator.login_failed'`),
  ],
);

/**
 * Refusals that concern no real site, enrollment or agent (unknown site,
 * malformed body, bad admin bearer, unknown poll token …) are counted here per
 * (source IP, kind, minute) instead of writing one audit row each: a stranger
 * looping junk grows this table by at most one row per kind and minute.
 * Upserted, so not append-only; rows leave only with `airlock audit prune`.
 */
export const auditRefusalCounts = pgTable(
  'audit_refusal_counts',
  {
    sourceIp: text('source_ip').notNull(),
    kind: text('kind').notNull(),
    minute: ts('minute').notNull(),
    count: integer('count').notNull().default(0),
    lastAt: ts('last_at').notNull(),
  },
  (t) => [primaryKey({ columns: [t.sourceIp, t.kind, t.minute] }), index('audit_refusal_counts_minute_idx').on(t.minute)],
);

/**
 * v1.1: one-time challenges of `POST /api/v1/agent/challenge`. A row is
 * written for every request, known fingerprint or not, so the route does the
 * same work and says nothing; `used_at` is set by the one conditional UPDATE
 * that consumes it, whatever the outcome of the proof.
 */
export const agentChallenges = pgTable(
  'agent_challenges',
  {
    id: uuid('id').primaryKey(),
    fingerprint: text('fingerprint').notNull(),
    challenge: text('challenge').notNull(),
    expiresAt: ts('expires_at').notNull(),
    usedAt: ts('used_at'),
    sourceIp: text('source_ip'),
    createdAt: createdAt(),
  },
  (t) => [index('agent_challenges_expires_idx').on(t.expiresAt)],
);

/** v1.1: every certificate Airlock's CA signed, for the verify route and for forensics. */
export const issuedCertificates = pgTable(
  'issued_certificates',
  {
    /** Lower-case hex serial (128 random bits). */
    serial: text('serial').primaryKey(),
    agentId: uuid('agent_id')
      .notNull()
      .references(() => agents.id),
    siteCode: text('site_code').notNull(),
    enrollmentId: uuid('enrollment_id'),
    /** SHA-256 of the certificate's DER, hex: a presented certificate must match it, not just its serial. */
    fingerprint: text('fingerprint').notNull(),
    /** SHA-256 of the signing CA certificate's DER, hex. */
    issuerFingerprint: text('issuer_fingerprint').notNull(),
    notBefore: ts('not_before').notNull(),
    notAfter: ts('not_after').notNull(),
    createdAt: createdAt(),
    /**
     * SSH SHA256 fingerprint of the agent key the certificate was issued for
     * (migration 0007; null on certificates issued before it, whose key the
     * verify route reads from the presented certificate instead).
     */
    keyFingerprint: text('key_fingerprint'),
    /** Set when the agent is revoked or its key replaced; never cleared (issue 18). */
    revokedAt: ts('revoked_at'),
    revokeReason: text('revoke_reason'),
  },
  (t) => [
    uniqueIndex('issued_certificates_fingerprint_idx').on(t.fingerprint),
    index('issued_certificates_agent_idx').on(t.agentId, t.notAfter),
  ],
);

/**
 * Operator console sessions (migration 0005). The cookie carries a random
 * 256-bit token; only its SHA-256 digest is stored. A session ends on sign-out,
 * idle or absolute timeout, a password change, or when the operator is disabled.
 */
export const operatorSessions = pgTable(
  'operator_sessions',
  {
    id: uuid('id').primaryKey().defaultRandom(),
    operatorId: uuid('operator_id')
      .notNull()
      .references(() => operators.id),
    tokenDigest: text('token_digest').notNull(),
    createdAt: ts('created_at').notNull(),
    lastSeenAt: ts('last_seen_at').notNull(),
    endedAt: ts('ended_at'),
    endReason: text('end_reason'),
  },
  (t) => [
    uniqueIndex('operator_sessions_token_digest_idx').on(t.tokenDigest),
    index('operator_sessions_live_idx')
      .on(t.operatorId)
      .where(sql`${t.endedAt} is null`),
  ],
);

// ---- tunnel endpoint (migration 0003) -------------------------------------

/**
 * Host keys the SSH tunnel endpoint presents, pushed by the endpoint at
 * startup; the api serves them as `credentials.ssh.known_hosts`, so agents
 * never trust a host key on first use.
 */
export const tunnelHostKeys = pgTable('tunnel_host_keys', {
  /** `type base64`, no comment. */
  publicKey: text('public_key').primaryKey(),
  registeredBy: text('registered_by').notNull(),
  registeredAt: ts('registered_at').notNull().defaultNow(),
  lastSeenAt: ts('last_seen_at').notNull().defaultNow(),
  /** Migration 0006: retired by an admin; out of known_hosts, never registered again. */
  retiredAt: ts('retired_at'),
  retiredBy: text('retired_by'),
});

// ---- alerts: signed webhooks from a transactional outbox (migration 0010) ----

/**
 * Webhook endpoints. The `whsec_` secret is stored only encrypted (AES-256-GCM
 * under a key derived from the server secret, bound to the row's id); during a
 * rotation the previous one keeps signing until `previousSecretExpiresAt`.
 */
export const webhooks = pgTable(
  'webhooks',
  {
    id: uuid('id').primaryKey(),
    url: text('url').notNull(),
    events: text('events').array().notNull(),
    siteCode: text('site_code').references(() => sites.code),
    /** null: a global operator's, for every tenant's events; else its tenant's sites' events only. */
    tenantCode: text('tenant_code').references(() => tenants.code),
    format: text('format', { enum: WEBHOOK_FORMATS }).notNull().default('standard'),
    description: text('description'),
    secretCiphertext: text('secret_ciphertext').notNull(),
    previousSecretCiphertext: text('previous_secret_ciphertext'),
    previousSecretExpiresAt: ts('previous_secret_expires_at'),
    createdBy: text('created_by').notNull(),
    createdAt: createdAt(),
    disabledAt: ts('disabled_at'),
    /** Since when every attempt failed; 5 days of it disables the endpoint. */
    failingSince: ts('failing_since'),
  },
  (t) => [
    check('webhooks_format_values', sql`${t.format} in ('standard', 'slack')`),
    check('webhooks_events_nonempty', sql`cardinality(${t.events}) > 0`),
  ],
);

/**
 * The outbox: written by the trigger on audit_events (migration 0010) in the
 * transaction of the change, only when an endpoint subscribes; `id` is the
 * `webhook-id` of every attempt.
 */
export const webhookEvents = pgTable('webhook_events', {
  id: uuid('id').primaryKey().defaultRandom(),
  eventType: text('event_type').notNull(),
  occurredAt: ts('occurred_at').notNull(),
  siteCode: text('site_code'),
  auditSeq: bigint('audit_seq', { mode: 'number' }),
  data: jsonb('data').$type<Record<string, unknown>>().notNull().default({}),
  createdAt: createdAt(),
});

/** One row per (event, endpoint): the delivery workers' queue, claimed with a lease. */
export const webhookDeliveries = pgTable(
  'webhook_deliveries',
  {
    seq: bigint('seq', { mode: 'number' }).primaryKey().generatedAlwaysAsIdentity(),
    eventId: uuid('event_id')
      .notNull()
      .references(() => webhookEvents.id, { onDelete: 'cascade' }),
    webhookId: uuid('webhook_id')
      .notNull()
      .references(() => webhooks.id, { onDelete: 'cascade' }),
    state: text('state', { enum: WEBHOOK_DELIVERY_STATES }).notNull().default('retrying'),
    attempt: integer('attempt').notNull().default(0),
    nextAttemptAt: ts('next_attempt_at').notNull().defaultNow(),
    leaseUntil: ts('lease_until'),
    leaseToken: uuid('lease_token'),
    statusCode: integer('status_code'),
    error: text('error'),
    durationMs: integer('duration_ms'),
    attemptedAt: ts('attempted_at'),
    createdAt: createdAt(),
  },
  (t) => [
    check('webhook_deliveries_state_values', sql`${t.state} in ('retrying', 'delivered', 'failed')`),
    uniqueIndex('webhook_deliveries_event_webhook_idx').on(t.eventId, t.webhookId),
    index('webhook_deliveries_due_idx')
      .on(t.nextAttemptAt)
      .where(sql`${t.state} = 'retrying'`),
    index('webhook_deliveries_webhook_idx').on(t.webhookId, t.seq),
  ],
);

// ---- live tunnel state (migration 0011) -------------------------------------

/** One row per running tunnel endpoint process; its sessions count only while its lease is live. */
export const tunnelEndpoints = pgTable(
  'tunnel_endpoints',
  {
    endpoint: text('endpoint').primaryKey(),
    leaseExpiresAt: ts('lease_expires_at').notNull(),
    renewedAt: ts('renewed_at').notNull(),
    reportedFrom: text('reported_from'),
  },
  (t) => [index('tunnel_endpoints_lease_idx').on(t.leaseExpiresAt)],
);

/** The sessions each endpoint holds now, as its last report listed them. */
export const tunnelSessions = pgTable(
  'tunnel_sessions',
  {
    endpoint: text('endpoint')
      .notNull()
      .references(() => tunnelEndpoints.endpoint, { onDelete: 'cascade' }),
    session: text('session').notNull(),
    agentId: uuid('agent_id')
      .notNull()
      .references(() => agents.id),
    sourceIp: text('source_ip').notNull(),
    openedAt: ts('opened_at').notNull(),
  },
  (t) => [primaryKey({ name: 'tunnel_sessions_pk', columns: [t.endpoint, t.session, t.agentId] }), index('tunnel_sessions_agent_idx').on(t.agentId)],
);
