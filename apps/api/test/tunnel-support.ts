/** An api with a tunnel endpoint configured, its `tunnel` operator, and the calls the tunnel tests share. */
import { parseSshEd25519PublicKey, sshFingerprint } from '@airlock/crypto';
import { expect } from 'vitest';
import { createSite, enrollAndVerify, pollAfterInterval, startTestApi, type TestApi } from '@airlock/api/testing';

export const HOST_KEY = 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOXh07AQsQFRTln033avixUw4184I0GIiLTdsfdLtth2';

export interface TunnelTestApi {
  t: TestApi;
  /** The endpoint's own operator, `tunnel-endpoint` (role tunnel, issue 18). */
  tunnelToken: string;
  createOperator(name: string, role: string): Promise<string>;
  /** POST /api/v1/internal/tunnel/{path}, with the tunnel token unless another (or null: none) is given. */
  internal(path: string, token?: string | null): ReturnType<TestApi['http']['post']>;
  /** An approved, active agent: its id, fingerprint, key blob and status answer. */
  approvedAgent(): Promise<{ agentId: string; fingerprint: string; blob: string; status: { credentials: { ssh: Record<string, unknown> & { known_hosts: string } } } }>;
  close(): Promise<void>;
}

export const startTunnelTestApi = async (site: string, env: Record<string, string> = {}): Promise<TunnelTestApi> => {
  const t = await startTestApi({
    env: { AIRLOCK_SSH_ENDPOINT: 'oma.example.com:443', AIRLOCK_SSH_PERMIT_OPEN: '127.0.0.1:10809,127.0.0.1:8081', ...env },
  });
  await createSite(t, site);
  const createOperator = async (name: string, role: string): Promise<string> => {
    const r = await t.admin('post', '/api/v1/admin/operators').send({ name, role });
    expect(r.status).toBe(201);
    return r.body.token as string;
  };
  const tunnelToken = await createOperator('tunnel-endpoint', 'tunnel');
  return {
    t,
    tunnelToken,
    createOperator,
    internal: (path, token = tunnelToken) => {
      const r = t.http.post(`/api/v1/internal/tunnel/${path}`);
      return token === null ? r : r.set('authorization', `Bearer ${token}`);
    },
    approvedAgent: async () => {
      const e = await enrollAndVerify(t, site);
      const approve = await t.admin('post', `/api/v1/admin/enrollments/${e.enrollmentId}/approve`).send({});
      expect(approve.status).toBe(200);
      const s = await pollAfterInterval(t, e.pollToken);
      expect(s.status).toBe(200);
      const pk = parseSshEd25519PublicKey(e.key.publicKey);
      return { agentId: s.body.agent_id as string, fingerprint: sshFingerprint(pk.blob), blob: pk.canonical.split(' ')[1] ?? '', status: s.body };
    },
    close: () => t.close(),
  };
};
