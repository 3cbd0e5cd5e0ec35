/** `airlock webhooks add|list|rm|test|deliveries|rotate-secret`, with and without --json, against a real api and receiver. */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { signatureMatches, startReceiver, waitFor, type Receiver } from '@airlock/testing';
import { startTestApi, type TestApi } from '@airlock/api/testing';
import { runCli } from '@airlock/cli/run';


let t: TestApi;
let rx: Receiver;
beforeAll(async () => {
  t = await startTestApi({ env: { AIRLOCK_WEBHOOK_POLL_MS: '50' } });
  rx = await startReceiver();
});
afterAll(async () => {
  await t.close();
  await rx.close();
});

const cli = async (args: string[], token = t.adminToken) => {
  let out = '';
  let err = '';
  const code = await runCli(args, {
    io: { out: (s) => (out += s), err: (s) => (err += s) },
    env: { AIRLOCK_API_URL: t.api.url, AIRLOCK_TOKEN: token },
    now: () => t.clock.now(),
  });
  return { code, out, err };
};

describe('airlock webhooks', () => {
  it('adds (secret printed once, last line), lists without it, tests, shows deliveries, rotates, removes', async () => {
    const add = await cli(['webhooks', 'add', '--url', rx.url, '--events', 'webhook.test,agent.revoked', '--description', 'ops channel']);
    expect(add.code, add.err).toBe(0);
    const secret = add.out.trimEnd().split('\n').at(-1) ?? '';
    expect(secret).toMatch(/^whsec_/);
    const list = await cli(['webhooks', 'list', '--json']);
    const [w] = JSON.parse(list.out).items as { id: string; events: string[] }[];
    expect(w?.events).toEqual(['webhook.test', 'agent.revoked']);
    expect(list.out).not.toContain(secret.slice(6));
    expect((await cli(['webhooks', 'list'])).out).toContain('ops channel');

    // An 8-character prefix of the id is enough.
    const test = await cli(['webhooks', 'test', w!.id.slice(0, 8), '--json']);
    expect(test.code, test.err).toBe(0);
    const eventId = JSON.parse(test.out).event_id as string;
    const got = await waitFor(() => rx.received.find((r) => r.id === eventId), 'the test event');
    expect(signatureMatches(got, secret)).toBe(true);
    const shown = await waitFor(async () => {
      const d = await cli(['webhooks', 'deliveries', w!.id]);
      return d.out.includes('delivered') ? d.out : null;
    }, 'the delivery listed as delivered');
    expect(shown).toContain('webhook.test');

    const rotated = await cli(['webhooks', 'rotate-secret', w!.id]);
    expect(rotated.code).toBe(0);
    expect(rotated.out.trimEnd().split('\n').at(-1)).toMatch(/^whsec_/);

    expect((await cli(['webhooks', 'rm', w!.id])).code).toBe(0);
    expect(JSON.parse((await cli(['webhooks', 'list', '--json'])).out).items).toEqual([]);
  });

  it('an auditor lists but cannot add; a refused URL says why', async () => {
    expect((await cli(['webhooks', 'list'], t.auditorToken)).code).toBe(0);
    const refused = await cli(['webhooks', 'add', '--url', rx.url], t.auditorToken);
    expect(refused.code).not.toBe(0);
    expect(refused.err).toMatch(/forbidden|may not/);
    const meta = await cli(['webhooks', 'add', '--url', 'http://169.254.169.254/latest']);
    expect(meta.code).not.toBe(0);
    expect(meta.err).toMatch(/link-local/);
  });
});
