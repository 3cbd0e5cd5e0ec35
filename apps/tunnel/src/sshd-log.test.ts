/** sshd 9.2 VERBOSE lines (captured from the real sshd on these machines) to tunnel events. */
import { describe, expect, it } from 'vitest';
import { loadTunnelConfig } from './env.ts';
import { renderSshdConfig } from './sshd-config.ts';
import { parseSshdLine } from './sshd-log.ts';

const FP = 'SHA256:cs9fLk4KVyNjSW2uG7V+VuOfV34Jhk7O6xgoVN+SHCQ';

describe('parseSshdLine', () => {
  it('reads accepted, failed and closed connections', () => {
    expect(parseSshdLine(`Accepted publickey for airlock from 127.0.0.1 port 49526 ssh2: ED25519 ${FP}`)).toEqual({
      kind: 'accepted', user: 'airlock', ip: '127.0.0.1', port: 49526, fingerprint: FP,
    });
    expect(parseSshdLine(`Failed publickey for airlock from ::1 port 2 ssh2: ED25519 ${FP}`)).toEqual({
      kind: 'failed', user: 'airlock', ip: '::1', port: 2, fingerprint: FP,
    });
    expect(parseSshdLine('Disconnected from user airlock 127.0.0.1 port 49526')).toEqual({ kind: 'closed', ip: '127.0.0.1', port: 49526 });
    expect(parseSshdLine('Connection closed by 127.0.0.1 port 49542')).toEqual({ kind: 'closed', ip: '127.0.0.1', port: 49542 });
    expect(parseSshdLine('Server listening on 127.0.0.1 port 22991.')).toEqual({ kind: 'listening' });
  });

  it('ignores everything else, including lookalikes a client could try to inject', () => {
    for (const line of [
      `Postponed publickey for airlock from 127.0.0.1 port 49526 ssh2 [preauth]`,
      `Accepted key ED25519 ${FP} found at /x/airlock-keys.cjs %u %f %t %k:1`,
      `Accepted publickey for airlock from 127.0.0.1 port 1 ssh2: ED25519 ${FP} trailing`,
      `Connection closed by authenticating user airlock 127.0.0.1 port 49556 [preauth]`,
      `Invalid user Accepted publickey for airlock from 1.2.3.4 port 5 ssh2: ED25519 ${FP}`,
      '',
    ]) {
      expect(parseSshdLine(line)).toBeNull();
    }
  });
});

describe('the generated sshd_config', () => {
  const input = { host: '127.0.0.1', port: 2222, user: 'airlock', hostKey: '/var/lib/airlock/tunnel/key', keysCommand: '/usr/local/libexec/airlock-tunnel/airlock-keys.cjs', keysUser: 'airlock-keys' };

  it('holds every hardening line and no Subsystem', () => {
    const text = renderSshdConfig(input);
    for (const line of ['AllowUsers airlock', 'PasswordAuthentication no', 'KbdInteractiveAuthentication no', 'AuthorizedKeysFile none', 'AllowTcpForwarding local', 'PermitTTY no', 'X11Forwarding no', 'AllowAgentForwarding no', 'PermitTunnel no', 'ForceCommand /bin/false', 'LogLevel VERBOSE', 'AuthorizedKeysCommandUser airlock-keys', `AuthorizedKeysCommand ${input.keysCommand} %u %f %t %k`]) {
      expect(text.split('\n')).toContain(line);
    }
    expect(text).not.toMatch(/^Subsystem/m);
    expect(text.split('\n').filter((l) => !l.startsWith('#')).join('\n')).not.toContain('%C');
  });

  it('refuses values that could break out of a config line', () => {
    expect(() => renderSshdConfig({ ...input, hostKey: '/x\nPermitRootLogin yes' })).toThrow(/cannot carry/);
    expect(() => renderSshdConfig({ ...input, keysCommand: '/x y' })).toThrow(/cannot carry/);
  });
});

describe('tunnel configuration', () => {
  it('has the contract defaults and fails with readable problems', () => {
    const c = loadTunnelConfig({ TUNNEL_API_TOKEN: `aop_${'a'.repeat(43)}`, AIRLOCK_DATA_DIR: '/var/lib/airlock' });
    expect(c).toMatchObject({ host: '127.0.0.1', port: 2222, user: 'airlock', apiUrl: 'http://127.0.0.1:8082', hostKey: '/var/lib/airlock/tunnel/ssh_host_ed25519_key' });
    expect(() => loadTunnelConfig({})).toThrow(/TUNNEL_API_TOKEN: is required/);
    expect(() => loadTunnelConfig({ TUNNEL_API_TOKEN: `aop_${'a'.repeat(43)}`, TUNNEL_PORT: '70000', TUNNEL_HOST_KEY: 'relative/key' })).toThrow(/TUNNEL_PORT[\s\S]*TUNNEL_HOST_KEY/);
  });
});
