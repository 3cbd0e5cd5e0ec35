import { describe, expect, it } from 'vitest';
import { createLogger, createPino, isSecretFieldName, lineDestination, REDACTED, silentLogger } from './index.ts';

const capture = () => {
  const lines: string[] = [];
  const log = createPino({ service: 't', level: 'debug', destination: lineDestination((l) => lines.push(l)) });
  return { lines, log, parsed: () => lines.map((l) => JSON.parse(l) as Record<string, unknown>) };
};

describe('@airlock/log', () => {
  it('writes one JSON object per line with level name, ISO time, service and message', () => {
    const c = capture();
    c.log.info({ route: '/api/v1/enroll', status: 201 }, 'request');
    const [line] = c.parsed();
    expect(line).toMatchObject({ level: 'info', service: 't', msg: 'request', route: '/api/v1/enroll', status: 201 });
    expect(String(line?.time)).toMatch(/^\d{4}-\d\d-\d\dT/);
  });

  it('redacts fields named like a secret, at any depth, and keeps site and error codes readable', () => {
    const c = capture();
    c.log.info(
      {
        authorization: 'Bearer x',
        headers: { cookie: 'a=b', 'user-agent': 'curl' },
        pairing_code: 'ABCD-EFGH-JKMN',
        code: 'ABCD-EFGH-JKMN',
        poll_token: 'x',
        agent_key: 'x',
        enrollment_key: 'x',
        password: 'x',
        server_secret: 'x',
        signature: 'x',
        csr: 'x',
        private_key: 'x',
        nested: { deeper: { api_token: 'x' } },
        site_code: 'ACME-PHX',
        error_code: 'enrollment_denied',
      },
      'm',
    );
    const [line] = c.parsed();
    for (const k of ['authorization', 'pairing_code', 'code', 'poll_token', 'agent_key', 'enrollment_key', 'password', 'server_secret', 'signature', 'csr', 'private_key']) {
      expect(line?.[k], k).toBe(REDACTED);
    }
    expect(line?.headers).toEqual({ cookie: REDACTED, 'user-agent': 'curl' });
    expect(line?.nested).toEqual({ deeper: { api_token: REDACTED } });
    expect(line?.site_code).toBe('ACME-PHX');
    expect(line?.error_code).toBe('enrollment_denied');
  });

  it('redacts secret-shaped values under innocent names', () => {
    const c = capture();
    c.log.warn({ note: 'cak_0123456789abcdefghij', detail: '-----BEGIN OPENSSH PRIVATE KEY-----\nabc' }, 'm');
    const [line] = c.parsed();
    expect(line?.note).toBe(REDACTED);
    expect(line?.detail).toBe(REDACTED);
    expect(c.lines.join('\n')).not.toContain('cak_0123');
  });

  it('names secrets by the last word of the field', () => {
    expect(isSecretFieldName('keyId')).toBe(false);
    expect(isSecretFieldName('request_id')).toBe(false);
    expect(isSecretFieldName('Set-Cookie')).toBe(true);
    expect(isSecretFieldName('x-api-key')).toBe(true);
    expect(isSecretFieldName('key')).toBe(true);
    expect(isSecretFieldName('redis_key')).toBe(false);
  });

  it('lets an app keep a field readable that is named like a secret, still scanning its value', () => {
    const lines: string[] = [];
    const log = createPino({ level: 'info', readableFields: ['key'], destination: lineDestination((l) => lines.push(l)) });
    log.warn({ key: 'airlock:edge:lockout:ACME:203.0.113.7' }, 'lockout');
    log.warn({ key: `cek_${'A'.repeat(43)}` }, 'oops');
    expect(JSON.parse(lines[0] ?? '{}').key).toBe('airlock:edge:lockout:ACME:203.0.113.7');
    expect(JSON.parse(lines[1] ?? '{}').key).toBe(REDACTED);
  });
});

describe('createLogger, the logger every app uses', () => {
  const capture = (level: 'debug' | 'info' = 'info', readableFields?: string[]) => {
    const lines: string[] = [];
    const logger = createLogger({ service: 'tunnel', level, write: (l) => lines.push(l), ...(readableFields ? { readableFields } : {}) });
    return { logger, lines, parsed: () => lines.map((l) => JSON.parse(l) as Record<string, unknown>) };
  };

  it('has a method per level and a log(level, …) that can be passed around unbound', () => {
    const c = capture('debug');
    const { log } = c.logger;
    log('warn', 'tunnel cut', { reason: 'revoked', peer_port: 40022 });
    c.logger.debug('detail');
    c.logger.error('broken', { reason: 'x' });
    expect(c.parsed()).toEqual([
      expect.objectContaining({ service: 'tunnel', level: 'warn', msg: 'tunnel cut', reason: 'revoked', peer_port: 40022 }),
      expect.objectContaining({ level: 'debug', msg: 'detail' }),
      expect.objectContaining({ level: 'error', msg: 'broken' }),
    ]);
    expect(c.lines.every((l) => !l.endsWith('\n'))).toBe(true);
  });

  it('drops lines below its level', () => {
    const c = capture('info');
    c.logger.debug('quiet');
    c.logger.log('debug', 'quiet too');
    expect(c.lines).toEqual([]);
  });

  it('redacts a token that reached a field or the message by mistake (the tunnel had no redaction before)', () => {
    const c = capture();
    const token = `aop_${'x'.repeat(43)}`;
    c.logger.log('info', `reload failed: ${token}`, { reason: `401 for ${token}`, api_token: 'whatever' });
    expect(c.lines.join('\n')).not.toContain(token);
    expect(c.parsed()[0]).toMatchObject({ msg: REDACTED, reason: REDACTED, api_token: REDACTED });
  });

  it('keeps the readable fields an app names readable', () => {
    const c = capture('info', ['host_key']);
    c.logger.info('tunnel listening', { host_key: 'ssh-ed25519' });
    expect(c.parsed()[0]?.host_key).toBe('ssh-ed25519');
  });

  it('has a silent logger for tools and tests', () => {
    expect(() => silentLogger.error('nothing', { token: 'x' })).not.toThrow();
  });
});
