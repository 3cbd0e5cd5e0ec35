import { mintSecret, secretDigest } from '@airlock/crypto';
import { describe, expect, it } from 'vitest';
import { siteKeyAlerts, siteKeyCredential } from './site-key.ts';

describe('site enrollment key credential', () => {
  it('looks the key up by its SHA-256 digest', () => {
    const key = mintSecret('cek');
    expect(siteKeyCredential(key)).toEqual({ ok: true, credential: { kind: 'enrollment_key', digest: secretDigest(key) } });
  });

  it('never refuses a key by its form: a wrong key is the same denial as an unknown one, from the lookup', () => {
    expect(siteKeyCredential('cek_not-really-a-key').ok).toBe(true);
  });
});

describe('site key use alerts', () => {
  it('raises nothing when no threshold was crossed', () => {
    expect(siteKeyAlerts({ usesHigh: false, burst: false })).toEqual([]);
  });

  it('raises the alert for each threshold crossed, uses first', () => {
    expect(siteKeyAlerts({ usesHigh: true, burst: false })).toEqual(['site.enrollment_key_uses_high']);
    expect(siteKeyAlerts({ usesHigh: false, burst: true })).toEqual(['site.enrollment_key_use_burst']);
    expect(siteKeyAlerts({ usesHigh: true, burst: true })).toEqual(['site.enrollment_key_uses_high', 'site.enrollment_key_use_burst']);
  });
});
