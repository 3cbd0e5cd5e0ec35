/**
 * The tunnel endpoint's host keys (issue 18, finding 6): only the `tunnel`
 * role registers them, a new one is audited once, admins list and retire
 * them, and a retired key never comes back.
 */
import { encodeSshEd25519PublicKey, generateAgentKeyPair, parseSshEd25519PublicKey, sshFingerprint } from '@airlock/crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type TestApi } from '@airlock/api/testing';
import { HOST_KEY, startTunnelTestApi, type TunnelTestApi } from './tunnel-support.ts';

let h: TunnelTestApi;
let t: TestApi;
beforeAll(async () => {
  h = await startTunnelTestApi('HK');
  t = h.t;
});
afterAll(async () => h.close());

const internal = (path: string, token?: string | null) => h.internal(path, token);
const approvedAgent = () => h.approvedAgent();
const createOperator = (name: string, role: string) => h.createOperator(name, role);

/** A fresh Ed25519 host key line and its fingerprint (as ssh-keygen -lf prints it). */
const newHostKey = () => {
  const line = encodeSshEd25519PublicKey(generateAgentKeyPair().publicKey);
  const pk = parseSshEd25519PublicKey(line);
  return { line: pk.canonical, fingerprint: sshFingerprint(pk.blob) };
};
const auditRows = async (type: string) =>
  (await t.admin('get', `/api/v1/admin/audit?event_type=${type}`)).body.items as Array<{ actor: string; details: Record<string, unknown> }>;
const knownHosts = async (): Promise<string> => (await approvedAgent()).status.credentials.ssh.known_hosts;

describe('host-keys', () => {
  it('converges on one row per key when endpoints register at once, and audits a new key exactly once', async () => {
    const key = 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIEOPBuKXNu8R1rtHsFGv4IegZf1l9vGo/LRJ+AwbF1co';
    const results = await Promise.all(Array.from({ length: 12 }, () => internal('host-keys').send({ keys: [key, HOST_KEY] })));
    expect(results.map((r) => r.status)).toEqual(Array.from({ length: 12 }, () => 204));
    const a = await approvedAgent();
    const lines = (a.status.credentials.ssh.known_hosts as string).trim().split('\n');
    expect(lines.filter((l) => l.endsWith(key))).toHaveLength(1);
    expect(lines.filter((l) => l.endsWith(HOST_KEY))).toHaveLength(1);
    const added = (await auditRows('tunnel.host_key_added')).filter((r) => r.details.public_key === key);
    expect(added).toHaveLength(1);
    expect(added[0]?.actor).toBe('tunnel-endpoint');
    // Registered again (every endpoint start): last_seen_at moves, no new audit row.
    expect((await internal('host-keys').send({ keys: [key] })).status).toBe(204);
    expect((await auditRows('tunnel.host_key_added')).filter((r) => r.details.public_key === key)).toHaveLength(1);
  });

  it('refuses a second service token (403) and changes nothing', async () => {
    const other = await createOperator('mgmt-two', 'service');
    const rogue = newHostKey();
    const before = await t.admin('get', '/api/v1/admin/tunnel/host-keys');
    const r = await internal('host-keys', other).send({ keys: [rogue.line] });
    expect(r.status).toBe(403);
    expect(r.body.error.code).toBe('forbidden');
    expect((await t.admin('get', '/api/v1/admin/tunnel/host-keys')).body).toEqual(before.body);
    expect(await knownHosts()).not.toContain(rogue.line);
    expect((await auditRows('tunnel.host_key_added')).some((row) => row.details.public_key === rogue.line)).toBe(false);
    const forbidden = await auditRows('admin.forbidden');
    expect(forbidden.some((row) => row.actor === 'mgmt-two' && row.details.path === '/api/v1/internal/tunnel/host-keys')).toBe(true);
    // Nor can it post events in the endpoint's name.
    expect((await internal('events', other).send({ event: 'denied', fingerprint: rogue.fingerprint, source_ip: '192.0.2.1' })).status).toBe(403);
  });
});

describe('retiring a host key (admin)', () => {
  it('lists keys with fingerprints; a retired key leaves known_hosts and is refused, audited, when registered again', async () => {
    const old = newHostKey();
    const next = newHostKey();
    expect((await internal('host-keys').send({ keys: [old.line, next.line] })).status).toBe(204);
    const listed = await t.http.get('/api/v1/admin/tunnel/host-keys').set('authorization', `Bearer ${t.auditorToken}`);
    expect(listed.status).toBe(200);
    expect(listed.body.items.find((k: { public_key: string }) => k.public_key === old.line)).toMatchObject({
      fingerprint: old.fingerprint,
      registered_by: 'tunnel-endpoint',
      retired_at: null,
      retired_by: null,
    });
    // An auditor reads, never retires.
    expect((await t.http.post('/api/v1/admin/tunnel/host-keys/retire').set('authorization', `Bearer ${t.auditorToken}`).send({ fingerprint: old.fingerprint })).status).toBe(403);

    const retired = await t.admin('post', '/api/v1/admin/tunnel/host-keys/retire').send({ fingerprint: old.fingerprint });
    expect(retired.status).toBe(200);
    expect(retired.body).toMatchObject({ fingerprint: old.fingerprint, retired_by: 'alice' });
    expect(retired.body.retired_at).toBe(t.clock.now().toISOString());
    expect((await auditRows('tunnel.host_key_retired'))[0]).toMatchObject({ actor: 'alice', details: expect.objectContaining({ fingerprint: old.fingerprint }) });
    const hosts = await knownHosts();
    expect(hosts).not.toContain(old.line);
    expect(hosts).toContain(next.line);

    // The endpoint (or anyone with its token) presents the retired key again: refused, audited, still retired.
    const again = await internal('host-keys').send({ keys: [old.line, next.line] });
    expect(again.status).toBe(409);
    expect(again.body.error.code).toBe('conflict');
    expect((await auditRows('tunnel.host_key_refused'))[0]).toMatchObject({ actor: 'tunnel-endpoint', details: expect.objectContaining({ fingerprints: [old.fingerprint] }) });
    expect(await knownHosts()).not.toContain(old.line);
    const after = (await t.admin('get', '/api/v1/admin/tunnel/host-keys')).body.items.find((k: { public_key: string }) => k.public_key === old.line);
    expect(after.retired_at).not.toBeNull();

    expect((await t.admin('post', '/api/v1/admin/tunnel/host-keys/retire').send({ fingerprint: old.fingerprint })).status).toBe(409);
    expect((await t.admin('post', '/api/v1/admin/tunnel/host-keys/retire').send({ fingerprint: `SHA256:${'D'.repeat(43)}` })).status).toBe(404);
    expect((await t.admin('post', '/api/v1/admin/tunnel/host-keys/retire').send({ fingerprint: 'SHA256:$(reboot)' })).status).toBe(400);
  });

  it('has one winner when two admins retire the same key at once', async () => {
    const k = newHostKey();
    expect((await internal('host-keys').send({ keys: [k.line] })).status).toBe(204);
    const results = await Promise.all(Array.from({ length: 6 }, () => t.admin('post', '/api/v1/admin/tunnel/host-keys/retire').send({ fingerprint: k.fingerprint })));
    expect(results.map((r) => r.status).sort()).toEqual([200, 409, 409, 409, 409, 409]);
    expect((await auditRows('tunnel.host_key_retired')).filter((r) => r.details.fingerprint === k.fingerprint)).toHaveLength(1);
  });
});

