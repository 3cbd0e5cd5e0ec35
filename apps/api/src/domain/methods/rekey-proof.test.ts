import { newAgentKey, type TestAgentKey } from '@airlock/testing';
import { describe, expect, it } from 'vitest';
import { decideIdentity, rekeySigner, type IdentityInput } from './rekey-proof.ts';

const NOW = new Date('2026-11-22T12:00:00.000Z');
const MINUTE = 60_000;
const oldKey = newAgentKey('old');
const newKey = newAgentKey('new');

const input = (over: Partial<IdentityInput> & { auto?: boolean; key?: TestAgentKey } = {}): IdentityInput => {
  const { auto = false, key = newKey, ...rest } = over;
  return {
    enrollment: { id: 'e-1', challenge: 'Y2hhbGxlbmdl', fingerprint: key.fingerprint, hostname: 'vma-01', siteCode: 'HOME', machineUid: 'uid-1', autoApprove: auto },
    machineAgent: null,
    rekeySignature: undefined,
    revokedKeyAgentId: null,
    now: NOW,
    collisionWindowSeconds: 600,
    ...rest,
  };
};

/** The agent that already holds machine uid-1, with the old key unless told. */
const holder = (over: Partial<NonNullable<IdentityInput['machineAgent']>> = {}): NonNullable<IdentityInput['machineAgent']> => ({
  id: 'agent-1',
  siteCode: 'HOME',
  status: 'active',
  fingerprint: oldKey.fingerprint,
  publicKey: oldKey.publicKey,
  hostname: 'vma-01',
  lastSeenAt: new Date(NOW.getTime() - 60 * MINUTE),
  ...over,
});

describe('a new machine', () => {
  it('follows the site policy: approved on an auto site, waits on a manual one', () => {
    expect(decideIdentity(input({ auto: true }))).toEqual({ status: 'approved', reuseAgentId: null, reason: 'new', replacesFingerprint: null, rekeySigned: false });
    expect(decideIdentity(input())).toMatchObject({ status: 'awaiting_approval', reason: 'new' });
  });

  it('ignores the agent of a machine_uid when the enrollment names none', () => {
    const e = input({ auto: true, machineAgent: holder() });
    expect(decideIdentity({ ...e, enrollment: { ...e.enrollment, machineUid: null } })).toMatchObject({ status: 'approved', reason: 'new', reuseAgentId: null });
  });

  it('waits for an operator when its key is a revoked agent’s, even on an auto site, with the same answer as a manual site', () => {
    expect(decideIdentity(input({ auto: true, revokedKeyAgentId: 'agent-9' }))).toMatchObject({ status: 'awaiting_approval', reason: 'revoked_key' });
    expect(decideIdentity(input({ revokedKeyAgentId: 'agent-9' }))).toMatchObject({ status: 'awaiting_approval', reason: 'new' });
  });
});

describe('a machine another site holds', () => {
  it('is refused while that site’s agent is live', () => {
    expect(decideIdentity(input({ auto: true, machineAgent: holder({ siteCode: 'OTHER' }) }))).toEqual({
      status: 'foreign_machine',
      agent: { id: 'agent-1', siteCode: 'OTHER' },
    });
  });

  it('is free once an operator revoked it there', () => {
    expect(decideIdentity(input({ auto: true, machineAgent: holder({ siteCode: 'OTHER', status: 'revoked' }) }))).toMatchObject({
      status: 'approved',
      reason: 'new',
      reuseAgentId: null,
    });
  });
});

describe('a machine this site already has', () => {
  it('reuses the agent when the key is the same, as the policy says', () => {
    expect(decideIdentity(input({ auto: true, key: oldKey, machineAgent: holder() }))).toEqual({
      status: 'approved',
      reuseAgentId: 'agent-1',
      reason: 'reuse',
      replacesFingerprint: null,
      rekeySigned: false,
    });
  });

  it('brings a revoked agent back only by an operator’s hand, whatever the policy', () => {
    expect(decideIdentity(input({ auto: true, key: oldKey, machineAgent: holder({ status: 'revoked' }) }))).toMatchObject({
      status: 'awaiting_approval',
      reason: 'revoked_agent',
      reuseAgentId: 'agent-1',
    });
  });

  it('approves a new key the current key signed (the re-key proof) with no operator, on a manual site too', () => {
    const signature = oldKey.signRekey('e-1', 'Y2hhbGxlbmdl', newKey.fingerprint);
    for (const auto of [true, false]) {
      expect(decideIdentity(input({ auto, machineAgent: holder(), rekeySignature: signature }))).toEqual({
        status: 'approved',
        reuseAgentId: 'agent-1',
        reason: 'rekey_signed',
        replacesFingerprint: oldKey.fingerprint,
        rekeySigned: true,
      });
    }
  });

  it('holds a new key for confirmation when the proof is signed by the wrong key or for another enrollment', () => {
    const byNewKey = newKey.signRekey('e-1', 'Y2hhbGxlbmdl', newKey.fingerprint);
    const forAnother = oldKey.signRekey('e-2', 'Y2hhbGxlbmdl', newKey.fingerprint);
    for (const rekeySignature of [byNewKey, forAnother, 'not base64 at all']) {
      expect(decideIdentity(input({ auto: true, machineAgent: holder(), rekeySignature }))).toEqual({
        status: 'pending_confirmation',
        reuseAgentId: 'agent-1',
        reason: 'rekey_signature_invalid',
        replacesFingerprint: oldKey.fingerprint,
        rekeySigned: false,
      });
    }
  });

  it('holds an unsigned new key for confirmation, as an identity collision when the agent was just seen under another hostname', () => {
    const recent = new Date(NOW.getTime() - 5 * MINUTE);
    expect(decideIdentity(input({ auto: true, machineAgent: holder() }))).toMatchObject({ status: 'pending_confirmation', reason: 'key_change_unsigned' });
    expect(decideIdentity(input({ auto: true, machineAgent: holder({ lastSeenAt: recent }) }))).toMatchObject({ reason: 'key_change_unsigned' });
    expect(decideIdentity(input({ auto: true, machineAgent: holder({ lastSeenAt: recent, hostname: 'vma-02' }) }))).toMatchObject({
      status: 'pending_confirmation',
      reason: 'identity_collision',
    });
    expect(decideIdentity(input({ auto: true, machineAgent: holder({ lastSeenAt: null, hostname: 'vma-02' }) }))).toMatchObject({ reason: 'key_change_unsigned' });
  });
});

describe('rekeySigner (clones kept separate share a machine uid)', () => {
  const twin = newAgentKey('twin');
  const e = { id: 'e-1', challenge: 'Y2hhbGxlbmdl', fingerprint: newKey.fingerprint, siteCode: 'HOME' };
  const agents = [
    { id: 'agent-twin', siteCode: 'HOME', status: 'active' as const, publicKey: twin.publicKey },
    { id: 'agent-1', siteCode: 'HOME', status: 'active' as const, publicKey: oldKey.publicKey },
  ];

  it('finds the agent whose current key made the proof, whichever instance it is', () => {
    expect(rekeySigner(agents, e, oldKey.signRekey('e-1', 'Y2hhbGxlbmdl', newKey.fingerprint))?.id).toBe('agent-1');
    expect(rekeySigner(agents, e, twin.signRekey('e-1', 'Y2hhbGxlbmdl', newKey.fingerprint))?.id).toBe('agent-twin');
  });

  it('finds none for a proof by a stranger, for another enrollment, or by a revoked or other-site agent', () => {
    expect(rekeySigner(agents, e, newKey.signRekey('e-1', 'Y2hhbGxlbmdl', newKey.fingerprint))).toBeNull();
    expect(rekeySigner(agents, e, oldKey.signRekey('e-2', 'Y2hhbGxlbmdl', newKey.fingerprint))).toBeNull();
    const proof = oldKey.signRekey('e-1', 'Y2hhbGxlbmdl', newKey.fingerprint);
    expect(rekeySigner([{ ...agents[1]!, status: 'revoked' as const }], e, proof)).toBeNull();
    expect(rekeySigner([{ ...agents[1]!, siteCode: 'OTHER' }], e, proof)).toBeNull();
  });
});
