/**
 * Webhook secrets (`whsec_` + base64 of 32 random bytes, the Standard
 * Webhooks form). HMAC needs the plaintext, so the database keeps it
 * encrypted: AES-256-GCM under a key derived (HKDF-SHA-256) from the server
 * secret, which lives outside the database (secret.ts), with the webhook's
 * id as associated data so a ciphertext copied onto another row does not
 * open. A dump of the database alone holds no usable secret.
 */
import { createCipheriv, createDecipheriv, hkdfSync, randomBytes } from 'node:crypto';

const PREFIX = 'whsec_';
const VERSION = 'v1';

export const mintWebhookSecret = (): string => PREFIX + randomBytes(32).toString('base64');

const keyOf = (serverSecret: string): Buffer =>
  Buffer.from(hkdfSync('sha256', Buffer.from(serverSecret, 'utf8'), 'airlock', 'webhook-secrets:v1', 32));

export const encryptWebhookSecret = (serverSecret: string, webhookId: string, secret: string): string => {
  const iv = randomBytes(12);
  const cipher = createCipheriv('aes-256-gcm', keyOf(serverSecret), iv);
  cipher.setAAD(Buffer.from(webhookId, 'utf8'));
  const sealed = Buffer.concat([cipher.update(secret, 'utf8'), cipher.final()]);
  return `${VERSION}:${Buffer.concat([iv, sealed, cipher.getAuthTag()]).toString('base64url')}`;
};

/** Throws when the ciphertext was not made under this server secret for this webhook. */
export const decryptWebhookSecret = (serverSecret: string, webhookId: string, stored: string): string => {
  const [version, body] = stored.split(':');
  if (version !== VERSION || !body) throw new Error('unknown webhook secret encoding');
  const raw = Buffer.from(body, 'base64url');
  const iv = raw.subarray(0, 12);
  const tag = raw.subarray(raw.length - 16);
  const decipher = createDecipheriv('aes-256-gcm', keyOf(serverSecret), iv);
  decipher.setAAD(Buffer.from(webhookId, 'utf8'));
  decipher.setAuthTag(tag);
  return Buffer.concat([decipher.update(raw.subarray(12, raw.length - 16)), decipher.final()]).toString('utf8');
};
