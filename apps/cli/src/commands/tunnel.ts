/**
 * The tunnel endpoint's host keys (issue 18): list them, retire one that was
 * stolen or replaced. A retired key leaves every agent's known_hosts at its
 * next credentials answer and may never be registered again.
 */
import { SSH_FINGERPRINT_PATTERN, type TunnelHostKeyItem } from '@airlock/schema';
import { UsageError } from '../args.ts';
import { emit, emitTable, positional, timeOf, type Command } from '../context.ts';

export const tunnelHostKeysCommand: Command = {
  path: ['tunnel', 'host-keys'],
  positionals: [],
  options: {},
  synopsis: '',
  summary: "list the tunnel endpoint's host keys (retired ones too)",
  details: 'Agents trust every key not retired (credentials.ssh.known_hosts).',
  run: async (ctx) => {
    const page = await ctx.admin().listTunnelHostKeys();
    emitTable<TunnelHostKeyItem>(ctx, page, 'no host keys registered', [
      { header: 'fingerprint', value: (k) => k.fingerprint },
      { header: 'type', value: (k) => k.public_key.split(' ')[0] ?? '' },
      { header: 'registered by', value: (k) => k.registered_by },
      { header: 'registered', value: (k) => timeOf(ctx, k.registered_at) },
      { header: 'last seen', value: (k) => timeOf(ctx, k.last_seen_at) },
      { header: 'retired', value: (k) => (k.retired_at ? `${timeOf(ctx, k.retired_at) ?? ''} by ${k.retired_by ?? '?'}` : '-') },
    ]);
  },
};

export const tunnelRetireHostKeyCommand: Command = {
  path: ['tunnel', 'retire-host-key'],
  positionals: ['FINGERPRINT'],
  options: {},
  synopsis: 'SHA256:…',
  summary: 'retire a tunnel host key: agents stop trusting it, it can never be registered again',
  details: `FINGERPRINT as listed by \`tunnel host-keys\` (SHA256:…). An endpoint still
presenting that key is refused when it registers; give it a new key (remove
its host key file and restart it: a new one is made on first start).`,
  run: async (ctx) => {
    const fingerprint = positional(ctx, 0);
    if (!SSH_FINGERPRINT_PATTERN.test(fingerprint)) throw new UsageError('FINGERPRINT must be SHA256: and 43 base64 characters', tunnelRetireHostKeyCommand);
    const key = await ctx.admin().retireTunnelHostKey({ fingerprint });
    emit(ctx, key, (k) => `retired host key ${k.fingerprint}; agents drop it from known_hosts at their next credentials answer\n`);
  },
};
