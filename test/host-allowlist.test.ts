/**
 * Issue 18, findings 10 and 11, across the real edge and api processes: the
 * api answers only to the Host names it serves, and the edge, which sends the
 * api its own upstream host (EDGE_UPSTREAM's), never the client's, still
 * gets through; the api trusts no proxy by default, and a stack that names
 * its edge (as `pnpm start` and this harness do) still sees client addresses.
 */
import http from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { newAgentKey } from '@airlock/testing';
import { startStack, type Stack } from './helpers/stack.ts';

let stack: Stack;
beforeAll(async () => {
  stack = await startStack();
  expect((await stack.admin('POST', '/api/v1/admin/sites', { site_code: 'REBIND', name: 'Rebind' })).status).toBe(201);
});
afterAll(async () => stack?.stop());

/** A JSON POST from `localAddress` (127.0.0.0/8 is all loopback on Linux), naming `headers.host` when given. */
const post = (base: string, path: string, body: unknown, opts: { localAddress?: string; headers?: Record<string, string> } = {}): Promise<{ status: number; body: any }> =>
  new Promise((resolve, reject) => {
    const u = new URL(base);
    const payload = JSON.stringify(body);
    const r = http.request(
      {
        host: u.hostname,
        port: Number(u.port),
        path,
        method: 'POST',
        localAddress: opts.localAddress ?? '127.0.0.1',
        agent: false,
        headers: { 'content-type': 'application/json', 'content-length': String(Buffer.byteLength(payload)), ...opts.headers },
      },
      (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (d: string) => (text += d));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: text ? JSON.parse(text) : null }));
      },
    );
    r.on('error', reject);
    r.end(payload);
  });

const sourceIpOf = async (enrollmentId: string) =>
  (await stack.admin('GET', '/api/v1/admin/enrollments')).body.items.find((i: { id: string }) => i.id === enrollmentId).source_ip as string;

const enrollBody = async () => {
  const code = await stack.admin('POST', '/api/v1/admin/pairing-codes', { site_code: 'REBIND' });
  return { site_code: 'REBIND', pairing_code: code.body.code, public_key: newAgentKey().publicKey, hostname: 'vma-01' };
};

describe('the edge in front of the api', () => {
  it('forwards an enroll whatever Host the client named, and the api records the client address the edge reports', async () => {
    const r = await post(stack.edgeUrl, '/api/v1/enroll', await enrollBody(), { localAddress: '127.0.0.2', headers: { host: 'rebind.attacker.example' } });
    expect(r.status).toBe(201);
    expect(await sourceIpOf(r.body.enrollment_id)).toBe('127.0.0.2');
  });

  it('while the api itself refuses that Host, and believes no X-Forwarded-For from an address that is not the edge', async () => {
    const direct = await post(stack.apiUrl, '/api/v1/enroll', await enrollBody(), { headers: { host: 'rebind.attacker.example' } });
    expect(direct.status).toBe(421);
    expect(direct.body.error.code).toBe('misdirected_request');
    const forged = await post(stack.apiUrl, '/api/v1/enroll', await enrollBody(), { localAddress: '127.0.0.3', headers: { 'x-forwarded-for': '198.51.100.9' } });
    expect(forged.status).toBe(201);
    expect(await sourceIpOf(forged.body.enrollment_id)).toBe('127.0.0.3');
  });
});
