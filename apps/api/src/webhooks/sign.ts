/**
 * What goes on the wire for one attempt (contract "Alerts: webhooks"): the
 * body in the endpoint's format and the Standard Webhooks headers, signed
 * with the reference implementation (`standardwebhooks`), once per live
 * secret (two, space-separated, while a rotated secret overlaps).
 */
import type { WebhookFormat } from '@airlock/schema';
import { Webhook } from 'standardwebhooks';

export interface OutgoingEvent {
  id: string;
  type: string;
  occurredAt: Date;
  data: Record<string, unknown>;
}

const str = (v: unknown) => (typeof v === 'string' && v.length > 0 ? v : null);

/** One readable line for a chat channel; made only of the event's own non-secret fields. */
export const slackLine = (e: OutgoingEvent): string => {
  const d = e.data;
  const who = str(d.hostname) ?? str(d.agent_id) ?? str(d.enrollment_id);
  const parts = [
    `Airlock: ${e.type}`,
    str(d.site_code) && `site ${str(d.site_code)}`,
    who && `host ${who}`,
    str(d.fingerprint) && `key ${str(d.fingerprint)}`,
    str(d.source_ip) && `from ${str(d.source_ip)}`,
    str(d.approved_by) && `approved by ${str(d.approved_by)}`,
    str(d.reason) && `reason ${str(d.reason)}`,
    str(d.until) && `until ${str(d.until)}`,
  ];
  return parts.filter(Boolean).join(' · ');
};

export const webhookBody = (e: OutgoingEvent, format: WebhookFormat): string =>
  format === 'slack'
    ? JSON.stringify({ text: slackLine(e) })
    : JSON.stringify({ type: e.type, timestamp: e.occurredAt.toISOString(), data: e.data });

/** The three Standard Webhooks headers for one attempt at `at` (wall-clock time: receivers check it). */
export const signedHeaders = (secrets: readonly string[], id: string, at: Date, body: string): Record<string, string> => {
  const seconds = Math.floor(at.getTime() / 1000);
  const when = new Date(seconds * 1000);
  return {
    'content-type': 'application/json',
    'webhook-id': id,
    'webhook-timestamp': String(seconds),
    'webhook-signature': secrets.map((s) => new Webhook(s).sign(id, when, body)).join(' '),
  };
};
