/** Parsers of /proc text, the authorisation record and the log escaping: pure functions, no sockets. */
import { describe, expect, it } from 'vitest';
import { agentsOf, AuthorisationBook, authenticatedBy } from './authorisations.ts';
import { keyLine } from './keys-service.ts';
import { canonicalIp, hexToIp, ourConnections, parseStat, parseTcpTable, parseUid } from './procfs.ts';
import { escapeLogText } from './sshd-process.ts';

const A = '11111111-1111-4111-8111-111111111111';
const B = '22222222-2222-4222-8222-222222222222';
const FP = 'SHA256:cs9fLk4KVyNjSW2uG7V+VuOfV34Jhk7O6xgoVN+SHCQ';

describe('/proc parsers', () => {
  it('reads stat even when comm holds spaces and parentheses', () => {
    const stat = '4242 (sshd: a) b) S 4200 4242 4242 0 -1 4194560 1 0 0 0 0 0 0 0 20 0 1 0 987654 1000 100 18446744073709551615';
    expect(parseStat(stat)).toEqual({ comm: 'sshd: a) b', state: 'S', ppid: 4200, start: '987654' });
    expect(parseStat('garbage')).toBeNull();
    expect(parseUid('Name:\tsshd\nUid:\t1001\t1001\t1001\t1001\n')).toBe(1001);
  });

  it('turns the kernel\'s hex addresses into canonical text', () => {
    expect(hexToIp('0100007F')).toBe('127.0.0.1');
    expect(hexToIp('00000000000000000000000001000000')).toBe('::1');
    expect(hexToIp('0000000000000000FFFF00000100007F')).toBe('127.0.0.1');
    expect(hexToIp('B80D0120000000000000000001000000')).toBe('2001:db8::1');
    expect(canonicalIp('2001:DB8:0:0::1')).toBe('2001:db8::1');
    expect(canonicalIp('::ffff:127.0.0.1')).toBe('127.0.0.1');
  });

  it('finds the ESTABLISHED connections to our listener only', () => {
    const table = `  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 0100007F:08AE 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 100 1 0 100 0 0 10 0
   1: 0100007F:08AE 0200007F:C350 01 00000000:00000000 02:00000000 00000000     0        0 101 2 0 20 4 30 10 -1
   2: 0200007F:08AE 0100007F:C351 01 00000000:00000000 02:00000000 00000000     0        0 102 2 0 20 4 30 10 -1
   3: 0100007F:08AF 0100007F:C352 01 00000000:00000000 02:00000000 00000000     0        0 103 2 0 20 4 30 10 -1
`;
    const sockets = parseTcpTable(table);
    expect(sockets[1]).toEqual({ localIp: '127.0.0.1', localPort: 2222, remoteIp: '127.0.0.2', remotePort: 50000, state: '01', inode: '101' });
    expect([...ourConnections(sockets, '127.0.0.1', 2222).keys()]).toEqual(['101']);
    expect([...ourConnections(sockets, '0.0.0.0', 2222).keys()]).toEqual(['101', '102']);
  });
});

describe('the authorisation record', () => {
  it('treats a session as every agent its monitor was authorised for; the last one authenticated', () => {
    const book = new AuthorisationBook();
    const monitor = { pid: 10, start: '99' };
    book.record(monitor, { agentIds: [B], fingerprint: `SHA256:${'B'.repeat(43)}` });
    book.record(monitor, { agentIds: [A], fingerprint: FP });
    const r = book.get(monitor);
    expect(r && agentsOf(r)).toEqual([B, A]);
    expect(r && authenticatedBy(r)).toEqual({ agentIds: [A], fingerprint: FP });
    // The same PID with another start time is another process.
    expect(book.get({ pid: 10, start: '100' })).toBeNull();
  });

  it('marks a monitor that asks too often, and forgets monitors that are gone', async () => {
    const book = new AuthorisationBook();
    const monitor = { pid: 11, start: '1' };
    for (let i = 0; i < 17; i++) book.record(monitor, { agentIds: [A], fingerprint: FP });
    expect(book.get(monitor)?.overflow).toBe(true);
    await book.prune(async () => false);
    expect(book.size).toBe(0);
  });
});

describe('text from sshd and lines for sshd', () => {
  it('escapes control characters of a log line and bounds it', () => {
    expect(escapeLogText('a\rb\x1b[31mc\x00\x7f\x85')).toBe('a\\x0db\\x1b[31mc\\x00\\x7f\\x85');
    expect(escapeLogText('x'.repeat(1000))).toHaveLength(300);
  });

  it('builds the authorized_keys line the helper checks', () => {
    expect(keyLine(['127.0.0.1:10809', '[::1]:8081'], 'AAAAkey', A, 20417)).toBe(
      `restrict,port-forwarding,permitopen="127.0.0.1:10809",permitopen="[::1]:8081",permitlisten="127.0.0.1:20417",command="/bin/false" ssh-ed25519 AAAAkey airlock-agent-${A}`,
    );
    // No reverse port: a listen host sshd_config's PermitListen (127.0.0.1 only) never matches.
    expect(keyLine(['127.0.0.1:10809'], 'AAAAkey', A, null)).toContain('permitlisten="localhost:1"');
  });
});
