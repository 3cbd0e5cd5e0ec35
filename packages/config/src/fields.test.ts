import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import * as v from 'valibot';
import { afterAll, describe, expect, it } from 'vitest';
import { formatPin, HOST_PORT, parseHostPort, parsePin } from './formats.ts';
import { absolutePath, caFile, cidrList, duration, hostPort, hostPortList, redisKeyPrefix, url } from './fields.ts';

const HEX = 'ab'.repeat(32);
const messages = (schema: v.GenericSchema<string | undefined, unknown>, input: string) => {
  const r = v.safeParse(schema, input);
  return r.success ? [] : r.issues.map((i) => i.message);
};

describe('host:port, parsed once for every setting', () => {
  it('reads DNS names, IPv4 and bracketed IPv6, without the brackets', () => {
    expect(parseHostPort('oma.example.com:443')).toEqual({ host: 'oma.example.com', port: 443 });
    expect(parseHostPort('10.0.0.1:26379')).toEqual({ host: '10.0.0.1', port: 26379 });
    expect(parseHostPort('[::1]:22')).toEqual({ host: '::1', port: 22 });
    expect(parseHostPort('h:65535')).toEqual({ host: 'h', port: 65535 });
  });

  it('refuses what would break an sshd option, a known_hosts line or connect()', () => {
    for (const bad of ['host', 'host:0', 'host:65536', 'host:022', ':22', 'a b:22', '-host:22', 'host.:22', '[nothex]:22', '[::1:22', '::1:22', 'host:22 ', '"h":1']) {
      expect(parseHostPort(bad), bad).toBeNull();
      if (!bad.startsWith('[')) expect(HOST_PORT.test(bad), bad).toBe(false);
    }
  });

  it('as a field: a typed value, and the example in its message', () => {
    expect(v.parse(hostPort('127.0.0.1:2222'), ' [2001:db8::1]:2222 ')).toEqual({ host: '2001:db8::1', port: 2222 });
    expect(messages(hostPort('127.0.0.1:2222'), 'h:99999')).toEqual(['must be host:port (e.g. 127.0.0.1:2222)']);
    expect(v.parse(hostPortList('x:1'), 'a:1, [::1]:2')).toEqual({ items: ['a:1', '[::1]:2'], parsed: [{ host: 'a', port: 1 }, { host: '::1', port: 2 }] });
    expect(messages(hostPortList('x:1'), 'a:1,b')).toHaveLength(1);
    expect(messages(hostPortList('x:1'), ' , ')).toHaveLength(1);
  });
});

describe('certificate pins, parsed once for every setting and flag', () => {
  it('accepts every way people paste a SHA-256 fingerprint', () => {
    const colons = HEX.toUpperCase().match(/../g)?.join(':') ?? '';
    for (const form of [`sha256:${HEX}`, `SHA256:${HEX.toUpperCase()}`, `sha-256:${colons}`, HEX, colons, `sha256 Fingerprint=${colons}`, ` sha256:${HEX} `]) {
      expect(parsePin(form), form).toBe(HEX);
    }
  });

  it('refuses anything that is not 32 bytes of hex', () => {
    for (const bad of ['', 'sha256:', `sha256:${HEX}00`, `sha256:${HEX.slice(2)}`, `sha1:${HEX}`, 'sha256:nothex']) expect(parsePin(bad), bad).toBeNull();
  });

  it('prints the form every setting accepts back', () => {
    expect(formatPin(HEX.toUpperCase())).toBe(`sha256:${HEX}`);
    expect(formatPin(Buffer.from(HEX, 'hex'))).toBe(`sha256:${HEX}`);
    expect(parsePin(formatPin(Buffer.from(HEX, 'hex')))).toBe(HEX);
  });
});

describe('field types', () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'airlock-config-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('URLs by scheme; an origin refuses a path', () => {
    const upstream = url(['http', 'https'], { origin: true });
    expect(v.parse(upstream, 'https://api.internal:8443/')).toBe('https://api.internal:8443/');
    expect(messages(upstream, 'http://x/api')).toEqual(['must be an http:// or https:// origin without path or query']);
    expect(messages(upstream, 'ftp://x')).toHaveLength(1);
    expect(messages(url(['http', 'https']), 'http://a b')).toHaveLength(1);
    expect(messages(url(['redis', 'rediss'], { parse: false }), 'http://r')).toHaveLength(1);
    // An api base URL (the tunnel's, the CLI's): a path prefix, but no credentials, query or fragment.
    const base = url(['http', 'https'], { bare: true });
    expect(v.parse(base, 'https://api.internal:8443/airlock')).toBe('https://api.internal:8443/airlock');
    for (const bad of ['https://u:p@api.internal', 'https://api.internal/?x=1', 'https://api.internal/#x', 'https://api.internal?']) {
      expect(messages(base, bad), bad).toEqual(['must be an http:// or https:// URL without credentials, query or fragment']);
    }
  });

  it('CIDR lists, checked as the proxy trust list reads them', () => {
    expect(v.parse(cidrList(), '10.0.0.0/8, 192.168.1.1,')).toEqual(['10.0.0.0/8', '192.168.1.1']);
    expect(messages(cidrList(), '10.0.0.0/33')).toEqual(['must be comma-separated IP addresses or CIDRs (bad prefix length: 10.0.0.0/33)']);
    expect(messages(cidrList(), 'edge.internal')).toEqual(['must be comma-separated IP addresses or CIDRs (not an IP address: edge.internal)']);
  });

  it('durations in seconds or units, bounded', () => {
    const ttl = duration(60, 90 * 86400, '90d');
    expect(v.parse(ttl, '1h30m')).toBe(5400);
    expect(messages(ttl, '30')).toEqual(['must be at least 60 s']);
    expect(messages(ttl, '91d')).toEqual(['must be at most 7776000 s (90d)']);
    expect(messages(ttl, 'soon')).toEqual(['must be seconds (86400) or a duration such as 24h, 90m, 7d, 1h30m']);
  });

  it('absolute paths, and CA files read at startup', () => {
    expect(messages(absolutePath('the socket'), 'run/x.sock')).toEqual(['must be an absolute path (the socket)']);
    const good = path.join(dir, 'ca.pem');
    const empty = path.join(dir, 'empty.pem');
    writeFileSync(good, '-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n');
    writeFileSync(empty, 'nothing\n');
    expect(v.parse(caFile({ absolute: true }), good)).toContain('BEGIN CERTIFICATE');
    expect(messages(caFile({ absolute: false }), 'relative.pem')).toEqual(['cannot read relative.pem (ENOENT)']);
    expect(messages(caFile({ absolute: true }), 'relative.pem')).toEqual(['must be an absolute path (a PEM file of CA certificates)']);
    expect(messages(caFile({ absolute: true }), empty)).toEqual([`${empty} holds no PEM certificate`]);
    expect(messages(caFile({ absolute: true }), path.join(dir, 'missing.pem'))).toEqual([`cannot read ${path.join(dir, 'missing.pem')} (ENOENT)`]);
  });

  it('one rule for the edge Redis key prefix, wherever it is read', () => {
    const prefix = redisKeyPrefix('airlock:edge:');
    expect(v.parse(prefix, undefined)).toBe('airlock:edge:');
    expect(v.parse(prefix, 'airlock:test-1.a:')).toBe('airlock:test-1.a:');
    // The edge builds every key as prefix + name: without the colon it would never match the edge's keys.
    for (const bad of ['airlock:edge', 'a::b:', ':', 'with space:', `${'a'.repeat(64)}:`]) expect(messages(prefix, bad), bad).toHaveLength(1);
  });
});
