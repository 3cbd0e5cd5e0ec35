/** The generated sshd_config and the tunnel's settings: pure functions, no sockets. */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadTunnelConfig } from './env.ts';
import { renderSshdConfig, SSH_ALGORITHMS } from './sshd-config.ts';

const TOKEN = `aop_${'a'.repeat(43)}`;
const PIN = `sha256:${'ab'.repeat(32)}`;

describe('the generated sshd_config', () => {
  const input = {
    host: '127.0.0.1',
    port: 2222,
    user: 'airlock',
    hostKey: '/var/lib/airlock/tunnel/key',
    keysCommand: '/usr/local/libexec/airlock-tunnel/airlock-keys',
    keysSocket: '/run/airlock-tunnel/keys.sock',
    keysTimeoutSeconds: 5,
    keysUser: 'airlock-keys',
  };
  const lines = () => renderSshdConfig(input).split('\n');

  it('holds every hardening line and no Subsystem', () => {
    const text = renderSshdConfig(input);
    for (const line of ['AllowUsers airlock', 'PasswordAuthentication no', 'KbdInteractiveAuthentication no', 'AuthorizedKeysFile none', 'AllowTcpForwarding yes', 'PermitListen 127.0.0.1:*', 'GatewayPorts no', 'AllowStreamLocalForwarding no', 'PermitTTY no', 'X11Forwarding no', 'AllowAgentForwarding no', 'PermitTunnel no', 'ForceCommand /bin/false', 'AuthorizedKeysCommandUser airlock-keys']) {
      expect(lines()).toContain(line);
    }
    expect(text).not.toMatch(/^Subsystem/m);
    expect(text.split('\n').filter((l) => !l.startsWith('#')).join('\n')).not.toContain('%C');
  });

  it('runs the helper with the socket and its timeout first, then sshd\'s %u %f %t %k', () => {
    expect(lines()).toContain('AuthorizedKeysCommand /usr/local/libexec/airlock-tunnel/airlock-keys /run/airlock-tunnel/keys.sock 5 %u %f %t %k');
  });

  it('offers modern algorithms only (issue 18, finding 13)', () => {
    expect(lines()).toContain('KexAlgorithms sntrup761x25519-sha512@openssh.com,curve25519-sha256,curve25519-sha256@libssh.org');
    expect(lines()).toContain('Ciphers chacha20-poly1305@openssh.com,aes256-gcm@openssh.com,aes128-gcm@openssh.com');
    expect(lines()).toContain('MACs hmac-sha2-512-etm@openssh.com,hmac-sha2-256-etm@openssh.com');
    expect(lines()).toContain('HostKeyAlgorithms ssh-ed25519');
    expect(lines()).toContain('PubkeyAcceptedAlgorithms ssh-ed25519');
    const all = Object.values(SSH_ALGORITHMS).flat().join(',');
    expect(all).not.toMatch(/nistp|sha1|umac|cbc|ctr|diffie-hellman|ssh-rsa/);
  });

  it('sets the pre-auth budget below which the edge keeps its own cap (issue 18, finding 2)', () => {
    expect(lines()).toContain('LoginGraceTime 20');
    expect(lines()).toContain('MaxStartups 64:30:128');
  });

  it('refuses values that could break out of a config line', () => {
    expect(() => renderSshdConfig({ ...input, hostKey: '/x\nPermitRootLogin yes' })).toThrow(/cannot carry/);
    expect(() => renderSshdConfig({ ...input, keysCommand: '/x y' })).toThrow(/cannot carry/);
    expect(() => renderSshdConfig({ ...input, keysSocket: '/run/x %u' })).toThrow(/cannot carry/);
    expect(() => renderSshdConfig({ ...input, keysTimeoutSeconds: 0 })).toThrow(/1-99/);
  });
});

describe('tunnel configuration', () => {
  it('has the contract defaults and fails with readable problems', () => {
    const c = loadTunnelConfig({ TUNNEL_API_TOKEN: TOKEN, AIRLOCK_DATA_DIR: '/var/lib/airlock' });
    expect(c).toMatchObject({
      host: '127.0.0.1',
      port: 2222,
      user: 'airlock',
      apiUrl: 'http://127.0.0.1:8082',
      hostKey: '/var/lib/airlock/tunnel/ssh_host_ed25519_key',
      keysSocket: '/run/airlock-tunnel/keys.sock',
      apiTrust: {},
    });
    expect(() => loadTunnelConfig({ TUNNEL_API_TOKEN: TOKEN, TUNNEL_PORT: '70000', TUNNEL_HOST_KEY: 'relative/key' })).toThrow(/TUNNEL_PORT[\s\S]*TUNNEL_HOST_KEY/);
    expect(() => loadTunnelConfig({ TUNNEL_API_TOKEN: TOKEN, TUNNEL_KEYS_SOCKET: '/run/x y.sock' })).toThrow(/TUNNEL_KEYS_SOCKET/);
  });

  it('reads the edge Redis as the edge does: a URL or a Sentinel group, and the one key prefix rule (issue 19)', () => {
    const run = (env: Record<string, string>) => loadTunnelConfig({ TUNNEL_API_TOKEN: TOKEN, ...env });
    expect(run({})).toMatchObject({ redis: null, redisPrefix: 'airlock:edge:' });
    expect(run({ REDIS_URL: 'redis://10.0.0.20:6379' }).redis).toEqual({ kind: 'url', url: 'redis://10.0.0.20:6379' });
    expect(run({ REDIS_SENTINELS: '10.0.1.31:26379,[::1]:26380', REDIS_SENTINEL_NAME: 'airlock' }).redis).toEqual({
      kind: 'sentinel',
      name: 'airlock',
      sentinels: [
        { host: '10.0.1.31', port: 26379 },
        { host: '::1', port: 26380 },
      ],
    });
    expect(() => run({ REDIS_URL: 'redis://x:6379', REDIS_SENTINELS: '10.0.1.31:26379', REDIS_SENTINEL_NAME: 'airlock' })).toThrow(/set one, not both/);
    // A prefix the edge would refuse could never match the edge's notes.
    expect(() => run({ EDGE_REDIS_PREFIX: 'airlock:edge' })).toThrow(/EDGE_REDIS_PREFIX: must be like "airlock:edge:"/);
  });

  it('names the tunnel role when the token is missing', () => {
    expect(() => loadTunnelConfig({})).toThrow(/TUNNEL_API_TOKEN: is required \(a tunnel operator token: pnpm airlock operators create --name tunnel --role tunnel\)/);
  });

  it('refuses plain http:// to a host that is not loopback, unless told to (issue 18, finding 9)', () => {
    const run = (env: Record<string, string>) => () => loadTunnelConfig({ TUNNEL_API_TOKEN: TOKEN, ...env });
    expect(run({ TUNNEL_API_URL: 'http://10.0.0.10:8082' })).toThrow(
      /TUNNEL_API_URL: http:\/\/ to 10\.0\.0\.10 would send the tunnel token and every key answer in clear[\s\S]*use https:\/\/ \(with TUNNEL_API_CA or TUNNEL_API_PIN\), or set TUNNEL_API_ALLOW_PLAINTEXT=1/,
    );
    expect(run({ TUNNEL_API_URL: 'http://api.internal:8082' })).toThrow(/TUNNEL_API_URL: http:\/\/ to api\.internal/);
    expect(run({ TUNNEL_API_URL: 'http://[::ffff:10.0.0.1]:8082' })).toThrow(/TUNNEL_API_URL/);
    for (const url of ['http://127.0.0.1:8082', 'http://127.1.2.3:8082', 'http://[::1]:8082', 'http://localhost:8082', 'http://[::ffff:127.0.0.1]:8082']) {
      expect(run({ TUNNEL_API_URL: url })()).toMatchObject({ apiUrl: url });
    }
    expect(run({ TUNNEL_API_URL: 'http://10.0.0.10:8082', TUNNEL_API_ALLOW_PLAINTEXT: '1' })()).toMatchObject({ apiUrl: 'http://10.0.0.10:8082' });
    expect(run({ TUNNEL_API_URL: 'https://10.0.0.10:8443' })()).toMatchObject({ apiUrl: 'https://10.0.0.10:8443' });
  });

  it('reads TUNNEL_API_CA and TUNNEL_API_PIN as the CLI reads its own, and refuses them with http://', () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'airlock-tunnel-env-'));
    try {
      const ca = path.join(dir, 'ca.pem');
      writeFileSync(ca, '-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n');
      const c = loadTunnelConfig({ TUNNEL_API_TOKEN: TOKEN, TUNNEL_API_URL: 'https://api.internal:8443', TUNNEL_API_CA: ca, TUNNEL_API_PIN: PIN });
      expect(c.apiTrust).toEqual({ ca: expect.stringContaining('BEGIN CERTIFICATE'), pinSha256: 'ab'.repeat(32), pinSetting: 'TUNNEL_API_PIN' });
      expect(() => loadTunnelConfig({ TUNNEL_API_TOKEN: TOKEN, TUNNEL_API_URL: 'https://x:1', TUNNEL_API_PIN: 'sha256:nothex' })).toThrow(/TUNNEL_API_PIN must be sha256:<64 hex digits>/);
      expect(() => loadTunnelConfig({ TUNNEL_API_TOKEN: TOKEN, TUNNEL_API_URL: 'https://x:1', TUNNEL_API_CA: path.join(dir, 'missing.pem') })).toThrow(/TUNNEL_API_CA: cannot read/);
      expect(() => loadTunnelConfig({ TUNNEL_API_TOKEN: TOKEN, TUNNEL_API_PIN: PIN })).toThrow(/TUNNEL_API_CA \/ TUNNEL_API_PIN: need an https:\/\/ TUNNEL_API_URL/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
