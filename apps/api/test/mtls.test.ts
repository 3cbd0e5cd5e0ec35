/**
 * The mTLS proof: a plain Node https server that trusts only Airlock's CA
 * bundle and requires client certificates. The enrolled agent connects with
 * its certificate and its own Ed25519 key; the server then asks the verify
 * route about the presented certificate, which refuses a revoked agent's;
 * an expired certificate never gets past the TLS handshake.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import https from 'node:https';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { AddressInfo } from 'node:net';
import type { TLSSocket } from 'node:tls';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createSite, startTestApi, type TestApi } from '@airlock/api/testing';
import { enrollWithCsr, internalCertVerify, newTlsAgent, openssl, renew, type TlsAgent } from './credential-flows.ts';

let t: TestApi;
let server: https.Server;
let port: number;
let ca: string;
/** Why the server refused each failed handshake, as OpenSSL said it. */
const handshakeErrors: string[] = [];
/**
 * The same server without rejectUnauthorized, answering only why OpenSSL
 * judged the client certificate as it did: the strict server above just
 * drops the connection, and the tests want to see the reason.
 */
let diagnostic: https.Server;
let diagnosticPort: number;

const toPem = (der: Buffer) => `-----BEGIN CERTIFICATE-----\n${der.toString('base64').replace(/(.{64})/g, '$1\n').replace(/\n$/, '')}\n-----END CERTIFICATE-----\n`;

/** The server agent's name: its host name under the site and the configured suffix (issue 18). */
const SERVER_NAME = 'localhost.mtls.agents.test';

beforeAll(async () => {
  // The server is an Airlock agent too: serverAuth and DNS names under a suffix are configured, as a
  // deployment whose agents serve TLS does; the CA made on first start carries the matching constraints.
  t = await startTestApi({ env: { AIRLOCK_CERT_SERVER_AUTH: '1', AIRLOCK_CERT_DNS_SUFFIX: 'agents.test' } });
  await createSite(t, 'MTLS');
  // TLS checks validity against the real clock: bring the api's clock to it.
  t.clock.advance(Date.now() - t.clock.now().getTime());
  const { agent: serverAgent, answer } = await enrollWithCsr(t, 'MTLS', { hostname: 'localhost' });
  ca = answer.credentials.tls.ca_certificates;
  server = https.createServer(
    { key: serverAgent.privateKeyPem, cert: answer.credentials.tls.certificate, ca, requestCert: true, rejectUnauthorized: true },
    (req, res) => {
      // The handshake proved the chain and the key; revocation is the api's to say.
      const peer = (req.socket as TLSSocket).getPeerCertificate();
      void internalCertVerify(t, toPem(peer.raw)).then((v) => {
        res.writeHead(v.status === 200 ? 200 : 403, { 'content-type': 'application/json' });
        res.end(JSON.stringify(v.body));
      });
    },
  );
  diagnostic = https.createServer(
    { key: serverAgent.privateKeyPem, cert: answer.credentials.tls.certificate, ca, requestCert: true, rejectUnauthorized: false },
    (req, res) => {
      const socket = req.socket as TLSSocket;
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ authorized: socket.authorized, error: socket.authorizationError ? String(socket.authorizationError) : null }));
    },
  );
  await new Promise<void>((resolve) => diagnostic.listen(0, '127.0.0.1', resolve));
  diagnosticPort = (diagnostic.address() as AddressInfo).port;
  server.on('tlsClientError', (err) => handshakeErrors.push(err.message));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  port = (server.address() as AddressInfo).port;
});
afterAll(async () => {
  await new Promise<void>((resolve) => server.close(() => resolve()));
  await new Promise<void>((resolve) => diagnostic.close(() => resolve()));
  await t.close();
});

const call = (agent: TlsAgent | null, cert: string | null, to = port): Promise<{ status: number; body: unknown }> =>
  new Promise((resolve, reject) => {
    const req = https.request(
      {
        host: '127.0.0.1',
        port: to,
        servername: SERVER_NAME,
        path: '/',
        ca,
        agent: false,
        ...(agent && cert ? { key: agent.privateKeyPem, cert } : {}),
      },
      (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (d: string) => (text += d));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: JSON.parse(text) }));
      },
    );
    req.on('error', reject);
    req.end();
  });

describe('mTLS with Airlock certificates', () => {
  it('accepts the enrolled agent with its certificate and its own Ed25519 key; the verify route names it', async () => {
    const { agent, answer } = await enrollWithCsr(t, 'MTLS');
    const r = await call(agent, answer.credentials.tls.certificate);
    expect(r).toEqual({ status: 200, body: { agent_id: answer.agent_id, site_code: 'MTLS', status: 'active' } });
    expect((await call(agent, answer.credentials.tls.certificate, diagnosticPort)).body).toEqual({ authorized: true, error: null });
  });

  it('completes the handshake for a revoked agent, and the verify route refuses it', async () => {
    const { agent, answer } = await enrollWithCsr(t, 'MTLS');
    expect((await t.admin('post', `/api/v1/admin/agents/${answer.agent_id}/revoke`).send({})).status).toBe(200);
    const r = await call(agent, answer.credentials.tls.certificate);
    expect(r.status).toBe(403);
    expect(r.body).toEqual({ error: { code: 'invalid_certificate', message: expect.any(String) } });
  });

  it('fails the handshake for an expired certificate', async () => {
    const { agent } = await enrollWithCsr(t, 'MTLS', { csr: null });
    // Issued two days ago with a 24 h lifetime: expired by the real clock.
    t.clock.advance(-2 * 86400_000);
    const r = await renew(t, agent, { csr: await agent.csr() });
    t.clock.advance(2 * 86400_000);
    expect(r.status).toBe(200);
    expect(new Date(r.body.credentials.tls.expires_at).getTime()).toBeLessThan(Date.now());
    await expect(call(agent, r.body.credentials.tls.certificate)).rejects.toThrow();
    expect((await call(agent, r.body.credentials.tls.certificate, diagnosticPort)).body).toEqual({ authorized: false, error: 'CERT_HAS_EXPIRED' });
  });

  it('fails the handshake without a client certificate, or with one from another CA', async () => {
    handshakeErrors.length = 0;
    await expect(call(null, null)).rejects.toThrow();
    const stranger = newTlsAgent();
    const dir = mkdtempSync(path.join(tmpdir(), 'airlock-mtls-'));
    const keyFile = path.join(dir, 'key.pem');
    writeFileSync(keyFile, stranger.privateKeyPem, { mode: 0o600 });
    const foreign = openssl(['req', '-new', '-x509', '-key', keyFile, '-subj', '/CN=vma-01', '-days', '1']);
    rmSync(dir, { recursive: true, force: true });
    await expect(call(stranger, foreign)).rejects.toThrow();
    await new Promise((resolve) => setImmediate(resolve));
    expect(handshakeErrors.join('\n')).toMatch(/peer did not return a certificate/i);
    expect((await call(stranger, foreign, diagnosticPort)).body).toEqual({ authorized: false, error: 'DEPTH_ZERO_SELF_SIGNED_CERT' });
  });
});
