// FROZEN COPY, for `pnpm bench` only: the keys helper as it was before
// issue 18 (Node, one HTTP call to the api per question), so the bench can
// measure it side by side with the Perl helper that replaced it. Not
// installed or run by the tunnel.
//
// airlock-keys: sshd's AuthorizedKeysCommand for the Airlock tunnel endpoint.
//
// Runs in sshd's restricted environment (as AuthorizedKeysCommandUser, minimal
// PATH, no workspace), so it is one self-contained CommonJS file with no
// dependencies. The tunnel installs it root-owned next to its config file
// (airlock-keys.json: api_url, token, user, timeout_ms) and puts the absolute
// Node path in the first line. Called as: airlock-keys.cjs %u %f %t %k
//
// It prints the authorized_keys lines of the active agents holding the offered
// key, each restricted to forwarding to the api's permit_open list, and fails
// closed: any doubt (api unreachable, odd answer, odd arguments) prints nothing
// and exits non-zero, which sshd reads as "no key authorized".
'use strict';
const fs = require('node:fs');
const path = require('node:path');

const FINGERPRINT = /^SHA256:[A-Za-z0-9+/]{43}$/;
const KEY_TYPE = /^[a-z0-9@.-]{1,64}$/;
const KEY_BLOB = /^[A-Za-z0-9+/]{1,4096}={0,2}$/;
const ED25519_BLOB = /^AAAAC3NzaC1lZDI1NTE5AAAAI[A-Za-z0-9+/]{43}=?$/;
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
// What goes inside permitopen="…": no quotes, spaces or commas can get in.
const HOST_PORT = /^(?:[A-Za-z0-9](?:[A-Za-z0-9.-]{0,251}[A-Za-z0-9])?|\[[0-9A-Fa-f:.]{2,45}\]):[0-9]{1,5}$/;

const fail = (why) => {
  process.stderr.write(`airlock-keys: ${why}\n`);
  process.exit(1);
};

const main = async () => {
  const args = process.argv.slice(2);
  if (args.length !== 4) fail('expected exactly 4 arguments (%u %f %t %k)');
  const [user, fingerprint, type, key] = args;
  let cfg;
  try {
    cfg = JSON.parse(fs.readFileSync(path.join(__dirname, 'airlock-keys.json'), 'utf8'));
  } catch {
    fail('cannot read airlock-keys.json');
  }
  if (typeof cfg.api_url !== 'string' || typeof cfg.token !== 'string' || typeof cfg.user !== 'string') fail('bad config');
  // Other accounts are not ours to authorize (AllowUsers already stops them).
  if (user !== cfg.user) process.exit(0);
  if (!FINGERPRINT.test(fingerprint) || !KEY_TYPE.test(type) || !KEY_BLOB.test(key)) fail('malformed arguments');
  // Agents enroll Ed25519 keys only; anything else cannot match, so no api call.
  if (type !== 'ssh-ed25519' || !ED25519_BLOB.test(key)) process.exit(0);

  const res = await fetch(`${cfg.api_url.replace(/\/+$/, '')}/api/v1/internal/tunnel/authorized-keys`, {
    method: 'POST',
    headers: { authorization: `Bearer ${cfg.token}`, 'content-type': 'application/json' },
    body: JSON.stringify({ fingerprint, key_type: type, key }),
    signal: AbortSignal.timeout(typeof cfg.timeout_ms === 'number' ? cfg.timeout_ms : 3000),
  });
  if (res.status !== 200) fail(`api answered ${res.status}`);
  const body = await res.json();
  const permit = Array.isArray(body.permit_open) ? body.permit_open : [];
  // No destination list would mean "forward anywhere" to sshd: refuse instead.
  if (permit.length === 0 || !permit.every((p) => typeof p === 'string' && HOST_PORT.test(p))) fail('no valid permit_open list');
  const options = ['restrict', 'port-forwarding', ...permit.map((p) => `permitopen="${p}"`), 'command="/bin/false"'].join(',');
  const lines = [];
  for (const k of Array.isArray(body.keys) ? body.keys : []) {
    if (!k || typeof k.agent_id !== 'string' || !UUID.test(k.agent_id)) continue;
    // Only the offered key itself, byte for byte: the api cannot widen what sshd accepts.
    if (k.public_key !== `ssh-ed25519 ${key}`) continue;
    lines.push(`${options} ssh-ed25519 ${key} airlock-agent-${k.agent_id}\n`);
  }
  process.stdout.write(lines.join(''));
};

main().catch(() => fail('api unreachable or answered badly'));
