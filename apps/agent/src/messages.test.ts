import { describe, expect, it } from 'vitest';
import { ERROR_STATUS, type ErrorCode } from '@airlock/schema';
import { ExitCode } from './exit-codes.ts';
import { ERROR_MESSAGES, explainError, explainStatus, formatSeconds, sanitizeServerText, type ErrorContext } from './messages.ts';

const pairing: ErrorContext = { method: 'pairing_code', phase: 'enroll', site: 'ACME-PHX' };
const codes = Object.keys(ERROR_STATUS) as ErrorCode[];

describe('error messages', () => {
  it('has a message with a what-to-do for every contract error code, in every phase', () => {
    expect(Object.keys(ERROR_MESSAGES).sort()).toEqual([...codes].sort());
    for (const code of codes) {
      for (const phase of ['enroll', 'verify', 'status'] as const) {
        for (const method of ['pairing_code', 'enrollment_key'] as const) {
          const e = explainError(code, { method, phase, site: 'ACME-PHX' });
          expect(e.title.length, code).toBeGreaterThan(10);
          expect(e.action.length, code).toBeGreaterThan(10);
          expect(Object.values(ExitCode)).toContain(e.exitCode);
        }
      }
    }
  });

  it('tells the person with a wrong or expired pairing code to ask for a new one', () => {
    const e = explainError('enrollment_denied', pairing);
    expect(e.exitCode).toBe(ExitCode.Denied);
    expect(e.title).toContain('ACME-PHX');
    expect(e.action).toMatch(/new pairing code/);
  });

  it('tells a zero-touch agent to get the current enrollment key', () => {
    const e = explainError('enrollment_denied', { ...pairing, method: 'enrollment_key' });
    expect(e.action).toMatch(/current enrollment key/);
  });

  it('says how long to wait when rate limited', () => {
    const e = explainError('rate_limited', { ...pairing, retryAfterSeconds: 900 });
    expect(e.exitCode).toBe(ExitCode.RateLimited);
    expect(e.action).toBe('Wait 15 min before trying again.');
  });

  it("carries the operator's reason on rejection", () => {
    const e = explainError('enrollment_rejected', { ...pairing, phase: 'status', serverMessage: 'not our appliance' });
    expect(e.exitCode).toBe(ExitCode.Rejected);
    expect(e.detail).toBe('Reason given: not our appliance');
    const prefixed = explainError('enrollment_rejected', {
      ...pairing,
      phase: 'status',
      serverMessage: 'Enrollment rejected by the operator: not our appliance',
    });
    expect(prefixed.detail).toBe('Reason given: not our appliance');
  });

  it('distinguishes an expired challenge from an expired approval window', () => {
    expect(explainError('expired_token', { ...pairing, phase: 'verify' }).title).toMatch(/challenge/);
    expect(explainError('expired_token', { ...pairing, phase: 'status' }).title).toMatch(/before an operator approved/);
    expect(explainError('expired_token', pairing).exitCode).toBe(ExitCode.Expired);
  });

  it('lists the fields of an invalid_request without echoing anything else', () => {
    const e = explainError('invalid_request', { ...pairing, fields: { hostname: 'must be a host name' } });
    expect(e.exitCode).toBe(ExitCode.Usage);
    expect(e.detail).toBe('Problems: hostname: must be a host name');
  });

  it('maps distinct outcomes to distinct exit codes', () => {
    const outcome = (code: ErrorCode) => explainError(code, { ...pairing, phase: 'status' }).exitCode;
    const distinct = new Set([
      outcome('enrollment_rejected'),
      outcome('expired_token'),
      outcome('enrollment_denied'),
      outcome('rate_limited'),
      outcome('bad_gateway'),
      outcome('invalid_request'),
    ]);
    expect(distinct.size).toBe(6);
  });

  it('explains a non-Airlock answer by its status', () => {
    expect(explainStatus(502, pairing).exitCode).toBe(ExitCode.Network);
    expect(explainStatus(404, pairing).exitCode).toBe(ExitCode.Usage);
    expect(explainStatus(429, pairing).exitCode).toBe(ExitCode.RateLimited);
    expect(explainStatus(418, pairing).exitCode).toBe(ExitCode.Internal);
  });
});

describe('sanitizeServerText', () => {
  it('strips terminal escapes and control characters from server text', () => {
    expect(sanitizeServerText('ok\u001b[2J\u001b[31mred\u0007\nnext')).toBe('okred  next');
  });

  it('caps the length', () => {
    expect(sanitizeServerText('x'.repeat(600))).toHaveLength(501);
  });
});

describe('formatSeconds', () => {
  it('reads naturally', () => {
    expect(formatSeconds(45)).toBe('45 s');
    expect(formatSeconds(900)).toBe('15 min');
    expect(formatSeconds(3900 + 2 * 3600)).toBe('3 h 5 min');
  });
});
