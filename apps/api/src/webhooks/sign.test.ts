import { createHmac } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { signedHeaders, slackLine, webhookBody } from './sign.ts';

const event = {
  id: '0b6f3a6e-0000-4000-8000-000000000001',
  type: 'enrollment.pending',
  occurredAt: new Date('2026-12-01T10:00:00Z'),
  data: { site_code: 'HQ', hostname: 'vma-01', source_ip: '203.0.113.7', reason: 'new' },
};
const SECRET = `whsec_${Buffer.alloc(32, 7).toString('base64')}`;
const OTHER = `whsec_${Buffer.alloc(32, 9).toString('base64')}`;

/** The contract's formula, by hand: base64 HMAC-SHA256 of "{id}.{timestamp}.{body}" keyed with the decoded secret. */
const hand = (secret: string, id: string, ts: string, body: string) =>
  `v1,${createHmac('sha256', Buffer.from(secret.slice(6), 'base64')).update(`${id}.${ts}.${body}`).digest('base64')}`;

describe('signedHeaders (standardwebhooks)', () => {
  it('matches the contract formula computed by hand, one signature per live secret', () => {
    const body = webhookBody(event, 'standard');
    const at = new Date('2026-12-01T10:00:05.900Z');
    const h = signedHeaders([SECRET, OTHER], event.id, at, body);
    expect(h['webhook-id']).toBe(event.id);
    expect(h['webhook-timestamp']).toBe('1796119205');
    expect(h['webhook-signature']).toBe(`${hand(SECRET, event.id, '1796119205', body)} ${hand(OTHER, event.id, '1796119205', body)}`);
  });
});

describe('webhookBody', () => {
  it('standard: type, timestamp and data', () => {
    expect(JSON.parse(webhookBody(event, 'standard'))).toEqual({ type: 'enrollment.pending', timestamp: '2026-12-01T10:00:00.000Z', data: event.data });
  });

  it('slack: one readable line', () => {
    expect(JSON.parse(webhookBody(event, 'slack'))).toEqual({ text: slackLine(event) });
    expect(slackLine(event)).toBe('Airlock: enrollment.pending · site HQ · host vma-01 · from 203.0.113.7 · reason new');
  });
});
