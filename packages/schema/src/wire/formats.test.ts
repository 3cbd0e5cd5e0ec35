import { execFileSync } from 'node:child_process';
import * as v from 'valibot';
import { describe, expect, it } from 'vitest';
import { AgentKeyValue, Challenge, KnownHosts, PemCertificate, PemCertificates, PollToken, Rfc3339, Uuid } from './formats.ts';
import { SshCredentials } from './responses/enrollment.ts';

const CERT = execFileSync('openssl', ['req', '-x509', '-newkey', 'ed25519', '-nodes', '-keyout', '/dev/null', '-subj', '/CN=t', '-days', '1'], {
  encoding: 'utf8',
  stdio: ['ignore', 'pipe', 'ignore'],
});

describe('the formats a server answer is held to', () => {
  it('matches whole values only: a trailing newline or a second line never passes', () => {
    const id = '3f1e1c9e-0000-4000-8000-000000000001';
    expect(v.is(Uuid, id)).toBe(true);
    for (const bad of [`${id}\n`, `${id}\nx`, `${id}", "insecure": true`, ` ${id}`]) expect(v.is(Uuid, bad)).toBe(false);
    expect(v.is(AgentKeyValue, `cak_${'a'.repeat(43)}`)).toBe(true);
    expect(v.is(AgentKeyValue, `cak_${'a'.repeat(43)}\n`)).toBe(false);
    expect(v.is(PollToken, `ept_${'a'.repeat(42)}"`)).toBe(false);
    expect(v.is(Challenge, `${'A'.repeat(43)}=`)).toBe(true);
    expect(v.is(Rfc3339, '2026-11-29T10:00:00Z')).toBe(true);
    expect(v.is(Rfc3339, '2026-13-45T10:00:00Z')).toBe(false);
    expect(v.is(Rfc3339, 'tomorrow')).toBe(false);
  });

  it('takes known_hosts lines and permit_open host:port pairs, nothing else', () => {
    const ssh = {
      host: 'oma.example.com',
      port: 443,
      user: 'airlock',
      known_hosts: '[oma.example.com]:443 ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIKmJ0N+7PYWexvEMe7ZrlnJCsIuWQa6S7XVSsNqMl8nU\n',
      permit_open: ['127.0.0.1:10809', 'mgmt.internal:8081'],
    };
    expect(v.is(SshCredentials, ssh)).toBe(true);
    expect(v.is(KnownHosts, `${ssh.known_hosts}\u001b[2J`)).toBe(false);
    expect(v.is(KnownHosts, 'not a key line')).toBe(false);
    // Before the tunnel endpoint registers its host keys the api issues none; the tunnel command then refuses to connect.
    expect(v.is(KnownHosts, '')).toBe(true);
    expect(v.is(KnownHosts, '\n')).toBe(false);
    expect(v.is(KnownHosts, ' ')).toBe(false);
    expect(v.is(SshCredentials, { ...ssh, permit_open: ['127.0.0.1:99999'] })).toBe(false);
    expect(v.is(SshCredentials, { ...ssh, user: 'root;rm' })).toBe(false);
    expect(v.is(SshCredentials, { ...ssh, host: '-oProxyCommand=x' })).toBe(false);
  });

  it('takes PEM certificates and refuses anything riding along (a private key, text, two leaf certificates)', () => {
    expect(v.is(PemCertificate, CERT)).toBe(true);
    expect(v.is(PemCertificates, `${CERT}${CERT}`)).toBe(true);
    expect(v.is(PemCertificate, `${CERT}${CERT}`)).toBe(false);
    expect(v.is(PemCertificates, `${CERT}-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n`)).toBe(false);
    expect(v.is(PemCertificates, `hello\n${CERT}`)).toBe(false);
    expect(v.is(PemCertificates, '')).toBe(false);
  });
});
